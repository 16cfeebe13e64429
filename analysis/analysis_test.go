package analysis

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"c1m/spread"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixtures copies testdata/results into a fresh directory, since figures
// are written next to the data.
func fixtures(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "results")
	require.NoError(t, os.CopyFS(dir, os.DirFS("testdata/results")))
	return dir
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
}

// assertHas reports a missing line without printing the whole report.
func assertHas(t *testing.T, report, want string) {
	t.Helper()
	if !strings.Contains(report, want) {
		t.Errorf("report lacks %q", want)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	exps, err := Load("testdata/results")
	require.NoError(t, err)
	require.Len(t, exps, 2)
	e := exps[0]
	assert.Equal(t, "exp-1", e.Meta.ID)
	assert.Equal(t, []string{"core", "holder"}, e.ArmNames())
	assert.Len(t, e.Runs, 6)
	assert.NotContains(t, e.Runs[0].Values, "server_user_bytes_per_conn", "an empty cell is not measured")
	assert.Len(t, e.Samples, 3)
	s := e.Samples[RunID{"core", 1}]
	require.NotNil(t, s)
	assert.Equal(t, []float64{0, 100, 250, 500, 1000, 1000, 1000, 10}, s.Column("conns_server"))
	assert.Equal(t, "ramp", s.Text["phase"][1])
	assert.Nil(t, s.Column("no_such_column"))
	require.Contains(t, e.Clients, RunID{"core", 2})
	assert.Equal(t, 1234.0, e.Clients[RunID{"core", 2}].RttUs.P99)
	assert.Equal(t, "32768\t60999", e.Meta.Env.Sysctls["net.ipv4.ip_local_port_range"])
	assert.Empty(t, exps[1].Samples, "optional files may be missing")
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	t.Parallel()
	for name, files := range map[string]map[string]string{
		"meta.json": {"meta.json": `{"id": "exp-9",`},
		"summary.csv line 2": {
			"meta.json":   `{"id": "exp-9", "number": 9}`,
			"summary.csv": "arm,rep,x\ncore,1,abc\n",
		},
		"samples-core-r1.csv": {
			"meta.json":           `{"id": "exp-9", "number": 9}`,
			"samples-core-r1.csv": "t_s,conns_server\n1,2,3\n",
		},
	} {
		dir := t.TempDir()
		for f, text := range files {
			writeFile(t, filepath.Join(dir, "exp-9", f), text)
		}
		_, err := Load(dir)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), name)
	}
	exps, err := Load(filepath.Join(t.TempDir(), "absent"))
	assert.NoError(t, err)
	assert.Empty(t, exps)
}

func TestEvaluateCheck(t *testing.T) {
	t.Parallel()
	of := func(v ...float64) Spread { s, _ := spread.Of(v); return s }
	for _, tc := range []struct {
		expect string
		tol    float64
		a, b   Spread
		want   Verdict
	}{
		{"a>=b", 0.05, of(99000, 101000, 103000), of(98000, 100000, 102000), Supported},
		{"a>=b", 0.05, of(94000), of(100000), NotSupported},
		{"a>=b", 0, of(98000, 100000, 102000), of(99000, 101000, 103000), Inconclusive},
		{"a<=b", 0.05, of(140, 150, 160), of(95, 100, 105), NotSupported},
		{"a<=b", 0.05, of(104), of(100), Supported},
		{"a~b", 0.10, of(4890, 4912, 4950), of(4650, 4700, 4720), Supported},
		{"a~b", 0.01, of(120), of(100), NotSupported},
		{"a~b", 0.01, of(0), of(0), Supported},
		{"a>b", 0.01, of(1), of(0), BadCheck},
	} {
		got := EvaluateCheck(Check{Expect: tc.expect, Tolerance: tc.tol}, tc.a, tc.b)
		assert.Equal(t, tc.want, got.Verdict, "%s tol %v: %+v vs %+v", tc.expect, tc.tol, tc.a, tc.b)
	}
}

func TestFormatQuantity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    float64
		unit string
		want string
	}{
		{4912, "B", "4,912 B"},
		{123456, "B", "121 KiB"},
		{9.9e9, "B", "9,441 MiB"},
		{25769803776, "B", "24 GiB"},
		{5000, "µs", "5 ms"},
		{850, "µs", "850 µs"},
		{1234, "us", "1.23 ms"},
		{1.528e9, "bit/s", "1.53 Gbit/s"},
		{25000, "conn/s", "25,000 conn/s"},
		{7, "", "7"},
	} {
		assert.Equal(t, tc.want, FormatQuantity(tc.v, tc.unit))
	}
	assert.Equal(t, "4,912 B [4,890–4,950]", FormatSpread(Spread{Median: 4912, Min: 4890, Max: 4950, N: 3}, "B", 3))
	assert.Equal(t, "4,912 B [4,890–4,950] (n=2)", FormatSpread(Spread{Median: 4912, Min: 4890, Max: 4950, N: 2}, "B", 3))
	assert.Equal(t, "1.23 ms", FormatSpread(Spread{Median: 1234, Min: 1234, Max: 1234, N: 1}, "µs", 1))
}

// TestWireHandComputed checks the model against the derivation in wire.go.
func TestWireHandComputed(t *testing.T) {
	t.Parallel()
	// 11-byte payload: frame 14+20+20+12+11+4 = 81 ≥ 64, on the wire 81+8+12 = 101.
	assert.Equal(t, 101, SegmentOnWire(11))
	// Pure ACK: frame 14+20+20+12+4 = 70 ≥ 64, on the wire 90.
	assert.Equal(t, 90, SegmentOnWire(0))
	// Without timestamps a pure ACK's frame is 58 B: padded to 64, 84 on the wire.
	assert.Equal(t, 84, frameOnWire(EthernetHeader+IPv4Header+TCPHeader+EthernetFCS))

	x := BytesPerExchange(11, 1)
	assert.Equal(t, Exchange{Payload: 11, PureACKs: 1, ToServer: 101 + 90, ToClient: 101, PacketsToServer: 2, PacketsToClient: 1}, x)
	assert.Equal(t, 292, x.Total())
	two := BytesPerExchange(11, 2)
	assert.Equal(t, 191, two.ToServer)
	assert.Equal(t, 191, two.ToClient)
	none := BytesPerExchange(11, 0)
	assert.Equal(t, 202, none.Total())

	// 1,000,000 connections every second: 191 B × 8 × 1e6 = 1.528 Gbit/s, 2 M packets/s.
	assert.InDelta(t, 1.528e9, RequiredBitsPerSecond(1e6, time.Second, 11), 1)
	assert.InDelta(t, 2e6, PacketsPerSecond(1e6, time.Second, 11), 1e-6)
	assert.InDelta(t, 1.528e9/60, RequiredBitsPerSecond(1e6, time.Minute, 11), 1)
	// A 100 Mbit/s link at 1 s fills at 1e8 / (8 × 191) = 65,445 connections.
	assert.InDelta(t, 65445.0, math.Floor(x.MaxConns(1e8, time.Second)), 0)
	// A 3,000-byte payload: two full segments (1448) and one of 104.
	big := BytesPerExchange(3000, 1)
	assert.Equal(t, 3, big.PacketsToClient)
	assert.Equal(t, 2*SegmentOnWire(MSS)+SegmentOnWire(104), big.ToClient)
	// 1 GbE at minimum frames: 1e9 / (8 × 84) = 1,488,095 packets/s.
	assert.InDelta(t, 1488095.2, NICs[0].MinFramePacketsPerSecond(), 0.1)
}

func TestWriteFigures(t *testing.T) {
	t.Parallel()
	exps, err := Load(fixtures(t))
	require.NoError(t, err)
	figs, skipped, err := WriteFigures(&exps[0])
	require.NoError(t, err)
	var names []string
	for _, f := range figs {
		names = append(names, filepath.Base(f.Base))
		png, err := os.ReadFile(f.Base + ".png")
		require.NoError(t, err)
		assert.True(t, bytes.HasPrefix(png, []byte("\x89PNG")), f.Base)
		svg, err := os.ReadFile(f.Base + ".svg")
		require.NoError(t, err)
		assert.Contains(t, string(svg), "<svg", f.Base)
	}
	assert.Equal(t, []string{
		"fig-series-kernel_bytes_per_conn-server_user_bytes_per_conn",
		"fig-stack-conns_server-core", "fig-stack-conns_server-holder",
		"fig-timeline-conns_server-server_rss",
		"fig-bars-kernel_bytes_per_conn",
	}, names)
	assert.Empty(t, skipped)
	assert.Contains(t, figs[0].Caption, "No samples for server_user_bytes_per_conn")

	// Same input, same bytes.
	first, err := os.ReadFile(figs[1].Base + ".png")
	require.NoError(t, err)
	_, _, err = WriteFigures(&exps[0])
	require.NoError(t, err)
	again, err := os.ReadFile(figs[1].Base + ".png")
	require.NoError(t, err)
	assert.Equal(t, first, again)

	// exp-2 has no samples: its timeline is skipped, with the reason.
	_, skipped, err = WriteFigures(&exps[1])
	require.NoError(t, err)
	require.Len(t, skipped, 1)
	assert.Contains(t, skipped[0], "no samples file has columns t_s and conns_server")
}

func TestWriteReport(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(root, "results"), os.DirFS("testdata/results")))
	// An experiment 7 sweep whose break point brackets the model's.
	writeFile(t, filepath.Join(root, "results/exp-7/meta.json"), `{"id": "exp-7", "number": 7, "title": "Keepalives over an emulated NIC", "repeats": 1,
		"feeds": ["link-sweep"], "arms": [{"name": "10M-1s-2000"}, {"name": "10M-1s-8000"}, {"name": "10M-1s-12000"}]}`)
	writeFile(t, filepath.Join(root, "results/exp-7/summary.csv"), "arm,rep,conns_target,link_bits_per_sec,interval_s,payload_bytes,echo_share,drop_share,rtt_p99_us,echo_per_sec\n"+
		"10M-1s-2000,1,2000,10000000,1,11,1,0,3000,2000\n10M-1s-8000,1,8000,10000000,1,11,0.8,0.02,250000,6400\n10M-1s-12000,1,12000,10000000,1,11,0.5,0.1,900000,6500\n")
	out := filepath.Join(root, "REPORT.md")
	require.NoError(t, WriteReport(filepath.Join(root, "results"), out))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	report := string(b)

	for _, want := range []string{
		"Generated** by `make report`",
		// Q1: limits from meta.json.
		"RLIMIT_NOFILE, from exp-1's meta.json): soft 20,000, hard 20,000",
		"32768–60999, so one source address holds at most 28,232 connections to one server ip:port",
		"Reached in experiment 1, arm `core`: 1,000 connections.",
		"Where the original client stops (EADDRNOTAVAIL) and how to get past it: not measured yet (no experiment in the results declares that it feeds \"port-exhaustion\").",
		// Q2 and the slab breakdown.
		"Kernel memory per connection, arm `core`: **4,912 B [4,890–4,950]** at 1,000 connections.",
		"Kernel memory per connection, arm `holder`: **4,700 B [4,650–4,720]** at 998 (n=1) connections.",
		"TCP 2,368 B, sock_inode_cache 832 B, dentry 192 B; these caches sum to 3,392 B.",
		// Q3: declared but never measured.
		"Server user-space memory per connection: not measured yet: results/exp-1 has no `server_user_bytes_per_conn` values (run `make exp-1`).",
		// Q4: the model and experiment 7 against it.
		"client→server 191 B in 2 packets, server→client 101 B in 1 packet",
		"| 1 s | 1.53 Gbit/s | 2,000,000 | 10 GbE | 654,450 |",
		"![Keepalive bandwidth vs connections (wire model)](results/model/fig-wire-bandwidth.png)",
		"10 Mbit/s link, 11-byte keepalive every 1 s: carried 2,000 connections (echo share 1.00, drops 0% over the run, RTT p99 3 ms), broke at 8,000 connections (echo share 0.80, drops 2% over the run, RTT p99 250 ms); the model predicts 6,544, inside the measured bracket; saturated, it carried 6,500 keepalives/s against the model's capacity of 6,545/s (99.3%).",
		"What runs out first at a million connections, CPU, packets or bandwidth: not measured yet (no experiment in the results declares that it feeds \"keepalive-cost\").",
		// Experiment sections.
		"## Experiment 1: Capacity and memory",
		"| `core` | `-max-conns 1000000` | `-conns 1000 -interval 1s` | the epoll core |",
		"| kernel_bytes_per_conn (lower is better) | 4,912 B [4,890–4,950] | 4,700 B [4,650–4,720] |",
		"| server_user_bytes_per_conn (lower is better) | not measured | not measured |",
		"| connect_per_sec (higher is better) | 25,000 conn/s [24,000–26,000] | 30,000 conn/s [29,000–31,000] |",
		"| `core` | 3 | 1,000 | 0.05 s | 40 µs | 250 µs | 90 µs | 300 µs | 1.23 ms | 5 ms | 12 ms | 30,000 | 0 | 0 |",
		"| `holder` | 1 | 998 | 0.03 s | 35 µs | 200 µs | – | – | – | – | – | 0 | 0 | 0 |",
		"![Memory per connection](results/exp-1/fig-series-kernel_bytes_per_conn-server_user_bytes_per_conn.png)",
		"([SVG](results/exp-1/fig-bars-kernel_bytes_per_conn.svg))",
		"**supported**: the core costs the kernel what a bare holder does. `kernel_bytes_per_conn` of `core` is 4,912 B [4,890–4,950] against 4,700 B [4,650–4,720] for `holder` (ratio of medians 1.045)",
		"**not supported**: the core adds nothing in the kernel.",
		"## Experiment 2: Dispatch",
		"**supported**: pipe dispatch is no slower than chan. `echo_per_sec` of `pipe` is 101,000 /s [99,000–103,000] against 100,000 /s [98,000–102,000] for `chan` (ratio of medians 1.010); the claim needs at least 95,000 /s (5% below chan).",
		"**not supported**: pipe dispatch reaches the first echo as fast as chan. `accept_first_echo_us` of `pipe` is 150 µs [140–160]",
		"**inconclusive**: chan is at least as fast as pipe.",
		"**not measured**: same syscalls per message (no run of pipe or chan measured syscalls_per_msg).",
		"- Not drawn: timeline figure",
		"- not root: ran at reduced scale",
		// The machine of each experiment, and the summary's warning that they differ.
		"on Test CPU @ 2.0GHz × 2 CPUs, Linux 6.18.0; calibration not measured.",
		"on Other CPU × 2 CPUs, Linux 6.18.0; system call 1.1 µs, context switch 4.3 µs between threads, 9.9 µs between processes (half a pipe round trip on one CPU; unpinned threads' round trip 12 µs), loopback echo round trip 14 µs.",
		"The results below ran on more than one processor: Test CPU @ 2.0GHz × 2 (exp-1); Other CPU × 2 (exp-2); not recorded (exp-7).",
		"|  | Test CPU @ 2.0GHz × 2 | Other CPU × 2 | not recorded |",
		"| sections | exp-1 | exp-2 | exp-7 |",
		"| calibration | not measured |",
		// Environment.
		"| net.core.somaxconn | 4,096 | exp-2: 128 |",
		"| rlimit nofile_hard | 20,000 |  |",
		"| net.ipv4.ip_local_port_range | 32768 60999 |  |",
		"| exp-2 | quick | 3 | 2025-11-25T11:00:00Z | 2025-11-25T11:01:00Z | def5678 | go1.26.8 | false |",
	} {
		assertHas(t, report, want)
	}
	_, exp7, _ := strings.Cut(report, "## Experiment 7")
	assert.NotContains(t, exp7, "**Question.**", "exp-7 declares no question")
	assert.FileExists(t, filepath.Join(root, "results/model/fig-wire-packets.svg"))
	assert.FileExists(t, filepath.Join(root, "results/exp-2/fig-bars-echo_per_sec.png"))

	// Deterministic: a second run writes the same report.
	require.NoError(t, WriteReport(filepath.Join(root, "results"), out))
	again, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, report, string(again))
}

func TestWriteReportWithoutResults(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	out := filepath.Join(root, "REPORT.md")
	require.NoError(t, WriteReport(filepath.Join(root, "results"), out))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	report := string(b)
	for _, want := range []string{
		"The limits of this machine: not measured yet (no experiment in the results declares that it feeds \"capacity\").",
		"Kernel memory per connection: not measured yet (no experiment in the results declares that it feeds \"capacity\").",
		"Server user-space memory per connection: not measured yet (no experiment in the results declares that it feeds \"capacity\").",
		"Measured over an emulated link: not measured yet (no experiment in the results declares that it feeds \"link-sweep\").",
		"No experiment has run yet.",
	} {
		assertHas(t, report, want)
	}
	assert.FileExists(t, filepath.Join(root, "results/model/fig-wire-bandwidth.png"))
}
