package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"c1m/analysis"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkout is a repository's results (the analysis package's fixtures:
// the report draws its figures next to the data) and its README holding
// text beside them.
func checkout(t *testing.T, text string) (results, readme string) {
	t.Helper()
	root := t.TempDir()
	results, readme = filepath.Join(root, "results"), filepath.Join(root, "README.md")
	require.NoError(t, os.CopyFS(results, os.DirFS("../../analysis/testdata/results")))
	require.NoError(t, os.WriteFile(readme, []byte(text), 0o644))
	return results, readme
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

const marked = "# c1m\n" + analysis.DurationsBegin + "\nold table\n" + analysis.DurationsEnd + "\nrest\n"

func TestRunRewritesTheREADMEsTable(t *testing.T) {
	t.Parallel()
	res, path := checkout(t, marked)
	out := filepath.Join(t.TempDir(), "REPORT.md")
	var stderr bytes.Buffer
	require.NoError(t, run([]string{"-results", res, "-out", out, "-readme", path}, &stderr))
	assert.FileExists(t, out)
	doc := read(t, path)
	assert.Contains(t, doc, "| `make exp-1` |")
	assert.NotContains(t, doc, "old table")
	assert.Contains(t, doc, analysis.DurationsEnd+"\nrest\n", "what follows the table is kept")
	assert.Contains(t, stderr.String(), "rewrote the duration table")
}

func TestRunWithoutREADME(t *testing.T) {
	t.Parallel()
	res, path := checkout(t, marked)
	require.NoError(t, run([]string{"-results", res, "-out", filepath.Join(t.TempDir(), "REPORT.md"), "-readme", ""}, &bytes.Buffer{}))
	assert.Equal(t, marked, read(t, path), "-readme \"\" leaves every README alone")
}

func TestRunNamesMissingMarkers(t *testing.T) {
	t.Parallel()
	res, path := checkout(t, "# c1m, no markers\n")
	err := run([]string{"-results", res, "-out", filepath.Join(t.TempDir(), "REPORT.md"), "-readme", path}, &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), analysis.DurationsBegin)
	assert.Equal(t, "# c1m, no markers\n", read(t, path))
}

func TestRunLeavesTheREADMEToTheCommittedResults(t *testing.T) {
	t.Parallel()
	_, path := checkout(t, marked)
	scratch, _ := checkout(t, "")
	var stderr bytes.Buffer
	require.NoError(t, run([]string{"-results", scratch, "-out", filepath.Join(t.TempDir(), "REPORT.md"), "-readme", path}, &stderr))
	assert.Equal(t, marked, read(t, path), "scratch results (a quick run, CI) never rewrite the README")
	assert.Contains(t, stderr.String(), "left the duration table")
}
