// Package numfmt writes numbers for people: thousands separators and a
// precision that suits the number's size. The report and the limits table
// write their numbers with it, so both read the same way.
package numfmt

import (
	"math"
	"strconv"
	"strings"
)

// Number writes v with thousands separators and a precision that suits its
// size: whole numbers as they are, 1,234 / 12.3 / 1.23 / 0.0123; "–" for
// NaN and infinities.
func Number(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return "–"
	case a >= 100 || v == math.Trunc(v) && a < 1e15:
		return groupThousands(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func groupThousands(digits string) string {
	sign := ""
	if rest, ok := strings.CutPrefix(digits, "-"); ok {
		sign, digits = "-", rest
	}
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return sign + b.String()
}
