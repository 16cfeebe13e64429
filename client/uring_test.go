package client

import (
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// -engine uring is one process whatever the count, a loop per CPU, and
// refuses the epoll engine's process options.
func TestPlanUring(t *testing.T) {
	t.Parallel()
	cfg := planConfig(100_000, "127.0.0.2-127.0.0.254")
	cfg.Engine, cfg.Ports, cfg.Nofile = EngineUring, 20, 20_000
	jobs, _, err := Plan(cfg)
	require.NoError(t, err)
	require.Len(t, jobs, 1, "one process")
	assert.Equal(t, runtime.NumCPU(), jobs[0].Loops)
	assert.Equal(t, 100_000, jobs[0].Count)
	assert.Equal(t, EngineUring, jobs[0].Engine)

	for _, bad := range []func(*Config){
		func(c *Config) { c.Procs = 2 },
		func(c *Config) { c.FDTables = true },
	} {
		c := cfg
		bad(&c)
		_, _, err := Plan(c)
		assert.ErrorContains(t, err, "one process")
	}
	cfg.Engine = "kqueue"
	_, _, err = Plan(cfg)
	assert.ErrorContains(t, err, "want epoll, uring or auto")
}

// user_data round-trips every field at its limits.
func TestUringDataRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		op  uint8
		gen uint32
		k   int
	}{{uopSocket, 0, 0}, {uopRecv, 0xFFFFFF, 999_999}, {uopClose, 1, 1<<32 - 1}, {uopWritable, 0x123456, 42}} {
		op, gen, k := splitUringData(uringData(c.op, c.gen, c.k))
		assert.Equal(t, []any{c.op, c.gen, c.k}, []any{op, gen, k})
	}
	_, gen, _ := splitUringData(uringData(uopSend, 0x1000001, 7))
	assert.Equal(t, uint32(1), gen, "the generation wraps at 24 bits")
}

// Under a real RLIMIT_NOFILE of 1,000, one c1m-client -engine uring
// process holds 5,000 verified connections: its rings' registered-file
// tables (several per loop, each under the limit) hold them, its fd table
// none.
func TestUringPassesTheFDTableForReal(t *testing.T) {
	t.Parallel()
	if err := UringSupported(); err != nil {
		t.Skip(err)
	}
	srv, addr := startServer(t, "127.0.0.1:0")
	const n, nofile = 5000, 1000
	fds, res := runUnderNofile(t, srv, n, nofile, "-engine", "uring", "-server", addr, "-src", testSources,
		"-conns", strconv.Itoa(n), "-interval", "500ms", "-timeout", "20s", "-hold", "2s", "-quiet-ramp")
	assert.Less(t, fds, 100, "the process's fd table holds none of the connections")
	assert.Equal(t, 1, res.Procs)
	assert.Equal(t, EngineUring, res.Engine)
	assert.Equal(t, int64(n), res.Established)
	assert.Empty(t, res.Failed)
	assert.Empty(t, res.Dropped)
	assert.Zero(t, res.Mismatched)
	assert.Zero(t, res.Timeouts)
	assert.Equal(t, res.Sent, res.Echoed, "every keepalive echoed")
	assert.Equal(t, int64(n), res.ConnsVerified)
	assert.Equal(t, res.Echoed, res.RttHoldUs.N, "a quiet ramp: every echo in the hold")
	assert.Positive(t, res.HoldCPUSeconds)
	waitServerConns(t, srv, 0) // the rings' teardown closed every socket
}
