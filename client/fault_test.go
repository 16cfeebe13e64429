package client

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/procfs"
)

// -churn closes idle connections on purpose and reconnects them at once:
// churn is counted apart from drops, loses no message, and the accounting
// still adds up (open at end == established − dropped − churned), in one
// process and split over two, and on io_uring.
func TestChurnClosesAndReconnects(t *testing.T) {
	t.Parallel()
	for _, run := range []struct {
		engine string
		procs  int
	}{{EngineEpoll, 1}, {EngineEpoll, 2}, {EngineUring, 1}} {
		procs := run.procs
		t.Run(run.engine+"/"+strconv.Itoa(procs)+"proc", func(t *testing.T) {
			t.Parallel()
			if run.engine == EngineUring && UringSupported() != nil {
				t.Skip(UringSupported())
			}
			srv, addr := startServer(t, "127.0.0.1:0")
			cfg := testConfig(addr)
			cfg.Engine = run.engine
			cfg.Conns, cfg.Procs, cfg.Interval, cfg.Churn, cfg.Hold = 100, procs, 50*time.Millisecond, 200, 2*time.Second
			var last Progress
			cfg.OnProgress = func(p Progress) { last = p } // called on Run's goroutine only
			res := runClient(t, cfg)

			assert.Equal(t, endHold, res.Ended)
			assert.Equal(t, procs, res.Procs)
			assert.Positive(t, res.Churned, "connections were churned")
			assert.LessOrEqual(t, res.Reconnects, res.Churned, "every reconnect followed a churn (nothing was dropped)")
			assert.Greater(t, res.Established, int64(100), "churned connections opened again")
			assert.Empty(t, res.Dropped, "churn is not a drop")
			assert.Empty(t, res.Failed)
			assert.Zero(t, res.Mismatched)
			assert.Zero(t, res.InFlightAtClose, "only idle connections were churned, so no echo was cut off")
			assert.Equal(t, res.Sent, res.Echoed)
			assert.Positive(t, last.Churned, "live progress carries the churn count")
			waitServerConns(t, srv, 0)
		})
	}
}

// The real c1m-server is SIGKILLed under a running c1m-client -reconnect
// and started again on the same port: the client counts every drop, backs
// off without spinning while nothing listens, reconnects every connection,
// and its -json result says so.
func TestReconnectAfterServerSIGKILL(t *testing.T) {
	t.Parallel()
	lockThreadForChildren(t)
	serverBin, clientBin := buildCmd(t, "c1m-server"), buildClient(t)
	addr, statsAddr := closedPort(t), closedPort(t)
	startSrv := func() *exec.Cmd {
		cmd := exec.Command(serverBin, "-addr", addr, "-workers", "2", "-pin=false", "-stats-addr", statsAddr, "-stats-interval", "0")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() }) // by pid; a no-op once it has exited
		return cmd
	}
	conns := func() int64 {
		resp, err := http.Get("http://" + statsAddr + "/stats?workers=0")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		var s struct{ Conns int64 }
		if json.NewDecoder(resp.Body).Decode(&s) != nil {
			return -1
		}
		return s.Conns
	}
	const n = 100
	srv := startSrv()
	require.Eventually(t, func() bool { return conns() == 0 }, waitTimeout, 20*time.Millisecond, "server up")

	out := filepath.Join(t.TempDir(), "r.json")
	cli := exec.Command(clientBin, "-server", addr, "-src", testSources, "-conns", strconv.Itoa(n), "-reconnect",
		"-interval", "100ms", "-timeout", "20s", "-hold", "1m", "-json", out)
	var log bytes.Buffer
	cli.Stdout, cli.Stderr = &log, &log
	cli.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cli.Start())
	exited := make(chan error, 1)
	go func() { exited <- cli.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-exited:
			exited <- err
		default:
			cli.Process.Kill()
		}
	})
	require.Eventually(t, func() bool { return conns() == n }, waitTimeout, 20*time.Millisecond, "client connected")

	require.NoError(t, srv.Process.Kill())
	srv.Wait()
	// While nothing listens, the client retries with back-off: it must not
	// spin. Measured in CPU time, not wall time: a spinning loop burns a
	// whole CPU second per second of the outage.
	fs := procfs.New("/")
	cpu := func() time.Duration {
		u, s, err := fs.ProcCPU(cli.Process.Pid)
		require.NoError(t, err)
		return u + s
	}
	before, wallBefore := cpu(), time.Now()
	time.Sleep(2 * time.Second) // the outage (not a measurement)
	usedCPU, outage := cpu()-before, time.Since(wallBefore)
	t.Logf("client CPU while the server was down: %v over %v", usedCPU, outage)
	assert.Less(t, usedCPU.Seconds(), 0.25*outage.Seconds(), "the client spun while the server was down")

	startSrv()
	require.Eventually(t, func() bool { return conns() == n }, waitTimeout, 20*time.Millisecond, "every connection back")
	require.NoError(t, cli.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		exited <- err
		require.NoError(t, err, "client exit; output:\n%s", log.String())
	case <-time.After(runTimeout):
		require.FailNow(t, "c1m-client did not exit after SIGTERM", "output:\n%s", log.String())
	}
	t.Logf("c1m-client output:\n%s", log.String())

	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	var res Result
	require.NoError(t, json.Unmarshal(raw, &res))
	assert.Equal(t, endSignal, res.Ended)
	// A reconnect racing the old server's dying sockets now and then meets
	// an RST, before or just after its handshake (seen with and without the
	// retry heap): a loss or failure more, never one less.
	assert.GreaterOrEqual(t, sum(res.Dropped), int64(n), "each connection dropped, at the kill: %v", res.Dropped)
	assert.LessOrEqual(t, sum(res.Dropped), int64(n+n/10), "few dropped twice: %v", res.Dropped)
	for name := range res.Dropped {
		assert.Contains(t, []string{"EOF", "ECONNRESET", "EPIPE"}, name)
	}
	for name := range res.Failed {
		assert.Contains(t, []string{"ECONNREFUSED", "ECONNRESET"}, name, "only refusals (and the odd reset) while the server was down: %v", res.Failed)
	}
	assert.GreaterOrEqual(t, res.Reconnects, int64(n), "every dropped connection was retried")
	// The server holding n again means every one was retried; the client
	// may not have seen each second handshake complete before SIGTERM.
	assert.Greater(t, res.Established, int64(n), "connections opened again after the restart")
	assert.Zero(t, res.Mismatched)
	assert.Contains(t, log.String(), "dropped by the server")
}
