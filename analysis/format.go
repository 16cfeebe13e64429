package analysis

import (
	"math"
	"strconv"

	"c1m/numfmt"
)

// displayUnit is how a quantity is shown: divided by div, suffixed with name.
type displayUnit struct {
	div  float64
	name string
}

// displayUnitFor picks the display unit for quantities of unit whose size
// is about ref: bytes in B up to 10 KiB, then KiB, MiB, GiB; microseconds
// in µs, ms or s; bit/s in kbit/s … Tbit/s.
func displayUnitFor(unit string, ref float64) displayUnit {
	a := math.Abs(ref)
	pick := func(steps []displayUnit, limit float64) displayUnit {
		d := steps[0]
		for _, s := range steps[1:] {
			if a < limit*d.div {
				break
			}
			d = s
		}
		return d
	}
	switch unit {
	case "B":
		return pick([]displayUnit{{1, "B"}, {1 << 10, "KiB"}, {1 << 20, "MiB"}, {1 << 30, "GiB"}}, 10*1024)
	case "us", "µs":
		return pick([]displayUnit{{1, "µs"}, {1e3, "ms"}, {1e6, "s"}}, 1000)
	case "bit/s":
		return pick([]displayUnit{{1, "bit/s"}, {1e3, "kbit/s"}, {1e6, "Mbit/s"}, {1e9, "Gbit/s"}, {1e12, "Tbit/s"}}, 1000)
	}
	return displayUnit{1, unit}
}

func (d displayUnit) format(v float64) string {
	return numfmt.Number(v / d.div)
}

func (d displayUnit) suffix() string {
	if d.name == "" {
		return ""
	}
	return " " + d.name
}

// FormatQuantity writes v in unit, scaled to a readable unit: "4,912 B",
// "12.3 MiB", "850 µs", "1.53 Gbit/s".
func FormatQuantity(v float64, unit string) string {
	d := displayUnitFor(unit, v)
	return d.format(v) + d.suffix()
}

// FormatSpread writes "median unit [min–max]" with one scale for all
// three (the range left out when min = max), and "(n=N)" when the count
// of runs differs from want.
func FormatSpread(s Spread, unit string, want int) string {
	d := displayUnitFor(unit, s.Median)
	out := d.format(s.Median) + d.suffix()
	if s.Min != s.Max {
		out += " [" + d.format(s.Min) + "–" + d.format(s.Max) + "]"
	}
	if s.N != want {
		out += " (n=" + strconv.Itoa(s.N) + ")"
	}
	return out
}
