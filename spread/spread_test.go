package spread

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOf(t *testing.T) {
	t.Parallel()
	s, ok := Of([]float64{4950, 4890, 4912})
	require.True(t, ok)
	assert.Equal(t, Spread{Median: 4912, Min: 4890, Max: 4950, N: 3}, s)
	s, _ = Of([]float64{1, 4, 2, 3})
	assert.InDelta(t, 2.5, s.Median, 1e-12, "an even count takes the mean of the middle two")
	_, ok = Of(nil)
	assert.False(t, ok)
}

func TestOfLeavesItsInputAlone(t *testing.T) {
	t.Parallel()
	values := []float64{3, 1, 2}
	Of(values)
	assert.Equal(t, []float64{3, 1, 2}, values)
}

func TestOverlaps(t *testing.T) {
	t.Parallel()
	a := Spread{Min: 1, Max: 3}
	assert.True(t, a.Overlaps(Spread{Min: 3, Max: 5}), "touching ends overlap")
	assert.False(t, a.Overlaps(Spread{Min: 3.5, Max: 5}))
}

func TestRatioOfMedians(t *testing.T) {
	t.Parallel()
	assert.InDelta(t, 2.0, RatioOfMedians(Spread{Median: 4}, Spread{Median: 2}), 1e-12)
	assert.True(t, math.IsNaN(RatioOfMedians(Spread{Median: 4}, Spread{})))
}
