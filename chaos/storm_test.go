package chaos

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/schema"
)

// A small reconnect storm against the real server binary: it is SIGKILLed
// under 2,000 verified connections and started again; every connection
// comes back with an echo verified on its new socket, none mismatched. Run
// alone (-only storm), it writes storm.json and storm.csv and leaves the
// suite's chaos.json alone.
func TestStormQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "c1m-server"), "./cmd/c1m-server")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "building c1m-server: %s", out)
	results := filepath.Join(dir, "chaos")
	var log strings.Builder
	rep, err := Run(context.Background(), Config{Bin: dir, Results: results, Quick: true, Only: []string{StormName}, Log: &log})
	t.Logf("storm log:\n%s", log.String())
	require.NoError(t, err)
	require.NotNil(t, rep.Storm)
	st := *rep.Storm
	assert.True(t, rep.Pass, "failed: %v", rep.Failed)
	assert.True(t, st.Pass, "failed: %v", st.Failures)
	const n = 2000
	assert.Equal(t, n, st.Scale.Conns)
	assert.GreaterOrEqual(t, st.Dropped, int64(n), "every connection saw the kill: %v", st.DroppedBy)
	assert.Zero(t, st.Lost)
	assert.Zero(t, st.Mismatched)
	assert.Positive(t, st.AllBackS)
	assert.GreaterOrEqual(t, st.AllBackS, st.AllOpenS, "verified again only once open again")
	assert.GreaterOrEqual(t, st.Attempts, int64(n), "every connection tried again")
	assert.GreaterOrEqual(t, st.Downtime.N, int64(n), "a downtime for every connection back")

	back, err := schema.ReadStorm(results)
	require.NoError(t, err)
	assert.Equal(t, st.AllBackS, back.AllBackS)
	samples, err := os.ReadFile(filepath.Join(results, schema.StormSamplesFile))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(samples), strings.Join(schema.StormSamplesHeader, ",")+"\n"))
	assert.NoFileExists(t, filepath.Join(results, schema.ChaosFile), "the storm alone leaves chaos.json alone")
}
