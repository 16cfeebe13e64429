package server

import (
	"c1m/core"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Workers that accept into their own tables (exclusive, reuseport) shed at
// -max-conns as the acceptor does: accepted and closed at once, counted;
// what is held echoes, and no table holds more than it may.
func TestFDTablesWorkersAcceptShedAtMaxConns(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{core.DispatchExclusive, core.DispatchReusePort} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			const max, extra = 400, 100
			cfg := testConfig()
			cfg.Epoll.Strategy, cfg.MaxConns, cfg.Pin, cfg.Epoll.Dispatch = core.StrategyFDTables, max, false, mode
			srv := startSubServer(t, subSpec{Nofile: 300, Config: cfg})
			require.Equal(t, core.StrategyFDTables, srv.Plan.Strategy)
			require.GreaterOrEqual(t, srv.Plan.Tables, 2, "past one table")

			conns := dialMany(t, srv.Addr(), max+extra)
			var snap core.Snapshot
			waitFor(t, "every connection held or shed", func() bool {
				snap = srv.Snapshot()
				return snap.Accepted+snap.AcceptErrors["shed_max_conns"] == max+extra
			})
			assert.Equal(t, mode, snap.Dispatch)
			assert.EqualValues(t, max, snap.Conns, "held up to -max-conns")
			assert.EqualValues(t, extra, snap.AcceptErrors["shed_max_conns"], "the rest shed")
			for _, w := range snap.Workers {
				assert.LessOrEqual(t, w.Conns, int64(srv.Plan.PerTable), "worker %d holds no more than its table allows", w.ID)
			}
			assert.Equal(t, max, countEchoing(conns), "every held connection echoes; the shed ones were closed")

			closeAll(conns)
			waitConns(t, srv.Snapshot, 0)
			fresh := dialMany(t, srv.Addr(), 50)
			require.NoError(t, echoAll(fresh), "room again after the close")
		})
	}
}

// A worker that accepts into its own table and meets EMFILE there (the
// soft RLIMIT_NOFILE lowered under the plan) backs off instead of spinning,
// sheds with its reserve fd, keeps echoing what it holds, and holds new
// connections once fds are free again.
func TestFDTablesWorkerEMFILEDoesNotSpin(t *testing.T) {
	t.Parallel()
	parallelRuns(t, []string{core.DispatchReusePort, core.DispatchExclusive}, testWorkerEMFILE)
}

func testWorkerEMFILE(t *testing.T, mode string) {
	const total = 120
	srv, _, old, low := startSqueezedFDTables(t, mode, 4) // a few connections a private table

	before := srv.Snapshot()
	conns := dialMany(t, srv.Addr(), total)
	var during core.Snapshot
	waitFor(t, "7 accept back-offs", func() bool {
		during = srv.Snapshot()
		return during.AcceptErrors["backoffs"]-before.AcceptErrors["backoffs"] >= 7 ||
			during.AcceptCalls-before.AcceptCalls >= 5000
	})
	t.Logf("soft limit %d: %d held, %d accept4 calls, %d back-offs, %d shed", low.Cur, during.Conns,
		during.AcceptCalls-before.AcceptCalls, during.AcceptErrors["backoffs"], during.AcceptErrors["shed_no_fd"])
	assert.Positive(t, during.AcceptErrors["emfile"], "a private table was full")
	assert.Positive(t, during.AcceptErrors["shed_no_fd"], "the reserve fd sheds a pending connection per back-off")
	assert.Less(t, during.AcceptCalls-before.AcceptCalls, uint64(5000), "accept4 calls at EMFILE (a spin makes hundreds of thousands)")
	assert.Positive(t, during.Conns, "the tables hold what fitted")
	assert.Less(t, during.Conns, int64(total))
	// More may be accepted meanwhile (a back-off ends), never fewer.
	assert.GreaterOrEqual(t, countEchoingWithin(conns, 3*time.Second), int(during.Conns), "held connections keep echoing at EMFILE")

	// Recovery: the limit back, every connection closed; what waited in the
	// backlog is accepted (or was shed), then new connections are held.
	require.NoError(t, unix.Prlimit(srv.Pid(), unix.RLIMIT_NOFILE, &old, nil))
	closeAll(conns)
	waitFor(t, "the backlog to drain", func() bool {
		s := srv.Snapshot()
		return s.Conns == 0 && s.Accepted+s.AcceptErrors["shed_no_fd"] == total
	})
	fresh := dialMany(t, srv.Addr(), 50)
	require.NoError(t, echoAll(fresh), "accepting again after EMFILE")
	waitConns(t, srv.Snapshot, 50)
}

// countEchoing counts the connections that answer an echo.
func countEchoing(conns []*net.TCPConn) int {
	n := 0
	for _, c := range conns {
		if echoOnce(c, []byte("held?")) == nil {
			n++
		}
	}
	return n
}

// countEchoingWithin echoes on every connection at once and counts the
// answers within d: a connection still in a backlog does not answer.
func countEchoingWithin(conns []*net.TCPConn, d time.Duration) int {
	var n atomic.Int64
	parallel(len(conns), len(conns), func(i int) error {
		c := conns[i]
		c.SetDeadline(time.Now().Add(d))
		msg := []byte("held?")
		if _, err := c.Write(msg); err != nil {
			return nil
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err == nil && string(got) == string(msg) {
			n.Add(1)
		}
		return nil
	})
	return int(n.Load())
}

// Per-worker SO_REUSEPORT listeners would join another server's listeners
// on the same port and share its connections: the server refuses to start
// instead, as one with plain listeners does.
func TestReusePortRefusesABusyPort(t *testing.T) {
	t.Parallel()
	first := testConfig()
	first.Epoll.Dispatch = core.DispatchReusePort
	_, addr := startServer(t, first)

	second := testConfig()
	second.Addr, second.Epoll.Dispatch = addr, core.DispatchReusePort
	_, err := Launch(second)
	require.ErrorIs(t, err, unix.EADDRINUSE)
	assert.Contains(t, err.Error(), "another process holds the port")
}
