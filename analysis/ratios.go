package analysis

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"c1m/numfmt"
	"c1m/spread"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
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

// ratioFigures draws a "ratios" figure: a panel per workload, a row per
// metric and, for each implementation but the baseline, its ratio to the
// baseline as a dot on a log axis, the baseline the dashed line at 1.
// Panels go two to a row past two workloads, so that ten metrics under
// five workloads make a figure about as wide as it is tall.
func ratioFigures(e *Experiment, f Figure) []pendingFigure {
	impls, workloads, metrics := ratioAxes(e, f)
	styles := armStyles(len(impls))
	ratio := func(impl, w, metric string) (float64, bool) {
		a, okA := e.Metric(metric, armOf(impl, w))
		b, okB := e.Metric(metric, armOf(f.Baseline, w))
		r := spread.RatioOfMedians(a, b)
		return r, okA && okB && r > 0 && !math.IsNaN(r) && !math.IsInf(r, 0)
	}
	// The same rows in every panel, so that only the left column names them:
	// the metrics with a ratio under some workload, in the figure's order.
	var rows []string
	for _, metric := range metrics {
		for _, w := range workloads {
			for _, impl := range impls[1:] {
				if _, ok := ratio(impl, w, metric); ok && !slices.Contains(rows, metric) {
					rows = append(rows, metric)
				}
			}
		}
	}
	title := cmp.Or(f.Title, "Ratios to "+f.Baseline)
	if len(rows) == 0 {
		return skipFigure("ratios figure %q: no workload measured by %s and another implementation", title, f.Baseline)
	}
	var drawn []string
	var dots [][]*plotter.Scatter
	for _, w := range workloads {
		var ws []*plotter.Scatter
		for i, impl := range impls[1:] {
			var pts plotter.XYs
			for row, metric := range rows {
				if r, ok := ratio(impl, w, metric); ok {
					// Implementations side by side within a metric's row, the first row on top.
					pts = append(pts, plotter.XY{X: r, Y: float64(len(rows)-1-row) - dotOffset(i, len(impls)-1)})
				}
			}
			if len(pts) > 0 {
				d, _ := plotter.NewScatter(pts)
				d.GlyphStyle.Color, d.GlyphStyle.Shape = styles[i+1].Color, styles[i+1].Shape
				d.GlyphStyle.Radius = vg.Points(4)
				ws = append(ws, d)
			}
		}
		if len(ws) > 0 {
			drawn, dots = append(drawn, w), append(dots, ws)
		}
	}
	pf := pendingFigure{name: "fig-ratios-" + slug(f.Baseline), title: title, panelHeight: rowsHeight(len(rows) + legendRows(len(impls)))}
	if len(drawn) > 2 {
		pf.cols, pf.width = 2, 2*figureWidth*3/4
	}
	for k, w := range drawn {
		labelled := pf.cols < 2 || k%2 == 0
		pf.panels = append(pf.panels, ratioPanel(e, f, w, impls, rows, dots[k], labelled, styles[0].Color))
	}
	pf.caption = "A panel per workload. Each dot: an implementation's median over repeats divided by " + f.Baseline +
		"'s, for one metric (log scale; the dashed line is " + f.Baseline + " itself). ↓: lower is better; ↑: higher is better."
	return []pendingFigure{pf}
}

// legendRows is the room, in rows, a legend of n entries takes above a
// panel's rows.
func legendRows(n int) int { return int(math.Ceil(0.7 * float64(n))) }

// dotOffset spreads k implementations' dots over a row, the i-th's offset.
func dotOffset(i, k int) float64 {
	return 0.5 * ((float64(i)+0.5)/float64(k) - 0.5)
}

// ratioPanel is one workload's panel: metrics (rows, top down, named when
// labelled) along y, the ratio along a log x, a legend of the
// implementations above the rows.
func ratioPanel(e *Experiment, f Figure, workload string, impls, rows []string, dots []*plotter.Scatter, labelled bool, baseColor color.Color) *plot.Plot {
	p := newCategoryPlot("ratio to " + f.Baseline + " (log scale)")
	p.Title.Text = "all runs"
	if workload != "" {
		p.Title.Text = "workload " + workload
	}
	n := float64(len(rows))
	lo, hi := 0.5, 2.0 // 1 always inside
	for _, d := range dots {
		for _, xy := range d.XYs {
			lo, hi = min(lo, xy.X), max(hi, xy.X)
		}
	}
	one, _ := plotter.NewLine(plotter.XYs{{X: 1, Y: -0.5}, {X: 1, Y: n - 0.5}})
	one.Color, one.Dashes = baseColor, []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(one)
	p.Legend.Add(f.Baseline+" (1×)", one)
	for i, d := range dots {
		p.Add(d)
		p.Legend.Add(impls[i+1], d)
	}
	names := make([]string, len(rows))
	for i, metric := range rows {
		if labelled {
			names[len(rows)-1-i] = ratioRowTitle(e, metric)
		}
	}
	p.NominalY(names...)
	p.Y.Min, p.Y.Max = -0.6, n-0.4+float64(legendRows(len(impls)))
	p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, logTicks{label: ratioLabel}
	p.X.Min, p.X.Max = lo/1.4, hi*1.4
	p.Legend.Top = true
	return p
}

// ratioRowTitle is a metric in words with an arrow for which way is better.
func ratioRowTitle(e *Experiment, metric string) string {
	m := e.MetricInfo(metric)
	words := axisWords(metric, m)
	switch m.Better {
	case "lower":
		return words + " ↓"
	case "higher":
		return words + " ↑"
	}
	return words
}
