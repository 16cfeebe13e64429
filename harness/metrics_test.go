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
		{"t_s": 4, "slab_bytes": 11_000_000, "conns_server": 1000, "server_pss": 5_020_000, "server_cpu_s": 3, "client_cpu_s": 0.5,
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
