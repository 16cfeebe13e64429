package analysis

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// FigureFile is a figure written as Base+".png" and Base+".svg".
type FigureFile struct {
	Base    string // e.g. results/exp-1/fig-series-kernel_bytes_per_conn
	Kind    string // the meta.json figure's kind: series, bars, ...
	Title   string
	Caption string
}

// Figure sizes: one panel per y column, stacked.
const (
	figureWidth = 8 * vg.Inch
	panelHeight = 3.6 * vg.Inch
)

// WriteFigures draws every figure e's meta.json asks for into e.Dir. A
// figure without data is skipped, and the reason is returned in skipped.
func WriteFigures(e *Experiment) (written []FigureFile, skipped []string, err error) {
	names := map[string]bool{}
	unique := func(name string) string {
		base := name
		for i := 2; names[name]; i++ {
			name = base + "-" + strconv.Itoa(i)
		}
		names[name] = true
		return filepath.Join(e.Dir, name)
	}
	for _, f := range e.Meta.Figures {
		var figs []pendingFigure
		switch f.Kind {
		case "series":
			figs = seriesFigures(e, f)
		case "timeline":
			figs = timelineFigures(e, f)
		case "bars":
			figs = barsFigures(e, f)
		case "ratios":
			figs = ratioFigures(e, f) // and tables in the report (ratios.go)
		case "curve":
			figs = curveFigures(e, f) // and tables in the report (curve.go)
		default:
			skipped = append(skipped, fmt.Sprintf("figure kind %q is unknown (want series, bars, timeline, ratios or curve)", f.Kind))
			continue
		}
		for _, pf := range figs {
			if pf.skip != "" {
				skipped = append(skipped, pf.skip)
				continue
			}
			ff := FigureFile{Base: unique(pf.name), Kind: f.Kind, Title: pf.title, Caption: pf.caption}
			if err := savePanels(ff.Base, pf.panels); err != nil {
				return written, skipped, err
			}
			written = append(written, ff)
		}
	}
	return written, skipped, nil
}

// pendingFigure is a figure drawn but not yet saved, or the reason it was not drawn.
type pendingFigure struct {
	name, title, caption string
	panels               []*plot.Plot
	skip                 string
}

func skipFigure(format string, a ...any) []pendingFigure {
	return []pendingFigure{{skip: fmt.Sprintf(format, a...)}}
}

// seriesFigures draws y against x, one panel per y, one line per arm (its
// first repeat solid, the other repeats faint), over the rows curveRows
// picks. A stack list adds a figure per arm with the listed slab caches
// stacked per connection.
func seriesFigures(e *Experiment, f Figure) []pendingFigure {
	if f.X == "" || len(f.Y) == 0 {
		return skipFigure("series figure %q: needs x and y", f.Title)
	}
	title := cmp.Or(f.Title, strings.Join(f.Y, ", ")+" vs "+f.X)
	out := linesFigure(e, "series", title, f.X, f.Y)
	if len(f.Stack) > 0 {
		for _, arm := range e.ArmNames() {
			out = append(out, stackFigure(e, f, arm))
		}
	}
	return out
}

// timelineFigures draws y against time, one panel per y, one line per arm.
func timelineFigures(e *Experiment, f Figure) []pendingFigure {
	if len(f.Y) == 0 {
		return skipFigure("timeline figure %q: needs y", f.Title)
	}
	title := cmp.Or(f.Title, strings.Join(f.Y, ", ")+" over time")
	return linesFigure(e, "timeline", title, "t_s", f.Y)
}

func linesFigure(e *Experiment, kind, title, x string, ys []string) []pendingFigure {
	curve := kind == "series"
	var panels []*plot.Plot
	var missing []string
	for _, y := range ys {
		p := newPlot(axisLabel(e, x), axisLabel(e, y))
		var xs []float64
		for i, arm := range e.ArmNames() {
			reps := repsOf(e.Samples, arm)
			for _, rep := range reps {
				pts := samplePoints(e.Samples[RunID{arm, rep}], x, y, curve)
				if len(pts) == 0 {
					continue
				}
				line, _ := plotter.NewLine(pts)
				line.Color, line.Width = plotutil.Color(i), vg.Points(1.5)
				if rep != reps[0] {
					line.Color, line.Width = faint(plotutil.Color(i)), vg.Points(0.75)
				} else {
					p.Legend.Add(arm, line)
				}
				p.Add(line)
				for _, pt := range pts {
					xs = append(xs, pt.X)
				}
			}
		}
		if len(xs) == 0 {
			missing = append(missing, y)
			continue
		}
		if wideRange(xs) {
			setLog(&p.X)
		}
		if p.Y.Min > 0 {
			p.Y.Min = 0 // quantities that cannot go below zero are drawn from zero
		}
		if p.Y.Max > 0 {
			p.Y.Max *= 1.1 + 0.06*float64(len(e.ArmNames())) // headroom for the legend
		}
		p.Legend.Left = kind == "timeline" // where a ramp leaves room
		panels = append(panels, p)
	}
	if len(panels) == 0 {
		return skipFigure("%s figure %q: no samples file has columns %s and %s", kind, title, x, strings.Join(ys, ", "))
	}
	panels[0].Title.Text = title
	caption := ""
	if len(missing) > 0 {
		caption = "No samples for " + strings.Join(missing, ", ") + ". "
	}
	caption += "Each arm's first repeat solid, further repeats faint."
	if curve {
		caption += " Drawn from 1% of the peak " + x + " to the end of the hold (the tear-down is left out)."
	}
	return []pendingFigure{{name: "fig-" + kind + "-" + slug(strings.Join(ys, "-")), title: title, caption: caption, panels: panels}}
}

// stackFigure stacks, for one arm's first repeat, each listed slab column's
// growth since the run's first sample divided by x: bytes per connection
// by cache, over the rows curveRows picks (the last row of each step when
// samples have a step column). A cache that shrank counts as 0.
func stackFigure(e *Experiment, f Figure, arm string) pendingFigure {
	s, rep := e.FirstSamples(arm)
	title := fmt.Sprintf("Kernel slab per connection by cache, arm %s", arm)
	if s == nil {
		return pendingFigure{skip: fmt.Sprintf("stack figure for arm %s: no samples file", arm)}
	}
	xcol := s.Column(f.X)
	if xcol == nil {
		return pendingFigure{skip: fmt.Sprintf("stack figure for arm %s: samples-%s-r%d.csv has no column %s", arm, arm, rep, f.X)}
	}
	rows := stepRows(s, curveRows(xcol))
	p := newPlot(axisLabel(e, f.X), "bytes per connection (B)")
	p.Title.Text = title
	lower := make([]float64, len(rows))
	layers := 0
	for i, name := range f.Stack {
		col, ok := stackColumn(s, name)
		if !ok || len(rows) == 0 {
			continue
		}
		upper := make([]float64, len(rows))
		for k, r := range rows {
			growth := col[r] - col[0]
			if math.IsNaN(growth) || growth < 0 {
				growth = 0
			}
			upper[k] = lower[k] + growth/xcol[r]
		}
		ring := make(plotter.XYs, 0, 2*len(rows))
		for k, r := range rows {
			ring = append(ring, plotter.XY{X: xcol[r], Y: upper[k]})
		}
		for k := len(rows) - 1; k >= 0; k-- {
			ring = append(ring, plotter.XY{X: xcol[rows[k]], Y: lower[k]})
		}
		poly, _ := plotter.NewPolygon(ring)
		poly.Color, poly.LineStyle.Width = plotutil.Color(i), 0
		p.Add(poly)
		p.Legend.Add(strings.TrimSuffix(strings.TrimPrefix(name, "slab_"), "_bytes"), poly)
		lower = upper
		layers++
	}
	top := 0.0
	for _, v := range lower {
		top = max(top, v)
	}
	p.Y.Max = top * (1.15 + 0.08*float64(layers)) // headroom for the legend
	if layers == 0 {
		return pendingFigure{skip: fmt.Sprintf("stack figure for arm %s: samples-%s-r%d.csv has none of %s", arm, arm, rep, strings.Join(f.Stack, ", "))}
	}
	xs := make([]float64, len(rows))
	for k, r := range rows {
		xs[k] = xcol[r]
	}
	if wideRange(xs) {
		setLog(&p.X)
	}
	p.Legend.Top, p.Legend.Left = true, true
	return pendingFigure{
		name:  "fig-stack-" + slug(f.X) + "-" + slug(arm),
		title: title, panels: []*plot.Plot{p},
		caption: fmt.Sprintf("Repeat %d. Growth of each slab cache since the run's first sample ÷ %s, from 1%% of the peak to the end of the hold; shrinking caches drawn as 0.", rep, f.X),
	}
}

// stackColumn finds a stack entry among the columns: as written, or with
// the slab_ prefix and _bytes suffix the harness uses.
func stackColumn(s *Samples, name string) ([]float64, bool) {
	for _, c := range []string{name, name + "_bytes", "slab_" + name + "_bytes", "slab_" + name} {
		if col := s.Column(c); col != nil {
			return col, true
		}
	}
	return nil, false
}

// barsFigures draws a summary metric per arm: the median as a bar, the
// min–max range as an error bar, and each run as a dot.
func barsFigures(e *Experiment, f Figure) []pendingFigure {
	if f.Metric == "" {
		return skipFigure("bars figure %q: needs metric", f.Title)
	}
	m := e.MetricInfo(f.Metric)
	var arms []string
	var spreads spreadBars
	var runs plotter.XYs
	for _, arm := range e.ArmNames() {
		sp, ok := e.Metric(f.Metric, arm)
		if !ok {
			continue
		}
		for _, r := range e.Runs {
			if v, ok := r.Values[f.Metric]; ok && r.Arm == arm {
				runs = append(runs, plotter.XY{X: float64(len(arms)), Y: v})
			}
		}
		arms = append(arms, arm)
		spreads = append(spreads, sp)
	}
	if len(arms) == 0 {
		return skipFigure("bars figure %q: no run measured %s", f.Title, f.Metric)
	}
	title := cmp.Or(f.Title, f.Metric+" by arm")
	p := newPlot("", axisLabel(e, f.Metric))
	p.Title.Text = title
	bars, _ := plotter.NewBarChart(spreads, vg.Points(40))
	bars.Color, bars.LineStyle.Width = faint(plotutil.Color(0)), 0
	errs, _ := plotter.NewYErrorBars(spreads)
	dots, _ := plotter.NewScatter(runs)
	dots.GlyphStyle.Radius, dots.GlyphStyle.Color = vg.Points(2.5), plotutil.Color(0)
	p.Add(bars, errs, dots)
	p.NominalX(arms...)
	p.X.Min, p.X.Max = -0.5, float64(len(arms))-0.5
	p.Y.Min = math.Min(0, p.Y.Min)
	caption := "Bar: median over repeats; error bar: min–max; dots: each run."
	if m.Help != "" {
		caption = m.Help + ". " + caption
	}
	return []pendingFigure{{name: "fig-bars-" + slug(f.Metric), title: title, caption: caption, panels: []*plot.Plot{p}}}
}

// spreadBars puts each arm's median at x = its index, with min–max errors.
type spreadBars []Spread

func (s spreadBars) Len() int                    { return len(s) }
func (s spreadBars) Value(i int) float64         { return s[i].Median }
func (s spreadBars) XY(i int) (float64, float64) { return float64(i), s[i].Median }
func (s spreadBars) YError(i int) (float64, float64) {
	return s[i].Median - s[i].Min, s[i].Max - s[i].Median
}

func newPlot(xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	p.X.Tick.Marker = siTicks{plot.DefaultTicks{}}
	p.Y.Tick.Marker = siTicks{plot.DefaultTicks{}}
	grid := plotter.NewGrid()
	if xlabel == "" { // categories along x: no vertical lines through them
		grid.Vertical.Width = 0
	}
	p.Add(grid)
	p.Legend.Top = true
	return p
}

func setLog(a *plot.Axis) {
	a.Scale = plot.LogScale{}
	a.Tick.Marker = siTicks{plot.LogTicks{Prec: -1}}
}

// siTicks relabels another ticker's labels as 1.5k, 2M, 10G.
type siTicks struct{ plot.Ticker }

func (t siTicks) Ticks(min, max float64) []plot.Tick {
	ticks := t.Ticker.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = siLabel(ticks[i].Value)
		}
	}
	return ticks
}

func siLabel(v float64) string {
	for _, s := range []struct {
		div    float64
		suffix string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if math.Abs(v) >= s.div {
			return strconv.FormatFloat(v/s.div, 'g', 6, 64) + s.suffix
		}
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

func faint(c color.Color) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 90}
}

// axisLabel is a column or metric name with its unit.
func axisLabel(e *Experiment, name string) string {
	if u := unitOf(e, name); u != "" {
		return name + " (" + u + ")"
	}
	return name
}

// unitOf is a metric's declared unit, or the unit the harness's column
// naming implies.
func unitOf(e *Experiment, name string) string {
	if m := e.MetricInfo(name); m.Unit != "" {
		return m.Unit
	}
	switch {
	case strings.HasSuffix(name, "_s"):
		return "s"
	case strings.HasSuffix(name, "_bytes"), strings.HasSuffix(name, "_per_conn"),
		strings.HasSuffix(name, "_rss"), strings.HasSuffix(name, "_pss"), strings.HasSuffix(name, "_heap"):
		return "B"
	case strings.HasSuffix(name, "_us"):
		return "µs"
	}
	return ""
}

// samplePoints returns the finite (x, y) points of a samples file: of the
// rows curveRows picks when curve, else of every row.
func samplePoints(s *Samples, x, y string, curve bool) plotter.XYs {
	if s == nil {
		return nil
	}
	xs, ys := s.Column(x), s.Column(y)
	if xs == nil || ys == nil {
		return nil
	}
	var rows []int
	if curve {
		rows = curveRows(xs)
	} else {
		rows = make([]int, len(xs))
		for i := range rows {
			rows[i] = i
		}
	}
	var pts plotter.XYs
	for _, i := range rows {
		if !math.IsNaN(xs[i]) && !math.IsNaN(ys[i]) && !math.IsInf(ys[i], 0) {
			pts = append(pts, plotter.XY{X: xs[i], Y: ys[i]})
		}
	}
	return pts
}

// curveRows picks the rows a curve against x (a connection count) is drawn
// from: those from 1% of the peak x on (below, per-connection values are
// background churn divided by a handful of connections) up to the last row
// within 1% of the peak (after it comes the tear-down, which would draw
// back over the curve).
func curveRows(xs []float64) []int {
	peak := math.Inf(-1)
	for _, v := range xs {
		if !math.IsNaN(v) {
			peak = max(peak, v)
		}
	}
	end := 0
	for i, v := range xs {
		if v >= peak-math.Abs(peak)/100 {
			end = i + 1
		}
	}
	var rows []int
	for i := range end {
		if xs[i] > 0 && xs[i] >= peak/100 {
			rows = append(rows, i)
		}
	}
	return rows
}

// stepRows keeps, when samples have a step column, the last of rows in
// each step; else all of rows.
func stepRows(s *Samples, rows []int) []int {
	steps := s.Column("step")
	if steps == nil {
		return rows
	}
	var out []int
	for k, r := range rows {
		if k+1 == len(rows) || steps[rows[k+1]] != steps[r] {
			out = append(out, r)
		}
	}
	return out
}

// wideRange reports whether positive values span two decades or more, where
// a log axis reads better.
func wideRange(xs []float64) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range xs {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo > 0 && hi/lo >= 100
}

func slug(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// savePanels renders the panels one above the other to base.png and
// base.svg. The output has no timestamps: the same plots give the same bytes.
func savePanels(base string, panels []*plot.Plot) error {
	h := panelHeight * vg.Length(len(panels))
	for _, format := range []struct {
		ext    string
		canvas func() vg.CanvasWriterTo
	}{
		{".png", func() vg.CanvasWriterTo { return vgimg.PngCanvas{Canvas: vgimg.New(figureWidth, h)} }},
		{".svg", func() vg.CanvasWriterTo { return vgsvg.New(figureWidth, h) }},
	} {
		c := format.canvas()
		dc := draw.New(c)
		dc.SetColor(color.White)
		dc.Fill(dc.Rectangle.Path())
		grid := make([][]*plot.Plot, len(panels))
		for i, p := range panels {
			grid[i] = []*plot.Plot{p}
		}
		tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Points(8), PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
		canvases := plot.Align(grid, tiles, dc)
		for i, p := range panels {
			p.Draw(canvases[i][0])
		}
		var buf bytes.Buffer
		if _, err := c.WriteTo(&buf); err != nil {
			return fmt.Errorf("rendering %s%s: %w", base, format.ext, err)
		}
		if err := os.WriteFile(base+format.ext, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("writing figure: %w", err)
		}
	}
	return nil
}
