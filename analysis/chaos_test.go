package analysis

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/schema"
)

// The robustness section renders results/chaos (a table per scenario) and
// results/soak (its numbers and the four-panel figure; a summary without an
// engine ran epoll, and a missing results/soak-uring is not shown); without
// them it says how to run them.
func TestReportRobustness(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	results := filepath.Join(root, "results")
	out := filepath.Join(root, "REPORT.md")
	require.NoError(t, WriteReport(results, out))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assertHas(t, string(b), "Not run yet (`make chaos` writes results/chaos/chaos.json, epoll's, and chaos-uring.json).")
	assertHas(t, string(b), "Not run yet (`make soak` writes results/soak on epoll and results/soak-uring).")
	assertHas(t, string(b), "### Does it survive hostile clients, a restart, vanished peers and churn?\n\nNot run yet (`make chaos`, `make soak`).")

	rep := schema.ChaosReport[schema.PopulationTotals]{Start: "s", End: "e", Quick: true, Scale: schema.ChaosScale{Population: 200, Interval: 200 * time.Millisecond, Hold: 3 * time.Second},
		ServerFlags: []string{"-max-conns", "1000"}, Pass: false, Failed: []string{"flood"}, Rules: map[string]string{"fds": "back exactly"},
		Population: &schema.PopulationTotals{Sent: 10, Echoed: 10},
		Scenarios: []schema.ScenarioOutcome{
			{Name: "idle", Pass: true, Sent: 100, Verified: 100, Attempted: 200, AttackerOK: 200, FDsBefore: 224, FDsPeak: 424, FDsAfter: 224, RSSBefore: 10 << 20, RSSPeak: 11 << 20, RSSAfter: 10 << 20, CPUSeconds: 0.4},
			{Name: "flood", Failures: []string{"server fds 230 after settling, 224 before"}, AttackerErrors: map[string]int64{"EOF": 3, "ECONNRESET": 1},
				HoldCPUPerSec: 0.12, Notes: []string{"flood: 1200 connected"}},
		}}
	raw, err := json.Marshal(rep)
	require.NoError(t, err)
	writeFile(t, filepath.Join(results, "chaos", schema.ChaosFile), string(raw))
	writeFile(t, filepath.Join(results, "soak", "summary.json"), `{"start":"a","end":"b","duration_s":60,"conns":8000,"churn_per_s":100,"interval_s":2,
		"idle_fds":35,"final_fds":35,"peak_conns":8000,"rss_drift":0.02,"slab_drift":-0.01,"sent":5,"echoed":5,"churned":40,"pass":true,"rule":"fds back"}`)
	writeFile(t, filepath.Join(results, "soak", "samples.csv"), "t_s,phase,server_fds,server_rss,slab_bytes,conns,tcp_inuse,tcp_tw\n0,0,35,1000,2000,0,1,0\n5,1,8035,3000,4000,8000,8001,10\n10,2,35,3000,2500,0,1,50\n")
	require.NoError(t, WriteReport(results, out))
	b, err = os.ReadFile(out)
	require.NoError(t, err)
	report := string(b)
	for _, want := range []string{
		"**1 of 2 scenarios passed.** Failed: flood.",
		"| `idle` | pass | 100 / 100 | 0 | 0 | 0 | 200 (200) | – | 224 → 424 → 224 |",
		"| `flood` | **FAIL**: server fds 230 after settling, 224 before |",
		"ECONNRESET 1, EOF 3",
		"(0.12 cores while held)",
		"- `flood`: 1200 connected",
		"- **fds**: back exactly",
		"#### On the epoll engine (`results/soak`)",
		"The server ran the epoll engine in prefork processes",
		"**Passed.** Rule: fds back.",
		"| server fds idle → after the close | 35 → 35 |\n| server RSS, last quarter of the hold vs the second | +2.0% |",
		"![Soak on epoll: server fds, RSS, slab and connections over time](results/soak/fig-soak.png)",
		// The summary's table: a row per check, a failure named there too.
		"| check | engine | verdict | what it measured |",
		"| hostile clients | epoll | **FAIL**: scenarios flood | 1 of 2 scenarios passed; the keepalive population: 10 echoes verified, 0 mismatched |",
		"| soak: 8,000 connections, 100 churned a second, 60 s | epoll | pass | server fds 35 idle, 35 after; RSS drift +2.0%; 0 mismatched, 0 late |",
		"Each check's setup and rule: [Robustness](#robustness-hostile-clients-and-a-soak).",
		"Robustness (hostile clients, a reconnect storm, vanished peers, a churning soak, on each engine): 1 of 2 checks passed; **failed**: hostile clients (epoll) (the robustness table below says why).",
	} {
		assertHas(t, report, want)
	}
	assert.NotContains(t, report, "uring engine (`results/soak-uring`)")
	assert.NotContains(t, report, "server connections after the close")
	assert.NotContains(t, report, "connections must be back to 0") // this soak's rule did not check them
	require.FileExists(t, filepath.Join(results, "soak", "fig-soak.png"))
}

// Soaks on both engines render one after the other, each under its engine
// with its own table and figure; the connections after the close show
// where the soak recorded them, and a failed soak says what failed.
func TestReportSoakEngines(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	results := filepath.Join(root, "results")
	out := filepath.Join(root, "REPORT.md")
	samples := [][]float64{{0, 0, 12, 1000, 2000, 0, 1, 0}, {5, 1, 12, 3000, 4000, 8000, 8001, 10}, {10, 2, 12, 3000, 2500, 3, 4, 50}}
	for _, engine := range schema.SoakEngines {
		conns := int64(0)
		sum := schema.SoakSummary{Engine: engine, Start: "a", End: "b", DurationS: 60, Conns: 8000, ChurnPerS: 100, IntervalS: 2,
			IdleFDs: 12, FinalFDs: 12, FinalConns: &conns, PeakConns: 8000, Pass: true, Rule: "conns 0, fds back"}
		if engine == "uring" {
			conns = 3
			sum.Pass, sum.Failures = false, []string{"the server still held 3 connections after the client closed (/stats conns)"}
		}
		dir := filepath.Join(results, schema.SoakDir(engine))
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, schema.WriteSoakSummary(dir, sum))
		require.NoError(t, schema.WriteSamples(filepath.Join(dir, schema.SoakSamplesFile), schema.SoakSamplesHeader, samples))
	}
	require.NoError(t, WriteReport(results, out))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	report := string(b)
	for _, want := range []string{
		"#### On the epoll engine (`results/soak`)",
		"#### On the uring engine (`results/soak-uring`)",
		"The server ran the uring engine: its sockets live in the rings' registered-file tables",
		"**Failed**: the server still held 3 connections after the client closed (/stats conns). Rule: conns 0, fds back.",
		"| server connections after the close (/stats conns) | 0 |",
		"| server connections after the close (/stats conns) | 3 |",
		"![Soak on epoll: server fds, RSS, slab and connections over time](results/soak/fig-soak.png)",
		"![Soak on uring: server fds, RSS, slab and connections over time](results/soak-uring/fig-soak.png)",
		"after which the server's connections must be back to 0 and its fds to the idle count. On uring the fds stay at the idle count throughout",
	} {
		assertHas(t, report, want)
	}
	assert.Less(t, strings.Index(report, "On the epoll engine"), strings.Index(report, "On the uring engine"))
	require.FileExists(t, filepath.Join(results, "soak-uring", "fig-soak.png"))
}

// The reconnect storm renders from results/chaos/storm.json (its numbers)
// and storm.csv (the figure of the way back); without it the section says
// how to run it, and a failed storm names what failed.
func TestReportStorm(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	results := filepath.Join(root, "results")
	out := filepath.Join(root, "REPORT.md")
	require.NoError(t, WriteReport(results, out))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assertHas(t, string(b), "Not run yet (`make chaos` writes results/chaos/storm-epoll.json and storm-uring.json).")

	st := schema.StormResult{Start: "s", End: "e", Scale: schema.StormScale{Conns: 200000, Ports: 20, Interval: 30 * time.Second, Bound: 5 * time.Minute},
		ServerFlags: []string{"-max-conns", "200000", "-ports", "20"}, Client: "-conns 200000 -reconnect",
		RampS: 40, ExitS: 2.5, RestartS: 2.6, AllOpenS: 31.2, ServerConnsS: 30.9, AllBackS: 32.4, Resolution: 1,
		Dropped: 200100, Attempts: 812345, FailedBy: map[string]int64{"ECONNREFUSED": 400000}, DroppedBy: map[string]int64{"EOF": 200000, "ECONNRESET": 100},
		Downtime:        schema.Percentiles{N: 200000, P50: 12_000_000, P99: 29_500_000, Max: 31_000_000},
		ListenOverflows: 1234, ListenDrops: 1234, SynRetrans: 99, TimeWaitBefore: 3, TimeWaitPeak: 150000, TWBuckets: "262144",
		Pass: true, Rule: "every connection back within 5m0s", Notes: []string{"sysctl net.core.somaxconn set to \"65535\""}}
	raw, err := json.Marshal(st)
	require.NoError(t, err)
	writeFile(t, filepath.Join(results, "chaos", schema.StormFile), string(raw))
	writeFile(t, filepath.Join(results, "chaos", schema.StormSamplesFile),
		"t_s,open,open_verified,connecting,attempts,server_conns,time_wait,listen_overflows\n0.2,0,0,0,0,,3,0\n10,150000,120000,4000,500000,150500,150000,1000\n32.5,200000,200000,0,812345,200000,150000,1234\n")
	require.NoError(t, WriteReport(results, out))
	b, err = os.ReadFile(out)
	require.NoError(t, err)
	report := string(b)
	for _, want := range []string{
		"### Reconnect storm",
		"**Passed: all 200,000 connections back, each with an echo verified on its new socket, 32.4 s after the kill.** Rule: every connection back within 5m0s.",
		"| **time until all were back and verified** | **32.4 s** |",
		"| time until all were open again (client) / held by the new server | 31.2 s / 30.9 s |",
		"| one connection's downtime, loss to verified echo: p50 / p99 / max | 12 s / 29.5 s / 31 s |",
		"| reconnect attempts (connects started until all were back) | 812,345 |",
		"| connect failures meanwhile | ECONNREFUSED 400000 |",
		"| connection losses seen | 200,100 (ECONNRESET 100, EOF 200000) |",
		"| lost for good / mismatched echoes / echo timeouts | 0 / 0 / 0 |",
		"| listen queue overflows / drops, SYN retransmits | 1,234 / 1,234 / 99 |",
		"| TIME_WAIT sockets before → peak (tcp_max_tw_buckets) | 3 → 150,000 (262144) |",
		"- sysctl net.core.somaxconn set to \"65535\"",
		"![Reconnect storm: connections coming back after the server's SIGKILL](results/chaos/fig-storm.png)",
		"| reconnect storm: SIGKILL and restart at 200,000 connections | – | pass | all back 32.4 s after the kill; 0 lost |",
	} {
		assertHas(t, report, want)
	}
	require.FileExists(t, filepath.Join(results, "chaos", "fig-storm.png"))

	st.Pass, st.Failures, st.AllBackS, st.Lost = false, []string{"12 of 200000 connections not back and verified within 5m0s"}, 0, 12
	raw, err = json.Marshal(st)
	require.NoError(t, err)
	writeFile(t, filepath.Join(results, "chaos", schema.StormFile), string(raw))
	require.NoError(t, WriteReport(results, out))
	b, err = os.ReadFile(out)
	require.NoError(t, err)
	assertHas(t, string(b), "**Failed**: 12 of 200000 connections not back and verified within 5m0s. Rule:")
	assertHas(t, string(b), "| reconnect storm: SIGKILL and restart at 200,000 connections | – | **FAIL**: 12 of 200000 connections not back and verified within 5m0s | not all back within 300 s; 12 lost |")
}

// Storms per engine render from results/chaos/storm-ENGINE.json and .csv:
// a column per engine, the graceful stop and the /stats polls in rows, a
// figure with a line per engine; they take the place of an older storm.json.
func TestReportStormEngines(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	results := filepath.Join(root, "results")
	out := filepath.Join(root, "REPORT.md")
	dir := filepath.Join(results, "chaos")
	writeFile(t, filepath.Join(dir, schema.StormFile), `{"all_back_s": 99, "pass": true}`) // an older run's: ignored
	for i, engine := range schema.StormEngines {
		st := schema.StormResult{Start: "s", End: "e", Engine: engine, Scale: schema.StormScale{Conns: 1000000, Ports: 20, Bound: 5 * time.Minute},
			ServerFlags: []string{"-engine", engine}, RampS: 100, AllBackS: float64(40 + i), Resolution: 1, Pass: i == 0, Rule: "every connection back",
			Stop: &schema.StormStop{ConnsAtSignal: 1000000, ExitS: 12.5, ExitCode: 0, ClosedEOF: 999000, ClosedReset: 1000,
				ClosedBy: map[string]int64{"EOF": 999000, "ECONNRESET": 1000}, RetriesFailed: map[string]int64{"ECONNREFUSED": 5},
				ServerLog: []string{"c1m-server: terminated: closing every connection"}},
			Polls: &schema.StatsPolls{IntervalS: 0.25, TimeoutS: 1, Phases: []schema.StatsPhase{
				{Name: "ramp", Polls: 400, MaxMs: 120}, {Name: "outage", Polls: 4, Failed: 4, Excused: true},
				{Name: "reconnect", Polls: 160, MaxMs: 900}, {Name: "stop", Polls: 50, Failed: i * 7, MaxMs: 300}}}}
		if i == 1 {
			st.Failures = []string{"/stats did not answer within 1s 7 times of 50 in phase stop"}
		}
		require.NoError(t, schema.WriteStorm(dir, st, [][]float64{{0.25, 0, 0, 10, 10, 0, 3, 0}, {40, 1e6, 1e6, 0, 2e6, 1e6, 5, 0}}))
	}
	require.NoError(t, WriteReport(results, out))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	report := string(b)
	for _, want := range []string{
		"**epoll: Passed: all 1,000,000 connections back, each with an echo verified on its new socket, 40 s after the kill.**",
		"**uring: Failed**: /stats did not answer within 1s 7 times of 50 in phase stop.",
		"| what | epoll | uring |",
		"| **time until all were back and verified** | **40 s** | **41 s** |",
		"| **graceful stop: SIGTERM to exit (exit code)** | **12.5 s (0)** | **12.5 s (0)** |",
		"| connections at SIGTERM: closed cleanly (EOF) / reset, as the client saw them | 1,000,000: 999,000 / 1,000 |",
		"| the server's log after SIGTERM | `c1m-server: terminated: closing every connection` |",
		"| **/stats answered within its timeout throughout** | **yes**, longest 900 ms in phase reconnect | **no**: 7 of 50 in stop failed; longest answer 900 ms in phase reconnect |",
		"ramp: 400, 120 ms (0); outage: no server; reconnect: 160, 900 ms (0); stop: 50, 300 ms (0)",
		"![Reconnect storm: connections coming back after the server's SIGKILL](results/chaos/fig-storm.png)",
	} {
		assertHas(t, report, want)
	}
	require.NotContains(t, report, "99 s after the kill")
	require.FileExists(t, filepath.Join(dir, "fig-storm.png"))
}

// "Peers vanish at scale" renders from results/chaos/reap.json, one column
// per arm; without it the section says how to run it.
func TestReportReap(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	results := filepath.Join(root, "results")
	out := filepath.Join(root, "REPORT.md")
	require.NoError(t, WriteReport(results, out))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assertHas(t, string(b), "Not run yet (`c1m-chaos -only vanish-scale` writes results/chaos/reap.json).")

	arm := func(name string, reaped float64, reasons map[string]uint64) schema.ReapArm {
		return schema.ReapArm{Name: name, ServerFlags: []string{"-" + name, "60s"}, BoundS: 68, FirstReapS: 55, AllReapedS: reaped,
			Resolution: 0.25, CloseReasons: reasons, ConnsBaseline: 5000, ConnsPeak: 105000, ConnsEnd: 5000,
			RSSBaseline: 20 << 20, RSSPeak: 60 << 20, RSSEnd: 24 << 20, TCPInuseBaseline: 5002, TCPInusePeak: 105002, TCPInuseEnd: 5002,
			LiveSent: 900000, LiveEchoed: 899990, LiveInFlight: 10, Pass: true}
	}
	rp := schema.ReapResult{Start: "s", End: "e", ServerFlags: []string{"-engine", "uring"}, Cut: "blackhole",
		Scale: schema.ReapScale{Vanish: 100000, Live: 5000, LiveInterval: time.Second, VanishInterval: 5 * time.Second},
		Arms:  []schema.ReapArm{arm("idle-timeout", 61.5, map[string]uint64{"idle": 100000}), arm("tcp-keepalive", 0, map[string]uint64{"timeout": 99000})},
		Pass:  false, Failures: []string{"tcp-keepalive: the server still held vanished connections"}, Rule: "every vanished connection closed within the bound"}
	rp.Arms[0].Engine = "uring"
	rp.Arms[1].Pass, rp.Arms[1].Failures = false, []string{"the server still held vanished connections 146 s after the cut"}
	raw, err := json.Marshal(rp)
	require.NoError(t, err)
	writeFile(t, filepath.Join(results, "chaos", schema.ReapFile), string(raw))
	require.NoError(t, WriteReport(results, out))
	b, err = os.ReadFile(out)
	require.NoError(t, err)
	report := string(b)
	for _, want := range []string{
		"### Peers vanish at scale",
		"(extra server flags `-engine uring`): 100,000 connections from a network namespace",
		"| engine | uring | – |",
		"**Failed**: tcp-keepalive: the server still held vanished connections. Rule: every vanished connection closed within the bound.",
		"| what | idle-timeout | tcp-keepalive |",
		"| **all vanished connections closed after the cut** | **61.5 s** | not within 146 s |",
		"| close reasons | idle 100000 | timeout 99000 |",
		"| server connections: live only → peak → end | 5,000 → 105,000 → 5,000 | 5,000 → 105,000 → 5,000 |",
		"| live echoes sent / verified (in flight at the close), late, mismatched; dropped | 900,000 / 899,990 (10), 0, 0; 0 |",
		"| verdict | pass | **FAIL**: the server still held vanished connections 146 s after the cut |",
		"| 100,000 peers vanish, closed by idle-timeout | uring | pass | all closed 61.5 s after the cut (bound 68 s); server RSS 20 MiB with the live connections alone, 24 MiB after |",
		"| 100,000 peers vanish, closed by tcp-keepalive | – | **FAIL**: the server still held vanished connections 146 s after the cut | not all closed within 146 s (bound 68 s);",
	} {
		assertHas(t, report, want)
	}
}

// A storm whose connections never all came back shows its bound, not the
// result's 0 s.
func TestStormRowsNeverBackShowTheBound(t *testing.T) {
	t.Parallel()
	st := schema.StormResult{Engine: "epoll", AllOpenS: 12, Scale: schema.StormScale{Conns: 10, Bound: 5 * time.Minute}}
	var back, open []string
	for _, r := range stormRows([]schema.StormResult{st}) {
		switch r[0] {
		case "**time until all were back and verified**":
			back = r
		case "time until all were open again (client) / held by the new server":
			open = r
		}
	}
	require.NotNil(t, back)
	assert.Equal(t, "**not within 300 s**", back[1])
	assert.Equal(t, "12 s / not within 300 s", open[1])
}

// The suite's run on each engine (chaos.json, chaos-uring.json) is a table
// of its own under its engine's name, epoll's first; the rules are listed
// once, the notes under their engine; the server's connections after
// settling get a column in a run that counted them.
func TestReportChaosPerEngine(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	results := filepath.Join(root, "results")
	out := filepath.Join(root, "REPORT.md")
	conns := int64(200)
	for _, e := range []string{"uring", "epoll"} {
		rep := schema.ChaosReport[schema.PopulationTotals]{Start: "s-" + e, End: "e", Quick: true, Engine: e, Pass: true,
			Scale: schema.ChaosScale{Population: 200, Interval: 200 * time.Millisecond, Hold: 3 * time.Second}, ServerFlags: []string{"-engine", e},
			Rules: map[string]string{"fds": "back exactly", "conns": "back to the population"},
			Scenarios: []schema.ScenarioOutcome{{Name: "fd-flood", Pass: true, Sent: 7, Verified: 7, FDsBefore: 16, FDsPeak: 16, FDsAfter: 16,
				ConnsAfter: &conns, Notes: []string{"fd-flood: held on " + e}}}}
		dir := filepath.Join(results, "chaos")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, schema.WriteChaosReport(dir, rep))
	}
	require.NoError(t, WriteReport(results, out))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	report := string(b)
	epoll, uring := strings.Index(report, "**epoll engine.** Scale quick, s-epoll to e"), strings.Index(report, "**uring engine.** Scale quick, s-uring to e")
	require.Positive(t, epoll, report)
	assert.Greater(t, uring, epoll, "epoll's table first")
	assert.Equal(t, 2, strings.Count(report, "| scenario | verdict |"), "a table per engine")
	assert.Equal(t, 2, strings.Count(report, "| server CPU | server conns after |"))
	assert.Equal(t, 2, strings.Count(report, "| 16 → 16 → 16 |"))
	assert.Equal(t, 1, strings.Count(report, "- **fds**: back exactly"), "the rules once")
	assertHas(t, report, "- **conns**: back to the population")
	assertHas(t, report, "- epoll: `fd-flood`: held on epoll")
	assertHas(t, report, "- uring: `fd-flood`: held on uring")
}
