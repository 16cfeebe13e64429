package analysis

import (
	"cmp"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// A "versus" figure draws several summary metrics of one unit (Y) on one
// axis against a summary column (X), a line per metric through every
// arm's median: what was asked against what was answered (exp-8's
// keepalives offered and answered per second, by keepalive interval).

// versusFigures draws the figure: log axes where the values span more than
// tenfold, the repeats' min and max as faint lines.
func versusFigures(e *Experiment, f Figure) []pendingFigure {
	if f.X == "" || len(f.Y) == 0 {
		return skipFigure("versus figure %q: needs x and y", f.Title)
	}
	title := cmp.Or(f.Title, strings.Join(f.Y, ", ")+" vs "+f.X)
	type point struct{ x, lo, mid, hi float64 }
	styles := armStyles(len(f.Y))
	p := newPlot(axisTitle(e, f.X), versusYTitle(e, f.Y))
	p.Title.Text = title
	var xs, ys []float64
	for i, y := range f.Y {
		var pts []point
		for _, arm := range e.ArmNames() {
			sx, okX := e.Metric(f.X, arm)
			sy, okY := e.Metric(y, arm)
			if okX && okY && !math.IsNaN(sx.Median) && !math.IsNaN(sy.Median) {
				pts = append(pts, point{sx.Median, sy.Min, sy.Median, sy.Max})
			}
		}
		if len(pts) == 0 {
			continue
		}
		slices.SortFunc(pts, func(a, b point) int { return cmp.Compare(a.x, b.x) })
		var mid, lo, hi plotter.XYs
		for _, pt := range pts {
			mid, lo, hi = append(mid, plotter.XY{X: pt.x, Y: pt.mid}), append(lo, plotter.XY{X: pt.x, Y: pt.lo}), append(hi, plotter.XY{X: pt.x, Y: pt.hi})
			xs, ys = append(xs, pt.x), append(ys, pt.lo, pt.mid, pt.hi)
		}
		st := styles[i]
		line, dots, _ := plotter.NewLinePoints(mid)
		line.Color, line.Width, line.Dashes = st.Color, vg.Points(1.5), st.Dashes
		dots.Color, dots.Shape, dots.Radius = st.Color, st.Shape, vg.Points(3.5)
		p.Add(line, dots)
		p.Legend.Add(axisWords(y, e.MetricInfo(y)), line, dots)
		for _, ends := range []plotter.XYs{lo, hi} {
			if !slices.Equal(ends, mid) {
				faintLine, _ := plotter.NewLine(ends)
				faintLine.Color, faintLine.Width = faint(st.Color), vg.Points(0.75)
				p.Add(faintLine)
			}
		}
	}
	if len(xs) == 0 {
		return skipFigure("versus figure %q: no run measured %s and any of %s", title, f.X, strings.Join(f.Y, ", "))
	}
	if needsLog(xs) {
		setLog(&p.X)
	}
	p.X.Tick.Marker = pointTicks(xs)
	if needsLog(ys) {
		setLog(&p.Y)
		p.Y.Max *= 3 // headroom for the legend
	} else {
		p.Y.Min = math.Min(0, p.Y.Min)
		p.Y.Max *= 1.25
	}
	return []pendingFigure{{name: "fig-versus-" + slug(strings.Join(f.Y, "-")), title: title, panels: []*plot.Plot{p},
		caption: "A line per metric through each arm's median over repeats (faint: the repeats' min and max), the arms in order of " + axisWords(f.X, e.MetricInfo(f.X)) + "."}}
}

// versusYTitle titles the shared y axis by the metrics' common unit (the
// legend names the metrics), or lists them when their units differ.
func versusYTitle(e *Experiment, ys []string) string {
	unit := unitOf(e, ys[0])
	for _, y := range ys[1:] {
		if unitOf(e, y) != unit {
			return strings.Join(ys, ", ")
		}
	}
	if unit == "" {
		return "value"
	}
	return unit
}
