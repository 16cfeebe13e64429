package analysis

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"c1m/chaos"
	"c1m/client"
)

// The robustness section renders results/chaos (a table per scenario) and
// results/soak (its numbers and the four-panel figure); without them it
// says how to run them.
func TestReportRobustness(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	results := filepath.Join(root, "results")
	out := filepath.Join(root, "REPORT.md")
	require.NoError(t, WriteReport(results, out))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assertHas(t, string(b), "Not run yet (`make chaos` writes results/chaos).")
	assertHas(t, string(b), "Not run yet (`make soak` writes results/soak).")

	rep := chaos.Report{Start: "s", End: "e", Quick: true, Scale: chaos.Scale{Population: 200, Interval: 200 * time.Millisecond, Hold: 3 * time.Second},
		ServerFlags: []string{"-max-conns", "1000"}, Pass: false, Failed: []string{"flood"}, Rules: map[string]string{"fds": "back exactly"},
		Population: &client.Result{Sent: 10, Echoed: 10},
		Scenarios: []chaos.Outcome{
			{Name: "idle", Pass: true, Sent: 100, Verified: 100, Attempted: 200, AttackerOK: 200, FDsBefore: 224, FDsPeak: 424, FDsAfter: 224, RSSBefore: 10 << 20, RSSPeak: 11 << 20, RSSAfter: 10 << 20, CPUSeconds: 0.4},
			{Name: "flood", Failures: []string{"server fds 230 after settling, 224 before"}, AttackerErrors: map[string]int64{"EOF": 3, "ECONNRESET": 1},
				HoldCPUPerSec: 0.12, Notes: []string{"flood: 1200 connected"}},
		}}
	raw, err := json.Marshal(rep)
	require.NoError(t, err)
	writeFile(t, filepath.Join(results, "chaos", chaos.ReportFile), string(raw))
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
		"**Passed.** Rule: fds back.",
		"| server fds idle → after the close | 35 → 35 |",
		"| server RSS, last quarter of the hold vs the second | +2.0% |",
		"![Soak: server fds, RSS, slab and connections over time](results/soak/fig-soak.png)",
	} {
		assertHas(t, report, want)
	}
	require.FileExists(t, filepath.Join(results, "soak", "fig-soak.png"))
}
