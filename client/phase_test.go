package client

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/eventloop"
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

// A day's interval at a million connections: the last process's
// connections, whose phases once overflowed int64 and came out negative
// (all due at once), send nothing in the first minute.
func TestDayIntervalDoesNotWrapTheLastConnectionsPhases(t *testing.T) {
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

// -silent (the holder's peers) sends nothing, whatever the phases: a
// 24 h interval alone still sends the first connections' keepalives
// (connection 0's phase is 0), which a server that never reads keeps.
func TestSilentSendsNothing(t *testing.T) {
	t.Parallel()
	for _, silent := range []bool{false, true} {
		job := &Job{Msg: []byte("ping\n"), Total: 1_000, Count: 1_000, Interval: 24 * time.Hour, Timeout: time.Hour,
			Tick: time.Millisecond, Depth: 1, Silent: silent}
		var ph atomic.Int32
		e := newEngine(job, 0, 1, &ph)
		sends := &countingTransport{}
		e.io = sends
		for k := range e.conns {
			e.conns[k].state = stOpen
		}
		e.cycleStart = int64(time.Hour)
		e.keepalive(int64(time.Hour))
		if silent {
			assert.Zero(t, e.c.sent.Load(), "-silent sends nothing")
			assert.Zero(t, sends.sends)
			assert.False(t, e.keepalivesOn())
		} else {
			assert.Positive(t, sends.sends, "connection 0 is due at the cycle's start")
		}
	}
}

func TestSilentSaturatingIsRefused(t *testing.T) {
	t.Parallel()
	_, _, err := Plan(Config{Conns: 10, Interval: 0, Depth: 1, Silent: true, Msg: "ping", Server: "127.0.0.1:1", Ports: 1, Src: "127.0.0.1"})
	assert.ErrorContains(t, err, "-silent with -interval 0")
}

// countingTransport counts sends and does nothing else.
type countingTransport struct{ sends int }

func (c *countingTransport) init(*eventloop.Loop) error { return nil }
func (c *countingTransport) event(int, uint32)          {}
func (c *countingTransport) connect(int) error          { return nil }
func (c *countingTransport) send(int) bool              { c.sends++; return true }
func (c *countingTransport) close(int)                  {}
func (c *countingTransport) submit() time.Duration      { return -1 }
func (c *countingTransport) exit()                      {}
