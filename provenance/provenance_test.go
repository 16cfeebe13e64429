package provenance

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// repo makes a git repository with one commit of measured code.
func repo(t *testing.T) (dir string, run func(args ...string) string) {
	dir = t.TempDir()
	run = func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
		return string(out)
	}
	run("init", "-q")
	write(t, dir, "core/core.go", "package core\n")
	run("add", ".")
	run("commit", "-qm", "code")
	return dir, run
}

func write(t *testing.T, dir, name, text string) {
	require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
}

func TestResultsAndReportDoNotMoveTheCommit(t *testing.T) {
	t.Parallel()
	dir, run := repo(t)
	code, err := Of(dir)
	require.NoError(t, err)
	assert.False(t, code.Dirty)
	assert.Equal(t, code.Head, code.Commit)
	// Results, the report and its generator committed afterwards: same code commit, new head.
	write(t, dir, "results/exp-1/meta.json", "{}\n")
	write(t, dir, "analysis/a.go", "package analysis\n")
	write(t, dir, "REPORT.md", "# r\n")
	write(t, dir, "core/core_test.go", "package core\n")
	write(t, dir, "core/testdata/fuzz/seed", "x\n")
	run("add", ".")
	run("commit", "-qm", "results")
	later, err := Of(dir)
	require.NoError(t, err)
	assert.Equal(t, code.Commit, later.Commit)
	assert.NotEqual(t, code.Head, later.Head)
	assert.False(t, later.Dirty, "results, report and analysis are not measured code")
	changed, err := ChangedSince(dir, code.Commit)
	require.NoError(t, err)
	assert.Empty(t, changed)
}

func TestCodeChangesMakeRunsDirtyThenStale(t *testing.T) {
	t.Parallel()
	dir, run := repo(t)
	code, err := Of(dir)
	require.NoError(t, err)
	write(t, dir, "core/core.go", "package core // edited\n")
	edited, err := Of(dir)
	require.NoError(t, err)
	assert.True(t, edited.Dirty)
	assert.Equal(t, code.Commit+"-dirty", edited.String())
	write(t, dir, "client/new.go", "package client\n") // untracked code counts too
	run("checkout", "-q", "core/core.go")
	untracked, err := Of(dir)
	require.NoError(t, err)
	assert.True(t, untracked.Dirty)
	run("add", ".")
	run("commit", "-qm", "client")
	changed, err := ChangedSince(dir, code.Commit+"-dirty")
	require.NoError(t, err)
	assert.Equal(t, []string{"client/new.go"}, changed)
	_, err = ChangedSince(dir, "0123456789ab")
	assert.Error(t, err, "a commit git does not know")
}
