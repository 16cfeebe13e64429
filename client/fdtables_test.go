package client

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// -fdtables turns the processes RLIMIT_NOFILE asks for into loops of one
// process, each with a private fd table.
func TestPlanFDTables(t *testing.T) {
	t.Parallel()
	cfg := planConfig(1000, "127.0.0.2-127.0.0.11")
	cfg.Nofile, cfg.FDTables = 300, true // 172 connections a table
	jobs, _, err := Plan(cfg)
	require.NoError(t, err)
	require.Len(t, jobs, 1, "one process")
	assert.Equal(t, 6, jobs[0].Loops, "a loop, and a table, per 172 connections")
	assert.True(t, jobs[0].PrivateTables)
	assert.Equal(t, 1000, jobs[0].Count)

	cfg.Procs = 2
	_, _, err = Plan(cfg)
	assert.ErrorContains(t, err, "drop -procs")
}

// Under a real RLIMIT_NOFILE of 400, one client process holds 1,000
// verified connections: its loops' private tables hold them, not its own.
func TestFDTablesPassOneTableForReal(t *testing.T) {
	t.Parallel()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) not installed")
	}
	lockThreadForChildren(t)
	bin := buildClient(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	const n = 1000
	out := filepath.Join(t.TempDir(), "r.json")
	cmd := exec.Command(prlimit, "--nofile=400:400", bin, "-fdtables", "-server", addr, "-src", testSources,
		"-conns", strconv.Itoa(n), "-interval", "200ms", "-timeout", "20s", "-hold", "2s", "-json", out)
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
	waitServerConns(t, srv, n)
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/fd")
	require.NoError(t, err)
	assert.Less(t, len(fds), 400, "the process's own table holds none of the connections")
	require.NoError(t, <-done, "c1m-client output:\n%s", log.String())
	done <- nil

	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	var res Result
	require.NoError(t, json.Unmarshal(raw, &res))
	assert.Equal(t, 1, res.Procs)
	assert.Equal(t, int64(n), res.Established)
	assert.Zero(t, res.Mismatched)
	assert.Positive(t, res.Echoed)
	assert.Equal(t, res.Sent, res.Echoed+res.InFlightAtClose, "every keepalive echoed or in flight at the close")
	assert.Equal(t, int64(n), res.ConnsVerified)
}
