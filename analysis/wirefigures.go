package analysis

// The wire model's figures (question 4); the model itself is wire.go.

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// WriteModelFigures draws the wire model of question 4 into dir: required
// bandwidth and packet rate against connections for each keepalive
// interval, with the network cards' limits.
func WriteModelFigures(dir string) ([]FigureFile, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("model figures: %w", err)
	}
	x := BytesPerExchange(KeepalivePayload, DefaultPureACKs)
	var conns []float64
	for k := 0; k <= 40; k++ {
		conns = append(conns, math.Pow(10, 3+float64(k)/10))
	}
	type view struct {
		name, title, ylabel, caption string
		rate                         func(c float64, iv time.Duration) float64
		limit                        func(NIC) float64
	}
	views := []view{
		{"fig-wire-bandwidth", "Keepalive bandwidth vs connections (wire model)", "bit/s, busier direction",
			"Model: " + x.String() + ". Dashed: line rate of each card (each direction).",
			x.BitsPerSecond, func(n NIC) float64 { return n.BitsPerSecond }},
		{"fig-wire-packets", "Keepalive packets vs connections (wire model)", "packets/s, busier direction",
			"Model: " + x.String() + fmt.Sprintf(". Dashed: each card's packet rate at minimum-size frames (%d B on the wire).", frameOnWire(0)),
			x.PacketsPerSecond, NIC.MinFramePacketsPerSecond},
	}
	var out []FigureFile
	for _, v := range views {
		// The y unit goes in the title: gonum centres a y label by the data's
		// arithmetic midpoint, which on a log axis pads the plot's top.
		p := newPlot("connections", "")
		p.Title.Text = v.title + ": " + v.ylabel
		styles := armStyles(len(KeepaliveIntervals))
		for i, iv := range KeepaliveIntervals {
			pts := make(plotter.XYs, len(conns))
			for k, c := range conns {
				pts[k] = plotter.XY{X: c, Y: v.rate(c, iv)}
			}
			line, _ := plotter.NewLine(pts)
			line.Color, line.Width, line.Dashes = styles[i].Color, vg.Points(1.5), styles[i].Dashes
			p.Add(line)
			p.Legend.Add("every "+IntervalText(iv), line)
		}
		var labels plotter.XYLabels
		for i, n := range NICs {
			y := v.limit(n)
			line, _ := plotter.NewLine(plotter.XYs{{X: conns[0], Y: y}, {X: conns[len(conns)-1], Y: y}})
			line.Color, line.Dashes = color.Gray{Y: 90}, []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(line)
			labels.XYs = append(labels.XYs, plotter.XY{X: conns[0] * float64(1+3*(i%2)), Y: y}) // staggered: neighbours are close on a log axis
			labels.Labels = append(labels.Labels, n.Name)
		}
		names, _ := plotter.NewLabels(labels)
		names.Offset = vg.Point{X: vg.Points(2), Y: vg.Points(1)}
		p.Add(names)
		setLog(&p.X)
		setLog(&p.Y)
		p.Y.Max *= 3 // room for the top card's label inside the plot
		p.Legend.Top, p.Legend.Left = false, false
		p.Legend.XOffs, p.Legend.YOffs = -vg.Points(10), vg.Points(10)
		ff := FigureFile{Base: filepath.Join(dir, v.name), Title: v.title, Caption: v.caption}
		if err := savePanels(ff.Base, []*plot.Plot{p}); err != nil {
			return out, err
		}
		out = append(out, ff)
	}
	return out, removeStaleFigures(dir, out)
}
