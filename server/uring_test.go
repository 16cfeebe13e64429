package server

import (
	"c1m/core"
	"errors"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A kernel that refuses io_uring leaves the server running on epoll, and
// the snapshot says why.
func TestUringFallsBackToEpoll(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Engine = core.EngineUring
	r, err := launch(cfg, func() error { return errors.New("refused for the test") })
	require.NoError(t, err)
	t.Cleanup(r.Stop)
	snap := r.Snapshot()
	assert.Equal(t, core.EngineEpoll, snap.Engine)
	assert.Contains(t, snap.EngineNote, "refused for the test")
	cs := dialMany(t, r.Addrs()[0].String(), 3)
	require.NoError(t, echoAll(cs))
}

// RLIMIT_NOFILE 300 caps a ring's table well under 300 sockets, yet one
// process holds 1000 connections over several rings, on at most NumCPU
// loop threads, with its fd table holding none of them.
func TestUringPassesOneTable(t *testing.T) {
	t.Parallel()
	const n = 1000
	cfg := testConfig()
	cfg.Engine, cfg.MaxConns, cfg.Pin, cfg.Ports = core.EngineUring, n, false, 1
	srv := startSubServer(t, subSpec{Nofile: 300, Config: cfg})
	require.Equal(t, core.StrategyRings, srv.Plan.Strategy)
	require.Less(t, srv.Plan.PerTable, 300)
	require.GreaterOrEqual(t, srv.Plan.Tables, 4)
	require.LessOrEqual(t, srv.Plan.Workers, 2)

	conns := dialMany(t, srv.Addr(), n)
	require.NoError(t, echoAll(conns))
	snap := waitConns(t, srv.Snapshot, n)
	assert.Equal(t, core.EngineUring, snap.Engine)
	assert.Equal(t, srv.Plan.Tables, snap.Rings)
	assert.EqualValues(t, n, snap.Accepted)
	for _, w := range snap.Workers {
		assert.LessOrEqual(t, w.Conns, int64(srv.Plan.PerTable), "ring %d holds no more than its table allows", w.ID)
	}
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(srv.Pid()) + "/fd")
	require.NoError(t, err)
	assert.Less(t, len(fds), 100, "no connection takes an ordinary fd")

	closeAll(conns)
	snap = waitConns(t, srv.Snapshot, 0)
	assert.EqualValues(t, n, snap.Closed)
	assert.EqualValues(t, n, snap.CloseReasons["eof"])
}

// Rings accept multishot while their tables have room for a completion
// queue of connections more, then single-shot to the last slot: a burst of
// connections that crosses from one to the other loses none, and no ring
// holds more than its table allows.
func TestUringAcceptsToTheLastSlot(t *testing.T) {
	t.Parallel()
	const n = 6000
	cfg := testConfig()
	cfg.Engine, cfg.MaxConns, cfg.Pin, cfg.Ports = core.EngineUring, n, false, 1
	srv := startSubServer(t, subSpec{Nofile: 4500, Config: cfg})
	require.Equal(t, 2, srv.Plan.Tables, "two rings of under 4,500 slots hold 6,000")

	conns := dialMany(t, srv.Addr(), n)
	require.NoError(t, echoAll(conns))
	snap := waitConns(t, srv.Snapshot, n)
	assert.EqualValues(t, n, snap.Accepted)
	assert.Less(t, snap.AcceptCalls, snap.Accepted, "multishot accepts took several connections each")
	assert.Zero(t, snap.AcceptErrors["enfile"]+snap.AcceptErrors["emfile"], "no accept met a full table")
	for _, w := range snap.Workers {
		assert.LessOrEqual(t, w.Conns, int64(srv.Plan.PerTable), "ring %d holds no more than its table allows", w.ID)
	}
	closeAll(conns)
	waitConns(t, srv.Snapshot, 0)
}

// Stop closes every connection and releases the ports before it returns:
// the kernel is not left to tear the rings down after the process is gone,
// so a server restarted at once can listen again.
func TestUringStopFreesPorts(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Engine, cfg.Addr = core.EngineUring, loopbackAddr(reservePort(t))
	r, err := Launch(cfg)
	require.NoError(t, err)
	t.Cleanup(r.Stop)
	addr := r.Addrs()[0]
	cs := dialMany(t, addr.String(), 200)
	require.NoError(t, echoAll(cs))
	r.Stop()
	fd, err := core.Listen(addr, core.ListenOptions{})
	require.NoError(t, err, "the port is free once Stop returns")
	require.NoError(t, unix.Close(fd))
	require.NoError(t, parallel(len(cs), len(cs), func(i int) error { return expectEOF(cs[i]) }))
	snap := r.Snapshot()
	assert.Zero(t, snap.Conns)
	assert.EqualValues(t, 200, snap.CloseReasons["shutdown"])
}
