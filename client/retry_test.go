package client

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The retry queue hands connections out by their retry time, whatever the
// order they failed in, so a long back-off at the head holds up no one.
func TestRetryQueueEarliestFirst(t *testing.T) {
	t.Parallel()
	conns := make([]conn, 1000)
	var q retryQueue
	for k := range conns {
		conns[k].started = rand.Int64N(500) // ties included
		q.push(conns, int32(k))
	}
	var got []int64
	for q.len() > 0 {
		require.Equal(t, conns[q.next()].started, conns[q.next()].started)
		got = append(got, conns[q.pop(conns)].started)
	}
	assert.Len(t, got, len(conns))
	assert.True(t, slices.IsSorted(got), "popped in retry-time order")

	// Pushes between pops keep the order.
	conns[0].started, conns[1].started, conns[2].started = 30, 10, 20
	q.push(conns, 0)
	q.push(conns, 1)
	assert.Equal(t, int32(1), q.pop(conns))
	q.push(conns, 2)
	assert.Equal(t, int32(2), q.pop(conns))
	assert.Equal(t, int32(0), q.pop(conns))
	assert.Zero(t, q.len())
}
