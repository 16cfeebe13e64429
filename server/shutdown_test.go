package server

import (
	"bufio"
	"c1m/core"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SIGTERM to the real binary: it stops accepting, closes every connection
// (clients see EOF), prints a final JSON stats line and exits 0.
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
	parallelRuns(t, []string{core.EngineEpoll, core.EngineUring}, func(t *testing.T, engine string) { testSIGTERMShutdown(t, bin, engine) })
}

func testSIGTERMShutdown(t *testing.T, bin, engine string) {
	const n = 50
	addr := loopbackAddr(reservePort(t))
	cmd := exec.Command(bin, "-addr", addr, "-workers", "2", "-stats-interval", "0", "-engine", engine)
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
	require.Contains(t, started, "engine="+engine)

	conns := dialMany(t, addr, n)
	require.NoError(t, echoAll(conns))
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, parallel(n, n, func(i int) error { return expectEOF(conns[i]) }),
		"every client sees the server's clean close")

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
	assert.Contains(t, strings.Join(log, "\n"), "terminated: closing every connection")
	var final core.Snapshot
	require.NoError(t, json.Unmarshal([]byte(log[len(log)-1]), &final), "the last line is the final stats")
	assert.Equal(t, engine, final.Engine)
	assert.Zero(t, final.Conns)
	assert.EqualValues(t, n, final.Accepted)
	assert.EqualValues(t, n, final.Closed)
	assert.EqualValues(t, n, final.CloseReasons["shutdown"])
}
