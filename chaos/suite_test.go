package chaos

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/schema"
)

// A few scenarios of the suite at quick scale against the real server
// binary, on the uring engine alone (the suite runs the same code on each
// engine; one keeps the test's time): they pass, every connection the
// server held for them is gone after (its /stats conns), and the results
// are written to uring's files and read back.
func TestSuiteQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "c1m-server"), "./cmd/c1m-server")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "building c1m-server: %s", out)
	var log strings.Builder
	results := filepath.Join(dir, "chaos")
	rep, err := Run(context.Background(), Config{Bin: dir, Results: results, Quick: true, Engines: []string{"uring"},
		Only: []string{"half-close", "rst", "vanish"}, Log: io.MultiWriter(&log)})
	require.NoError(t, err)
	t.Logf("suite log:\n%s", log.String())
	assert.True(t, rep.Pass, "failed: %v", rep.Failed)
	require.Len(t, rep.Suites, 1)
	sr := rep.Suites[0]
	assert.Equal(t, "uring", sr.Engine)
	assert.Contains(t, sr.ServerFlags, "uring")
	require.Len(t, sr.Scenarios, 3)
	for _, o := range sr.Scenarios {
		assert.Equal(t, o.FDsBefore, o.FDsAfter, o.Name)
		if assert.NotNil(t, o.ConnsAfter, o.Name) {
			assert.Equal(t, int64(sr.Scale.Population), *o.ConnsAfter, o.Name)
		}
		assert.Positive(t, o.Verified, "%s: the population echoed meanwhile", o.Name)
		assert.Positive(t, o.AttackerOK, o.Name)
	}
	assert.Zero(t, sr.Population.Mismatched)
	assert.Equal(t, sr.Population.Sent, sr.Population.Echoed+sr.Population.InFlightAtClose)

	assert.NoFileExists(t, filepath.Join(results, schema.ChaosFile), "uring's run leaves epoll's files alone")
	back, err := schema.ReadChaosReports(results)
	require.NoError(t, err)
	require.Len(t, back, 1)
	assert.Equal(t, "uring", back[0].Engine)
	assert.Equal(t, sr.Pass, back[0].Pass)
	require.NotNil(t, back[0].Population)
	assert.Equal(t, sr.Population.Echoed, back[0].Population.Echoed)
	_, scenarios := schema.ChaosFiles("uring")
	csv, err := os.ReadFile(filepath.Join(results, scenarios))
	require.NoError(t, err)
	assert.Equal(t, 1+3, strings.Count(string(csv), "\n"), "a header and a row per scenario:\n%s", csv)
	assert.FileExists(t, filepath.Join(results, "server-uring.log"))
}

// The engine server flags run: the one -engine names, in any spelling,
// or the design engine the suite's server adds when none does.
func TestServerEngine(t *testing.T) {
	t.Parallel()
	for flags, want := range map[string]string{
		"": "epoll", "-trigger lt": "epoll", "-engine uring": "uring", "-engine=uring": "uring",
		"--engine uring -trigger lt": "uring", "-max-conns 5 --engine=epoll": "epoll",
	} {
		assert.Equal(t, want, serverEngine(strings.Fields(flags)), flags)
	}
}
