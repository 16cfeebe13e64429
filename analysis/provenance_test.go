package analysis

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/measured"
	"c1m/schema"
)

// noChanges is a repository where no measured code changed since any commit.
func noChanges(string, string) ([]string, error) { return nil, nil }

var epyc = schema.Env{CPUModel: "AMD EPYC", CPUs: 2, Kernel: "6.18.0", GitCommit: "abcdef123456",
	Calibration: schema.Calibration{SyscallNs: 1100, CtxSwitchNs: 11000, PipeRTTUnpinnedNs: 30000, LoopbackRTTUs: 20}}

func TestProvenanceLine(t *testing.T) {
	t.Parallel()
	s := newStaleness(noChanges)
	v := s.describe("exp-1", measured.Experiment(1), &epyc, "2026-12-01T10:00:00Z", "make exp-1")
	assert.Equal(t, "**Provenance:** commit `abcdef123456`, started 2026-12-01T10:00:00Z, on AMD EPYC × 2 CPUs, Linux 6.18.0; "+
		"system call 1.1 µs, context switch 11 µs between threads (half a pipe round trip on one CPU; unpinned threads' round trip 30 µs), loopback echo round trip 20 µs.", v.Line)
	assert.Empty(t, v.Stale)

	dirty := epyc
	dirty.GitCommit = "abcdef123456-dirty"
	v = s.describe("exp-2", measured.Experiment(2), &dirty, "", "make exp-2")
	assert.Contains(t, v.Line, "commit `abcdef123456`, not a reference run (code not committed), on AMD EPYC")
	assert.True(t, strings.HasPrefix(v.labelled("uring").Line, "**Provenance (uring):** commit `abcdef123456`"))
	assert.Equal(t, "Every section below (2) ran on the code it measures as it is today; each opens with its commit, processor and calibration.", s.summaryLine())
	later := epyc
	later.GitCommit = "0123456789ab"
	s.describe("chaos on epoll", measured.Chaos, &later, "", "make chaos")
	assert.Equal(t, "Every section below (3) ran on the code it measures as it is today (commit `abcdef123456` for 2 sections, `0123456789ab` for 1 section: "+
		"what changed between them is code the older sections do not measure); each opens with its commit, processor and calibration.", s.summaryLine())
}

func TestProvenanceStale(t *testing.T) {
	t.Parallel()
	asked := 0
	s := newStaleness(func(program, commit string) ([]string, error) {
		asked++
		switch {
		case commit == "abcdef123456" && program == measured.Experiment(3):
			return []string{"Makefile", "core/uring/worker.go", "core/uring/worker_test.go", "client/engine.go", "harness/run.go"}, nil
		case commit == "abcdef123456":
			return nil, nil // what changed is not code this program measures
		}
		return nil, errors.New("git diff: exit status 128: bad revision")
	})
	v := s.describe("exp-3", measured.Experiment(3), &epyc, "", "make exp-3")
	assert.Equal(t, "**Stale:** the code this run measured changed after it (5 files, e.g. core/uring/worker.go, client/engine.go, harness/run.go); re-run with `make exp-3`.", v.Stale)
	s.describe("exp-3 (uring)", measured.Experiment(3), &epyc, "", "make exp-3")
	assert.Equal(t, 1, asked, "git is asked once per program and commit")
	v = s.describe("exp-4", measured.Experiment(4), &epyc, "", "make exp-4")
	assert.Empty(t, v.Stale, "another program's code did not change")

	other := epyc
	other.GitCommit = "0123456789ab"
	v = s.describe("soak", measured.Soak, &other, "", "make soak")
	assert.Equal(t, "**Provenance unknown:** git cannot compare commit 0123456789ab with today's code (git diff: exit status 128: bad revision).", v.Stale)
	v = s.describe("chaos on epoll", measured.Chaos, nil, "2026-11-25T10:00:00Z", "make chaos")
	assert.Equal(t, "**Provenance unknown:** the run recorded no commit or machine (it predates provenance); started 2026-11-25T10:00:00Z.", v.Line)
	assert.Equal(t, "**2 of 5 sections are stale** (their code changed after they ran: exp-3, exp-3 (uring)); 2 of unknown provenance (soak, chaos on epoll). "+
		"Each section opens with the commit, processor and calibration it ran on.", s.summaryLine())
}

func TestEnvOfFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "old.json"), `{"start": "x"}`)
	writeFile(t, filepath.Join(dir, "new.json"), `{"start": "x", "env": {"cpu_model": "AMD EPYC", "git_commit": "abc", "dirty": true}}`)
	env, err := envOfFile(filepath.Join(dir, "old.json"))
	require.NoError(t, err)
	assert.Nil(t, env)
	env, err = envOfFile(filepath.Join(dir, "new.json"))
	require.NoError(t, err)
	require.NotNil(t, env)
	assert.False(t, env.Reference())
	_, err = envOfFile(filepath.Join(dir, "absent.json"))
	assert.NoError(t, err)
}

// The report marks a stale experiment and a stale soak, from what the
// repository says changed, and says so in the summary.
func TestWriteReportMarksStaleSections(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	results := filepath.Join(root, "results")
	require.NoError(t, os.CopyFS(results, os.DirFS("testdata/results")))
	writeFile(t, filepath.Join(results, "soak/summary.json"), `{"engine": "epoll", "start": "2026-12-01T00:00:00Z", "conns": 100, "pass": true,
		"env": {"cpu_model": "AMD EPYC", "cpus": 2, "kernel": "6.18.0", "git_commit": "c0ffee000000"}}`)
	samples := [][]float64{{0, 0, 12, 1000, 2000, 0, 1, 0}, {5, 1, 12, 3000, 4000, 8000, 8001, 10}}
	require.NoError(t, schema.WriteSamples(filepath.Join(results, "soak", schema.SoakSamplesFile), schema.SoakSamplesHeader, samples))
	out := filepath.Join(root, "REPORT.md")
	changed := func(program, commit string) ([]string, error) {
		if commit == "c0ffee000000" && program == measured.Soak {
			return []string{"chaos/soak.go"}, nil
		}
		return nil, nil
	}
	require.NoError(t, WriteReportWith(results, out, Options{Changed: changed}))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	report := string(b)
	assertHas(t, report, "**Stale:** the code this run measured changed after it (1 file, e.g. chaos/soak.go); re-run with `make soak`.")
	assertHas(t, report, "**1 of 3 sections are stale** (their code changed after they ran: soak)")
	exp1 := report[strings.Index(report, "## Experiment 1"):]
	assert.Regexp(t, `^## Experiment 1: Capacity and memory\n\n\*\*Provenance`, exp1, "the provenance line opens the section")
}

// gitChanges compares at the top of the work tree, whatever directory
// of it the results are in, and counts a change only against the programs
// built from it: a new experiment leaves the others' results current.
func TestGitChangesFromTheTopOfTheTree(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	writeFile(t, filepath.Join(dir, "go.mod"), "module c1m\n\ngo 1.26.0\n")
	writeFile(t, filepath.Join(dir, "core/core.go"), "package core\n")
	writeFile(t, filepath.Join(dir, "core/more.go"), "package core\n\nconst More = 1\n")
	for _, bin := range measured.Binaries {
		writeFile(t, filepath.Join(dir, bin, "main.go"), "package main\n\nimport _ \"c1m/core\"\n\nfunc main() {}\n")
	}
	writeFile(t, filepath.Join(dir, "experiments/exp3/main.go"), "package main\n\nfunc main() {}\n")
	writeFile(t, filepath.Join(dir, "results/exp-1/meta.json"), "{}")
	git("add", ".")
	git("commit", "-qm", "code")
	first := git("rev-parse", "--short=12", "HEAD")
	writeFile(t, filepath.Join(dir, "experiments/exp17/main.go"), "package main\n\nfunc main() {}\n")
	git("add", ".")
	git("commit", "-qm", "experiment 17")

	changed := gitChanges(filepath.Join(dir, "results", "exp-1"))
	files, err := changed(measured.Experiment(3), first)
	require.NoError(t, err)
	assert.Empty(t, files, "experiment 3 does not build experiment 17")
	files, err = changed(measured.Experiment(17), first)
	require.NoError(t, err)
	assert.Equal(t, []string{"experiments/exp17/main.go"}, files)

	git("rm", "-q", "core/more.go")
	writeFile(t, filepath.Join(dir, "tools/more.go"), "package tools\n\nconst More = 1\n")
	git("add", ".")
	git("commit", "-qm", "move a file out of core") // git diff would see a rename to tools/
	files, err = gitChanges(dir)(measured.Experiment(3), first)
	require.NoError(t, err)
	assert.Equal(t, []string{"core/more.go"}, files, "a file moved out of core changed core, which every binary imports")
}
