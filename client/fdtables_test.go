package client

import (
	"strconv"
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
	srv, addr := startServer(t, "127.0.0.1:0")
	const n = 1000
	fds, res := runUnderNofile(t, srv, n, 400, "-fdtables", "-server", addr, "-src", testSources,
		"-conns", strconv.Itoa(n), "-interval", "200ms", "-timeout", "20s", "-hold", "2s")
	assert.Less(t, fds, 400, "the process's own table holds none of the connections")
	assert.Equal(t, 1, res.Procs)
	assert.Equal(t, int64(n), res.Established)
	assert.Zero(t, res.Mismatched)
	assert.Positive(t, res.Echoed)
	assert.Equal(t, res.Sent, res.Echoed+res.InFlightAtClose, "every keepalive echoed or in flight at the close")
	assert.Equal(t, int64(n), res.ConnsVerified)
}
