package analysis

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func curveExperiment() *Experiment {
	run := func(arm string, rep int, n, cost float64) Run {
		return Run{RunID: RunID{arm, rep}, Values: map[string]float64{"n": n, "cost": cost}}
	}
	return &Experiment{
		Meta: Meta{Metrics: []Metric{{Name: "n"}, {Name: "cost", Unit: "µs", Better: "lower"}},
			Arms:    []Arm{{Name: "sized.200k"}, {Name: "for1m.20k"}, {Name: "sized.20k"}, {Name: "for1m.200k"}},
			Figures: []Figure{{Kind: "curve", X: "n", Y: []string{"cost"}, Title: "Cost per echo"}}},
		Runs: []Run{
			run("sized.200k", 1, 200_000, 28), run("for1m.20k", 1, 20_000, 40), run("sized.20k", 1, 20_000, 17),
			run("for1m.200k", 1, 200_000, 42), run("sized.20k", 2, 20_000, 19),
		},
	}
}

// A family's points come in order of x whatever the arm order; families
// in order of their first arm.
func TestCurveTables(t *testing.T) {
	t.Parallel()
	views := curveTables(curveExperiment())
	require.Len(t, views, 1)
	assert.Contains(t, views[0].Heading, "Cost per echo")
	assert.Equal(t, []string{"family", "n", "cost (µs)"}, views[0].Table.Header)
	assert.Equal(t, [][]string{
		{"`sized`", "20,000", "18 µs"}, {"`sized`", "200,000", "28 µs"},
		{"`for1m`", "20,000", "40 µs"}, {"`for1m`", "200,000", "42 µs"},
	}, views[0].Table.Rows)

	e := curveExperiment()
	e.Meta.Figures[0].Kind = "bars"
	assert.Empty(t, curveTables(e), "no curve figure, no table")
}

func TestCurveFigure(t *testing.T) {
	t.Parallel()
	e := curveExperiment()
	e.Dir = t.TempDir()
	written, skipped, err := WriteFigures(e)
	require.NoError(t, err)
	assert.Empty(t, skipped)
	require.Len(t, written, 1)
	assert.Equal(t, "Cost per echo", written[0].Title)
	assert.FileExists(t, written[0].Base+".png")
	assert.FileExists(t, written[0].Base+".svg")

	// No run measured the metric: skipped, with the reason.
	e.Meta.Figures[0].Y = []string{"absent"}
	written, skipped, err = WriteFigures(e)
	require.NoError(t, err)
	assert.Empty(t, written)
	require.Len(t, skipped, 1)
	assert.Contains(t, skipped[0], "no run measured n and any of absent")
}

func TestPointTicks(t *testing.T) {
	t.Parallel()
	var labels []string
	for _, tick := range pointTicks([]float64{1e6, 20_000, 200_000, 20_000, 5}).Ticks(10, 2e6) {
		labels = append(labels, tick.Label)
	}
	assert.Equal(t, []string{"20k", "200k", "1M"}, labels, "sorted, once each, within the axis")
}
