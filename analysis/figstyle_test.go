package analysis

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/plot"

	"c1m/schema"
)

func TestNeedsLog(t *testing.T) {
	t.Parallel()
	assert.True(t, needsLog([]float64{13.8, 520, 8000}), "the core's 13.8 B beside 8 KB: a zero-height bar on a linear axis")
	assert.True(t, needsLog([]float64{1, 10.5}), "just over tenfold")
	assert.False(t, needsLog([]float64{1, 10}), "exactly tenfold is read on a linear axis")
	assert.False(t, needsLog([]float64{0, 1, 1e6}), "a zero cannot go on a log axis")
	assert.False(t, needsLog([]float64{-3, 5000}))
	assert.False(t, needsLog([]float64{42}), "one value spans nothing")
	assert.True(t, needsLog([]float64{math.NaN(), 2, 300, math.Inf(1)}), "NaN and Inf are not drawn, so not counted")

	assert.True(t, isFraction("echo_share"))
	assert.False(t, isFraction("echo_per_sec"))
}

// rgbDistance is the Euclidean distance of two colours in 8-bit RGB.
func rgbDistance(a, b color.Color) float64 {
	ar, ag, ab, _ := a.RGBA()
	br, bg, bb, _ := b.RGBA()
	d := func(x, y uint32) float64 { return float64(x>>8) - float64(y>>8) }
	return math.Sqrt(d(ar, br)*d(ar, br) + d(ag, bg)*d(ag, bg) + d(ab, bb)*d(ab, bb))
}

// No two arms of a figure share a colour, up to 20 arms clearly apart,
// past that still distinct.
func TestArmColorsDistinct(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 7, 8, 14, 20, 24, 40} {
		colors := armColors(n)
		require.Len(t, colors, n)
		least := math.Inf(1)
		for i := range colors {
			for j := range i {
				least = min(least, rgbDistance(colors[i], colors[j]))
			}
		}
		if n <= len(armPalette) {
			assert.Greater(t, least, 60.0, "%d arms: two colours too close", n)
		} else {
			assert.Greater(t, least, 10.0, "%d arms: two colours alike", n)
		}
	}
}

func TestArmStyles(t *testing.T) {
	t.Parallel()
	styles := armStyles(20)
	for i, s := range styles {
		if i < 10 {
			assert.Nil(t, s.Dashes, "arm %d: the first ten are solid", i)
		} else {
			assert.NotEmpty(t, s.Dashes, "arm %d: past ten, dashed as well", i)
		}
	}
	assert.NotEqual(t, styles[0].Shape, styles[1].Shape)
}

func TestAxisTitles(t *testing.T) {
	t.Parallel()
	e := &Experiment{Meta: Meta{Metrics: []Metric{
		{Name: "interval_s", Unit: "s", Help: "keepalive period (the factor)"},
		{Name: "odd_metric", Unit: "conn/s", Help: "connects a second: established ÷ ramp"},
		{Name: "verbose", Help: "a help text so long that it could never fit beside a panel of a figure at any size"},
		{Name: "bare"},
	}}}
	for name, want := range map[string]string{
		"conns_server":          "connections held by the server",
		"t_s":                   "time since start (s)",
		"kernel_bytes_per_conn": "kernel memory per connection (B)",
		"rtt_p99_us":            "round trip, 99th percentile (µs)",
		"odd_metric":            "connects a second (conn/s)", // help up to its explanation
		"verbose":               "verbose",                    // too long: the name
		"bare":                  "bare",
	} {
		assert.Equal(t, want, axisTitle(e, name), name)
	}
	assert.Equal(t, "keepalive interval (s)", axisTitle(e, "interval_s"), "the table before the help")
}

// A chart with a row per arm grows a row's height per arm, from a floor.
func TestRowsHeight(t *testing.T) {
	t.Parallel()
	assert.Equal(t, minChartHeight, rowsHeight(1))
	assert.InDelta(t, float64(rowHeight), float64(rowsHeight(20)-rowsHeight(19)), 1e-6)
	assert.Greater(t, rowsHeight(20), rowsHeight(14))
}

func TestLogTicks(t *testing.T) {
	t.Parallel()
	labels := func(lo, hi float64, label func(float64) string) []string {
		var out []string
		for _, tick := range (logTicks{label: label}).Ticks(lo, hi) {
			if tick.Label != "" {
				out = append(out, tick.Label)
			}
		}
		return out
	}
	assert.Equal(t, []string{"0.5×", "1×", "2×", "5×", "10×"}, labels(0.3, 12, ratioLabel), "a decade or so: 1-2-5")
	assert.Equal(t, []string{"10", "100", "1k", "10k"}, labels(9, 20000, siLabel), "past three decades: powers of ten")
}

func TestScaleGroups(t *testing.T) {
	t.Parallel()
	arms := []string{"a.echo-1k", "b.echo-1k", "a.ka-20k", "a.hold-1M", "b.hold-1M", "nodata"}
	peaks := map[string]float64{"a.echo-1k": 1000, "b.echo-1k": 990, "a.ka-20k": 20000, "a.hold-1M": 1e6, "b.hold-1M": 4e5}
	assert.Equal(t, [][]string{{"a.echo-1k", "b.echo-1k", "nodata"}, {"a.ka-20k"}, {"a.hold-1M", "b.hold-1M"}}, scaleGroups(arms, peaks))
	assert.Equal(t, [][]string{{"x", "y"}}, scaleGroups([]string{"x", "y"}, map[string]float64{"x": 1e6, "y": 2e5}), "within tenfold: one figure")
	assert.Equal(t, 1e6, roundOneDigit(998_000))
	assert.Equal(t, 20000.0, roundOneDigit(19_870))
}

// barsExperiment has n arms of metric values[i%len(values)].
func barsExperiment(n int, metric string, values ...float64) *Experiment {
	e := &Experiment{Meta: Meta{Metrics: []Metric{{Name: metric, Unit: "B"}}, Figures: []Figure{{Kind: "bars", Metric: metric}}}}
	for i := range n {
		arm := "arm-" + strconv.Itoa(i)
		e.Meta.Arms = append(e.Meta.Arms, Arm{Name: arm})
		e.Runs = append(e.Runs, Run{RunID: RunID{arm, 1}, Values: map[string]float64{metric: values[i%len(values)]}})
	}
	return e
}

func TestBarsFigure(t *testing.T) {
	t.Parallel()
	for _, n := range []int{4, 14, 20} {
		figs := barsFigures(barsExperiment(n, "user_bytes", 500), Figure{Kind: "bars", Metric: "user_bytes"})
		require.Len(t, figs, 1)
		assert.Equal(t, rowsHeight(n), figs[0].panelHeight, "%d arms: a row each", n)
		assert.IsType(t, plot.LinearScale{}, figs[0].panels[0].X.Scale)
	}
	figs := barsFigures(barsExperiment(4, "user_bytes", 13.8, 520, 530, 8000), Figure{Kind: "bars", Metric: "user_bytes"})
	assert.IsType(t, plot.LogScale{}, figs[0].panels[0].X.Scale, "13.8 B beside 8 KB: log")
	assert.Contains(t, figs[0].caption, "Log scale")
	assert.Equal(t, "user_bytes (B)", figs[0].panels[0].X.Label.Text)

	figs = barsFigures(barsExperiment(3, "echo_share", 0.02, 0.5, 1), Figure{Kind: "bars", Metric: "echo_share"})
	assert.IsType(t, plot.LinearScale{}, figs[0].panels[0].X.Scale, "a share stays linear from 0")
	assert.Equal(t, 0.0, figs[0].panels[0].X.Min)
}

// A ratios figure of ten metrics under five workloads is about as wide as
// it is tall, not one panel per metric stacked.
func TestRatioFigureShape(t *testing.T) {
	t.Parallel()
	e := &Experiment{Meta: Meta{Figures: []Figure{{Kind: "ratios", Baseline: "epoll"}}}}
	for k := range 10 {
		e.Meta.Metrics = append(e.Meta.Metrics, Metric{Name: fmt.Sprintf("m%d", k), Better: "lower"})
	}
	for w := range 5 {
		for _, impl := range []string{"epoll", "uring", "uring-defer"} {
			values := map[string]float64{}
			for k := range 10 {
				values[fmt.Sprintf("m%d", k)] = float64(1 + k + w + len(impl))
			}
			e.Runs = append(e.Runs, Run{RunID: RunID{fmt.Sprintf("%s.w%d", impl, w), 1}, Values: values})
		}
	}
	figs := ratioFigures(e, e.Meta.Figures[0])
	require.Len(t, figs, 1)
	assert.Len(t, figs[0].panels, 5, "a panel per workload")
	w, h := figs[0].layout().size(len(figs[0].panels))
	assert.Less(t, float64(h/w), 1.5)
	assert.Greater(t, float64(h/w), 0.5)
	assert.Equal(t, "m0 ↓", figs[0].panels[0].Y.Tick.Marker.Ticks(-1, 20)[9].Label, "the left column names the rows, the first on top")
}

func TestLabelTimes(t *testing.T) {
	t.Parallel()
	p := newPlot("x", "round trip (µs)")
	setLog(&p.Y)
	labelTimes(&p.Y, "µs")
	assert.Equal(t, "round trip", p.Y.Label.Text, "the ticks carry the unit")
	var labels []string
	for _, tick := range p.Y.Tick.Marker.Ticks(500, 5e6) {
		if tick.Label != "" {
			labels = append(labels, tick.Label)
		}
	}
	assert.Equal(t, []string{"1 ms", "10 ms", "100 ms", "1 s"}, labels)
}

func TestVersusFigure(t *testing.T) {
	t.Parallel()
	e := &Experiment{Dir: t.TempDir(), Meta: Meta{
		Metrics: []Metric{{Name: "interval_s", Unit: "s"}, {Name: "offered_per_sec", Unit: "msg/s"}, {Name: "echo_per_sec", Unit: "msg/s"}},
		Figures: []Figure{{Kind: "versus", X: "interval_s", Y: []string{"offered_per_sec", "echo_per_sec"}, Title: "Offered and answered"}}}}
	for _, iv := range []float64{60, 30, 10, 1} {
		arm := strconv.Itoa(int(iv)) + "s"
		e.Runs = append(e.Runs, Run{RunID: RunID{arm, 1}, Values: map[string]float64{"interval_s": iv, "offered_per_sec": 1e6 / iv, "echo_per_sec": min(1e6/iv, 84000)}})
	}
	written, skipped, err := WriteFigures(e)
	require.NoError(t, err)
	assert.Empty(t, skipped)
	require.Len(t, written, 1)
	assert.Equal(t, "fig-versus-offered_per_sec-echo_per_sec", filepath.Base(written[0].Base))
	figs := versusFigures(e, e.Meta.Figures[0])
	assert.IsType(t, plot.LogScale{}, figs[0].panels[0].Y.Scale, "16.7k to 1M a second")
	assert.Equal(t, "msg/s", figs[0].panels[0].Y.Label.Text)
}

// Figures the report no longer draws are deleted; other files are not.
func TestRemoveStaleFigures(t *testing.T) {
	t.Parallel()
	e := barsExperiment(2, "user_bytes", 1, 2)
	e.Dir = t.TempDir()
	for _, name := range []string{"fig-old.png", "fig-old.svg", "summary.csv", "figure-notes.png"} {
		require.NoError(t, os.WriteFile(filepath.Join(e.Dir, name), []byte("x"), 0o644))
	}
	written, _, err := WriteFigures(e)
	require.NoError(t, err)
	require.Len(t, written, 1)
	assert.NoFileExists(t, filepath.Join(e.Dir, "fig-old.png"))
	assert.NoFileExists(t, filepath.Join(e.Dir, "fig-old.svg"))
	assert.FileExists(t, filepath.Join(e.Dir, "summary.csv"))
	assert.FileExists(t, filepath.Join(e.Dir, "figure-notes.png"), "only fig-* files are the report's")
	assert.FileExists(t, written[0].Base+".png")
}

func TestNiceTicks(t *testing.T) {
	t.Parallel()
	labels := func(lo, hi float64) []string {
		var out []string
		for _, tick := range (siTicks{Ticker: niceTicks{}}).Ticks(lo, hi) {
			if tick.Label != "" {
				out = append(out, tick.Label)
			}
		}
		return out
	}
	assert.Equal(t, []string{"0", "500k", "1M", "1.5M", "2M"}, labels(0, 2.15e6))
	assert.Equal(t, []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}, labels(0, 1))
	assert.Equal(t, []string{"40", "60", "80", "100", "120", "140"}, labels(30, 150))
	assert.Empty(t, labels(1, 1))
}

// Bars are grouped by workload: a gap before each new workload's arms.
func TestBarRowsGroupByWorkload(t *testing.T) {
	t.Parallel()
	b := hbars{names: []string{"epoll.echo-1k", "uring.echo-1k", "epoll.hold-1M", "uring.hold-1M"}}
	assert.InDelta(t, 3+workloadGap, b.top(), 1e-9)
	var rows []float64
	for i := range b.names {
		rows = append(rows, b.row(i))
	}
	assert.InDeltaSlice(t, []float64{3 + workloadGap, 2 + workloadGap, 1, 0}, rows, 1e-9, "the first arm on top")
	plain := hbars{names: []string{"pinned", "unpinned", "workers-1"}}
	assert.InDelta(t, 2.0, plain.top(), 1e-9, "arms without a workload: no gaps")
}

// A keepalive-cost experiment gets the offered-against-answered figure
// first, whether or not it declares it (its committed meta.json may predate it).
func TestKeepaliveCostImpliesOfferedAgainstAnswered(t *testing.T) {
	t.Parallel()
	m := Meta{Feeds: []string{schema.FeedKeepaliveCost}, Figures: []Figure{{Kind: "bars", Metric: "echo_share"}}}
	figs := figuresOf(m)
	require.Len(t, figs, 2)
	assert.Equal(t, "versus", figs[0].Kind)
	assert.Equal(t, []string{"offered_per_sec", "echo_per_sec"}, figs[0].Y)
	m.Figures = figs
	assert.Len(t, figuresOf(m), 2, "a declared versus figure is not drawn twice")
	assert.Len(t, figuresOf(Meta{Figures: []Figure{{Kind: "bars"}}}), 1, "other experiments draw what they declare")
}
