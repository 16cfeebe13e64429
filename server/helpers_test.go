package server

// Shared test helpers: in-process servers, a subprocess server mode (for
// tests that need a low RLIMIT_NOFILE or a clean memory baseline), dialing,
// byte-exact echo checks and polling. Every test file uses these instead of
// its own dial/echo code.

import (
	"bufio"
	"bytes"
	"c1m/core"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const (
	subServerEnv = "C1M_TEST_SERVER" // JSON subSpec: run as a test server subprocess
	ioTimeout    = 60 * time.Second  // deadline on every client read/write so nothing hangs
	waitTimeout  = 60 * time.Second  // how long a polled condition may take (generous: a loaded machine)
)

func TestMain(m *testing.M) {
	// Prefork re-executes os.Executable(), which is this test binary.
	RunChildIfAsked()
	if raw := os.Getenv(subServerEnv); raw != "" {
		os.Exit(runSubServer(raw))
	}
	os.Exit(m.Run())
}

// ---- in-process servers ----

// testConfig is core.DefaultConfig on an ephemeral loopback port with two workers.
func testConfig() core.Config {
	c := core.DefaultConfig()
	c.Addr = "127.0.0.1:0"
	c.Workers = 2
	return c
}

// engineModes are the ways the engine-independent tests run the server:
// epoll in each trigger mode, io_uring in each task-run mode, and io_uring
// with single-shot receives.
var engineModes = []string{"et", "lt", "uring-" + core.TaskrunSignal, "uring-" + core.TaskrunDefer, "uring-" + core.RecvSingle}

// parallelRuns runs fn as a parallel subtest for each name.
func parallelRuns(t *testing.T, names []string, fn func(t *testing.T, name string)) {
	t.Helper()
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, name)
		})
	}
}

// withMode sets cfg up for one of engineModes.
func withMode(cfg core.Config, mode string) core.Config {
	if rest, ok := strings.CutPrefix(mode, "uring-"); ok {
		cfg.Engine = core.EngineUring
		if rest == core.RecvSingle {
			cfg.Uring.Recv = core.RecvSingle
		} else {
			cfg.Uring.Taskrun = rest
		}
	} else {
		cfg.Epoll.Trigger = mode
	}
	return cfg
}

// startServer starts cfg with Launch (either engine) in this process and
// stops it when the test ends.
func startServer(t testing.TB, cfg core.Config) (core.Engine, string) {
	t.Helper()
	r, err := Launch(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		r.Stop()
		require.NoError(t, r.Err(), "server hit an internal error")
	})
	require.Empty(t, r.Snapshot().EngineNote, "the engine asked for is the one running")
	addrs := r.Addrs()
	require.NotEmpty(t, addrs)
	require.NotZero(t, addrs[0].Port())
	return r, addrs[0].String()
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out waiting for "+what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitConns waits until snap reports exactly n open connections.
func waitConns(t testing.TB, snap func() core.Snapshot, n int64) core.Snapshot {
	t.Helper()
	var last core.Snapshot
	waitFor(t, fmt.Sprintf("conns == %d", n), func() bool {
		last = snap()
		return last.Conns == n
	})
	return last
}

// countFDs counts the entries of /proc/self/fd (this process's shared table).
func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	return len(ents) - 1 // ReadDir's own directory fd
}

// ---- clients ----

// dial opens one TCP connection, closed when the test ends.
func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// dialMany opens n connections concurrently.
func dialMany(t testing.TB, addr string, n int) []*net.TCPConn {
	t.Helper()
	conns := make([]*net.TCPConn, n)
	require.NoError(t, parallel(n, 256, func(i int) error {
		c, err := net.DialTimeout("tcp", addr, ioTimeout)
		if err != nil {
			return err
		}
		conns[i] = c.(*net.TCPConn)
		return nil
	}))
	t.Cleanup(func() { closeAll(conns) })
	return conns
}

func closeAll(conns []*net.TCPConn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// parallel runs f(0..n-1) with at most limit at once and returns the first error.
func parallel(n, limit int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		sem   = make(chan struct{}, limit)
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				once.Do(func() { first = fmt.Errorf("#%d: %w", i, err) })
			}
		}()
	}
	wg.Wait()
	return first
}

// holdAndEcho opens n connections to addr, redialing any the server sheds at
// once (a prefork child at its share of -max-conns), and checks all echo.
func holdAndEcho(t *testing.T, addr string, n int) []*net.TCPConn {
	t.Helper()
	conns := make([]*net.TCPConn, n)
	t.Cleanup(func() { closeAll(conns) })
	var redials atomic.Int64
	require.NoError(t, parallel(n, 100, func(i int) error {
		for tries := 0; tries < 100; tries++ {
			c, err := net.DialTimeout("tcp", addr, ioTimeout)
			if err != nil {
				return err
			}
			err = echoOnce(c, []byte("keepalive!\x00"))
			if err == nil {
				conns[i] = c.(*net.TCPConn)
				return nil
			}
			c.Close()
			if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				return err
			}
			redials.Add(1)
		}
		return errors.New("shed 100 times")
	}))
	t.Logf("%d connections held after %d redials of shed ones", n, redials.Load())
	require.NoError(t, echoAll(conns))
	return conns
}

// pattern is total deterministic pseudo-random bytes for one stream.
func pattern(seed uint64, total int) []byte {
	var key [32]byte
	copy(key[:], strconv.FormatUint(seed, 10))
	b := make([]byte, total)
	rand.NewChaCha8(key).Read(b)
	return b
}

// echoOnce sends msg and checks that exactly msg comes back.
func echoOnce(c net.Conn, msg []byte) error {
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return err
	}
	if _, err := c.Write(msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	if !bytes.Equal(got, msg) {
		return fmt.Errorf("echo differs: sent %q, got %q", msg, got)
	}
	return nil
}

// echoAll checks that every connection echoes a short message naming it.
func echoAll(conns []*net.TCPConn) error {
	return parallel(len(conns), 256, func(i int) error {
		return echoOnce(conns[i], []byte(fmt.Sprintf("keepalive %d!\x00", i)))
	})
}

// echoStream writes total bytes in random pieces of 1..maxPiece while a
// second goroutine reads concurrently, then checks the echo byte for byte.
// With closeWrite it half-closes after the last piece and also expects EOF.
func echoStream(c *net.TCPConn, seed uint64, total, maxPiece int, closeWrite bool) error {
	if err := c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return err
	}
	want := pattern(seed, total)
	werr := make(chan error, 1)
	go func() {
		r := rand.New(rand.NewPCG(seed, 1))
		for off := 0; off < total; {
			n := min(1+r.IntN(maxPiece), total-off)
			if _, err := c.Write(want[off : off+n]); err != nil {
				werr <- fmt.Errorf("write at %d: %w", off, err)
				return
			}
			off += n
		}
		if closeWrite {
			werr <- c.CloseWrite()
			return
		}
		werr <- nil
	}()
	got := make([]byte, total)
	_, rerr := io.ReadFull(c, got)
	if rerr == nil && closeWrite {
		var one [1]byte
		if n, err := c.Read(one[:]); n != 0 || !errors.Is(err, io.EOF) {
			rerr = fmt.Errorf("after the echo: want EOF, got %d bytes, %v", n, err)
		}
	}
	if err := <-werr; err != nil {
		return err
	}
	if rerr != nil {
		return fmt.Errorf("read: %w", rerr)
	}
	if i := firstDiff(got, want); i >= 0 {
		return fmt.Errorf("echo differs at byte %d of %d", i, total)
	}
	return nil
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// closeErr reads from c, wanting no data: it returns the error the read
// ended with (io.EOF for a clean close by the server).
func closeErr(c net.Conn) error {
	if err := c.SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
		return err
	}
	var b [64]byte
	n, err := c.Read(b[:])
	if n > 0 {
		return fmt.Errorf("got %d bytes, want the server to close", n)
	}
	return err
}

// expectEOF wants the server's clean close.
func expectEOF(c net.Conn) error {
	if err := closeErr(c); !errors.Is(err, io.EOF) {
		return fmt.Errorf("want EOF, got %v", err)
	}
	return nil
}

// expectServerClose wants the server's close, clean (EOF) or not (reset).
func expectServerClose(c net.Conn) error {
	if err := closeErr(c); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("want EOF or reset, got %v", err)
	}
	return nil
}

// reservePort binds (without listening) a loopback port with SO_REUSEADDR
// and SO_REUSEPORT and holds it until the test ends: nothing else is handed
// the port, while servers with those options may still bind and listen on it.
func reservePort(t testing.TB) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	t.Cleanup(func() { unix.Close(fd) })
	require.NoError(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1))
	require.NoError(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1))
	require.NoError(t, unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}))
	sa, err := unix.Getsockname(fd)
	require.NoError(t, err)
	return sa.(*unix.SockaddrInet4).Port
}

// lockedBuffer collects a subprocess's stderr for failure messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// procCPUTicks reads a process's CPU time (clock ticks, utime+stime) from /proc.
func procCPUTicks(t testing.TB, pid int) uint64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	// Fields after "(comm)": state is field 3; utime and stime are 14 and 15.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	require.NoError(t, errors.Join(err1, err2))
	return utime + stime
}

// procRSS reads a process's resident set size in bytes.
func procRSS(t testing.TB, pid int) uint64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	require.FailNow(t, "no VmRSS in /proc/PID/status")
	return 0
}

// ---- subprocess servers ----

// subSpec is what a subprocess server runs.
type subSpec struct {
	Nofile    uint64      `json:"nofile"`     // lower soft and hard RLIMIT_NOFILE to this (0: leave)
	Config    core.Config `json:"config"`     // launched with Launch (single, fdtables or prefork)
	LeaveFree int         `json:"leave_free"` // >0: after starting, fill the fd table leaving this many fds free
}

// subReady is the subprocess's first stdout line.
type subReady struct {
	Addrs   []string  `json:"addrs"`
	Plan    core.Plan `json:"plan"`
	Ballast int       `json:"ballast"` // fds opened to fill the table
}

// runSubServer is the subprocess side: start the server, print a subReady
// line, then answer every "snap" line on stdin with a core.Snapshot line. It
// stops at EOF on stdin (the test ended or died) or at SIGTERM.
func runSubServer(raw string) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "test server: %v\n", err)
		return 1
	}
	var spec subSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return fail(err)
	}
	if spec.Nofile > 0 {
		lim := unix.Rlimit{Cur: spec.Nofile, Max: spec.Nofile}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			return fail(err)
		}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	r, err := Launch(spec.Config)
	if err != nil {
		return fail(err)
	}
	defer r.Stop()
	ready := subReady{Plan: r.Plan()}
	for _, a := range r.Addrs() {
		ready.Addrs = append(ready.Addrs, a.String())
	}
	if spec.LeaveFree > 0 {
		var ballast []int
		for {
			fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				break
			}
			ballast = append(ballast, fd)
		}
		if len(ballast) < spec.LeaveFree {
			return fail(fmt.Errorf("only %d fds were free, want to leave %d", len(ballast), spec.LeaveFree))
		}
		for _, fd := range ballast[len(ballast)-spec.LeaveFree:] {
			unix.Close(fd)
		}
		ready.Ballast = len(ballast) - spec.LeaveFree
	}
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(&ready); err != nil {
		return fail(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return 0
			}
			if line == "snap" {
				snap := r.Snapshot()
				snap.DispatchHist = nil
				if err := out.Encode(&snap); err != nil {
					return fail(err)
				}
			}
		case <-sigs:
			return 0
		case <-r.Failed():
			return fail(r.Err())
		}
	}
}

// subServer is the test's handle on a subprocess server.
type subServer struct {
	subReady
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte
	stderr *lockedBuffer
	mu     sync.Mutex // one snapshot request at a time
}

// startSubServer runs spec in a new process of this test binary and kills
// it (by pid) when the test ends.
func startSubServer(t testing.TB, spec subSpec) *subServer {
	t.Helper()
	raw, err := json.Marshal(spec)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), subServerEnv+"="+string(raw))
	s := &subServer{t: t, cmd: cmd, stderr: &lockedBuffer{}, lines: make(chan []byte, 1)}
	cmd.Stderr = s.stderr
	s.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	t.Cleanup(func() {
		s.stdin.Close() // asks it to stop
		go func() {     // unblock the reader if a line is waiting
			for range s.lines {
			}
		}()
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("subprocess server stderr:\n%s", s.stderr.String())
		}
	})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			s.lines <- append([]byte(nil), sc.Bytes()...)
		}
		close(s.lines)
		cmd.Wait()
		close(exited)
	}()
	require.NoError(t, json.Unmarshal(s.line(), &s.subReady))
	require.NotEmpty(t, s.Addrs)
	return s
}

// line is the subprocess's next stdout line.
func (s *subServer) line() []byte {
	s.t.Helper()
	select {
	case l, ok := <-s.lines:
		if !ok {
			require.FailNow(s.t, "subprocess server exited", "stderr:\n%s", s.stderr.String())
		}
		return l
	case <-time.After(waitTimeout):
		require.FailNow(s.t, "subprocess server is not answering", "stderr:\n%s", s.stderr.String())
	}
	return nil
}

// Snapshot asks the subprocess for its counters.
func (s *subServer) Snapshot() core.Snapshot {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := io.WriteString(s.stdin, "snap\n")
	require.NoError(s.t, err)
	var snap core.Snapshot
	require.NoError(s.t, json.Unmarshal(s.line(), &snap))
	return snap
}

func (s *subServer) Addr() string { return s.Addrs[0] }
func (s *subServer) Pid() int     { return s.cmd.Process.Pid }

// loopbackAddr is 127.0.0.1:port.
func loopbackAddr(port int) string {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port)).String()
}
