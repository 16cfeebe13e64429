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

// results copies the analysis package's fixtures: the report draws its
// figures next to the data.
func results(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "results")
	require.NoError(t, os.CopyFS(dir, os.DirFS("../../analysis/testdata/results")))
	return dir
}

func readme(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "README.md")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
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
	res, path := results(t), readme(t, marked)
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
	res, path := results(t), readme(t, marked)
	require.NoError(t, run([]string{"-results", res, "-out", filepath.Join(t.TempDir(), "REPORT.md"), "-readme", ""}, &bytes.Buffer{}))
	assert.Equal(t, marked, read(t, path), "-readme \"\" leaves every README alone")
}

func TestRunNamesMissingMarkers(t *testing.T) {
	t.Parallel()
	res, path := results(t), readme(t, "# c1m, no markers\n")
	err := run([]string{"-results", res, "-out", filepath.Join(t.TempDir(), "REPORT.md"), "-readme", path}, &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), analysis.DurationsBegin)
	assert.Equal(t, "# c1m, no markers\n", read(t, path))
}
