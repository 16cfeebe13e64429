package client

// Shared test helpers: in-process core servers, small Go servers that
// misbehave (corrupt echoes, instant closes), running the client in-process
// with a bound on every wait, subprocesses and the built c1m-client binary,
// and the accounting invariants every result must keep.

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/core"
	"c1m/server"
)

const (
	runTimeout  = 40 * time.Second // a client run longer than this has hung
	waitTimeout = 30 * time.Second // how long a polled condition may take
	testSources = "127.0.0.2-127.0.0.20"
)

func TestMain(m *testing.M) {
	// Multi-process runs re-execute os.Executable(), which is this test binary.
	RunChildIfAsked()
	code := m.Run()
	if builtBins.dir != "" {
		os.RemoveAll(builtBins.dir)
	}
	os.Exit(code)
}

// ---- servers ----

// startServer starts a real core server on addr ("127.0.0.1:0" for any
// port) and stops it when the test ends. Stop is safe to call earlier.
func startServer(t testing.TB, addr string) (core.Engine, string) {
	t.Helper()
	cfg := core.DefaultConfig()
	cfg.Addr, cfg.Ports, cfg.Workers, cfg.Pin = addr, 1, 2, false
	s, err := server.Launch(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		s.Stop()
		assert.NoError(t, s.Err(), "server hit an internal error")
	})
	return s, s.Addrs()[0].String()
}

// startGoServer starts a plain Go TCP server that runs handle on each
// connection; it and its connections close when the test ends.
func startGoServer(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// startCorruptEcho starts an echo server that sends back corrupt(data) for
// every read.
func startCorruptEcho(t testing.TB, corrupt func([]byte) []byte) string {
	t.Helper()
	return startGoServer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(corrupt(buf[:n])); err != nil {
				return
			}
		}
	})
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// waitServerConns waits until the server holds exactly n connections.
func waitServerConns(t testing.TB, s core.Engine, n int64) {
	t.Helper()
	require.Eventually(t, func() bool { return s.Snapshot().Conns == n }, waitTimeout, 10*time.Millisecond,
		"server conns == %d", n)
}

// ---- the client in-process ----

// testConfig is a small, quick run against server: 100 connections from a
// few loopback sources, a keepalive every 100 ms, held for a second.
func testConfig(server string) Config {
	cfg := DefaultConfig()
	cfg.Server = server
	cfg.Src = testSources
	cfg.Conns = 100
	cfg.Interval = 100 * time.Millisecond
	cfg.Hold = time.Second
	// Generous: these bound hangs, they are not measurements.
	cfg.Timeout = 20 * time.Second
	cfg.ConnectTimeout = 20 * time.Second
	cfg.Calibrate = 0 // the binary's test checks it (process_test.go)
	return cfg
}

// engineVariant sets a client engine, and its options, in a Config.
type engineVariant func(*Config)

// forEachEngine runs test as a parallel subtest per client engine (uring
// skipped, with the reason, where the kernel lacks what it needs).
func forEachEngine(t *testing.T, test func(t *testing.T, engine engineVariant)) {
	for _, engine := range []string{EngineEpoll, EngineUring} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			if engine == EngineUring {
				if err := UringSupported(); err != nil {
					t.Skip(err)
				}
			}
			test(t, func(c *Config) { c.Engine = engine })
		})
	}
}

// clientRun is client.Run going on in the background.
type clientRun struct {
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	res      Result
	err      error
	log      bytes.Buffer // written by Run only; read once it has returned
}

// startClient runs cfg in the background; the test's end stops it and waits.
func startClient(t testing.TB, cfg Config) *clientRun {
	t.Helper()
	r := &clientRun{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.res, r.err = Run(cfg, r.stop, &r.log)
	}()
	t.Cleanup(func() {
		r.Stop()
		select {
		case <-r.done:
		case <-time.After(runTimeout):
			t.Errorf("client run did not end after stop")
		}
	})
	return r
}

// Stop asks the run to end early (as SIGINT/SIGTERM would).
func (r *clientRun) Stop() { r.stopOnce.Do(func() { close(r.stop) }) }

// Wait returns the run's result; a run still going after runTimeout is
// stopped and the test fails.
func (r *clientRun) Wait(t testing.TB) (Result, error) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(runTimeout):
		r.Stop()
		select {
		case <-r.done:
			require.FailNow(t, "client run hung until stopped", "log:\n%s", r.log.String())
		case <-time.After(runTimeout):
			require.FailNow(t, "client run hung, even when stopped")
		}
	}
	t.Logf("client log:\n%s", r.log.String())
	return r.res, r.err
}

// runClient runs cfg to its end and returns its result, checked for consistency.
func runClient(t testing.TB, cfg Config) Result {
	t.Helper()
	res, err := startClient(t, cfg).Wait(t)
	require.NoError(t, err)
	checkAccounting(t, cfg, res)
	return res
}

// checkAccounting asserts what every result of cfg must satisfy, whatever happened.
func checkAccounting(t testing.TB, cfg Config, r Result) {
	t.Helper()
	require.NotNil(t, r.Failed)
	require.NotNil(t, r.Dropped)
	assert.LessOrEqual(t, r.Established, r.Attempted, "established ≤ attempted")
	assert.LessOrEqual(t, r.ConnsVerified, r.Established, "verified connections ≤ established")
	assert.LessOrEqual(t, r.PeakOpen, r.Established, "peak open ≤ established")
	assert.Equal(t, r.Established-sum(r.Dropped)-r.Churned, r.OpenAtEnd, "open at the end == established − dropped − churned")
	assert.Equal(t, r.Established, r.ConnectUs.N, "one connect time per established connection")
	assert.Equal(t, r.Echoed, r.RttUs.N, "one round-trip time per verified echo")
	assert.LessOrEqual(t, r.RttHoldUs.N, r.RttUs.N, "hold-phase round trips are a subset")
	assert.LessOrEqual(t, r.DowntimeUs.N, sum(r.Dropped), "at most one downtime per connection lost")
	assert.LessOrEqual(t, r.Echoed+r.Mismatched+r.InFlightAtClose, r.Sent, "nothing answered that was not sent")
	L := int64(len(cfg.Msg))
	if cfg.Size > 0 {
		L = int64(cfg.Size)
	}
	assert.LessOrEqual(t, r.BytesSent, r.Sent*L, "bytes sent ≤ messages × size")
	if sum(r.Dropped) == 0 {
		// Without drops no message is lost: each is echoed, mismatched or still out at close.
		assert.Equal(t, r.Sent, r.Echoed+r.Mismatched+r.InFlightAtClose,
			"sent == echoed + mismatched + in flight at close")
		assert.LessOrEqual(t, r.BytesReceived, r.BytesSent, "no byte came back that was not sent")
		if r.InFlightAtClose == 0 {
			assert.Equal(t, r.Sent*L, r.BytesSent, "every message written whole")
			assert.Equal(t, r.BytesSent, r.BytesReceived, "every byte came back")
		}
	}
	for name, p := range map[string]core.Percentiles{"connect": r.ConnectUs, "rtt": r.RttUs, "rtt_hold": r.RttHoldUs} {
		if p.N == 0 {
			continue
		}
		assert.Positive(t, p.P50, name)
		assert.True(t, p.P50 <= p.P90 && p.P90 <= p.P99 && p.P99 <= p.P999 && p.P999 <= p.Max,
			"%s percentiles out of order: %+v", name, p)
	}
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// ---- subprocesses ----

// lockThreadForChildren keeps the test's goroutine on its OS thread until
// the test's other cleanups (which end its children) have run: a child
// started with Pdeathsig is killed when the thread that forked it exits,
// and every eventloop.Loop ends its locked thread when it stops. Call it before
// starting anything the test cleans up.
func lockThreadForChildren(t testing.TB) {
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
}

// ---- the built binary ----

var builtBins struct {
	mu   sync.Mutex
	dir  string
	path map[string]string
}

// buildClient builds ./cmd/c1m-client once per test binary run.
func buildClient(t testing.TB) string { return buildCmd(t, "c1m-client") }

// buildCmd builds ./cmd/NAME once per test binary run and returns its path.
func buildCmd(t testing.TB, name string) string {
	t.Helper()
	builtBins.mu.Lock()
	defer builtBins.mu.Unlock()
	if p, ok := builtBins.path[name]; ok {
		return p
	}
	if builtBins.dir == "" {
		dir, err := os.MkdirTemp("", "c1m-client-test-")
		require.NoError(t, err)
		builtBins.dir, builtBins.path = dir, map[string]string{}
	}
	p := filepath.Join(builtBins.dir, name)
	out, err := exec.Command("go", "build", "-o", p, "c1m/cmd/"+name).CombinedOutput()
	require.NoError(t, err, "building %s: %s", name, out)
	builtBins.path[name] = p
	return p
}

// runUnderNofile runs the c1m-client binary with args under a real
// RLIMIT_NOFILE of nofile (prlimit) against srv, waits until srv holds n
// connections, and returns how many fds the client process had open then
// and its result once it has exited. It skips without prlimit.
func runUnderNofile(t *testing.T, srv core.Engine, n, nofile int, args ...string) (fds int, res Result) {
	t.Helper()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) not installed")
	}
	lockThreadForChildren(t)
	bin := buildClient(t)
	out := filepath.Join(t.TempDir(), "r.json")
	limit := "--nofile=" + strconv.Itoa(nofile) + ":" + strconv.Itoa(nofile)
	cmd := exec.Command(prlimit, append([]string{limit, bin}, append(args, "-json", out)...)...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill() // by pid; a no-op once it has exited
		<-done
		done <- nil
	})
	waitServerConns(t, srv, int64(n))
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/fd")
	require.NoError(t, err)
	require.NoError(t, <-done, "c1m-client output:\n%s", log.String())
	done <- nil

	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &res))
	return len(entries), res
}
