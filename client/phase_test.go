package client

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPhaseSpreadsConnectionsOverTheInterval(t *testing.T) {
	t.Parallel()
	const total = 1_000_000
	day := int64(24 * time.Hour)
	assert.Equal(t, int64(0), phase(0, total, day))
	assert.Equal(t, day/2, phase(total/2, total, day))
	prev := int64(-1)
	for _, g := range []int{1, 106_751, 106_752, 500_000, 999_999} {
		p := phase(g, total, day)
		assert.Greater(t, p, prev, "phase of connection %d", g)
		assert.Less(t, p, day, "connection %d's phase stays within the interval", g)
		prev = p
	}
	assert.Equal(t, day+day/4, phase(total+total/4, total, day), "an index past the total wraps into the next interval")
	assert.Equal(t, int64(3*time.Second/10), phase(3, 10, int64(time.Second)), "small values: g×interval/total")
}

// A holder-style client (-interval 24h) at a million connections sends no
// keepalive in its first day: the last process's connections, whose
// phases once overflowed int64 and came out negative, are not due.
func TestDayIntervalAtAMillionSendsNothing(t *testing.T) {
	t.Parallel()
	job := &Job{Msg: []byte("ping\n"), Total: 1_000_000, Offset: 980_128, Count: 19_872,
		Interval: 24 * time.Hour, Timeout: time.Hour, Tick: time.Millisecond, Depth: 1}
	var ph atomic.Int32
	e := newEngine(job, 0, 1, &ph)
	require.Len(t, e.conns, job.Count)
	for k := range e.conns {
		e.conns[k].state = stOpen
	}
	now := int64(time.Hour)
	e.cycleStart = now
	for range 100 { // many ticks within the first minute
		e.keepalive(now)
		now += int64(500 * time.Millisecond)
	}
	assert.Zero(t, e.c.sent.Load(), "keepalives sent in the first minute of a 24 h interval")
	assert.Zero(t, e.cursor, "no connection's phase has come round")
}
