package peer

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/core"
	"c1m/statshttp"
)

func TestStatsCountsAndSheds(t *testing.T) {
	t.Parallel()
	s := NewStats(2)
	assert.True(t, s.Open())
	assert.True(t, s.Open())
	assert.False(t, s.Open(), "a third connection is past the limit")
	assert.Equal(t, int64(2), s.Conns())
	s.Close()
	assert.True(t, s.Open(), "a closed connection frees its place")
	s.In(3, 10)
	s.In(3+shards, 5) // another shard-mate: still counted
	s.Out(7, 15)
	snap := s.Snapshot("test")
	assert.Equal(t, "test", snap.Strategy)
	assert.Equal(t, int64(2), snap.Conns)
	assert.Equal(t, uint64(4), snap.Accepted)
	assert.Equal(t, uint64(3), snap.Registered)
	assert.Equal(t, uint64(1), snap.Closed)
	assert.Equal(t, uint64(1), snap.AcceptErrors["shed_max_conns"])
	assert.Equal(t, uint64(15), snap.BytesIn)
	assert.Equal(t, uint64(15), snap.BytesOut)
	assert.Positive(t, snap.GoHeapBytes)

	unlimited := NewStats(0)
	for range 1000 {
		require.True(t, unlimited.Open())
	}
}

// /stats carries what the harness samples, under the core's names.
func TestStatsJSON(t *testing.T) {
	t.Parallel()
	s := NewStats(0)
	s.Open()
	s.Out(1, 42)
	ln, err := statshttp.Serve("127.0.0.1:0", func() core.Snapshot { return s.Snapshot("test") })
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	resp, err := http.Get("http://" + ln.Addr().String() + "/stats?workers=0")
	require.NoError(t, err)
	defer resp.Body.Close()
	var got map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	assert.EqualValues(t, 1, got["conns"])
	assert.EqualValues(t, 1, got["accepted"])
	assert.EqualValues(t, 42, got["bytes_out"])
	assert.Contains(t, got, "go_heap_bytes")
}

// The children of a split peer sum into one snapshot.
func TestChildrenSnapshotSums(t *testing.T) {
	t.Parallel()
	c := &children{last: []core.Snapshot{
		{Time: time.Now(), Strategy: "x", Conns: 3, Accepted: 4, BytesOut: 10, Tables: 1},
		{Time: time.Now(), Strategy: "x", Conns: 5, Accepted: 5, BytesOut: 20, Tables: 1},
	}}
	snap := c.snapshot()
	assert.Equal(t, "x", snap.Strategy)
	assert.Equal(t, 2, snap.Procs)
	assert.Equal(t, 2, snap.Tables)
	assert.Equal(t, int64(8), snap.Conns)
	assert.Equal(t, uint64(9), snap.Accepted)
	assert.Equal(t, uint64(30), snap.BytesOut)
}

func TestPlanProcs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		maxConns, perProc, procs, limit int
	}{
		{0, 19_000, 1, 19_000},          // as many as one table allows
		{10_000, 19_000, 1, 10_000},     // fits: the limit is -max-conns
		{19_000, 19_000, 1, 19_000},     // exactly one table
		{19_001, 19_000, 2, 19_000},     // past it: processes, each up to a table
		{100_000, 19_000, 6, 19_000},    // planned 95% full: 18,050 each
		{1_000_000, 19_000, 56, 19_000}, // the 1M case
		{400, 200, 3, 200},
	} {
		procs, limit := PlanProcs(tc.maxConns, tc.perProc)
		assert.Equal(t, tc.procs, procs, "procs for %d at %d", tc.maxConns, tc.perProc)
		assert.Equal(t, tc.limit, limit, "limit for %d at %d", tc.maxConns, tc.perProc)
		if tc.maxConns > 0 {
			assert.GreaterOrEqual(t, procs*limit, tc.maxConns)
		}
	}
	// A table keeps room for the runtime's fds and a listener per port and loop.
	per := PerProcess(20_000, 20)
	assert.Positive(t, per)
	assert.Less(t, per, 20_000-20*runtime.NumCPU())
}

// Spec.Listen sheds connections past the limit: the peer never sees them.
func TestListenSheds(t *testing.T) {
	t.Parallel()
	stats := NewStats(2)
	ln, err := Spec{Stats: stats}.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var dialed []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		dialed = append(dialed, c)
	}
	for range 2 {
		c := <-accepted
		t.Cleanup(func() { c.Close() })
	}
	// The third was accepted and closed at once: its reader sees EOF.
	dialed[2].SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = dialed[2].Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF)
	assert.Len(t, accepted, 0)
	assert.Equal(t, int64(2), stats.Conns())
	assert.Equal(t, uint64(1), stats.Snapshot("").AcceptErrors["shed_max_conns"])
}

// A taken port is refused with the fix.
func TestListenTakenPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	ap := netip.MustParseAddrPort(ln.Addr().String())
	_, err = Spec{Stats: NewStats(0)}.Listen("tcp", ap.String())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pick another -addr")
}
