package analysis

import (
	"bytes"
	"cmp"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"c1m/schema"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
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

// figuresOf are the figures m asks for, and the one its feeds imply: an
// experiment on what keepalives cost is read first as keepalives offered
// against answered over the interval.
func figuresOf(m Meta) []Figure {
	figs := m.Figures
	if slices.Contains(m.Feeds, schema.FeedKeepaliveCost) && !slices.ContainsFunc(figs, func(f Figure) bool { return f.Kind == "versus" }) {
		offered := Figure{Kind: "versus", X: "interval_s", Y: []string{"offered_per_sec", "echo_per_sec"},
			Title: "Keepalives offered and answered per second, by keepalive interval"}
		figs = append([]Figure{offered}, figs...)
	}
	return figs
}

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
	for _, f := range figuresOf(e.Meta) {
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
		case "versus":
			figs = versusFigures(e, f)
		default:
			skipped = append(skipped, fmt.Sprintf("figure kind %q is unknown (want series, bars, timeline, ratios, curve or versus)", f.Kind))
			continue
		}
		for _, pf := range figs {
			if pf.skip != "" {
				skipped = append(skipped, pf.skip)
				continue
			}
			ff := FigureFile{Base: unique(pf.name), Kind: f.Kind, Title: pf.title, Caption: pf.caption}
			if err := saveGrid(ff.Base, pf.panels, pf.layout()); err != nil {
				return written, skipped, err
			}
			written = append(written, ff)
		}
	}
	return written, skipped, removeStaleFigures(e.Dir, written)
}

// removeStaleFigures deletes the figure files (fig-*.png, fig-*.svg) in dir
// that are not among written: figures a meta.json no longer asks for, or
// drew under another name, would otherwise stay beside the data that no
// longer makes them. Only files named as this package names its figures
// are touched.
func removeStaleFigures(dir string, written []FigureFile) error {
	keep := map[string]bool{}
	for _, f := range written {
		keep[f.Base+".png"], keep[f.Base+".svg"] = true, true
	}
	for _, ext := range []string{".png", ".svg"} {
		files, err := filepath.Glob(filepath.Join(dir, "fig-*"+ext))
		if err != nil {
			return fmt.Errorf("listing old figures: %w", err)
		}
		for _, f := range files {
			if !keep[f] {
				if err := os.Remove(f); err != nil {
					return fmt.Errorf("removing a figure no longer drawn: %w", err)
				}
			}
		}
	}
	return nil
}

// pendingFigure is a figure drawn but not yet saved, or the reason it was
// not drawn. Its panels are laid out in cols columns, each panelHeight
// tall, across width (each 0: as panelLayout places them).
type pendingFigure struct {
	name, title, caption string
	panels               []*plot.Plot
	cols                 int
	panelHeight, width   vg.Length
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

// linesFigure draws ys against x, a panel per y and a line per arm, as
// one figure per scale: arms whose peaks differ more than tenfold in the
// column that sets the scale (x for a series, the first y for a timeline)
// go to separate figures, so that arms holding a thousand connections are
// not flattened against arms holding a million.
func linesFigure(e *Experiment, kind, title, x string, ys []string) []pendingFigure {
	scaleCol := ys[0]
	if kind == "series" {
		scaleCol = x
	}
	peaks := map[string]float64{}
	for _, arm := range e.ArmNames() {
		for _, rep := range repsOf(e.Samples, arm) {
			for _, v := range e.Samples[RunID{arm, rep}].Column(scaleCol) {
				if !math.IsNaN(v) && v > peaks[arm] {
					peaks[arm] = v
				}
			}
		}
	}
	groups := scaleGroups(e.ArmNames(), peaks)
	if len(groups) <= 1 {
		return []pendingFigure{linesGroup(e, kind, title, x, ys, e.ArmNames(), "")}
	}
	var out []pendingFigure
	for _, arms := range groups {
		top := 0.0
		for _, arm := range arms {
			top = max(top, peaks[arm])
		}
		scale := siLabel(roundOneDigit(top))
		out = append(out, linesGroup(e, kind, title, x, ys, arms, scale))
	}
	return out
}

// scaleGroups splits arms (in experiment order) by the order of magnitude
// of their peaks: sorted by peak, a new group starts where an arm's peak is
// more than ten times the smallest of the group so far. Each group keeps
// the experiment's order; arms without a peak (no samples) go to the first
// group. One group when every peak is within tenfold.
func scaleGroups(arms []string, peaks map[string]float64) [][]string {
	order := slices.Clone(arms)
	slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(peaks[a], peaks[b]) })
	groupOf := map[string]int{}
	group, floor := 0, math.NaN()
	for _, arm := range order {
		p := peaks[arm]
		switch {
		case p <= 0:
		case math.IsNaN(floor):
			floor = p
		case p > 10*floor:
			group, floor = group+1, p
		}
		groupOf[arm] = group
	}
	out := make([][]string, group+1)
	for _, arm := range arms {
		out[groupOf[arm]] = append(out[groupOf[arm]], arm)
	}
	return out
}

// roundOneDigit rounds to one significant digit: 998,000 → 1,000,000.
func roundOneDigit(v float64) float64 {
	if v <= 0 {
		return v
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	return math.Round(v/p) * p
}

// linesGroup draws one figure of linesFigure for arms; scale, when the
// arms were split, names their peak ("1M") in the title and file name.
func linesGroup(e *Experiment, kind, title, x string, ys []string, arms []string, scale string) pendingFigure {
	curve := kind == "series"
	styles := armStyles(len(arms)) // the group's own: its first arms get the strongest colours
	var panels []*plot.Plot
	var missing []string
	for _, y := range ys {
		p := newPlot(axisTitle(e, x), axisTitle(e, y))
		var xs, yv []float64
		entries := 0
		for a, arm := range arms {
			st := styles[a]
			reps := repsOf(e.Samples, arm)
			for _, rep := range reps {
				pts := samplePoints(e.Samples[RunID{arm, rep}], x, y, curve)
				if len(pts) == 0 {
					continue
				}
				line, _ := plotter.NewLine(pts)
				line.Color, line.Width, line.Dashes = st.Color, vg.Points(1.5), st.Dashes
				if rep != reps[0] {
					line.Color, line.Width = faint(st.Color), vg.Points(0.75)
				} else {
					p.Legend.Add(arm, line)
					entries++
				}
				p.Add(line)
				for _, pt := range pts {
					xs, yv = append(xs, pt.X), append(yv, pt.Y)
				}
			}
		}
		if len(xs) == 0 {
			missing = append(missing, y)
			continue
		}
		if curve && needsLog(xs) {
			setLog(&p.X)
		} else if !curve {
			p.X.Min = math.Min(0, p.X.Min) // time, from the start
		}
		if needsLog(yv) && !isFraction(y) {
			setLog(&p.Y)
			p.Y.Max *= math.Pow(1.6, float64(entries)) // headroom for the legend
		} else {
			p.Y.Min = math.Min(0, p.Y.Min) // quantities that cannot go below zero are drawn from zero
			if p.Y.Max > 0 {
				p.Y.Max *= 1.15 + 0.1*float64(entries) // headroom for the legend
			}
		}
		labelTimes(&p.X, unitOf(e, x))
		labelTimes(&p.Y, unitOf(e, y))
		p.Legend.Left = kind == "timeline" // where a ramp leaves room
		panels = append(panels, p)
	}
	name := "fig-" + kind + "-" + slug(strings.Join(ys, "-"))
	if scale != "" {
		title += ", arms peaking near " + scale
		name += "-" + slug(scale)
	}
	if len(panels) == 0 {
		return pendingFigure{skip: fmt.Sprintf("%s figure %q: no samples file has columns %s and %s", kind, title, x, strings.Join(ys, ", "))}
	}
	panels[0].Title.Text = title
	caption := ""
	if len(missing) > 0 {
		caption = "No samples for " + strings.Join(missing, ", ") + ". "
	}
	caption += "Each arm's first repeat solid, further repeats faint."
	if scale != "" {
		caption += " The experiment's arms at other scales are drawn in figures of their own."
	}
	if curve {
		caption += " Drawn from 1% of the peak " + axisWords(x, e.MetricInfo(x)) + " to the end of the hold (the tear-down is left out)."
	}
	return pendingFigure{name: name, title: title, caption: caption, panels: panels}
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
	p := newPlot(axisTitle(e, f.X), "kernel slab per connection (B)")
	p.Title.Text = title
	lower := make([]float64, len(rows))
	layers := 0
	styles := armStyles(len(f.Stack))
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
		poly.Color, poly.LineStyle.Width = styles[i].Color, 0
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
	if needsLog(xs) {
		setLog(&p.X)
	}
	p.Legend.Top, p.Legend.Left = true, true
	return pendingFigure{
		name:  "fig-stack-" + slug(f.X) + "-" + slug(arm),
		title: title, panels: []*plot.Plot{p},
		caption: fmt.Sprintf("Repeat %d. Growth of each slab cache since the run's first sample ÷ %s, from 1%% of the peak to the end of the hold; shrinking caches drawn as 0.", rep, axisWords(f.X, e.MetricInfo(f.X))),
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

// barsFigures draws a summary metric per arm as horizontal bars, an arm a
// row named on the left, so that 20 arms make a taller figure rather than
// overlapping labels: the median as a bar in the arm's colour, the min–max
// range as an error bar, and each run as a dot. The value axis is
// logarithmic when the values span more than tenfold (shares excepted).
func barsFigures(e *Experiment, f Figure) []pendingFigure {
	if f.Metric == "" {
		return skipFigure("bars figure %q: needs metric", f.Title)
	}
	m := e.MetricInfo(f.Metric)
	styles := armStyles(len(e.ArmNames()))
	var bars hbars
	var values []float64
	for i, arm := range e.ArmNames() {
		if sp, ok := e.Metric(f.Metric, arm); ok {
			bars.names = append(bars.names, arm)
			bars.spreads = append(bars.spreads, sp)
			bars.colors = append(bars.colors, styles[i].Color)
			values = append(values, sp.Min, sp.Median, sp.Max)
		}
	}
	if len(bars.names) == 0 {
		return skipFigure("bars figure %q: no run measured %s", f.Title, f.Metric)
	}
	title := cmp.Or(f.Title, capitalize(axisWords(f.Metric, m)))
	bars.log = needsLog(values) && !isFraction(f.Metric)
	p := newCategoryPlot(axisTitle(e, f.Metric))
	p.Title.Text = title
	p.Add(&bars, bars.errorBars(), bars.valueLabels(unitOf(e, f.Metric)))
	for i, arm := range bars.names {
		var pts plotter.XYs
		for _, r := range e.Runs {
			if v, ok := r.Values[f.Metric]; ok && r.Arm == arm && (!bars.log || v > 0) {
				pts = append(pts, plotter.XY{X: v, Y: bars.row(i)})
			}
		}
		if len(pts) > 0 {
			dots, _ := plotter.NewScatter(pts)
			dots.GlyphStyle.Radius, dots.GlyphStyle.Color = vg.Points(2.5), bars.colors[i]
			p.Add(dots)
		}
	}
	bars.rowAxis(&p.Y)
	caption := "Bar: median over repeats; error bar: min–max; dots: each run."
	if bars.log { // room on the right for the values' labels
		setLog(&p.X)
		p.X.Min, p.X.Max = p.X.Min/1.5, p.X.Max*math.Pow(p.X.Max/p.X.Min, 0.25)
		caption += " Log scale: the values span more than tenfold."
	} else {
		p.X.Min = math.Min(0, p.X.Min)
		if isFraction(f.Metric) { // the whole of 0–1, and room for a label past 1
			p.X.Max = math.Max(1, p.X.Max) * 1.15
			p.X.Tick.Marker = plot.ConstantTicks{{Value: 0, Label: "0"}, {Value: 0.25, Label: "0.25"}, {Value: 0.5, Label: "0.5"}, {Value: 0.75, Label: "0.75"}, {Value: 1, Label: "1"}}
		} else {
			p.X.Max += 0.25 * (p.X.Max - p.X.Min) // room for the values' labels
		}
	}
	labelTimes(&p.X, unitOf(e, f.Metric))
	if m.Help != "" {
		caption = m.Help + ". " + caption
	}
	return []pendingFigure{{name: "fig-bars-" + slug(f.Metric), title: title, caption: caption, panels: []*plot.Plot{p},
		panelHeight: rowsHeight(int(math.Ceil(bars.top())) + 1)}}
}

// hbars is a horizontal bar per arm, the first arm's on top: on a linear
// axis from 0, on a log axis from the axis's left end (a log axis has no 0).
type hbars struct {
	names   []string
	spreads []Spread
	colors  []color.Color
	log     bool
}

// workloadGap is the room between two workloads' bars, in rows: arms
// named IMPLEMENTATION.WORKLOAD are grouped by workload, so that a
// thousand-connection echo and a million held are not read as one series.
const workloadGap = 0.6

// row is the y of the i-th arm: the first at the top, a gap before each
// arm whose workload differs from the arm's above.
func (b *hbars) row(i int) float64 { return b.top() - b.depth(i) }

// depth is how far below the first row the i-th arm's row is.
func (b *hbars) depth(i int) float64 {
	d := float64(i)
	for k := 1; k <= i; k++ {
		_, above := splitArm(b.names[k-1])
		if _, w := splitArm(b.names[k]); w != above {
			d += workloadGap
		}
	}
	return d
}

// top is the y of the first row (the last row is at 0).
func (b *hbars) top() float64 { return b.depth(len(b.names) - 1) }

// rowAxis names each arm's row on a: no axis line or ticks, as
// plot.NominalY, but at the rows' own positions.
func (b *hbars) rowAxis(a *plot.Axis) {
	ticks := make(plot.ConstantTicks, len(b.names))
	for i, name := range b.names {
		ticks[i] = plot.Tick{Value: b.row(i), Label: name}
	}
	a.Tick.Marker, a.Tick.Width, a.Tick.Length, a.Width, a.Padding = ticks, 0, 0, 0, 0
	a.Min, a.Max = -0.6, b.top()+0.6
}

func (b *hbars) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	base := c.Min.X
	if !b.log {
		base = trX(0)
	}
	half := vg.Length(0.3) * (trY(1) - trY(0)) // bars fill 60% of a row
	for i, sp := range b.spreads {
		if math.IsNaN(sp.Median) || b.log && sp.Median <= 0 {
			continue
		}
		y, end := trY(b.row(i)), trX(sp.Median)
		rect := []vg.Point{{X: base, Y: y - half}, {X: end, Y: y - half}, {X: end, Y: y + half}, {X: base, Y: y + half}}
		c.FillPolygon(faint(b.colors[i]), c.ClipPolygonXY(rect))
	}
}

func (b *hbars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	if !b.log {
		xmin, xmax = 0, 0
	}
	for _, sp := range b.spreads {
		for _, v := range []float64{sp.Min, sp.Median, sp.Max} {
			if !math.IsNaN(v) && (!b.log || v > 0) {
				xmin, xmax = min(xmin, v), max(xmax, v)
			}
		}
	}
	return xmin, xmax, 0, b.top()
}

// valueLabels writes each arm's median right of its bar and error bar.
func (b *hbars) valueLabels(unit string) plot.Plotter {
	var l plotter.XYLabels
	for i, sp := range b.spreads {
		if math.IsNaN(sp.Max) || b.log && sp.Max <= 0 {
			continue
		}
		l.XYs = append(l.XYs, plotter.XY{X: sp.Max, Y: b.row(i)})
		l.Labels = append(l.Labels, FormatQuantity(sp.Median, unit))
	}
	labels, _ := plotter.NewLabels(l)
	labels.Offset = vg.Point{X: vg.Points(6), Y: -vg.Points(4)}
	return labels
}

// capitalize upper-cases a title's first letter.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	return strings.ToUpper(string(r[0])) + string(r[1:])
}

// errorBars is the min–max range of each arm's runs.
func (b *hbars) errorBars() plot.Plotter {
	errs, _ := plotter.NewXErrorBars(hbarErrors{b})
	return errs
}

type hbarErrors struct{ *hbars }

func (h hbarErrors) Len() int { return len(h.spreads) }
func (h hbarErrors) XY(i int) (float64, float64) {
	return h.spreads[i].Median, h.row(i)
}
func (h hbarErrors) XError(i int) (float64, float64) {
	return h.spreads[i].Median - h.spreads[i].Min, h.spreads[i].Max - h.spreads[i].Median
}

func newPlot(xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	p.X.Tick.Marker = siTicks{Ticker: niceTicks{}}
	p.Y.Tick.Marker = siTicks{Ticker: niceTicks{}}
	grid := plotter.NewGrid()
	if xlabel == "" { // categories along x: no vertical lines through them
		grid.Vertical.Width = 0
	}
	p.Add(grid)
	p.Legend.Top = true
	return p
}

// newCategoryPlot is a plot with categories (arms, metrics) along y and
// values along x titled xlabel: grid lines across the values only.
func newCategoryPlot(xlabel string) *plot.Plot {
	p := plot.New()
	p.X.Label.Text = xlabel
	p.X.Tick.Marker = siTicks{Ticker: niceTicks{}}
	grid := plotter.NewGrid()
	grid.Horizontal.Width = 0
	p.Add(grid)
	p.Legend.Top = true
	return p
}

func setLog(a *plot.Axis) {
	a.Scale = plot.LogScale{}
	a.Tick.Marker = logTicks{label: siLabel}
}

// siTicks relabels another ticker's labels as 1.5k, 2M, 10G, or by label.
type siTicks struct {
	plot.Ticker
	label func(float64) string // nil: siLabel
}

func (t siTicks) Ticks(min, max float64) []plot.Tick {
	label := t.label
	if label == nil {
		label = siLabel
	}
	ticks := t.Ticker.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = label(ticks[i].Value)
		}
	}
	return ticks
}

// labelTimes writes an axis of microseconds in the unit that reads best at
// each tick (850 µs, 12 ms, 4 s) and drops "(µs)" from its title: a round
// trip of 5 s reads better than 5M µs.
func labelTimes(a *plot.Axis, unit string) {
	if unit != "µs" && unit != "us" {
		return
	}
	label := func(v float64) string { return FormatQuantity(v, "µs") }
	a.Label.Text = strings.TrimSuffix(a.Label.Text, " ("+unit+")")
	switch m := a.Tick.Marker.(type) {
	case siTicks:
		a.Tick.Marker = siTicks{Ticker: m.Ticker, label: label}
	case logTicks:
		a.Tick.Marker = logTicks{label: label}
	}
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

func slug(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// layout is how a figure's panels are placed: cols columns, each panel
// panelHeight tall, width across.
type layout struct {
	cols               int
	width, panelHeight vg.Length
}

func (pf pendingFigure) layout() layout {
	auto := panelLayout(len(pf.panels))
	return layout{cols: cmp.Or(pf.cols, auto.cols), width: cmp.Or(pf.width, auto.width), panelHeight: cmp.Or(pf.panelHeight, auto.panelHeight)}
}

// size is the figure's width and height for n panels.
func (l layout) size(n int) (w, h vg.Length) {
	rows := (n + l.cols - 1) / l.cols
	return l.width, l.panelHeight * vg.Length(rows)
}

// panelLayout places n panels: one above the other up to three, past that
// two to a row (four panels stacked are too tall to take in at once).
func panelLayout(n int) layout {
	if n > 3 {
		return layout{cols: 2, width: 2 * figureWidth * 3 / 4, panelHeight: panelHeight * 0.85}
	}
	return layout{cols: 1, width: figureWidth, panelHeight: panelHeight}
}

// savePanels renders the panels as panelLayout places them.
func savePanels(base string, panels []*plot.Plot) error {
	return saveGrid(base, panels, panelLayout(len(panels)))
}

// saveGrid renders the panels row by row, l.cols to a row, to base.png and
// base.svg. The output has no timestamps: the same plots give the same bytes.
func saveGrid(base string, panels []*plot.Plot, l layout) error {
	if len(panels) == 0 {
		return fmt.Errorf("figure %s: no panels to draw (the data it plots is missing)", filepath.Base(base))
	}
	w, h := l.size(len(panels))
	rows := (len(panels) + l.cols - 1) / l.cols
	for _, format := range []struct {
		ext    string
		canvas func() vg.CanvasWriterTo
	}{
		{".png", func() vg.CanvasWriterTo { return vgimg.PngCanvas{Canvas: vgimg.New(w, h)} }},
		{".svg", func() vg.CanvasWriterTo { return vgsvg.New(w, h) }},
	} {
		c := format.canvas()
		dc := draw.New(c)
		dc.SetColor(color.White)
		dc.Fill(dc.Rectangle.Path())
		grid := make([][]*plot.Plot, rows)
		for r := range grid {
			grid[r] = make([]*plot.Plot, l.cols)
		}
		for i, p := range panels {
			grid[i/l.cols][i%l.cols] = p
		}
		tiles := draw.Tiles{Rows: rows, Cols: l.cols, PadX: vg.Points(12), PadY: vg.Points(8), PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
		canvases := plot.Align(grid, tiles, dc)
		for i, p := range panels {
			p.Draw(canvases[i/l.cols][i%l.cols])
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
