package numfmt

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNumber(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{
		0: "0", 12: "12", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4912.4: "-4,912", -100: "-100",
		100.6: "101", 12.34: "12.3", 1.234: "1.23", 0.01234: "0.0123", 1e15: "1,000,000,000,000,000",
		math.NaN(): "–", math.Inf(1): "–", math.Inf(-1): "–",
	} {
		assert.Equal(t, want, Number(v), "%v", v)
	}
}
