package core

import (
	"errors"
	"os"
	"strconv"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The structs shared with the kernel have the ABI's sizes.
func TestUringABISizes(t *testing.T) {
	t.Parallel()
	assert.EqualValues(t, 64, unsafe.Sizeof(sqe{}))
	assert.EqualValues(t, 16, unsafe.Sizeof(cqe{}))
	assert.EqualValues(t, 120, unsafe.Sizeof(iouringParams{}))
}

// user_data round-trips every field, at their limits.
func TestUserDataRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		op        uint8
		gen       uint32
		bid, slot uint16
	}{{opAccept, 0, 0, 0}, {opRecv, 0xFFFFFF, 0, 19999}, {opSend, 1, heapBid, 65535}, {opCancel, 123456, 4095, 7}} {
		op, gen, bid, slot := splitUserData(userData(c.op, c.gen, c.bid, c.slot))
		assert.Equal(t, []any{c.op, c.gen, c.bid, c.slot}, []any{op, gen, bid, slot})
	}
}

// Rings are sized from RLIMIT_NOFILE: one table per ring, so -max-conns
// past one table means more rings, never more fds.
func TestPlanRings(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Ports, cfg.Workers, cfg.MaxConns = 20, 2, 1_000_000
	p, err := PlanRings(cfg, 20000)
	require.NoError(t, err)
	assert.Equal(t, StrategyRings, p.Strategy)
	assert.Equal(t, 19972, p.PerTable)
	assert.Equal(t, 51, p.Tables)
	assert.Equal(t, 2, p.Workers)
	assert.GreaterOrEqual(t, p.Tables*p.PerTable, 1_000_000)

	cfg.MaxConns = 0
	p, err = PlanRings(cfg, 20000)
	require.NoError(t, err)
	assert.Equal(t, 1, p.Tables)
	assert.Equal(t, 1, p.Workers, "no more threads than rings")

	cfg.MaxConns, cfg.Rings = 100_000, 2
	_, err = PlanRings(cfg, 20000)
	assert.ErrorContains(t, err, "raise -rings")
	cfg.Rings, cfg.Strategy = 0, StrategyPrefork
	_, err = PlanRings(cfg, 20000)
	assert.ErrorContains(t, err, "drop -strategy")
}

// A kernel that refuses io_uring leaves the server running on epoll, and
// the snapshot says why.
func TestUringFallsBackToEpoll(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Engine = EngineUring
	r, err := launchUring(cfg, func() error { return errors.New("refused for the test") })
	require.NoError(t, err)
	t.Cleanup(r.Stop)
	snap := r.Snapshot()
	assert.Equal(t, EngineEpoll, snap.Engine)
	assert.Contains(t, snap.EngineNote, "refused for the test")
	cs := dialMany(t, r.(addrser).Addrs()[0].String(), 3)
	require.NoError(t, echoAll(cs))
}

// RLIMIT_NOFILE 300 caps a ring's table well under 300 sockets, yet one
// process holds 1000 connections over several rings, on at most NumCPU
// loop threads, with its fd table holding none of them.
func TestUringPassesOneTable(t *testing.T) {
	t.Parallel()
	const n = 1000
	cfg := testConfig()
	cfg.Engine, cfg.MaxConns, cfg.Pin, cfg.Ports = EngineUring, n, false, 1
	srv := startSubServer(t, subSpec{Nofile: 300, Config: cfg})
	require.Equal(t, StrategyRings, srv.Plan.Strategy)
	require.Less(t, srv.Plan.PerTable, 300)
	require.GreaterOrEqual(t, srv.Plan.Tables, 4)
	require.LessOrEqual(t, srv.Plan.Workers, 2)

	conns := dialMany(t, srv.Addr(), n)
	require.NoError(t, echoAll(conns))
	snap := waitConns(t, srv.Snapshot, n)
	assert.Equal(t, EngineUring, snap.Engine)
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

// Stop closes every connection and releases the ports before it returns:
// the kernel is not left to tear the rings down after the process is gone,
// so a server restarted at once can listen again.
func TestUringStopFreesPorts(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Engine, cfg.Addr = EngineUring, loopbackAddr(reservePort(t))
	r, err := Launch(cfg)
	require.NoError(t, err)
	t.Cleanup(r.Stop)
	addr := r.(addrser).Addrs()[0]
	cs := dialMany(t, addr.String(), 200)
	require.NoError(t, echoAll(cs))
	r.Stop()
	fd, err := Listen(addr, ListenOptions{})
	require.NoError(t, err, "the port is free once Stop returns")
	require.NoError(t, unix.Close(fd))
	require.NoError(t, parallel(len(cs), len(cs), func(i int) error { return expectEOF(cs[i]) }))
	snap := r.Snapshot()
	assert.Zero(t, snap.Conns)
	assert.EqualValues(t, 200, snap.CloseReasons["shutdown"])
}
