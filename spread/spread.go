// Package spread summarises one measurement over repeated runs: the
// median that the report and the limits table quote, and the min–max range
// that says how far the runs disagree.
package spread

import (
	"math"
	"slices"
)

// Spread is one metric of one arm over its repeats.
type Spread struct {
	Median, Min, Max float64
	N                int
}

// Of returns the median, min and max of values (false when empty).
func Of(values []float64) (Spread, bool) {
	if len(values) == 0 {
		return Spread{}, false
	}
	v := slices.Clone(values)
	slices.Sort(v)
	n := len(v)
	median := v[n/2]
	if n%2 == 0 {
		median = (v[n/2-1] + v[n/2]) / 2
	}
	return Spread{Median: median, Min: v[0], Max: v[n-1], N: n}, true
}

// Overlaps reports whether the min–max ranges of s and o intersect.
func (s Spread) Overlaps(o Spread) bool {
	return s.Min <= o.Max && o.Min <= s.Max
}

// RatioOfMedians is a.Median / b.Median (NaN when b's median is 0).
func RatioOfMedians(a, b Spread) float64 {
	if b.Median == 0 {
		return math.NaN()
	}
	return a.Median / b.Median
}
