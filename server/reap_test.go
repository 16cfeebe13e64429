package server

import (
	"c1m/core"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reapModes are the engines the idle-timeout tests run on: each engine
// once (the wheel is shared; trigger and task-run modes do not touch it).
var reapModes = []string{"et", "uring-" + core.TaskrunSignal}

// keepTalking echoes on every connection every interval until ctx ends,
// and returns the first echo that failed.
func keepTalking(ctx context.Context, conns []*net.TCPConn, every time.Duration) <-chan error {
	errs := make(chan error, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if err := echoOnce(c, fmt.Appendf(nil, "live %d #%d\x00", i, n)); err != nil {
					errs <- fmt.Errorf("live connection %d, echo %d: %w", i, n, err)
					return
				}
			}
		}()
	}
	done := make(chan error, 1)
	go func() {
		wg.Wait()
		close(errs)
		done <- <-errs // nil once closed empty
	}()
	return done
}

// With -idle-timeout, connections that echo once and go silent are closed
// (reason idle, the client sees the close) while connections that keep
// sending more often than the timeout are all answered and stay open.
func TestIdleTimeoutReapsSilentKeepsActive(t *testing.T) {
	t.Parallel()
	const n = 500
	parallelRuns(t, reapModes, func(t *testing.T, mode string) {
		cfg := withMode(testConfig(), mode)
		cfg.Reap.IdleTimeout = time.Second
		r, addr := startServer(t, cfg)
		silent := holdAndEcho(t, addr, n)
		live := holdAndEcho(t, addr, n)

		ctx, stop := context.WithCancel(context.Background())
		talking := keepTalking(ctx, live, 200*time.Millisecond)
		require.NoError(t, parallel(n, 256, func(i int) error { return expectServerClose(silent[i]) }))
		snap := waitConns(t, r.Snapshot, n)
		assert.EqualValues(t, n, snap.CloseReasons["idle"], "close reasons %v", snap.CloseReasons)
		time.Sleep(2 * cfg.Reap.IdleTimeout) // the live ones outlast the timeout twice more
		stop()
		require.NoError(t, <-talking)
		snap = r.Snapshot()
		assert.EqualValues(t, n, snap.Conns, "every live connection is still open")
		assert.EqualValues(t, n, snap.CloseReasons["idle"], "and none of them was reaped")
		require.NoError(t, echoAll(live))
	})
}

// A connection that never sends a byte is reaped too, on every engine mode,
// and a connection reaped is one less: accepting goes on.
func TestIdleTimeoutReapsNeverSpoken(t *testing.T) {
	t.Parallel()
	parallelRuns(t, engineModes, func(t *testing.T, mode string) {
		cfg := withMode(testConfig(), mode)
		cfg.Reap.IdleTimeout = 300 * time.Millisecond
		r, addr := startServer(t, cfg)
		quiet := dialMany(t, addr, 20)
		require.NoError(t, parallel(len(quiet), 20, func(i int) error {
			if err := closeErr(quiet[i]); !errors.Is(err, syscall.ECONNRESET) {
				return fmt.Errorf("want a reset (an idle connection is closed with SO_LINGER 0), got %v", err)
			}
			return nil
		}))
		snap := waitConns(t, r.Snapshot, 0)
		assert.EqualValues(t, 20, snap.CloseReasons["idle"])
		require.NoError(t, echoAll(dialMany(t, addr, 5)))
	})
}

// Off by default: a silent connection is kept.
func TestNoIdleTimeoutByDefault(t *testing.T) {
	t.Parallel()
	r, addr := startServer(t, testConfig())
	c := dial(t, addr)
	require.NoError(t, echoOnce(c, []byte("once\x00")))
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, echoOnce(c, []byte("again\x00")))
	assert.Zero(t, r.Snapshot().CloseReasons["idle"])
}
