package analysis

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// A "curve" figure draws summary metrics (Y) against a summary column (X,
// e.g. the connection count an arm was set to), one line per arm family:
// arms are named FAMILY.POINT (sized.200k, for1m.1M), and a family's line
// joins its arms' medians in order of X. The report also gives a table
// per curve figure: a row per arm, grouped by family, a column per metric.

// curvePoint is one arm of a family: its X and, per metric, its spread.
type curvePoint struct {
	arm string
	x   float64
}

// curveFamilies lists the families in arm order, each with its arms that
// measured X, sorted by X.
func curveFamilies(e *Experiment, x string) (names []string, points map[string][]curvePoint) {
	points = map[string][]curvePoint{}
	for _, arm := range e.ArmNames() {
		sx, ok := e.Metric(x, arm)
		if !ok {
			continue
		}
		family, _ := splitArm(arm)
		if _, seen := points[family]; !seen {
			names = append(names, family)
		}
		points[family] = append(points[family], curvePoint{arm: arm, x: sx.Median})
	}
	for _, f := range names {
		slices.SortStableFunc(points[f], func(a, b curvePoint) int { return cmp.Compare(a.x, b.x) })
	}
	return names, points
}

// curveFigures draws a panel per metric of f.Y, a line per family.
func curveFigures(e *Experiment, f Figure) []pendingFigure {
	if f.X == "" || len(f.Y) == 0 {
		return skipFigure("curve figure %q: needs x and y", f.Title)
	}
	title := cmp.Or(f.Title, strings.Join(f.Y, ", ")+" vs "+f.X)
	families, points := curveFamilies(e, f.X)
	styles := armStyles(len(families))
	var panels []*plot.Plot
	var missing []string
	for _, y := range f.Y {
		p := newPlot(axisTitle(e, f.X), axisTitle(e, y))
		var xs, ys []float64
		for i, family := range families {
			var pts, lows, highs plotter.XYs
			for _, pt := range points[family] {
				sp, ok := e.Metric(y, pt.arm)
				if !ok || math.IsNaN(sp.Median) || math.IsInf(sp.Median, 0) {
					continue
				}
				pts = append(pts, plotter.XY{X: pt.x, Y: sp.Median})
				lows = append(lows, plotter.XY{X: pt.x, Y: sp.Min})
				highs = append(highs, plotter.XY{X: pt.x, Y: sp.Max})
				xs, ys = append(xs, pt.x), append(ys, sp.Min, sp.Median, sp.Max)
			}
			if len(pts) == 0 {
				continue
			}
			line, dots, _ := plotter.NewLinePoints(pts)
			st := styles[i]
			line.Color, line.Width, line.Dashes = st.Color, vg.Points(1.5), st.Dashes
			dots.Color, dots.Shape, dots.Radius = st.Color, st.Shape, vg.Points(3)
			p.Add(line, dots)
			p.Legend.Add(family, line, dots)
			for _, ends := range []plotter.XYs{lows, highs} { // the repeats' range, faint
				if slices.Equal(ends, pts) {
					continue
				}
				faintLine, _ := plotter.NewLine(ends)
				faintLine.Color, faintLine.Width = faint(st.Color), vg.Points(0.75)
				p.Add(faintLine)
			}
		}
		if len(xs) == 0 {
			missing = append(missing, y)
			continue
		}
		if needsLog(xs) { // so that small N are not crowded
			setLog(&p.X)
		}
		p.X.Tick.Marker = pointTicks(xs) // the arms' own x values, labelled
		if needsLog(ys) && !isFraction(y) {
			setLog(&p.Y)
			p.Y.Max *= math.Pow(1.6, float64(len(families))) // headroom for the legend
		} else {
			p.Y.Min = math.Min(0, p.Y.Min)               // costs are drawn from zero
			p.Y.Max *= 1.15 + 0.1*float64(len(families)) // headroom for the legend
		}
		labelTimes(&p.Y, unitOf(e, y))
		p.Legend.Left = true
		panels = append(panels, p)
	}
	if len(panels) == 0 {
		return skipFigure("curve figure %q: no run measured %s and any of %s", title, f.X, strings.Join(f.Y, ", "))
	}
	panels[0].Title.Text = title
	caption := "One line per arm family (arms named FAMILY.POINT), through each arm's median over repeats; faint lines: the repeats' min and max."
	if len(missing) > 0 {
		caption = "Not measured: " + strings.Join(missing, ", ") + ". " + caption
	}
	return []pendingFigure{{name: "fig-curve-" + slug(strings.Join(f.Y, "-")), title: title, caption: caption, panels: panels}}
}

// curveTables gives, for every curve figure, a table with a row per arm
// (families in arm order, each by X) and a column per metric: medians.
func curveTables(e *Experiment) []ratioView {
	var out []ratioView
	for _, f := range e.Meta.Figures {
		if f.Kind != "curve" || f.X == "" {
			continue
		}
		families, points := curveFamilies(e, f.X)
		v := ratioView{Heading: fmt.Sprintf("*%s* in numbers, median over repeats:", cmp.Or(f.Title, strings.Join(f.Y, ", ")+" vs "+f.X))}
		v.Table.Header = []string{"family", axisLabel(e, f.X)}
		for _, y := range f.Y {
			v.Table.Header = append(v.Table.Header, axisLabel(e, y))
		}
		for _, family := range families {
			for _, pt := range points[family] {
				row := []string{"`" + family + "`", FormatQuantity(pt.x, unitOf(e, f.X))}
				for _, y := range f.Y {
					if sp, ok := e.Metric(y, pt.arm); ok {
						row = append(row, FormatQuantity(sp.Median, unitOf(e, y)))
					} else {
						row = append(row, "–")
					}
				}
				v.Table.Rows = append(v.Table.Rows, row)
			}
		}
		out = append(out, v)
	}
	return out
}

// pointTicks labels an axis at the given values (the arms' settings),
// deduplicated, in SI form (20k, 1M).
type pointTicks []float64

func (t pointTicks) Ticks(min, max float64) []plot.Tick {
	vals := slices.Clone([]float64(t))
	slices.Sort(vals)
	var ticks []plot.Tick
	for _, v := range slices.Compact(vals) {
		if v >= min && v <= max {
			ticks = append(ticks, plot.Tick{Value: v, Label: siLabel(v)})
		}
	}
	return ticks
}
