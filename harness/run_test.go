package harness

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/schema"
)

// lab takes the lab lock for a test that runs an experiment, or skips it
// while a real run holds the lock (the test would spoil its numbers).
func lab(t *testing.T) {
	unlock, err := LockLab()
	if err != nil {
		t.Skipf("a lab run holds the lock: %v", err)
	}
	unlock() // Run takes it again
}

func tinyExperiment() Experiment {
	return Experiment{Number: 99, Title: "tiny", Metrics: Metrics("echo_per_sec", "mismatched"),
		Arms: func(Scale) []Arm {
			return []Arm{{Name: "one", Server: []string{"-workers", "1"},
				Client: []string{"-conns", "20", "-interval", "100ms", "-hold", "1s"}}}
		}}
}

func readMeta(t *testing.T, dir string) schema.Meta {
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	require.NoError(t, err)
	var m schema.Meta
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// An interrupted run leaves the committed results as they were; a
// completed one replaces them whole, with the run's time and provenance.
func TestRunReplacesResultsOnlyWhenComplete(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server and the client")
	}
	lab(t)
	bin := t.TempDir()
	for _, name := range []string{"c1m-server", "c1m-client"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), "c1m/cmd/"+name).CombinedOutput()
		require.NoError(t, err, "building %s: %s", name, out)
	}
	results := t.TempDir()
	committed := filepath.Join(results, "exp-99")
	require.NoError(t, os.MkdirAll(committed, 0o755))
	old := []byte(`{"scale":"quick","start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:01:00Z","arms":[{"name":"one"}],"repeats":1}`)
	require.NoError(t, os.WriteFile(filepath.Join(committed, "meta.json"), old, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(committed, "from-the-old-run"), nil, 0o644))
	o := Options{Scale: Scale{Name: "quick", Quick: true}, Results: results, Bin: bin, Interval: 200e6, Root: "/"}

	interrupted, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, Run(interrupted, tinyExperiment(), o))
	got, err := os.ReadFile(filepath.Join(committed, "meta.json"))
	require.NoError(t, err)
	assert.Equal(t, old, got, "an interrupted run left the committed results alone")
	partial := readMeta(t, filepath.Join(results, StagingDir, "exp-99"))
	assert.Contains(t, partial.Notes[len(partial.Notes)-1], "interrupted after 0 of 1 runs")

	require.NoError(t, Run(context.Background(), tinyExperiment(), o))
	assert.NoFileExists(t, filepath.Join(committed, "from-the-old-run"), "the new run replaced the old one whole")
	assert.NoDirExists(t, filepath.Join(results, StagingDir, "exp-99"))
	m := readMeta(t, committed)
	require.Len(t, m.Runs, 1)
	assert.Equal(t, "one", m.Runs[0].Arm)
	assert.Positive(t, m.Runs[0].Seconds)
	assert.NotEmpty(t, m.Env.GitCommit)
	assert.NotEmpty(t, m.Env.GitHead)
	assert.FileExists(t, filepath.Join(committed, "summary.csv"))
}

func TestProgressExpectsTheCommittedRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	meta := `{"scale":"full","start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:10:00Z","arms":[{"name":"a"},{"name":"b"}],"repeats":2,
		"runs":[{"arm":"a","rep":1,"seconds":200}]}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "meta.json"), []byte(meta), 0o644))
	x := expectFrom(dir, "full")
	assert.Equal(t, 600.0, x.total.Seconds())
	assert.Equal(t, 200.0, x.ofRun("a", 1).Seconds(), "a timed run")
	assert.Equal(t, 150.0, x.ofRun("b", 2).Seconds(), "untimed: the total over the runs")
	assert.Zero(t, expectFrom(dir, "quick").total, "a quick run does not expect a full run's time")
	assert.Zero(t, expectFrom(t.TempDir(), "full").total, "no committed run")
}

func TestPhaseFollowsTheClientsTarget(t *testing.T) {
	t.Parallel()
	target := connsTarget([]string{"-interval", "30s", "-conns", "1000000"})
	assert.Equal(t, 1e6, target)
	assert.Equal(t, 5e3, connsTarget([]string{"-conns=5000"}))
	assert.Zero(t, connsTarget([]string{"-interval", "30s"}))
	assert.Equal(t, phaseRamp, phaseOf(500_000, target))
	assert.Equal(t, phaseHold, phaseOf(999_999, target))
	assert.Equal(t, phaseLoad, phaseOf(10, 0))
}

func TestScheduleRepeatsHeadlineArmsInLaterRounds(t *testing.T) {
	t.Parallel()
	arms := []Arm{{Name: "a"}, {Name: "headline", Repeats: 3}, {Name: "b"}}
	var got []string
	for _, r := range schedule(arms, 1) {
		got = append(got, r.arm.Name+"#"+strconv.Itoa(r.rep))
	}
	assert.Equal(t, []string{"a#1", "headline#1", "b#1", "headline#2", "headline#3"}, got)
	assert.Len(t, schedule(arms, 2), 7, "the experiment's repeats hold for every arm; the headline arm's 3 is its own")
}
