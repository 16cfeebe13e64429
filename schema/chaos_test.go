package schema

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chaos.json and scenarios.csv: what is written reads back equal, and the
// CSV has a row per scenario under the header.
func TestChaosReportRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rep := ChaosReport[PopulationTotals]{Start: "s", End: "e", Quick: true,
		Scale:       ChaosScale{Population: 200, Interval: 200 * time.Millisecond, Hold: 3 * time.Second, Flood: 1200},
		ServerFlags: []string{"-max-conns", "1000"}, QuietCores: 0.012,
		Scenarios: []ScenarioOutcome{
			{Name: "idle", Description: "connect, send nothing", Pass: true, Sent: 100, Verified: 100, Attempted: 200, AttackerOK: 200,
				AttackerErrors: map[string]int64{}, FDsBefore: 224, FDsPeak: 424, FDsAfter: 224, RSSBefore: 10 << 20, RSSPeak: 11 << 20, RSSAfter: 10 << 20, CPUSeconds: 0.4},
			{Name: "flood", Failures: []string{"server fds 230 after settling", "a second"}, AttackerErrors: map[string]int64{"EOF": 3, "ECONNRESET": 1},
				HoldCPUPerSec: 0.12, Notes: []string{"flood: 1200 connected"}},
		},
		Population: &PopulationTotals{Sent: 10, Echoed: 9, Mismatched: 1, InFlightAtClose: 2, Dropped: map[string]int64{"EOF": 1}},
		Failed:     []string{"flood"}, Rules: map[string]string{"fds": "back exactly"}}
	require.NoError(t, WriteChaosReport(dir, rep))

	back, err := ReadChaosReport(dir)
	require.NoError(t, err)
	assert.Equal(t, rep, back)
	csv, err := os.ReadFile(filepath.Join(dir, ScenariosFile))
	require.NoError(t, err)
	assert.Equal(t, "scenario,pass,echoes_sent,echoes_verified,echoes_lost,echoes_mismatched,echo_timeouts,population_dropped,attacker_conns,attacker_ok,attacker_errors,fds_before,fds_peak,fds_after,rss_before,rss_peak,rss_after,server_cpu_s,hold_cpu_cores,wall_s,settle_s,accept_calls,shed,failures\n"+
		"idle,true,100,100,0,0,0,0,200,200,,224,424,224,10485760,11534336,10485760,0.400,0.000,0.000,0.000,0,0,\n"+
		"flood,false,0,0,0,0,0,0,0,0,\"ECONNRESET 1, EOF 3\",0,0,0,0,0,0,0.000,0.120,0.000,0.000,0,0,server fds 230 after settling; a second\n", string(csv))
}

// Each engine's run has its own files, epoll's the names the suite always
// used; ReadChaosReports reads those there, epoll's first, and a run
// without an engine (older) is epoll's.
func TestChaosReportsPerEngine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := ReadChaosReports(dir)
	assert.ErrorIs(t, err, os.ErrNotExist)

	conns := int64(200)
	uring := ChaosReport[PopulationTotals]{Start: "u", Engine: "uring", Scenarios: []ScenarioOutcome{{Name: "idle", ConnsAfter: &conns}}}
	require.NoError(t, WriteChaosReport(dir, uring))
	assert.FileExists(t, filepath.Join(dir, "chaos-uring.json"))
	assert.FileExists(t, filepath.Join(dir, "scenarios-uring.csv"))
	assert.NoFileExists(t, filepath.Join(dir, ChaosFile))
	older := ChaosReport[PopulationTotals]{Start: "e"} // before the engine field
	require.NoError(t, WriteChaosReport(dir, older))

	reps, err := ReadChaosReports(dir)
	require.NoError(t, err)
	require.Len(t, reps, 2)
	assert.Equal(t, older, reps[0])
	assert.Equal(t, "epoll", reps[0].EngineName())
	assert.Equal(t, uring, reps[1])
	assert.Equal(t, "uring", reps[1].EngineName())
	for e, want := range map[string]string{"": ChaosFile, "epoll": ChaosFile, "uring": "chaos-uring.json"} {
		got, _ := ChaosFiles(e)
		assert.Equal(t, want, got, e)
	}
}

// storm.json reads back equal; storm.csv has the header and an empty cell
// for a count not read (negative).
func TestStormRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res := StormResult{Start: "s", End: "e", Scale: StormScale{Conns: 2000, Ports: 1, Interval: 2 * time.Second, Bound: time.Minute,
		Sysctls: map[string]string{"net.core.somaxconn": "65535"}},
		ServerFlags: []string{"-ports", "1"}, Client: "-conns 2000 -reconnect", RampS: 1.5, AllBackS: 3.25, Dropped: 2000,
		FailedBy: map[string]int64{"ECONNREFUSED": 40}, DroppedBy: map[string]int64{"EOF": 2000},
		Downtime: Percentiles{P50: 1200, P90: 2000, P99: 2500, P999: 2600, Max: 2700, N: 2000}, TimeWaitPeak: 12, TWBuckets: "262144",
		ServerAccepted: 2000, ServerCloseReasons: map[string]uint64{"eof": 3}, Pass: true, Rule: "all back", Notes: []string{"a note"}}
	rows := [][]float64{{0.25, -1, -1, -1, -1, 0, 3, 0}, {1.5, 2000, 1999, 0, 2040, 2000, 12, 1}}
	require.NoError(t, WriteStorm(dir, res, rows))

	back, err := ReadStorm(dir)
	require.NoError(t, err)
	assert.Equal(t, res, back)
	csv, err := os.ReadFile(filepath.Join(dir, StormSamplesFile))
	require.NoError(t, err)
	assert.Equal(t, "t_s,open,open_verified,connecting,attempts,server_conns,time_wait,listen_overflows\n0.25,,,,,0,3,0\n1.5,2000,1999,0,2040,2000,12,1\n", string(csv))
}

func TestSoakSummaryRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	finalConns := int64(3)
	sum := SoakSummary{Engine: "uring", Start: "a", End: "b", DurationS: 60, Conns: 8000, ChurnPerS: 100, IntervalS: 2,
		ServerFlags: []string{"-engine", "uring"}, ClientFlags: []string{"-churn", "100"}, IdleFDs: 35, FinalFDs: 36, FinalConns: &finalConns,
		PeakConns: 8000, RSSDrift: 0.02, SlabDrift: -0.01, Sent: 5, Echoed: 5, Churned: 40, Failures: []string{"1 leaked"}, Rule: "fds back"}
	require.NoError(t, WriteSoakSummary(dir, sum))

	back, err := ReadSoakSummary(dir)
	require.NoError(t, err)
	assert.Equal(t, sum, back)
}

// A summary.json from before the soak had engines (no engine, no
// final_conns) ran epoll, in results/soak.
func TestSoakSummaryBeforeEngines(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, SoakSummaryFile), []byte(`{"idle_fds":179,"final_fds":179,"pass":true}`), 0o644))
	back, err := ReadSoakSummary(dir)
	require.NoError(t, err)
	assert.Equal(t, "epoll", back.EngineName())
	assert.Nil(t, back.FinalConns)
	assert.Equal(t, "soak", SoakDir(back.EngineName()))
	assert.Equal(t, "uring", SoakSummary{Engine: "uring"}.EngineName())
	assert.Equal(t, "soak-uring", SoakDir("uring"))
}

// A result not written yet is os.ErrNotExist to its reader (the analysis
// says "not run yet"); a file that is not JSON is an error naming it.
func TestReadMissingOrBroken(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := ReadChaosReport(dir)
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = ReadStorm(dir)
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = ReadSoakSummary(dir)
	assert.ErrorIs(t, err, os.ErrNotExist)

	require.NoError(t, os.WriteFile(filepath.Join(dir, StormFile), []byte("{not json"), 0o644))
	_, err = ReadStorm(dir)
	require.Error(t, err)
	assert.NotErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), StormFile)
}

func TestFormatErrors(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "ECONNRESET 2, EOF 3, timeout 1", FormatErrors(map[string]int64{"EOF": 3, "timeout": 1, "ECONNRESET": 2}))
	assert.Empty(t, FormatErrors(nil))
}
