package analysis

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ratioExperiment() *Experiment {
	run := func(arm string, rep int, v map[string]float64) Run {
		return Run{RunID: RunID{arm, rep}, Values: v}
	}
	return &Experiment{
		Meta: Meta{Metrics: []Metric{
			{Name: "bytes", Unit: "B", Better: "lower"},
			{Name: "rate", Unit: "msg/s", Better: "higher"},
		}, Figures: []Figure{{Kind: "ratios", Baseline: "core"}}},
		Runs: []Run{
			run("core.idle", 1, map[string]float64{"bytes": 100}),
			run("core.idle", 2, map[string]float64{"bytes": 120}),
			run("net.idle", 1, map[string]float64{"bytes": 1100}),
			run("core.echo", 1, map[string]float64{"rate": 1000}),
			run("net.echo", 1, map[string]float64{"rate": 500}),
			run("gnet.echo", 1, map[string]float64{"rate": 2000, "bytes": -5}),
			run("core.echo", 2, map[string]float64{"bytes": 7}),
		},
	}
}

func TestRatioTables(t *testing.T) {
	t.Parallel()
	views := ratioTables(ratioExperiment())
	require.Len(t, views, 2, "one table per workload")
	idle, echo := views[0], views[1]
	assert.Contains(t, idle.Heading, "`idle`")
	assert.Contains(t, idle.Heading, "`core`")
	assert.Equal(t, []string{"metric", "`core`", "`net`", "`gnet`"}, idle.Table.Header, "the baseline first, then in arm order")
	require.Len(t, idle.Table.Rows, 1, "a metric no arm of the workload measured is left out")
	assert.Equal(t, []string{"bytes (lower is better)", "110 B", "1,100 B (10×)", "–"}, idle.Table.Rows[0])
	require.Len(t, echo.Table.Rows, 2)
	assert.Equal(t, []string{"bytes (lower is better)", "7 B", "–", "-5 B"}, echo.Table.Rows[0], "no ratio of a value at or below 0")
	assert.Equal(t, []string{"rate (higher is better)", "1,000 msg/s", "500 msg/s (0.5×)", "2,000 msg/s (2×)"}, echo.Table.Rows[1])
}

// Arms without a dot are implementations under one workload; a missing
// baseline leaves the values without ratios.
func TestRatioTablesWithoutWorkloads(t *testing.T) {
	t.Parallel()
	e := &Experiment{
		Meta: Meta{Metrics: []Metric{{Name: "rate", Unit: "msg/s"}},
			Figures: []Figure{{Kind: "ratios", Baseline: "fdtables", Y: []string{"rate"}}}},
		Runs: []Run{{RunID: RunID{"prefork", 1}, Values: map[string]float64{"rate": 30}}},
	}
	views := ratioTables(e)
	require.Len(t, views, 1)
	assert.NotContains(t, views[0].Heading, "Workload")
	assert.Equal(t, [][]string{{"rate", "–", "30 msg/s"}}, views[0].Table.Rows)

	e.Meta.Figures = nil
	assert.Empty(t, ratioTables(e), "no ratios figure, no tables")
}

func TestRatioFigure(t *testing.T) {
	t.Parallel()
	e := ratioExperiment()
	e.Dir = t.TempDir()
	written, skipped, err := WriteFigures(e)
	require.NoError(t, err)
	assert.Empty(t, skipped)
	require.Len(t, written, 1)
	assert.Equal(t, "Ratios to core", written[0].Title)
	assert.FileExists(t, written[0].Base+".png")
	assert.FileExists(t, written[0].Base+".svg")

	// Nothing to divide: skipped, with the reason.
	e.Runs = e.Runs[:2]
	written, skipped, err = WriteFigures(e)
	require.NoError(t, err)
	assert.Empty(t, written)
	require.Len(t, skipped, 1)
	assert.Contains(t, skipped[0], "no workload measured by core and another implementation")
}
