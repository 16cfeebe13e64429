package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/analysis"
	"c1m/procfs"
	"c1m/schema"
)

// declaring is an experiment that feeds a summary block, with two arms
// that declare their roles and one that declares none.
func declaring() Experiment {
	return Experiment{Number: 42, Title: "declared", Metrics: Metrics("established"),
		Feeds: []string{schema.FeedPeersAtMillion},
		Arms: func(Scale) []Arm {
			return []Arm{
				{Name: "x.quiet", Role: Role{Server: "x", Workload: schema.WorkloadIdle}},
				{Name: "x.busy", Role: Role{Server: "x", Workload: schema.WorkloadKeepalive}},
				{Name: "other"},
			}
		}}
}

// What a run declares, the harness writes into meta.json and the analysis
// reads back: the summary feeds, each arm's role and the server logs'
// problems.
func TestDeclarationsRoundTrip(t *testing.T) {
	t.Parallel()
	e := declaring()
	dir := filepath.Join(t.TempDir(), "exp-42")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	arms := e.Arms(Scale{Name: "full"})
	m := newMeta(e, Options{Scale: Scale{Name: "full"}}, arms, 1, procfs.New(t.TempDir()))
	writeFile(t, runFile(dir, "server", "x.busy", 1, "log"), "listening on 127.0.0.1:9876\n"+
		`{"conns": 5, "errors": 0}`+"\nchild 7 exited: signal: killed\nstill serving\n")
	for _, a := range arms {
		m.noteServerProblem(dir, a.Name, 1)
	}
	require.NoError(t, writeResults(dir, m, e.Metrics, []summaryRow{{Arm: "x.quiet", Rep: 1, Metrics: map[string]float64{"established": 3}}}))

	got, err := analysis.LoadExperiment(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{schema.FeedPeersAtMillion}, got.Meta.Feeds)
	assert.Equal(t, schema.Role{Server: "x", Workload: schema.WorkloadIdle}, got.ArmRole("x.quiet"))
	assert.Equal(t, schema.Role{Server: "x", Workload: schema.WorkloadKeepalive}, got.ArmRole("x.busy"))
	assert.Zero(t, got.ArmRole("other"))
	assert.Equal(t, "child 7 exited: signal: killed", got.ServerProblem("x.busy", 1), "the last problem line; stats JSON is not one")
	assert.Empty(t, got.ServerProblem("x.quiet", 1), "no log, no problem")
}

// A committed run recorded before the declarations existed gets them
// from the experiment's code when re-derived; an arm without a role
// writes no "role" key, so meta.json stays as it was for it.
func TestRederiveDeclares(t *testing.T) {
	t.Parallel()
	results := t.TempDir()
	dir := filepath.Join(results, "exp-42")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	m := &meta{schema.Meta{ID: "exp-42", Number: 42, Repeats: 1, Scale: "full", Notes: []string{},
		Arms: []schema.Arm{{Name: "x.quiet"}, {Name: "other"}}}}
	require.NoError(t, writeResults(dir, m, nil, []summaryRow{{Arm: "x.quiet", Rep: 1, Metrics: map[string]float64{}}}))
	require.NoError(t, writeSamples(runFile(dir, "samples", "x.quiet", 1, "csv"), fixtureRows()))
	writeFile(t, runFile(dir, "client", "x.quiet", 1, "json"), `{"established": 1000}`)
	writeFile(t, runFile(dir, "server", "other", 1, "log"), "accept: too many open files\n")

	require.NoError(t, Rederive(declaring(), results))
	got, err := analysis.LoadExperiment(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{schema.FeedPeersAtMillion}, got.Meta.Feeds)
	assert.Equal(t, schema.Role{Server: "x", Workload: schema.WorkloadIdle}, got.ArmRole("x.quiet"))
	assert.Equal(t, []schema.ServerProblem{{Arm: "other", Rep: 1, Line: "accept: too many open files"}}, got.Meta.ServerProblems)

	var raw struct {
		Arms []map[string]json.RawMessage `json:"arms"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &raw))
	assert.Contains(t, raw.Arms[0], "role")
	assert.NotContains(t, raw.Arms[1], "role")
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

// The machine's calibration, measured before any load, reaches meta.json
// and the analysis reads it back.
func TestCalibrationReachesMetaJSON(t *testing.T) {
	t.Parallel()
	e := declaring()
	dir := filepath.Join(t.TempDir(), "exp-42")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	m := newMeta(e, Options{Scale: Scale{Name: "quick"}}, e.Arms(Scale{Name: "quick"}), 1, procfs.New(t.TempDir()))
	m.calibrate(t.Logf)
	require.NoError(t, writeResults(dir, m, e.Metrics, nil))

	got, err := analysis.LoadExperiment(dir)
	require.NoError(t, err)
	c := got.Meta.Env.Calibration
	assert.True(t, c.Measured())
	assert.Positive(t, c.CtxSwitchNs)
	assert.Positive(t, c.LoopbackRTTUs)
}
