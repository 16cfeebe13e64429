package harness

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/schema"
)

// Rows as the sampler takes them: before the server, the idle server, the
// ramp, the hold, and after the client ended.
func fixtureRows() []Sample {
	return []Sample{
		{"t_s": 0, "slab_bytes": 1_000_000},
		{"t_s": 1, "slab_bytes": 1_000_000, "conns_server": 0, "server_pss": 5_000_000, "server_cpu_s": 1},
		{"t_s": 2, "slab_bytes": 6_000_000, "conns_server": 500, "server_pss": 5_010_000, "server_cpu_s": 1.5, "srv_bytes_out": 0},
		{"t_s": 3, "slab_bytes": 11_000_000, "conns_server": 1000, "server_pss": 5_020_000, "server_cpu_s": 2, "client_cpu_s": 0.25,
			"tcp_out_segs": 1000, "tcp_tw": 7, "host_busy_s": 100, "host_softirq_s": 10,
			"srv_bytes_out": 11_000, "srv_reads": 1000, "srv_writes": 1000, "srv_epoll_waits": 500, "client_pss": 2_000_000},
		{"t_s": 4, "slab_bytes": 11_000_000, "conns_server": 1000, "server_pss": 5_050_000, "server_cpu_s": 3, "client_cpu_s": 0.5,
			"tcp_out_segs": 4000, "tcp_tw": 3, "srv_bytes_out": 22_000, "srv_reads": 2000, "srv_writes": 2000, "srv_epoll_waits": 1000,
			"host_busy_s": 101.5, "host_softirq_s": 10.5},
		// The client closing: connections going, its processes exiting.
		{"t_s": 4.5, "slab_bytes": 6_000_000, "conns_server": 400, "server_cpu_s": 3.5, "client_cpu_s": 0.1,
			"tcp_out_segs": 9000, "host_busy_s": 102.5, "srv_dispatch_p50_us": 7, "srv_dispatch_p99_us": 70},
		{"t_s": 5, "slab_bytes": 1_000_000, "conns_server": 0},
	}
}

func TestDeriveMetrics(t *testing.T) {
	t.Parallel()
	res := clientResult{Established: 1000, RampSeconds: 2, WallSeconds: 12, HoldSeconds: 5, Echoed: 2000, BytesReceived: 22_000,
		RttHoldUs: pcts{P50: 100, P99: 900, P999: 1500, N: 1000}}
	m := deriveMetrics(fixtureRows(), res)
	assert.Equal(t, 1000.0, m["conns"])
	assert.Equal(t, 10_000.0, m["kernel_bytes_per_conn"], "(11 MB − 1 MB) ÷ 1000")
	assert.Equal(t, 20.0, m["server_user_bytes_per_conn"], "PSS growth from the idle server ÷ 1000")
	assert.Equal(t, 50.0, m["server_user_bytes_per_conn_hold"], "PSS growth by the hold's last sample ÷ 1000")
	assert.Equal(t, 2000.0, m["client_bytes_per_conn"])
	assert.Equal(t, 5020.0, m["server_bytes_per_conn"], "the whole server's PSS at the peak ÷ 1000")
	assert.Equal(t, 500.0, m["connect_rate"])
	assert.Equal(t, 200.0, m["echo_per_sec"], "1000 echoes sent in the 5 s hold")
	assert.Equal(t, 1000.0, m["server_cpu_us_per_conn"], "1 s of CPU from idle to the ramp's end ÷ 1000")
	assert.Equal(t, 1000.0, m["server_cpu_us_per_msg"], "1 s of CPU ÷ 1000 messages of 11 B")
	assert.Equal(t, 2.5, m["syscalls_per_msg"])
	assert.Equal(t, 7.0, m["dispatch_p50_us"])
	assert.Equal(t, 100.0, m["rtt_p50_us"])
	assert.Equal(t, 1.0, m["server_cpu_cores"], "1 s of CPU in the 1 s after the ramp")
	assert.Equal(t, 0.25, m["client_cpu_cores"])
	assert.Equal(t, 250.0, m["client_cpu_us_per_msg"])
	assert.Equal(t, 3000.0, m["tcp_segs_per_sec"])
	assert.Equal(t, 1.5, m["host_busy_cores"])
	assert.Equal(t, 0.5, m["host_softirq_cores"])
	assert.Equal(t, 7.0, m["tcp_tw_at_peak"], "TIME_WAIT at the first sample with the most connections")
}

// The echo rate counts the keepalives sent in the hold over the hold's
// length: the ramp's echoes (a long ramp sends many) are not in it.
func TestEchoRateIsTheHolds(t *testing.T) {
	t.Parallel()
	res := clientResult{Established: 1000, RampSeconds: 2, WallSeconds: 12, HoldSeconds: 8, Echoed: 2000,
		RttHoldUs: pcts{N: 800}, Failed: map[string]float64{"EADDRNOTAVAIL": 3, "ETIMEDOUT": 1}, Predicted: 1500}
	m := deriveMetrics(fixtureRows(), res)
	assert.Equal(t, 100.0, m["echo_per_sec"])
	assert.Equal(t, 3.0, m["eaddrnotavail"])
	assert.Equal(t, 4.0, m["connect_failures"])
	assert.Equal(t, 1500.0, m["predicted_capacity"])
}

// A ramp that never finished has no hold: no steady-state echo rate, rather
// than the ramp's echoes over a few seconds.
func TestNoHoldLeavesEchoRateEmpty(t *testing.T) {
	t.Parallel()
	res := clientResult{Established: 800, RampSeconds: 900, WallSeconds: 930, Echoed: 2_000_000, BytesReceived: 22_000_000}
	m := deriveMetrics(fixtureRows(), res)
	assert.NotContains(t, m, "echo_per_sec")
}

// The server's ramp runs from the client's start (row 1) to the first
// sample holding 99.9% of what the client established, timed by when
// /stats answered where the sample says.
func TestServerRamp(t *testing.T) {
	t.Parallel()
	m := deriveMetrics(fixtureRows(), clientResult{Established: 1000})
	assert.Equal(t, 2.0, m["server_ramp_s"], "row 1 at 1 s to 1000 held at 3 s")
	assert.Equal(t, 500.0, m["accept_rate"])

	rows := fixtureRows()
	rows[3]["t_stats_s"], rows[1]["t_stats_s"] = 3.5, 1.1
	m = deriveMetrics(rows, clientResult{Established: 1000})
	assert.InDelta(t, 2.4, m["server_ramp_s"], 1e-9, "a late /stats answer counts when it came")

	m = deriveMetrics(fixtureRows(), clientResult{Established: 2000})
	assert.NotContains(t, m, "server_ramp_s", "never reached: not measured")
}

func TestNoRoundTripLeavesRTTEmpty(t *testing.T) {
	t.Parallel()
	m := deriveMetrics(fixtureRows(), clientResult{Established: 1000})
	_, ok := m["rtt_p50_us"]
	assert.False(t, ok, "nothing echoed: not measured, not 0")
}

func TestWriteResults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := &meta{schema.Meta{ID: "exp-9", Number: 9}}
	rows := []summaryRow{{Arm: "a", Rep: 1, Metrics: map[string]float64{"conns": 10}}, {Arm: "b", Rep: 1, Metrics: map[string]float64{}}}
	require.NoError(t, writeResults(dir, m, Metrics("conns", "echo_per_sec"), rows))
	f, err := os.Open(filepath.Join(dir, "summary.csv"))
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"arm", "rep", "conns", "echo_per_sec"}, {"a", "1", "10", ""}, {"b", "1", "", ""}}, recs)
	require.FileExists(t, filepath.Join(dir, "meta.json"))

	samples := filepath.Join(dir, "samples.csv")
	require.NoError(t, writeSamples(samples, fixtureRows()))
	f2, err := os.Open(samples)
	require.NoError(t, err)
	defer f2.Close()
	recs, err = csv.NewReader(f2).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, "t_s", recs[0][0])
	assert.Contains(t, recs[0], "kernel_bytes_per_conn")
	assert.Len(t, recs, len(fixtureRows())+1)
}

func TestMetricsPanicsOnUnknownName(t *testing.T) {
	t.Parallel()
	assert.Panics(t, func() { Metrics("no_such_metric") })
}

// Per-message costs over the hold: each cumulative column's growth from
// the ramp's end (row 3) to the hold's end (row 4) ÷ the 1000 messages.
func TestPerMessageMetrics(t *testing.T) {
	t.Parallel()
	rows := fixtureRows()
	for col, v := range map[string][2]float64{
		"server_user_s": {0.4, 0.5}, "server_sys_s": {1.6, 2.5}, "client_user_s": {0.1, 0.15}, "client_sys_s": {0.15, 0.35},
		"host_user_s": {50, 50.25}, "host_sys_s": {40, 41}, "server_ctxt": {10_000, 12_000}, "client_ctxt": {500, 3500},
		"host_ctxt": {1e9, 1e9 + 9000}, "server_threads": {51, 51}, "client_threads": {300, 310},
	} {
		rows[3][col], rows[4][col] = v[0], v[1]
	}
	res := clientResult{Established: 1000, RampSeconds: 2, HoldSeconds: 5, Echoed: 2000, BytesReceived: 22_000, RttHoldUs: pcts{N: 1000}}
	m := deriveMetrics(rows, res)
	for name, want := range map[string]float64{
		"server_user_us_per_msg": 100, "server_sys_us_per_msg": 900, "client_user_us_per_msg": 50, "client_sys_us_per_msg": 200,
		"host_cpu_us_per_msg": 1500, "host_user_us_per_msg": 250, "host_sys_us_per_msg": 1000, "host_softirq_us_per_msg": 500,
		"server_ctxt_per_msg": 2, "client_ctxt_per_msg": 3, "host_ctxt_per_msg": 9, "tcp_segs_per_msg": 3,
		"server_threads": 51, "client_threads": 310,
	} {
		assert.InDelta(t, want, m[name], 1e-9, name)
	}

	// Columns the samples lack: not measured, not 0.
	rows = fixtureRows()
	rows[4]["host_ctxt"] = 5 // at one end of the hold only
	m = deriveMetrics(rows, res)
	assert.NotContains(t, m, "host_ctxt_per_msg")
	assert.NotContains(t, m, "server_threads")
}

// A client that leaves its sockets' close to the kernel (the io_uring
// client) is gone while the server still holds every connection: the hold
// ends at the last sample with the client whole, so its CPU never counts
// as falling to zero.
func TestHoldEndsWhenTheClientLeaves(t *testing.T) {
	t.Parallel()
	rows := fixtureRows()
	rows[5] = Sample{"t_s": 4.5, "slab_bytes": 11_000_000, "conns_server": 1000, "server_cpu_s": 3.5} // no client any more
	res := clientResult{Established: 1000, Echoed: 2000, BytesReceived: 22_000}
	m := deriveMetrics(rows, res)
	assert.Equal(t, 250.0, m["client_cpu_us_per_msg"], "the hold ends at t=4, the client's last whole sample")
	assert.Equal(t, 1000.0, m["server_cpu_us_per_msg"])
}
