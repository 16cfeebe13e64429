package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/schema"
)

// Re-deriving recomputes what comes from the samples and the client's
// result, keeps what does not (an arm's own counters), applies the
// experiment's Derive, and notes it in meta.json.
func TestRederive(t *testing.T) {
	t.Parallel()
	results := t.TempDir()
	dir := filepath.Join(results, "exp-42")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	m := &meta{schema.Meta{ID: "exp-42", Number: 42, Notes: []string{"the run's own note"},
		Arms: []schema.Arm{{Name: "a", Params: map[string]float64{"interval_s": 5}}}}}
	old := []summaryRow{{Arm: "a", Rep: 1, Metrics: map[string]float64{"echo_per_sec": 1, "drop_share": 0.25, "server_cpu_cores": 99}}}
	metrics := append(Metrics("echo_per_sec", "server_cpu_cores", "host_busy_cores"),
		Metric{Name: "drop_share"}, Metric{Name: "interval_s"}, Metric{Name: "echo_per_interval"})
	require.NoError(t, writeResults(dir, m, metrics, old))
	require.NoError(t, writeSamples(filepath.Join(dir, "samples-a-r1.csv"), fixtureRows()))
	res := clientResult{Established: 1000, HoldSeconds: 5, Echoed: 2000, BytesReceived: 22_000, RttHoldUs: pcts{N: 1000}}
	b, err := json.Marshal(res)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "client-a-r1.json"), b, 0o644))

	e := Experiment{Number: 42, Title: "now", Metrics: metrics, Derive: func(arm Arm, m map[string]float64) {
		m["echo_per_interval"] = m["echo_per_sec"] * arm.Params["interval_s"]
	}}
	require.NoError(t, Rederive(e, results))

	rows, err := readSummary(filepath.Join(dir, "summary.csv"))
	require.NoError(t, err)
	require.Len(t, rows, 1)
	got := rows[0].Metrics
	assert.Equal(t, 200.0, got["echo_per_sec"], "recomputed: 1000 echoes in the 5 s hold")
	assert.Equal(t, 1.0, got["server_cpu_cores"], "recomputed from the samples")
	assert.Equal(t, 1.5, got["host_busy_cores"], "a metric the old derivation lacked")
	assert.Equal(t, 0.25, got["drop_share"], "not derivable from the raw files: kept")
	assert.Equal(t, 1000.0, got["echo_per_interval"], "the experiment's Derive ran")

	var after schema.Meta
	b, err = os.ReadFile(filepath.Join(dir, "meta.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &after))
	require.Len(t, after.Notes, 2)
	assert.Equal(t, "the run's own note", after.Notes[0])
	assert.Contains(t, after.Notes[1], "re-derived")
	assert.Equal(t, "now", after.Title, "the declared analysis follows the code")
	assert.Equal(t, "a", after.Arms[0].Name, "what ran stays")
}

func TestRederiveWithoutARunNamesTheFix(t *testing.T) {
	t.Parallel()
	err := Rederive(Experiment{Number: 42}, t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "make exp-42")
}
