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
// binary: they pass, and the results files are written and read back.
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
	rep, err := Run(context.Background(), Config{Bin: dir, Results: results, Quick: true,
		Only: []string{"half-close", "rst", "vanish"}, Log: io.MultiWriter(&log)})
	require.NoError(t, err)
	t.Logf("suite log:\n%s", log.String())
	assert.True(t, rep.Pass, "failed: %v", rep.Failed)
	require.Len(t, rep.Scenarios, 3)
	for _, o := range rep.Scenarios {
		assert.Equal(t, o.FDsBefore, o.FDsAfter, o.Name)
		assert.Positive(t, o.Verified, "%s: the population echoed meanwhile", o.Name)
		assert.Positive(t, o.AttackerOK, o.Name)
	}
	assert.Zero(t, rep.Population.Mismatched)
	assert.Equal(t, rep.Population.Sent, rep.Population.Echoed+rep.Population.InFlightAtClose)

	back, err := schema.ReadChaosReport(results)
	require.NoError(t, err)
	assert.Equal(t, rep.Pass, back.Pass)
	require.NotNil(t, back.Population)
	assert.Equal(t, rep.Population.Echoed, back.Population.Echoed)
	csv, err := os.ReadFile(filepath.Join(results, schema.ScenariosFile))
	require.NoError(t, err)
	assert.Equal(t, 1+3, strings.Count(string(csv), "\n"), "a header and a row per scenario:\n%s", csv)
}
