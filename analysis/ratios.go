package analysis

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"c1m/numfmt"
	"c1m/spread"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Ratio tables compare implementations against a baseline. An experiment
// that runs several implementations under several workloads names its arms
// IMPLEMENTATION.WORKLOAD (core.idle-10k, gnet.echo-1k-16B; an arm without
// a dot is an implementation under the one unnamed workload) and asks for
// a "ratios" figure naming the Baseline implementation and the metrics (Y;
// empty: every declared metric). The report then gives, per workload, each
// metric's median for every implementation and its ratio to the baseline's
// (ratioTables), and a figure of the ratios (ratioFigures).

// ratioView is one workload's table.
type ratioView struct {
	Heading string
	Table   table
}

// splitArm splits an arm name into its implementation and workload.
func splitArm(arm string) (impl, workload string) {
	impl, workload, _ = strings.Cut(arm, ".")
	return impl, workload
}

// ratioTables builds the tables of every "ratios" figure of e.
func ratioTables(e *Experiment) []ratioView {
	var out []ratioView
	for _, f := range e.Meta.Figures {
		if f.Kind == "ratios" {
			out = append(out, ratioTablesOf(e, f)...)
		}
	}
	return out
}

// ratioAxes lists the implementations (the baseline first, then in arm
// order), the workloads (in arm order) and the metrics of a ratios figure.
func ratioAxes(e *Experiment, f Figure) (impls, workloads, metrics []string) {
	impls = []string{f.Baseline}
	for _, arm := range e.ArmNames() {
		impl, w := splitArm(arm)
		if !slices.Contains(impls, impl) {
			impls = append(impls, impl)
		}
		if !slices.Contains(workloads, w) {
			workloads = append(workloads, w)
		}
	}
	metrics = f.Y
	if len(metrics) == 0 {
		for _, m := range e.Meta.Metrics {
			metrics = append(metrics, m.Name)
		}
	}
	return impls, workloads, metrics
}

// armOf is the arm of an implementation under a workload.
func armOf(impl, workload string) string {
	if workload == "" {
		return impl
	}
	return impl + "." + workload
}

func ratioTablesOf(e *Experiment, f Figure) []ratioView {
	impls, workloads, metrics := ratioAxes(e, f)
	var out []ratioView
	for _, w := range workloads {
		v := ratioView{Heading: fmt.Sprintf("Median over repeats; in brackets, the ratio to `%s`:", f.Baseline)}
		if w != "" {
			v.Heading = fmt.Sprintf("Workload `%s`, median over repeats; in brackets, the ratio to `%s`:", w, f.Baseline)
		}
		v.Table.Header = append([]string{"metric"}, quoteAll(impls)...)
		for _, name := range metrics {
			row, measured := ratioRow(e, name, w, impls)
			if measured {
				v.Table.Rows = append(v.Table.Rows, row)
			}
		}
		out = append(out, v)
	}
	return out
}

// ratioRow is one metric of one workload: the baseline's median, then each
// implementation's with its ratio to the baseline ("–": not measured).
func ratioRow(e *Experiment, metric, workload string, impls []string) (row []string, measured bool) {
	unit := unitOf(e, metric)
	row = []string{metricLabel(e, metric)}
	spreads := make([]Spread, len(impls))
	has := make([]bool, len(impls))
	for i, impl := range impls {
		spreads[i], has[i] = e.Metric(metric, armOf(impl, workload))
		measured = measured || has[i]
	}
	for i := range impls {
		switch {
		case !has[i]:
			row = append(row, "–")
		case i == 0 || !has[0] || spreads[0].Median <= 0 || spreads[i].Median <= 0: // a ratio of noise about 0 means nothing
			row = append(row, FormatQuantity(spreads[i].Median, unit))
		default:
			row = append(row, fmt.Sprintf("%s (%s×)", FormatQuantity(spreads[i].Median, unit),
				numfmt.Number(spread.RatioOfMedians(spreads[i], spreads[0]))))
		}
	}
	return row, measured
}

// ratioFigures draws a "ratios" figure: a panel per metric, the workloads
// along x and, for each implementation but the baseline, its ratio to the
// baseline as a dot on a log axis, the baseline the dashed line at 1.
func ratioFigures(e *Experiment, f Figure) []pendingFigure {
	impls, workloads, metrics := ratioAxes(e, f)
	var panels []*plot.Plot
	for _, metric := range metrics {
		p := newPlot("", "")
		p.Title.Text = axisLabel(e, metric) + ", ratio to " + f.Baseline
		if b := e.MetricInfo(metric).Better; b != "" {
			p.Title.Text += " (" + betterText(b) + ")"
		}
		drawn := false
		for i, impl := range impls[1:] {
			var pts plotter.XYs
			for x, w := range workloads {
				a, okA := e.Metric(metric, armOf(impl, w))
				b, okB := e.Metric(metric, armOf(f.Baseline, w))
				if r := spread.RatioOfMedians(a, b); okA && okB && r > 0 {
					// Implementations side by side within a workload's slot.
					pts = append(pts, plotter.XY{X: float64(x) + 0.6*(float64(i)+0.5)/float64(len(impls)-1) - 0.3, Y: r})
				}
			}
			if len(pts) == 0 {
				continue
			}
			dots, _ := plotter.NewScatter(pts)
			dots.GlyphStyle.Color, dots.GlyphStyle.Shape = plotutil.Color(i+1), plotutil.Shape(i)
			dots.GlyphStyle.Radius = vg.Points(4)
			p.Add(dots)
			p.Legend.Add(impl, dots)
			drawn = true
		}
		if !drawn {
			continue
		}
		one, _ := plotter.NewLine(plotter.XYs{{X: -0.5, Y: 1}, {X: float64(len(workloads)) - 0.5, Y: 1}})
		one.Color, one.Dashes = plotutil.Color(0), []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(one)
		p.Legend.Add(f.Baseline+" (1)", one)
		p.NominalX(workloads...)
		p.X.Min, p.X.Max = -0.5, float64(len(workloads))-0.5
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, ratioTicks{}
		p.Y.Min, p.Y.Max = math.Min(p.Y.Min/1.3, 0.5), math.Max(p.Y.Max*1.3, 2) // 1 always inside; room for the dots
		panels = append(panels, p)
	}
	title := cmp.Or(f.Title, "Ratios to "+f.Baseline)
	if len(panels) == 0 {
		return skipFigure("ratios figure %q: no workload measured by %s and another implementation", title, f.Baseline)
	}
	return []pendingFigure{{name: "fig-ratios-" + slug(f.Baseline), title: title, panels: panels,
		caption: "Each dot: an implementation's median over repeats divided by " + f.Baseline + "'s, for one workload (log scale; the dashed line is " + f.Baseline + " itself)."}}
}

// ratioTicks marks a log axis of ratios at 1-2-5 steps (0.5×, 1×, 2×, 5×,
// 10×): ratios often span less than a decade, where powers of ten alone
// would leave a single label.
type ratioTicks struct{}

func (ratioTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for exp := math.Floor(math.Log10(min)); math.Pow(10, exp) <= max; exp++ {
		for _, m := range []float64{1, 2, 5} {
			if v := m * math.Pow(10, exp); v >= min && v <= max {
				ticks = append(ticks, plot.Tick{Value: v, Label: numfmt.Number(v) + "×"})
			}
		}
	}
	return ticks
}
