package analysis

// The decisions every figure shares: which axis is logarithmic, which
// colour and dash an arm gets, what an axis is titled, how tall a chart of
// n rows is. Pure functions, tested without drawing.

import (
	"image/color"
	"math"
	"strings"

	"c1m/numfmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// needsLog reports whether values, all positive, span more than ten times:
// on a linear axis the small ones would be drawn as nothing (a 13.8 B bar
// beside 20 KiB ones). A zero or negative value cannot go on a log axis, so
// it keeps the axis linear.
func needsLog(values []float64) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	n := 0
	for _, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		if v <= 0 {
			return false
		}
		lo, hi, n = min(lo, v), max(hi, v), n+1
	}
	return n > 1 && hi > 10*lo
}

// isFraction reports whether a metric is a share between 0 and 1 (its name
// ends in _share): its axis stays linear from 0 to 1 whatever its values
// span, because "almost none answered" is what a reader should see.
func isFraction(name string) bool {
	return strings.HasSuffix(name, "_share")
}

// armPalette is 20 colours no two alike: Tableau's ten, then ten picked
// one by one as far (in RGB) from those before as a list of named colours
// allowed. From the eleventh arm on a line is also dashed, so that a pair
// of near hues is told apart by its dash as well.
var armPalette = []color.NRGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
	{0xbc, 0xbd, 0x22, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
	{0x00, 0x00, 0x00, 0xff}, {0x00, 0x00, 0x9f, 0xff}, {0xd0, 0x00, 0xd0, 0xff}, {0x80, 0xc0, 0xff, 0xff},
	{0x80, 0x00, 0x00, 0xff}, {0x60, 0x00, 0xa0, 0xff}, {0x60, 0xe0, 0xa0, 0xff}, {0x00, 0x5f, 0x00, 0xff},
	{0x2f, 0x4f, 0x4f, 0xff}, {0x80, 0x80, 0x00, 0xff},
}

// armColors gives n distinct colours: the palette's first n, or, past 20,
// hues spread evenly round the colour wheel at alternating lightness.
func armColors(n int) []color.Color {
	out := make([]color.Color, n)
	for i := range out {
		if n <= len(armPalette) {
			out[i] = armPalette[i]
			continue
		}
		lightness := 0.38 + 0.2*float64(i%2)
		out[i] = hsl(float64(i)/float64(n), 0.7, lightness)
	}
	return out
}

// hsl converts a hue (0–1 round the wheel), saturation and lightness to RGB.
func hsl(h, s, l float64) color.NRGBA {
	c := (1 - math.Abs(2*l-1)) * s
	x := c * (1 - math.Abs(math.Mod(h*6, 2)-1))
	var r, g, b float64
	switch int(h * 6) {
	case 0:
		r, g = c, x
	case 1:
		r, g = x, c
	case 2:
		g, b = c, x
	case 3:
		g, b = x, c
	case 4:
		r, b = x, c
	default:
		r, b = c, x
	}
	m := l - c/2
	to8 := func(v float64) uint8 { return uint8(math.Round(255 * (v + m))) }
	return color.NRGBA{R: to8(r), G: to8(g), B: to8(b), A: 0xff}
}

// armStyle is the i-th of n arms' colour, dashes (none for the first ten)
// and marker shape.
type armStyle struct {
	Color  color.Color
	Dashes []vg.Length
	Shape  draw.GlyphDrawer
}

func armStyles(n int) []armStyle {
	colors := armColors(n)
	dashes := [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}}
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}, draw.RingGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}}
	out := make([]armStyle, n)
	for i := range out {
		out[i] = armStyle{Color: colors[i], Dashes: dashes[min(i/10, len(dashes)-1)], Shape: shapes[i%len(shapes)]}
	}
	return out
}

// columnWords titles the columns and metrics figures draw most, in words;
// others are titled by their declared help (see axisWords).
var columnWords = map[string]string{
	"t_s":                             "time since start",
	"conns_server":                    "connections held by the server",
	"conns_target":                    "connections opened",
	"conns":                           "connections the server held at the peak",
	"established":                     "connections the client established",
	"kernel_bytes_per_conn":           "kernel memory per connection",
	"server_user_bytes_per_conn":      "server user-space memory per connection",
	"server_user_bytes_per_conn_hold": "server user-space memory per connection, end of hold",
	"server_bytes_per_conn":           "server memory per connection, runtime included",
	"client_bytes_per_conn":           "client memory per connection",
	"server_ramp_s":                   "time until the server held every connection",
	"connect_rate":                    "connections established per second",
	"accept_rate":                     "connections accepted per second",
	"echo_per_sec":                    "echoes answered per second",
	"offered_per_sec":                 "keepalives offered per second",
	"echo_share":                      "share of keepalives answered",
	"drop_share":                      "share of packets dropped",
	"rtt_p50_us":                      "round trip, median",
	"rtt_p99_us":                      "round trip, 99th percentile",
	"rtt_p999_us":                     "round trip, 99.9th percentile",
	"dispatch_p50_us":                 "accept to registered, median",
	"dispatch_p99_us":                 "accept to registered, 99th percentile",
	"server_cpu_us_per_msg":           "server CPU per message",
	"client_cpu_us_per_msg":           "client CPU per message",
	"host_cpu_us_per_msg":             "whole-machine CPU per message",
	"host_softirq_us_per_msg":         "softirq CPU per message",
	"rest_cpu_us_per_msg":             "other CPU per message",
	"server_user_us_per_msg":          "server user CPU per message",
	"server_sys_us_per_msg":           "server kernel CPU per message",
	"client_user_us_per_msg":          "client user CPU per message",
	"client_sys_us_per_msg":           "client kernel CPU per message",
	"server_cpu_us_per_conn":          "server CPU per connection accepted",
	"server_ctxt_per_msg":             "server context switches per message",
	"client_ctxt_per_msg":             "client context switches per message",
	"host_ctxt_per_msg":               "whole-machine context switches per message",
	"tcp_segs_per_msg":                "TCP segments per message",
	"tcp_segs_per_sec":                "TCP segments sent per second",
	"syscalls_per_msg":                "server system calls per message",
	"host_busy_cores":                 "whole machine's busy CPU",
	"server_cpu_cores":                "server CPU",
	"client_cpu_cores":                "client CPU",
	"server_threads":                  "server threads",
	"server_fds":                      "server file descriptors",
	"interval_s":                      "keepalive interval",
	"server_rss":                      "server resident memory",
	"server_pss":                      "server proportional memory",
	"client_pss":                      "client proportional memory",
	"slab_bytes":                      "kernel slab",
	"tcp_mem_bytes":                   "TCP buffer memory",
}

// axisWords is a column's or metric's name in words: the table above, else
// the metric's declared help up to its first explanation (":", ";", " ("),
// else the name itself.
func axisWords(name string, m Metric) string {
	if w, ok := columnWords[name]; ok {
		return w
	}
	help := m.Help
	for _, sep := range []string{":", ";", " ("} {
		if i := strings.Index(help, sep); i > 0 {
			help = help[:i]
		}
	}
	const most = 60 // an axis title longer than this no longer fits beside a panel
	if help = strings.TrimSpace(help); help != "" && len(help) <= most {
		return help
	}
	return name
}

// axisTitle is a column's or metric's name in words with its unit:
// "connections held by the server", "time since start (s)".
func axisTitle(e *Experiment, name string) string {
	return withUnit(axisWords(name, e.MetricInfo(name)), unitOf(e, name))
}

func withUnit(words, unit string) string {
	if unit == "" {
		return words
	}
	return words + " (" + unit + ")"
}

// Heights of a chart with a row per arm (horizontal bars, ratio rows):
// each row gets the same room, so 20 arms make a taller figure, never
// overlapping labels.
const (
	rowHeight      = 0.3 * vg.Inch
	chartOverhead  = 1.3 * vg.Inch // title, x axis, its ticks and title
	minChartHeight = 2.4 * vg.Inch
)

// rowsHeight is the height of a panel with rows category rows.
func rowsHeight(rows int) vg.Length {
	return max(minChartHeight, chartOverhead+rowHeight*vg.Length(rows))
}

// logTicks marks a log axis at 1-2-5 steps when it spans three decades or
// less (a span of 20× would otherwise get a single label), else at powers
// of ten, labelled by label.
type logTicks struct{ label func(float64) string }

func (t logTicks) Ticks(lo, hi float64) []plot.Tick {
	steps := []float64{1, 2, 5}
	if hi/lo > 1000 {
		steps = []float64{1}
	}
	var ticks []plot.Tick
	for exp := math.Floor(math.Log10(lo)); math.Pow(10, exp) <= hi; exp++ {
		for m := 1.0; m < 10; m++ {
			v := m * math.Pow(10, exp)
			if v < lo || v > hi {
				continue
			}
			tick := plot.Tick{Value: v}
			for _, s := range steps {
				if m == s {
					tick.Label = t.label(v)
				}
			}
			ticks = append(ticks, tick)
		}
	}
	return ticks
}

// ratioLabel labels a ratio axis: 0.5×, 1×, 2×.
func ratioLabel(v float64) string { return numfmt.Number(v) + "×" }

// niceTicks marks a linear axis every 1, 2 or 5 times a power of ten, the
// smallest step that leaves at most seven labels (0, 500k, 1M rather than
// 0, 900k, 1.8M), with an unlabelled tick half way between.
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return nil
	}
	step := 0.0
	for exp := math.Floor(math.Log10((hi - lo) / 6)); step == 0; exp++ {
		for _, m := range []float64{1, 2, 5} {
			if s := m * math.Pow(10, exp); (hi-lo)/s <= 7 {
				step = s
				break
			}
		}
	}
	var ticks []plot.Tick
	for k := math.Ceil(lo / step * 2); k/2*step <= hi; k++ {
		v := k / 2 * step
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		tick := plot.Tick{Value: v}
		if int(k)%2 == 0 {
			tick.Label = numfmt.Number(v) // relabelled by siTicks
		}
		ticks = append(ticks, tick)
	}
	return ticks
}
