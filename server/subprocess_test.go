package server

// Tests whose server runs in a subprocess of this test binary (see
// runSubServer): a lowered RLIMIT_NOFILE, a clean memory baseline, or
// prefork children must not touch the test process itself.

import (
	"c1m/core"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// EMFILE at accept: with the fd table full the acceptor backs off instead of
// spinning (few accept4 calls, little CPU), sheds what it cannot hold, keeps
// echoing on what it holds, and accepts again once fds are free.
func TestEMFILEAcceptDoesNotSpin(t *testing.T) {
	t.Parallel()
	const fit, excess = 8, 24
	cfg := testConfig()
	cfg.Workers, cfg.Pin = 1, false
	// 128 is about the least the planner accepts for one worker (it keeps
	// 69 fds of overhead); the ballast then leaves room for exactly 8.
	srv := startSubServer(t, subSpec{Nofile: 128, Config: cfg, LeaveFree: fit})
	require.Equal(t, core.StrategySingle, srv.Plan.Strategy)
	addr := srv.Addr()

	held := make([]*net.TCPConn, fit)
	for i := range held {
		held[i] = dial(t, addr)
		require.NoError(t, echoOnce(held[i], []byte("fits")))
	}
	// Already at EMFILE possibly: at a full table accept4 fails before it
	// looks at the backlog, so the acceptor may have backed off once.
	before := srv.Snapshot()
	require.EqualValues(t, fit, before.Conns)

	// More than fit: the handshakes complete in the kernel's backlog.
	cpu0, wall0 := procCPUTicks(t, srv.Pid()), time.Now()
	over := dialMany(t, addr, excess)
	// Seven back-offs (10+20+...+640 ms) is over a second at EMFILE; a
	// spinning acceptor ends the wait early on its accept4 count instead.
	var during core.Snapshot
	waitFor(t, "7 accept back-offs", func() bool {
		during = srv.Snapshot()
		return during.AcceptErrors["backoffs"]-before.AcceptErrors["backoffs"] >= 7 ||
			during.AcceptCalls-before.AcceptCalls >= 2000
	})
	cpu1, wall1 := procCPUTicks(t, srv.Pid()), time.Now()

	assert.Greater(t, during.AcceptErrors["emfile"], before.AcceptErrors["emfile"])
	assert.Greater(t, during.AcceptErrors["shed_no_fd"], before.AcceptErrors["shed_no_fd"], "the reserve fd sheds one pending connection per back-off")
	// A spinning acceptor makes hundreds of thousands of accept4 calls a second.
	assert.Less(t, during.AcceptCalls-before.AcceptCalls, uint64(2000), "accept4 calls at EMFILE")
	cpuSeconds := float64(cpu1-cpu0) / 100 // USER_HZ
	t.Logf("at EMFILE for %v: %d accept4 calls, %d back-offs, %d shed, %.2f s CPU",
		wall1.Sub(wall0).Round(time.Millisecond), during.AcceptCalls-before.AcceptCalls,
		during.AcceptErrors["backoffs"]-before.AcceptErrors["backoffs"], during.AcceptErrors["shed_no_fd"], cpuSeconds)
	assert.Less(t, cpuSeconds/wall1.Sub(wall0).Seconds(), 0.5, "server CPU per wall second at EMFILE (a spin is ~1)")
	assert.EqualValues(t, fit, during.Conns)
	require.NoError(t, echoAll(held), "held connections keep echoing at EMFILE")

	// Recovery: free every fd; the backlog drains (each pending connection
	// is accepted or shed), then new connections are held and echo again.
	closeAll(held)
	closeAll(over)
	waitFor(t, "the backlog to drain", func() bool {
		s := srv.Snapshot()
		return s.Conns == 0 && s.Accepted+s.AcceptErrors["shed_no_fd"] == fit+excess
	})
	fresh := dialMany(t, addr, fit)
	if err := echoAll(fresh); err != nil {
		after := srv.Snapshot()
		t.Logf("server after the fresh dials: conns %d, accepted %d, accept errors %v, close reasons %v",
			after.Conns, after.Accepted, after.AcceptErrors, after.CloseReasons)
		require.NoError(t, err, "accepting again after EMFILE")
	}
	assert.EqualValues(t, fit, srv.Snapshot().Conns)
}

// A client that sends 50 MB and reads nothing never makes the server hold
// more than -max-pending bytes for it: reading pauses (backpressure), memory
// stays flat, other connections keep echoing; once it reads, all 50 MB come
// back byte-exact.
func TestBackpressureBoundsMemory(t *testing.T) {
	t.Parallel()
	parallelRuns(t, []string{"et", "uring-" + core.TaskrunSignal, "uring-" + core.RecvSingle}, testBackpressureBoundsMemory)
}

func testBackpressureBoundsMemory(t *testing.T, mode string) {
	const total, maxPending, bufSize = 50 << 20, 64 << 10, 64 << 10
	cfg := withMode(testConfig(), mode)
	cfg.MaxPending = maxPending
	cfg.RcvBuf, cfg.SndBuf = bufSize, bufSize // no kernel autotuning to soak up the flood
	srv := startSubServer(t, subSpec{Config: cfg})
	addr := srv.Addr()

	others := dialMany(t, addr, 20)
	require.NoError(t, echoAll(others))
	base := srv.Snapshot()
	baseRSS := procRSS(t, srv.Pid())

	hog := dial(t, addr)
	require.NoError(t, hog.SetReadBuffer(bufSize))
	require.NoError(t, hog.SetWriteBuffer(bufSize))
	require.NoError(t, hog.SetDeadline(time.Now().Add(2*ioTimeout)))
	data := pattern(50, total)
	var written atomic.Int64
	var finished atomic.Bool
	werr := make(chan error, 1)
	go func() {
		defer finished.Store(true)
		for off := 0; off < total; off += 64 << 10 {
			n, err := hog.Write(data[off : off+64<<10])
			written.Add(int64(n))
			if err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()

	// The server pauses reading the hog (or, broken, takes all 50 MB).
	waitFor(t, "the server to pause reading the non-reading client", func() bool {
		return srv.Snapshot().Backpressure > base.Backpressure || finished.Load()
	})
	require.False(t, finished.Load(), "the server took all 50 MB from a client that reads nothing")
	stalled := srv.Snapshot()
	assert.Greater(t, stalled.Backpressure, base.Backpressure, "reading paused at -max-pending")
	held := int64(stalled.BytesIn) - int64(stalled.BytesOut)
	t.Logf("paused after the client wrote %d bytes: server read %d, holds %d unsent, heap %+d B, backpressure %d",
		written.Load(), stalled.BytesIn-base.BytesIn, held, int64(stalled.GoHeapBytes)-int64(base.GoHeapBytes), stalled.Backpressure)
	assert.LessOrEqual(t, held, int64(maxPending), "bytes read and not yet echoed (pending output)")
	assert.Less(t, stalled.BytesIn-base.BytesIn, uint64(8<<20), "bytes the server read from the hog")
	assert.Less(t, int64(stalled.GoHeapBytes)-int64(base.GoHeapBytes), int64(16<<20), "Go heap growth")
	assert.Less(t, int64(procRSS(t, srv.Pid()))-int64(baseRSS), int64(32<<20), "RSS growth")

	require.NoError(t, echoAll(others), "other connections echo while one is paused")

	// Now read: everything comes back, in order.
	got := make([]byte, total)
	_, err := io.ReadFull(hog, got)
	require.NoError(t, err)
	require.NoError(t, <-werr)
	require.Equal(t, -1, firstDiff(got, data), "echo after backpressure")
	end := srv.Snapshot()
	assert.GreaterOrEqual(t, end.BytesIn-base.BytesIn, uint64(total))
	assert.Less(t, int64(end.GoHeapBytes)-int64(base.GoHeapBytes), int64(16<<20), "Go heap growth after 50 MB")
}

// fdtables: RLIMIT_NOFILE 300 caps one fd table well under 250
// connections, yet one process holds 1000, in private tables, whichever way
// connections reach them; pipe (the flags' default) cannot reach a private
// table and runs the fdtables default instead.
func TestFDTablesPassOneTable(t *testing.T) {
	t.Parallel()
	for _, mode := range append([]string{core.DispatchPipe}, core.FDTablesDispatchModes...) {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			const n = 1000
			cfg := testConfig()
			cfg.Epoll.Strategy, cfg.MaxConns, cfg.Pin, cfg.Epoll.Dispatch = core.StrategyFDTables, n, false, mode
			if core.FDTablesDispatch(mode) == core.DispatchReusePort {
				// The kernel spreads connections over the tables' own listeners by a
				// hash, not by room: at 200 a table the spread of 1000 may overfill
				// one (and shed), so room for twice as many.
				cfg.MaxConns = 2 * n
			}
			srv := startSubServer(t, subSpec{Nofile: 300, Config: cfg})
			require.Equal(t, core.StrategyFDTables, srv.Plan.Strategy)
			require.Less(t, srv.Plan.PerTable, 250)
			require.GreaterOrEqual(t, srv.Plan.Tables, 4)

			conns := dialMany(t, srv.Addr(), n)
			require.NoError(t, echoAll(conns))
			snap := waitConns(t, srv.Snapshot, n)
			assert.EqualValues(t, n, snap.Registered)
			assert.Equal(t, srv.Plan.Tables, snap.Tables)
			assert.Equal(t, core.FDTablesDispatch(mode), snap.Dispatch)
			for _, w := range snap.Workers {
				assert.LessOrEqual(t, w.Conns, int64(srv.Plan.PerTable), "worker %d holds no more than its table allows", w.ID)
			}
			assert.EqualValues(t, n, snap.Accepted)
			assert.Zero(t, snap.AcceptErrors["shed_max_conns"]+snap.AcceptErrors["shed_no_fd"]+snap.CloseReasons["no_fd"], "nothing shed")
			shared, err := os.ReadDir("/proc/" + strconv.Itoa(srv.Pid()) + "/fd")
			require.NoError(t, err)
			assert.Less(t, len(shared), 300, "the shared table holds none of the connections")

			closeAll(conns)
			snap = waitConns(t, srv.Snapshot, 0)
			assert.EqualValues(t, n, snap.Closed)
		})
	}
}

// prefork: under the same 300-fd limit, five processes sharing the port with
// SO_REUSEPORT hold 1000 connections; the parent sums their counters.
func TestPreforkPassesOneTable(t *testing.T) {
	t.Parallel()
	const n = 1000
	cfg := testConfig()
	cfg.Addr = loopbackAddr(reservePort(t)) // every child binds the same port
	cfg.Epoll.Strategy, cfg.MaxConns, cfg.Pin = core.StrategyPrefork, n, false
	srv := startSubServer(t, subSpec{Nofile: 300, Config: cfg})
	require.Equal(t, core.StrategyPrefork, srv.Plan.Strategy)
	require.Equal(t, 5, srv.Plan.Procs)
	require.Less(t, srv.Plan.PerTable, 250)

	conns := holdAndEcho(t, srv.Addr(), n)
	snap := waitConns(t, srv.Snapshot, n)
	assert.Equal(t, 5, snap.Procs)
	assert.EqualValues(t, n, snap.Registered)

	closeAll(conns)
	waitConns(t, srv.Snapshot, 0)
}
