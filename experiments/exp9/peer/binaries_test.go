package peer

// Integration: each peer binary, built from its main, serves a few hundred
// connections from the real load client on loopback, in one process and
// split over several; every echo is verified and /stats agrees.

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/client"
	"c1m/core"
	"c1m/procgroup"
	"c1m/statshttp"
)

const waitTimeout = 30 * time.Second // how long a polled condition may take; bounds hangs, not a measurement

var peers = []string{"netgo", "gnet", "nbio"}

var built struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// peerBinary builds every peer once per test run and returns one's path.
func peerBinary(t *testing.T, name string) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "c1m-peers-"); built.err != nil {
			return
		}
		args := []string{"build", "-o", built.dir + "/"}
		for _, p := range peers {
			args = append(args, "c1m/experiments/exp9/"+p)
		}
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			built.err = errors.Join(err, errors.New(string(out)))
		}
	})
	require.NoError(t, built.err, "building the peers")
	return filepath.Join(built.dir, name)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func TestPeersEcho(t *testing.T) {
	t.Parallel()
	for _, name := range peers {
		for _, split := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/split=%v", name, split), func(t *testing.T) {
				t.Parallel()
				runPeer(t, name, split)
			})
		}
	}
}

// runPeer starts the peer, holds 300 verified connections on it, checks
// /stats during and after, and stops it with SIGTERM.
func runPeer(t *testing.T, name string, split bool) {
	const conns = 300
	bin := peerBinary(t, name)
	addr, statsAddr := freeAddr(t), freeAddr(t)
	args := []string{"-addr", addr, "-max-conns", strconv.Itoa(conns + 100), "-stats-addr", statsAddr, "-stats-interval", "0"}
	procs := 1
	if split {
		args = append(args, "-per-proc", "200") // 400 at 190 planned each: three processes
		procs = 3
	}
	var log lockedBuffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &log, &log
	// procgroup forks from one locked thread, so the peer dies with the test (Pdeathsig).
	group := procgroup.New(1)
	_, err := group.Start(cmd, nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		group.Stop(waitTimeout)
		t.Logf("%s log:\n%s", name, log.String())
	})
	url := "http://" + statsAddr + "/stats"
	require.Eventually(t, func() bool { _, err := statshttp.Fetch(http.DefaultClient, url); return err == nil }, waitTimeout, 20*time.Millisecond, "stats answer")

	cfg := client.DefaultConfig()
	cfg.Server, cfg.Src, cfg.Conns = addr, "127.0.0.2-127.0.0.20", conns
	cfg.Interval, cfg.Size, cfg.Hold = 50*time.Millisecond, 100, time.Minute
	cfg.Timeout, cfg.ConnectTimeout = 20*time.Second, 20*time.Second
	stop := make(chan struct{})
	type outcome struct {
		res client.Result
		err error
	}
	done := make(chan outcome, 1)
	var clientLog lockedBuffer
	go func() {
		res, err := client.Run(cfg, stop, &clientLog)
		done <- outcome{res, err}
	}()
	t.Cleanup(func() { t.Logf("client log:\n%s", clientLog.String()) })
	var snap core.Snapshot
	require.Eventually(t, func() bool {
		snap, err = statshttp.Fetch(http.DefaultClient, url)
		return err == nil && snap.Conns == conns && snap.BytesOut > 10*conns*100
	}, waitTimeout, 20*time.Millisecond, "the peer holds every connection and echoes")
	assert.Equal(t, procs, snap.Procs)
	close(stop)
	var out outcome
	select {
	case out = <-done:
	case <-time.After(waitTimeout):
		require.FailNow(t, "client did not end when stopped")
	}
	require.NoError(t, out.err)
	res := out.res
	assert.Equal(t, int64(conns), res.Established)
	assert.Equal(t, int64(conns), res.ConnsVerified, "every connection had an echo verified")
	assert.Positive(t, res.Echoed)
	assert.Zero(t, res.Mismatched)
	assert.Zero(t, res.Timeouts)
	assert.Equal(t, res.Sent, res.Echoed+res.InFlightAtClose)

	// Every connection closed; the peer counted the bytes the client saw.
	require.Eventually(t, func() bool {
		snap, err = statshttp.Fetch(http.DefaultClient, url)
		return err == nil && snap.Conns == 0 && snap.BytesIn == uint64(res.BytesSent)
	}, waitTimeout, 20*time.Millisecond, "the peer saw every connection close")
	assert.Equal(t, uint64(conns), snap.Accepted)
	assert.Zero(t, snap.AcceptErrors["shed_max_conns"])
	assert.GreaterOrEqual(t, snap.BytesOut, uint64(res.BytesReceived))
	assert.Equal(t, snap.BytesIn, snap.BytesOut, "an echo server writes what it reads")

	// SIGTERM ends it, children and all, with status 0.
	group.Stop(waitTimeout)
	select {
	case e := <-group.Exits():
		assert.NoError(t, e.Err)
	case <-time.After(waitTimeout):
		t.Error("no exit")
	}
	if split {
		assert.Contains(t, log.String(), "3 process(es) holding up to 200 connections each")
	}
	assert.Contains(t, log.String(), "0 connections open at the end")
}

// lockedBuffer is an io.Writer safe for a child's output and a test's reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
