package server

import (
	"bufio"
	"bytes"
	"c1m/core"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SIGTERM to the real binary stops it gracefully: no more accepts, every
// echo owed is sent (some larger than the socket buffers, so the server
// still holds output when the signal comes), every client sees EOF after
// its echo (a reset would lose it), the server logs the stop and exits 0.
func TestSIGTERMShutdown(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build cmd/c1m-server")
	}
	bin := filepath.Join(t.TempDir(), "c1m-server")
	build := exec.Command(goTool, "build", "-o", bin, "c1m/cmd/c1m-server")
	build.Dir = ".." // the module root; tests run in core/
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build:\n%s", out)
	modes := map[string][]string{
		"epoll-et": {"-engine", "epoll"}, "epoll-lt": {"-engine", "epoll", "-trigger", "lt"},
		"uring-signal": {"-engine", "uring"}, "uring-defer": {"-engine", "uring", "-uring-taskrun", "defer"},
	}
	parallelRuns(t, slices.Sorted(maps.Keys(modes)), func(t *testing.T, mode string) { testSIGTERMShutdown(t, bin, modes[mode]) })
}

// owed is what connection i sends just before the SIGTERM: a short message;
// every 20th connection 64 KiB, more than its 4 KiB buffers hold; every
// 500th 256 KiB, past -max-pending too, so the server has stopped reading it
// when the signal comes and must read (and echo) the rest before closing.
func owed(i int) []byte {
	switch {
	case i%500 == 1:
		return pattern(uint64(i), 256<<10)
	case i%20 == 0:
		return pattern(uint64(i), 64<<10)
	}
	return []byte(fmt.Sprintf("in flight %d!", i))
}

func testSIGTERMShutdown(t *testing.T, bin string, flags []string) {
	const n = 2000
	addr := loopbackAddr(reservePort(t))
	cmd := exec.Command(bin, append([]string{"-addr", addr, "-workers", "2", "-stats-interval", "0", "-sndbuf", "4096"}, flags...)...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := make(chan string, 64)
	exited := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() // by pid; a no-op error once it has exited and been reaped
		for range lines {
		}
	})
	nextLine := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			require.True(t, ok, "c1m-server exited early")
			return l
		case <-time.After(waitTimeout):
			require.FailNow(t, "c1m-server said nothing")
		}
		return ""
	}
	started := nextLine()
	require.Contains(t, started, "c1m-server: listening on "+addr)

	conns := dialMany(t, addr, n)
	require.NoError(t, echoAll(conns))
	// Send, read nothing, stop: the echoes are in flight, some held by the
	// server; the largest writes cannot finish until the client reads, so
	// they go on in the background, and the signal comes once the server
	// has paused reading them.
	big := make(chan error, n)
	require.NoError(t, parallel(n, 256, func(i int) error {
		// Small receive buffers make the server hold output; 16 KiB for the
		// largest echoes, whose 256 KiB would crawl through a 4 KiB window.
		rcvbuf := 4096
		if len(owed(i)) > 64<<10 {
			rcvbuf = 16384
		}
		if err := conns[i].SetReadBuffer(rcvbuf); err != nil {
			return err
		}
		if len(owed(i)) > 64<<10 {
			go func() { _, err := conns[i].Write(owed(i)); big <- err }()
			return nil
		}
		_, err := conns[i].Write(owed(i))
		return err
	}))
	// The server must have read the start of the largest writes when the
	// signal comes: one whose first byte it had not seen would be idle to it,
	// closed, and its writer reset. A second is ample on loopback.
	time.Sleep(time.Second)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, parallel(n, 256, func(i int) error {
		want := owed(i)
		got := make([]byte, len(want))
		if err := conns[i].SetReadDeadline(time.Now().Add(ioTimeout)); err != nil {
			return err
		}
		if _, err := io.ReadFull(conns[i], got); err != nil {
			return fmt.Errorf("the echo owed (%d bytes): %w", len(want), err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("the echo owed differs")
		}
		return expectEOF(conns[i])
	}), "every client gets its echo, then the server's clean close")
	for i := 1; i < n; i += 500 {
		require.NoError(t, <-big, "the server read all of a write it had paused")
	}

	var log []string
	for l := range lines {
		log = append(log, l)
	}
	select {
	case err := <-exited:
		require.NoError(t, err, "exit status; stderr:\n%s", strings.Join(log, "\n"))
	case <-time.After(waitTimeout):
		require.FailNow(t, "c1m-server did not exit after SIGTERM")
	}
	require.NotEmpty(t, log)
	all := strings.Join(log, "\n")
	t.Logf("%s", log[len(log)-2])
	assert.Contains(t, all, "terminated: stopping")
	assert.Regexp(t, fmt.Sprintf(`stopped in \S+: %d connections were open, %d closed, 0 dropped`, n, n), all)
	var final core.Snapshot
	require.NoError(t, json.Unmarshal([]byte(log[len(log)-1]), &final), "the last line is the final stats")
	assert.Zero(t, final.Conns)
	assert.EqualValues(t, n, final.Accepted)
	assert.EqualValues(t, n, final.Closed)
	assert.Zero(t, final.StopDropped)
	assert.EqualValues(t, n, final.CloseReasons["shutdown"]+final.CloseReasons["eof"], "closed by the stop (eof: once the output it waited for was sent)")
}
