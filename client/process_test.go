package client

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/core"
)

// -procs 2: two child processes (this test binary, re-executed) share the
// connections; the parent's result is their sum.
func TestMultiProcessAggregation(t *testing.T) {
	t.Parallel()
	srv, addr := startServer(t, "127.0.0.1:0")
	cfg := testConfig(addr)
	cfg.Conns, cfg.Procs = 200, 2
	res := runClient(t, cfg)

	assert.Equal(t, 2, res.Procs)
	assert.Equal(t, endHold, res.Ended)
	assert.Equal(t, int64(200), res.Attempted)
	assert.Equal(t, int64(200), res.Established)
	assert.Equal(t, int64(200), res.PeakOpen, "the sum of each child's peak")
	assert.Empty(t, res.Failed)
	assert.Empty(t, res.Dropped)
	assert.Positive(t, res.Echoed)
	assert.Zero(t, res.Mismatched)
	assert.Equal(t, res.Sent, res.Echoed+res.InFlightAtClose)
	assert.Equal(t, int64(200), res.ConnsVerified, "both children's connections verified")
	assert.Positive(t, res.CPUSeconds)

	waitServerConns(t, srv, 0)
	snap := srv.Snapshot()
	assert.Equal(t, uint64(200), snap.Accepted)
	assert.Equal(t, uint64(res.BytesSent), snap.BytesIn, "the children's bytes add up to what the server read")
}

// The real binary, interrupted: SIGTERM after every connection is open
// closes them all, still writes the JSON result, and exits 0.
func TestBinarySIGTERMCleanShutdown(t *testing.T) {
	t.Parallel()
	lockThreadForChildren(t)
	bin := buildClient(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	const n = 150
	out := filepath.Join(t.TempDir(), "r.json")
	cmd := exec.Command(bin, "-server", addr, "-src", testSources, "-conns", strconv.Itoa(n),
		"-interval", "100ms", "-timeout", "20s", "-hold", "1m", "-json", out)
	var log bytes.Buffer // one writer at a time: exec copies both streams with one goroutine
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill() // by pid, on every path
			<-exited
		}
	})

	waitServerConns(t, srv, n)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	var err error
	select {
	case err = <-exited:
		exited <- err // for the cleanup
	case <-time.After(runTimeout):
		cmd.Process.Kill()
		exited <- <-exited
		require.FailNow(t, "c1m-client did not exit after SIGTERM", "output:\n%s", log.String())
	}
	t.Logf("c1m-client output:\n%s", log.String())
	require.NoError(t, err, "exit status")

	raw, err := os.ReadFile(out)
	require.NoError(t, err, "-json written on SIGTERM")
	var res Result
	require.NoError(t, json.Unmarshal(raw, &res))
	checkAccounting(t, DefaultConfig(), res) // the binary sends the default message
	assert.Equal(t, endSignal, res.Ended)
	assert.Equal(t, int64(n), res.Established)
	assert.Equal(t, int64(n), res.Attempted)
	assert.Empty(t, res.Failed)
	assert.Zero(t, res.Mismatched)
	assert.Equal(t, 1, res.Procs)
	assert.Contains(t, res.Env.Flags, "-conns")
	assert.NotEmpty(t, res.Env.Kernel)
	assert.NotEmpty(t, res.Env.CPUModel)
	assert.True(t, res.Env.Calibration.Measured(), "the binary calibrates the machine by default")
	assert.Nil(t, res.RttHist, "the JSON carries percentiles, not histograms")
	assert.Contains(t, log.String(), "interrupted")

	// Everything was closed: the server sees every connection go.
	waitServerConns(t, srv, 0)
}

// A parent merges its children's results: counts add up, histograms
// merge, and an interrupted child makes the whole run interrupted.
func TestResultMerge(t *testing.T) {
	t.Parallel()
	child := func(ended string, established int64, rtts ...int64) *Result {
		h := core.NewLatencyHistogram()
		for _, v := range rtts {
			require.NoError(t, h.RecordValue(v))
		}
		return &Result{Ended: ended, Established: established, Echoed: int64(len(rtts)), Sent: int64(len(rtts)),
			Failed: map[string]int64{"ECONNREFUSED": 1}, Dropped: map[string]int64{}, RttHist: h.Export()}
	}
	for _, order := range [][]string{{endHold, endSignal}, {endSignal, endHold}} {
		res := Result{Failed: map[string]int64{}, Dropped: map[string]int64{}}
		res.merge(child(order[0], 3, 100, 200))
		res.merge(child(order[1], 4, 300))
		res.summarise()
		assert.Equal(t, endSignal, res.Ended, "%v", order)
		assert.Equal(t, int64(7), res.Established)
		assert.Equal(t, int64(3), res.Echoed)
		assert.Equal(t, map[string]int64{"ECONNREFUSED": 2}, res.Failed)
		assert.Equal(t, int64(3), res.RttUs.N)
		assert.InDelta(t, 300, res.RttUs.Max, 3, "HDR keeps 2 significant digits")
	}
}

// At the hold's end no child process closes before every child has its
// echoes in: one connection's echoes come 700 ms late, and no connection
// (of either child) reaches EOF before that last late echo was written.
// Without the barrier the child without the slow connection closes at once
// and its close storm, at 1M, delays the other child's last echoes.
func TestChildrenCloseAfterAllDrained(t *testing.T) {
	t.Parallel()
	const slowBy = 700 * time.Millisecond
	var (
		mu        sync.Mutex
		accepted  int
		lastSlow  time.Time // when the slow connection's last echo was written
		firstEOF  time.Time
		eofs      int
		slowEchos int
	)
	addr := startGoServer(t, func(c net.Conn) {
		mu.Lock()
		slow := accepted == 0
		accepted++
		mu.Unlock()
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				mu.Lock()
				if firstEOF.IsZero() {
					firstEOF = time.Now()
				}
				eofs++
				mu.Unlock()
				return
			}
			if slow {
				time.Sleep(slowBy)
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
			if slow {
				mu.Lock()
				lastSlow, slowEchos = time.Now(), slowEchos+1
				mu.Unlock()
			}
		}
	})
	cfg := testConfig(addr)
	// A short interval: the slow connection sends again right after each late
	// echo, so the hold ends with one in flight on it.
	cfg.Conns, cfg.Procs, cfg.Hold, cfg.Interval = 20, 2, 1500*time.Millisecond, 10*time.Millisecond
	res := runClient(t, cfg)

	assert.Equal(t, endHold, res.Ended)
	assert.Zero(t, res.InFlightAtClose, "the slow connection's last echo came within -timeout")
	// The client has closed; the server's reads see the EOFs a moment later.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return eofs == cfg.Conns
	}, 10*time.Second, 10*time.Millisecond, "every connection reaches EOF at the server")
	mu.Lock()
	defer mu.Unlock()
	require.Positive(t, slowEchos, "the slow connection echoed")
	assert.False(t, firstEOF.Before(lastSlow),
		"a connection closed %v before the slow connection's last echo was written", lastSlow.Sub(firstEOF))
}
