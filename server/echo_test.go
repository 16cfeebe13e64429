package server

import (
	"c1m/core"
	"c1m/statshttp"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var triggers = []string{"et", "lt"}

// Every dispatch × trigger pair echoes byte-exact for 200 concurrent
// connections whose pieces interleave, then counts every close.
func TestEchoDispatchTrigger(t *testing.T) {
	t.Parallel()
	const conns, perConn = 200, 24 << 10
	for _, d := range core.DispatchModes {
		for _, tr := range triggers {
			t.Run(d+"/"+tr, func(t *testing.T) {
				t.Parallel()
				cfg := testConfig()
				cfg.Epoll.Dispatch, cfg.Epoll.Trigger, cfg.Workers = d, tr, 3
				cfg.Epoll.ReadBuf, cfg.MaxPending = 1024, 4096 // many reads, some pending output
				s, addr := startServer(t, cfg)
				cs := dialMany(t, addr, conns)
				require.NoError(t, parallel(conns, conns, func(i int) error {
					return echoStream(cs[i], uint64(i), perConn, 1500, false)
				}))
				// bytes_out is counted just after the write the client reads.
				var snap core.Snapshot
				waitFor(t, "bytes_out to count every echo", func() bool {
					snap = s.Snapshot()
					return snap.BytesOut >= conns*perConn
				})
				assert.EqualValues(t, conns, snap.Accepted)
				assert.EqualValues(t, conns, snap.Registered)
				assert.EqualValues(t, conns, snap.Conns)
				assert.EqualValues(t, conns*perConn, snap.BytesIn)
				assert.EqualValues(t, conns*perConn, snap.BytesOut)
				for _, w := range snap.Workers {
					assert.Positive(t, w.Registered, "worker %d gets connections", w.ID)
				}

				closeAll(cs)
				snap = waitConns(t, s.Snapshot, 0)
				assert.EqualValues(t, conns, snap.Closed)
				assert.EqualValues(t, conns, snap.CloseReasons["eof"])
			})
		}
	}
	for _, mode := range []string{"uring-" + core.TaskrunSignal, "uring-" + core.TaskrunDefer, "uring-" + core.RecvSingle} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			cfg := withMode(testConfig(), mode)
			cfg.Uring.Rings, cfg.MaxPending = 3, 4096
			testUringEcho(t, cfg, conns, perConn)
		})
	}
}

func testUringEcho(t *testing.T, cfg core.Config, conns, perConn int) {
	{
		s, addr := startServer(t, cfg)
		cs := dialMany(t, addr, conns)
		require.NoError(t, parallel(conns, conns, func(i int) error {
			return echoStream(cs[i], uint64(i), perConn, 1500, false)
		}))
		var snap core.Snapshot
		waitFor(t, "bytes_out to count every echo", func() bool {
			snap = s.Snapshot()
			return snap.BytesOut >= uint64(conns*perConn)
		})
		assert.Equal(t, core.EngineUring, snap.Engine)
		assert.Equal(t, 3, snap.Rings)
		assert.EqualValues(t, conns, snap.Accepted)
		assert.EqualValues(t, conns, snap.Conns)
		assert.EqualValues(t, conns*perConn, snap.BytesIn)
		assert.EqualValues(t, conns*perConn, snap.BytesOut)
		assert.Positive(t, snap.UringEnters)
		// Which ring takes a connection is the kernel's choice (a ring whose
		// thread is awake takes what is queued): no balance is asserted.
		closeAll(cs)
		snap = waitConns(t, s.Snapshot, 0)
		assert.EqualValues(t, conns, snap.Closed)
		assert.EqualValues(t, conns, snap.CloseReasons["eof"])
	}
}

// Least-connections balancing echoes and spreads a burst evenly: the
// acceptor must count connections still on their way to a worker.
func TestEchoBalanceLeast(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Epoll.Balance, cfg.Workers = "least", 4
	s, addr := startServer(t, cfg)
	cs := dialMany(t, addr, 100)
	require.NoError(t, echoAll(cs))
	for _, w := range s.Snapshot().Workers {
		assert.EqualValues(t, 25, w.Conns, "worker %d", w.ID)
	}
}

// Half-close: the client sends, shuts its write side, and still reads every
// byte back, then EOF; the server closes each connection once, as EOF.
func TestHalfClose(t *testing.T) {
	t.Parallel()
	for _, mode := range engineModes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			const conns = 20
			cfg := withMode(testConfig(), mode)
			cfg.MaxPending = 2048 // the FIN arrives while output is pending
			s, addr := startServer(t, cfg)
			cs := dialMany(t, addr, conns)
			require.NoError(t, parallel(conns, conns, func(i int) error {
				size := 256 << 10 // FIN while output is pending
				switch {
				case i == 0:
					size = 0 // nothing sent: just EOF back
				case i%2 == 1:
					size = 11 // data and FIN in one event
				}
				return echoStream(cs[i], uint64(i), size, 64<<10, true)
			}))
			snap := waitConns(t, s.Snapshot, 0)
			assert.EqualValues(t, conns, snap.Closed)
			assert.EqualValues(t, conns, snap.CloseReasons["eof"])
		})
	}
}

// Reset: a client that aborts (SO_LINGER 0) mid-stream, with data in flight
// both ways, is closed and counted, and its state freed.
func TestReset(t *testing.T) {
	t.Parallel()
	for _, mode := range engineModes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			const conns = 20
			s, addr := startServer(t, withMode(testConfig(), mode))
			cs := dialMany(t, addr, conns)
			require.NoError(t, echoAll(cs)) // every one registered first
			junk := pattern(7, 256<<10)
			for i, c := range cs {
				size := len(junk) // output in flight both ways
				if i%2 == 1 {
					size = 11 // data and RST in one event
				}
				require.NoError(t, c.SetDeadline(time.Now().Add(ioTimeout)))
				_, err := c.Write(junk[:size]) // not read back
				require.NoError(t, err)
				require.NoError(t, c.SetLinger(0))
				require.NoError(t, c.Close())
			}
			snap := waitConns(t, s.Snapshot, 0)
			assert.EqualValues(t, conns, snap.Closed)
			assert.EqualValues(t, conns, snap.CloseReasons["reset"]+snap.CloseReasons["epipe"], "close reasons %v", snap.CloseReasons)
		})
	}
}

// -max-conns 10: the 11th connection is closed at once and counted; after
// one closes, a new one is held again.
func TestMaxConnsSheds(t *testing.T) {
	t.Parallel()
	parallelRuns(t, []string{core.EngineEpoll, core.EngineUring}, testMaxConnsSheds)
}

func testMaxConnsSheds(t *testing.T, engine string) {
	cfg := testConfig()
	cfg.MaxConns, cfg.Engine = 10, engine
	s, addr := startServer(t, cfg)
	require.Contains(t, []string{core.StrategySingle, core.StrategyRings}, s.Plan().Strategy)
	cs := make([]*net.TCPConn, 10)
	for i := range cs {
		cs[i] = dial(t, addr)
		require.NoError(t, echoOnce(cs[i], []byte("keepalive!\x00")))
	}
	extra := dial(t, addr)
	require.NoError(t, expectServerClose(extra))
	var snap core.Snapshot
	waitFor(t, "the shed to be counted", func() bool { // counted just after the close
		snap = s.Snapshot()
		return snap.AcceptErrors["shed_max_conns"] > 0
	})
	assert.EqualValues(t, 1, snap.AcceptErrors["shed_max_conns"])
	assert.EqualValues(t, 10, snap.Conns)
	assert.EqualValues(t, 10, snap.Accepted, "a shed connection is not counted as accepted")
	require.NoError(t, echoAll(cs), "the held connections still echo")

	require.NoError(t, cs[0].Close())
	waitConns(t, s.Snapshot, 9)
	again := dial(t, addr)
	require.NoError(t, echoOnce(again, []byte("room again")))
	assert.EqualValues(t, 10, s.Snapshot().Conns)
}

// The pipe framing loses no fd under a burst: 3000 concurrent dials, every
// one accepted, registered by a worker and echoing.
func TestPipeBurstLosesNoFD(t *testing.T) {
	t.Parallel()
	const n = 3000
	cfg := testConfig()
	cfg.Epoll.Dispatch, cfg.Workers = core.DispatchPipe, 4
	s, addr := startServer(t, cfg)
	cs := dialMany(t, addr, n)
	require.NoError(t, echoAll(cs))
	snap := s.Snapshot()
	assert.EqualValues(t, n, snap.Accepted)
	assert.EqualValues(t, n, snap.Registered)
	assert.EqualValues(t, n, snap.Conns)
	assert.EqualValues(t, n, snap.DispatchUs.N, "every hand-off's latency recorded")
	for k, v := range snap.AcceptErrors {
		assert.Zero(t, v, "accept error %s", k)
	}
	closeAll(cs)
	snap = waitConns(t, s.Snapshot, 0)
	assert.EqualValues(t, n, snap.Closed)
}

// No fd leak: after clients close every connection the process holds the
// fds it held before they connected, and after Stop the ones it held before
// Start. Not parallel: it counts the whole process's fd table.
func TestNoFDLeak(t *testing.T) {
	// Go's netpoller opens its fds at first use: before the first count.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln.Close()
	for _, d := range append(core.DispatchModes, core.EngineUring) {
		t.Run(d, func(t *testing.T) {
			cfg := testConfig()
			if d == core.EngineUring {
				cfg.Engine = core.EngineUring
			} else {
				cfg.Epoll.Dispatch = d
			}
			pre := countFDs(t)
			s, err := Launch(cfg)
			require.NoError(t, err)
			t.Cleanup(s.Stop)
			addr := s.Addrs()[0].String()
			running := countFDs(t)
			cs := dialMany(t, addr, 100)
			require.NoError(t, echoAll(cs))
			waitConns(t, s.Snapshot, 100)
			if d == core.EngineUring {
				// The server's sockets live in the ring's registered-file table.
				assert.Equal(t, running+100, countFDs(t), "100 client sockets, and no server socket in the fd table")
			} else {
				assert.GreaterOrEqual(t, countFDs(t), running+200, "100 client and 100 server sockets")
			}
			closeAll(cs)
			waitConns(t, s.Snapshot, 0)
			waitFor(t, "fds back to the running count", func() bool { return countFDs(t) == running })
			s.Stop()
			require.NoError(t, s.Err())
			waitFor(t, "fds back to the count before Start", func() bool { return countFDs(t) == pre })
		})
	}
}

// /stats serves the snapshot as JSON with "conns" at the top.
func TestServeStats(t *testing.T) {
	t.Parallel()
	parallelRuns(t, []string{core.EngineEpoll, core.EngineUring}, testServeStats)
}

func testServeStats(t *testing.T, engine string) {
	cfg := testConfig()
	cfg.Engine = engine
	s, addr := startServer(t, cfg)
	cs := dialMany(t, addr, 5)
	require.NoError(t, echoAll(cs))
	ln, err := statshttp.Serve("127.0.0.1:0", s.Snapshot)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	resp, err := http.Get(fmt.Sprintf("http://%s/stats?workers=0", ln.Addr()))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var got map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	assert.EqualValues(t, 5, got["conns"])
	assert.EqualValues(t, 5, got["accepted"])
	assert.Equal(t, engine, got["engine"])
	assert.NotContains(t, got, "workers")
	assert.NotContains(t, got, "dispatch_hist")
}

// A configuration Launch cannot run is refused before anything starts.
func TestLaunchRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for name, mod := range map[string]func(*core.Config){
		"trigger":     func(c *core.Config) { c.Epoll.Trigger = "both" },
		"balance":     func(c *core.Config) { c.Epoll.Balance = "random" },
		"dispatch":    func(c *core.Config) { c.Epoll.Dispatch = "carrier-pigeon" },
		"readbuf":     func(c *core.Config) { c.Epoll.ReadBuf = 10 },
		"max-pending": func(c *core.Config) { c.MaxPending = 0 },
		"addr":        func(c *core.Config) { c.Addr = "nowhere" },
		"ports on 0":  func(c *core.Config) { c.Ports = 2 },
		"uring look":  func(c *core.Config) { c.Engine, c.Uring.LookEvery = core.EngineUring, -1 },
	} {
		cfg := testConfig()
		mod(&cfg)
		_, err := Launch(cfg)
		assert.Error(t, err, name)
	}
}
