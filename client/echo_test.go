package client

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every connection opens, every keepalive comes back verified.
func TestEchoVerifiedAgainstCore(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine engineVariant) {
		srv, addr := startServer(t, "127.0.0.1:0")
		cfg := testConfig(addr)
		engine(&cfg)
		cfg.Conns = 300
		res := runClient(t, cfg)

		assert.Equal(t, endHold, res.Ended)
		assert.Equal(t, int64(300), res.Attempted)
		assert.Equal(t, int64(300), res.Established)
		assert.Equal(t, int64(300), res.PeakOpen)
		assert.Empty(t, res.Failed)
		assert.Empty(t, res.Dropped)
		assert.Positive(t, res.Echoed)
		assert.Zero(t, res.Mismatched)
		assert.Zero(t, res.Timeouts)
		assert.Zero(t, res.InFlightAtClose, "the drain waited for every outstanding echo")
		assert.Equal(t, res.Sent, res.Echoed)
		assert.Equal(t, res.Established, res.ConnsVerified, "every connection had an echo verified")
		assert.Equal(t, int64(300), res.OpenAtEnd)
		assert.Equal(t, 1, res.Procs)
		assert.Equal(t, res.Echoed*int64(len(cfg.Msg)), res.BytesReceived)
		assert.Greater(t, res.Predicted, 300)

		// The server saw the same traffic, and every connection is closed.
		waitServerConns(t, srv, 0)
		snap := srv.Snapshot()
		assert.Equal(t, uint64(300), snap.Accepted)
		assert.Equal(t, uint64(res.BytesSent), snap.BytesIn)
		assert.Equal(t, uint64(res.BytesReceived), snap.BytesOut)
	})
}

// RTT accounting: one round-trip time per echo, percentiles in order, and
// the human-readable log names the plan.
func TestRTTAccounting(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, "127.0.0.1:0")
	cfg := testConfig(addr)
	cfg.Conns, cfg.Interval, cfg.Tick = 50, 50*time.Millisecond, 0
	r := startClient(t, cfg)
	res, err := r.Wait(t)
	require.NoError(t, err)
	checkAccounting(t, cfg, res)

	require.Positive(t, res.Echoed)
	assert.Equal(t, res.Echoed, res.RttUs.N)
	assert.Equal(t, res.Echoed, hdrhistogram.Import(res.RttHist).TotalCount())
	assert.Equal(t, res.Established, res.ConnectUs.N)
	assert.Equal(t, int64(50), res.ConnectUs.N)
	rtt := res.RttUs
	assert.True(t, 0 < rtt.P50 && rtt.P50 <= rtt.P90 && rtt.P90 <= rtt.P99 && rtt.P99 <= rtt.P999 && rtt.P999 <= rtt.Max, "%+v", rtt)
	assert.Contains(t, r.log.String(), "50 connections over 19 source(s) × 1 server port(s)")
}

// Saturating mode: -interval 0 keeps -depth messages of -size bytes in
// flight on every connection, all verified.
func TestSaturatingMode(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine engineVariant) {
		_, addr := startServer(t, "127.0.0.1:0")
		cfg := testConfig(addr)
		engine(&cfg)
		cfg.Conns, cfg.Interval, cfg.Depth, cfg.Size = 50, 0, 4, 1024
		res := runClient(t, cfg)

		assert.Equal(t, endHold, res.Ended)
		assert.Equal(t, int64(50), res.Established)
		assert.Positive(t, res.Echoed)
		assert.Zero(t, res.Mismatched)
		assert.Empty(t, res.Dropped)
		assert.Equal(t, res.Established, res.ConnsVerified)
		assert.Greater(t, res.Sent, int64(4*50), "messages were sent again as echoes came back")
		assert.Zero(t, res.InFlightAtClose, "the drain waited for every outstanding echo")
	})
}

// A server that corrupts its echo is caught: a flipped byte makes every
// message mismatch; extra bytes make the connection's stream impossible, so
// it is counted and dropped.
func TestMismatchDetection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		corrupt func([]byte) []byte
		check   func(t *testing.T, res Result)
	}{
		{"flipped byte", func(b []byte) []byte {
			out := append([]byte(nil), b...)
			out[len(out)/2] ^= 0x20
			return out
		}, func(t *testing.T, res Result) {
			assert.Equal(t, endHold, res.Ended)
			assert.Positive(t, res.Mismatched)
			assert.Empty(t, res.Dropped, "a same-length corruption keeps the stream in step")
			assert.Zero(t, res.Echoed, "every message had a byte flipped")
			assert.Zero(t, res.ConnsVerified)
			assert.Zero(t, res.RttUs.N, "no round-trip time for a corrupt echo")
		}},
		{"extra bytes", func(b []byte) []byte {
			return append(append([]byte(nil), b...), '!')
		}, func(t *testing.T, res Result) {
			assert.Equal(t, endNoneOpen, res.Ended, "every connection was dropped, so the run ended")
			assert.Equal(t, int64(20), res.Mismatched, "one mismatch per connection, then it is dropped")
			assert.Equal(t, map[string]int64{"extra-bytes": 20}, res.Dropped)
			assert.Zero(t, res.OpenAtEnd)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachEngine(t, func(t *testing.T, engine engineVariant) {
				addr := startCorruptEcho(t, tc.corrupt)
				cfg := testConfig(addr)
				engine(&cfg)
				cfg.Conns, cfg.Interval, cfg.Hold = 20, 50*time.Millisecond, 500*time.Millisecond
				res := runClient(t, cfg)
				assert.Equal(t, int64(20), res.Established)
				assert.Empty(t, res.Failed)
				tc.check(t, res)
			})
		})
	}
}

// Nothing listens: every connect is refused once and the run ends by itself,
// without retrying (no spin) and without waiting out its minute-long hold
// (runTimeout is shorter, so a run that waited would fail as hung).
func TestConnectionRefusedEndsRun(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine engineVariant) {
		cfg := testConfig(closedPort(t))
		engine(&cfg)
		cfg.Conns, cfg.Hold = 50, time.Minute
		res := runClient(t, cfg)

		assert.Equal(t, endNoneOpen, res.Ended)
		assert.Equal(t, map[string]int64{"ECONNREFUSED": 50}, res.Failed)
		assert.Equal(t, int64(50), res.Attempted, "each connection tried once, no retry loop")
		assert.Zero(t, res.Established)
		assert.Zero(t, res.Sent)
		assert.Zero(t, res.Reconnects)
	})
}

// A server that accepts and closes at once (as one shedding load does): the
// client sees every close without waiting for a keepalive to hit it, even
// when the close arrives together with the handshake's completion, and the
// run ends by itself with everything counted as dropped.
func TestServerClosesAtOnce(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine engineVariant) {
		addr := startGoServer(t, func(c net.Conn) { c.Close() })
		cfg := testConfig(addr)
		engine(&cfg)
		cfg.Conns, cfg.Interval, cfg.Hold = 200, time.Hour, time.Hour // no keepalive would reveal a missed close
		res := runClient(t, cfg)

		assert.Equal(t, endNoneOpen, res.Ended)
		assert.Equal(t, int64(200), res.Established)
		assert.Equal(t, int64(200), sum(res.Dropped), "%v", res.Dropped)
		assert.Zero(t, res.OpenAtEnd)
		assert.Empty(t, res.Failed)
	})
}

// With -reconnect, a server stopped mid-run and restarted on the same port
// gets every connection back; the result counts the drops and reconnects.
func TestReconnectAfterServerRestart(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, engine engineVariant) {
		first, addr := startServer(t, "127.0.0.1:0")
		const n = 100
		cfg := testConfig(addr)
		engine(&cfg)
		cfg.Conns, cfg.Reconnect, cfg.Hold = n, true, time.Minute
		run := startClient(t, cfg)
		waitServerConns(t, first, n)

		first.Stop()
		time.Sleep(500 * time.Millisecond) // the server is down a while (not a measurement)
		second, _ := startServer(t, addr)
		waitServerConns(t, second, n)
		run.Stop()
		res, err := run.Wait(t)
		require.NoError(t, err)
		checkAccounting(t, cfg, res)

		assert.Equal(t, endSignal, res.Ended)
		// A reconnect racing the old server's dying sockets now and then meets
		// an RST, before or just after its handshake (seen with and without the
		// retry heap): a loss or failure more, never one less.
		assert.GreaterOrEqual(t, sum(res.Dropped), int64(n), "each connection dropped, when the server stopped: %v", res.Dropped)
		assert.LessOrEqual(t, sum(res.Dropped), int64(n+n/10), "few dropped twice: %v", res.Dropped)
		for name := range res.Dropped {
			assert.Contains(t, []string{"EOF", "ECONNRESET", "EPIPE"}, name)
		}
		// The second server holding n connections means every one was retried;
		// the client itself may not have seen every second handshake complete
		// before it was stopped, so established is only known to be above n.
		assert.GreaterOrEqual(t, res.Reconnects, int64(n), "every dropped connection was retried")
		assert.Greater(t, res.Established, int64(n), "connections opened again after the restart")
		for name := range res.Failed {
			assert.Contains(t, []string{"ECONNREFUSED", "ECONNRESET"}, name, "only refusals (and the odd reset) while the server was down: %v", res.Failed)
		}
		t.Logf("dropped %v, failed %v, reconnects %d", res.Dropped, res.Failed, res.Reconnects)
		assert.Zero(t, res.Mismatched)
		// The server may count a connection before the client's loop has seen
		// its handshake complete, so the client's count can trail the server's.
		assert.LessOrEqual(t, res.OpenAtEnd, int64(n))
	})
}

// A quiet ramp sends nothing until every connection (of every process) is
// open, so every echo belongs to the hold; a normal ramp's do not.
func TestQuietRampSendsOnlyInTheHold(t *testing.T) {
	t.Parallel()
	for _, procs := range []int{1, 2} {
		for _, quiet := range []bool{false, true} {
			t.Run(fmt.Sprintf("procs=%d/quiet=%v", procs, quiet), func(t *testing.T) {
				t.Parallel()
				_, addr := startServer(t, "127.0.0.1:0")
				cfg := testConfig(addr)
				// A ramp of about a second, keepalives every 50 ms.
				cfg.Conns, cfg.Procs, cfg.Rate, cfg.Interval, cfg.Hold, cfg.QuietRamp = 100, procs, 100, 50*time.Millisecond, time.Second, quiet
				res := runClient(t, cfg)
				require.Equal(t, int64(100), res.Established)
				require.Positive(t, res.RttHoldUs.N)
				assert.Zero(t, res.Mismatched)
				if quiet {
					assert.Equal(t, res.Echoed, res.RttHoldUs.N, "every echo was sent in the hold")
				} else {
					assert.Greater(t, res.Echoed, res.RttHoldUs.N, "the ramp's keepalives are echoed too")
				}
			})
		}
	}
}

// A connection back after a loss verifies its new socket with an echo at
// once, not at its next keepalive phase (here an hour away): live progress
// counts it in OpenVerified, and the result has one downtime per lost
// connection. In one process and split over two.
func TestReconnectVerifiesEachConnectionAgain(t *testing.T) {
	t.Parallel()
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("procs=%d", procs), func(t *testing.T) {
			t.Parallel()
			first, addr := startServer(t, "127.0.0.1:0")
			const n = 100
			cfg := testConfig(addr)
			cfg.Conns, cfg.Procs, cfg.Reconnect, cfg.Interval, cfg.Hold = n, procs, true, time.Hour, time.Minute
			var mu sync.Mutex
			var last Progress
			cfg.OnProgress = func(p Progress) { mu.Lock(); last = p; mu.Unlock() }
			progress := func() Progress { mu.Lock(); defer mu.Unlock(); return last }
			run := startClient(t, cfg)
			waitServerConns(t, first, n)

			first.Stop()
			require.Eventually(t, func() bool { return sum(progress().Dropped) >= n }, waitTimeout, 20*time.Millisecond, "every connection saw the stop")
			assert.Zero(t, progress().OpenVerified, "nothing open is verified while the server is down")
			second, _ := startServer(t, addr)
			waitServerConns(t, second, n)
			require.Eventually(t, func() bool { return progress().OpenVerified == n }, waitTimeout, 20*time.Millisecond,
				"every connection verified again well before its next keepalive phase")
			run.Stop()
			res, err := run.Wait(t)
			require.NoError(t, err)
			checkAccounting(t, cfg, res)
			assert.Zero(t, res.Mismatched)
			assert.Equal(t, int64(n), res.DowntimeUs.N, "one downtime per lost connection")
			assert.Positive(t, res.DowntimeUs.Max)
		})
	}
}

// StopReconnect closed, -reconnect ends: connections the server closes
// from then on stay closed, not one connect is tried again, and the run
// goes on until stopped. In one process and split over two (a signal each).
func TestStopReconnectLeavesLostConnectionsClosed(t *testing.T) {
	t.Parallel()
	for _, procs := range []int{1, 2} {
		t.Run(fmt.Sprintf("procs=%d", procs), func(t *testing.T) {
			t.Parallel()
			first, addr := startServer(t, "127.0.0.1:0")
			const n = 100
			noRetry := make(chan struct{})
			cfg := testConfig(addr)
			cfg.Conns, cfg.Procs, cfg.Reconnect, cfg.Hold, cfg.StopReconnect = n, procs, true, time.Minute, noRetry
			var mu sync.Mutex
			var last Progress
			cfg.OnProgress = func(p Progress) { mu.Lock(); last = p; mu.Unlock() }
			progress := func() Progress { mu.Lock(); defer mu.Unlock(); return last }
			run := startClient(t, cfg)
			waitServerConns(t, first, n)

			close(noRetry)
			time.Sleep(300 * time.Millisecond) // each process takes the word (not a measurement)
			first.Stop()
			require.Eventually(t, func() bool { return sum(progress().Dropped) >= n }, waitTimeout, 20*time.Millisecond, "every connection saw the stop")
			time.Sleep(time.Second) // past the first back-off (200 ms at most), had there been one
			run.Stop()
			res, err := run.Wait(t)
			require.NoError(t, err)
			checkAccounting(t, cfg, res)
			assert.Equal(t, endSignal, res.Ended)
			assert.Equal(t, int64(n), res.Attempted, "no connect tried again")
			assert.Zero(t, res.Reconnects)
			assert.Empty(t, res.Failed)
			assert.Zero(t, res.OpenAtEnd)
		})
	}
}

// -keepalives 1: each connection sends one keepalive, has it echoed, and
// then stays silent for the rest of the hold (a vanished peer, as a server
// with -idle-timeout sees it).
func TestKeepalivesLimitThenSilence(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, "127.0.0.1:0")
	cfg := testConfig(addr)
	cfg.Conns, cfg.Interval, cfg.Hold, cfg.Keepalives = 50, 50*time.Millisecond, time.Second, 1
	res := runClient(t, cfg)
	require.Equal(t, int64(50), res.Established)
	assert.Equal(t, int64(50), res.Sent, "one keepalive each over 20 intervals")
	assert.Equal(t, res.Sent, res.Echoed)
	assert.Equal(t, res.Established, res.ConnsVerified)
}
