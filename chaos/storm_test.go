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

// A small reconnect storm against the real server binary, on each
// engine: it is SIGKILLed under 2,000 verified connections and started
// again; every connection comes back with an echo verified on its new
// socket, none mismatched; then the restarted server is sent SIGTERM and
// exits 0, and /stats was polled throughout. Run alone (-only storm), it
// writes storm-ENGINE.json and .csv and leaves the suite's chaos.json alone.
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
	assert.True(t, rep.Pass, "failed: %v", rep.Failed)
	require.Len(t, rep.Storms, 2)
	for i, engine := range schema.StormEngines {
		assertStormQuick(t, rep.Storms[i], engine)
	}

	back, err := schema.ReadStorms(results)
	require.NoError(t, err)
	require.Len(t, back, 2)
	for i, st := range back {
		assert.Equal(t, schema.StormEngines[i], st.Engine)
		assert.Equal(t, rep.Storms[i].AllBackS, st.AllBackS)
		_, samplesFile := schema.StormFiles(st.Engine)
		samples, err := os.ReadFile(filepath.Join(results, samplesFile))
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(samples), strings.Join(schema.StormSamplesHeader, ",")+"\n"))
	}
	assert.NoFileExists(t, filepath.Join(results, schema.StormFile), "one file per engine")
	assert.NoFileExists(t, filepath.Join(results, schema.ChaosFile), "the storm alone leaves chaos.json alone")
}

func assertStormQuick(t *testing.T, st schema.StormResult, engine string) {
	t.Helper()
	assert.Equal(t, engine, st.Engine)
	assert.Contains(t, strings.Join(st.ServerFlags, " "), "-engine "+engine)
	assert.True(t, st.Pass, "%s failed: %v", engine, st.Failures)
	const n = 2000
	assert.Equal(t, n, st.Scale.Conns)
	assert.GreaterOrEqual(t, st.Dropped, int64(n), "every connection saw the kill: %v", st.DroppedBy)
	assert.Zero(t, st.Lost)
	assert.Zero(t, st.Mismatched)
	assert.Positive(t, st.AllBackS)
	assert.GreaterOrEqual(t, st.AllBackS, st.AllOpenS, "verified again only once open again")
	assert.GreaterOrEqual(t, st.Attempts, int64(n), "every connection tried again")
	assert.GreaterOrEqual(t, st.Downtime.N, int64(n), "a downtime for every connection back")

	require.NotNil(t, st.Stop, "%s: a graceful stop", engine)
	assert.Equal(t, 0, st.Stop.ExitCode)
	assert.Positive(t, st.Stop.ExitS)
	assert.Positive(t, st.Stop.AllClosedS, "the client saw every connection closed")
	assert.Equal(t, int64(n), st.Stop.ConnsAtSignal)
	assert.Zero(t, st.Stop.Reestablished, "the client reconnects no more during the stop")
	assert.Empty(t, st.Stop.RetriesFailed, "the client reconnects no more during the stop")
	assert.Equal(t, int64(n), st.Stop.ClosedEOF+st.Stop.ClosedReset, "every connection closed by the stop, cleanly or reset: %v", st.Stop.ClosedBy)

	require.NotNil(t, st.Polls, "%s: /stats polled", engine)
	var names []string
	for _, ph := range st.Polls.Phases {
		names = append(names, ph.Name)
		if !ph.Excused && ph.Name != "stop" { // a stop of 2,000 may be over within one beat
			assert.Positive(t, ph.Polls, "%s: polls in phase %s", engine, ph.Name)
		}
	}
	assert.Equal(t, []string{"ramp", "outage", "reconnect", "stop"}, names)
	_, all := st.Polls.Slowest()
	assert.True(t, all, "%s: /stats answered every poll: %+v", engine, st.Polls.Phases)
}
