package analysis

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/schema"
)

// stepsResults writes a results directory with every kind of step: two
// experiments (numbered out of order, one quick), the chaos suite and a
// storm, the vanish-scale run, a soak on one engine and the limits.
func stepsResults(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "exp-10/meta.json"), `{"id": "exp-10", "number": 10, "scale": "full", "repeats": 1,
		"arms": [{"name": "a"}, {"name": "b"}], "start": "2026-11-29T02:45:30Z", "end": "2026-11-29T02:49:55Z",
		"env": {"cpu_model": "Xeon", "cpus": 2, "mem_bytes": 25769803776}}`)
	writeFile(t, filepath.Join(dir, "exp-10/samples-a-r1.csv"),
		"t_s,conns_server,slab_bytes,tcp_mem_bytes,server_pss,client_pss\n"+
			"0,0,1000,0,10,10\n"+
			"1,1000000,8000000000,1000000000,,500000000\n"+ // the peak: an empty cell counts as 0
			"2,10,2000,0,10,10\n")
	writeFile(t, filepath.Join(dir, "exp-2/meta.json"), `{"id": "exp-2", "number": 2, "scale": "quick", "repeats": 3,
		"arms": [{"name": "pipe"}], "start": "2026-11-25T18:44:48Z", "end": "2026-11-25T18:45:03Z",
		"env": {"cpu_model": "EPYC", "cpus": 2}}`)
	writeFile(t, filepath.Join(dir, "chaos/chaos.json"), `{"start": "2026-12-07T03:37:02Z", "end": "2026-12-07T03:38:48Z",
		"scale": {"Population": 2000}, "population": {"env": {"cpu_model": "EPYC", "cpus": 2}}}`)
	writeFile(t, filepath.Join(dir, "chaos/chaos-uring.json"), `{"start": "2026-12-07T03:38:48Z", "end": "2026-12-07T03:40:25Z",
		"engine": "uring", "scale": {"Population": 2000}, "population": {"env": {"cpu_model": "EPYC", "cpus": 2}}}`)
	writeFile(t, filepath.Join(dir, "chaos/storm-uring.json"), `{"start": "2026-12-07T03:33:53Z", "end": "2026-12-07T03:36:56Z",
		"engine": "uring", "scale": {"conns": 1000000}}`)
	writeFile(t, filepath.Join(dir, "chaos/reap.json"), `{"start": "2026-12-07T03:40:25Z", "end": "2026-12-07T03:52:05Z",
		"scale": {"vanish": 100000, "live": 5000}, "arms": [{"name": "epoll-idle-timeout"}]}`)
	writeFile(t, filepath.Join(dir, "chaos/reap-epoll-idle-timeout-live.json"), `{"env": {"cpu_model": "EPYC", "cpus": 2}}`)
	writeFile(t, filepath.Join(dir, "soak/summary.json"), `{"start": "2026-12-07T03:52:08Z", "end": "2026-12-07T03:57:17Z", "conns": 100000}`)
	writeFile(t, filepath.Join(dir, "soak/client.json"), `{"env": {"cpu_model": "EPYC", "cpus": 2}}`)
	writeFile(t, filepath.Join(dir, "limits/limits.json"), `{"time": "2026-11-26T01:50:03Z", "kernel": "6.18.0"}`)
	return dir
}

func TestCommittedSteps(t *testing.T) {
	t.Parallel()
	steps, err := CommittedSteps(stepsResults(t))
	require.NoError(t, err)
	var names []string
	for _, s := range steps {
		names = append(names, s.Name)
	}
	assert.Equal(t, []string{"exp-2", "exp-10", "chaos", "vanish-scale", "soak", "limits"}, names, "make reproduce's order")

	exp2, exp10, chaos, reap, soak, limits := steps[0], steps[1], steps[2], steps[3], steps[4], steps[5]
	assert.True(t, exp2.Quick)
	assert.Equal(t, "1 arm × 3 repeats", exp2.Runs)
	assert.Equal(t, 15*time.Second, exp2.Wall)

	assert.Equal(t, "make exp-10", exp10.Command)
	assert.Equal(t, 4*time.Minute+25*time.Second, exp10.Wall)
	assert.Equal(t, "2026-11-29", exp10.Date)
	assert.Equal(t, []string{"Xeon × 2"}, exp10.Processors)
	assert.Equal(t, 1e6, exp10.Conns)
	assert.Equal(t, 9.5e9, exp10.PeakMemBytes, "slab + socket buffers + PSS of the one sample with the most")

	assert.Equal(t, 106*time.Second+97*time.Second+183*time.Second, chaos.Wall, "the suites' and the storm's spans, summed")
	assert.Equal(t, "hostile-client suite on epoll, uring; reconnect storm on uring", chaos.Runs)
	assert.Equal(t, 1e6, chaos.Conns)
	assert.Equal(t, "2026-12-07", chaos.Date)
	assert.Equal(t, []string{"EPYC × 2"}, chaos.Processors, "from the suites' populations, once")

	assert.Equal(t, 105000.0, reap.Conns)
	assert.Equal(t, []string{"EPYC × 2"}, reap.Processors, "from the live clients' results")
	assert.Equal(t, "on epoll", soak.Runs)
	assert.Equal(t, []string{"EPYC × 2"}, soak.Processors)

	assert.Zero(t, limits.Wall, "limits records no duration")
	assert.Equal(t, "2026-11-26", limits.Date)
	assert.Empty(t, limits.Processors)
}

func TestCommittedStepsEmpty(t *testing.T) {
	t.Parallel()
	steps, err := CommittedSteps(filepath.Join(t.TempDir(), "none"))
	require.NoError(t, err)
	assert.Empty(t, steps)
}

func TestDurationsMarkdown(t *testing.T) {
	t.Parallel()
	steps, err := CommittedSteps(stepsResults(t))
	require.NoError(t, err)
	md := DurationsMarkdown(steps)
	again, err := CommittedSteps(stepsResults(t))
	require.NoError(t, err)
	assert.Equal(t, md, DurationsMarkdown(again), "deterministic")

	assertHas(t, md, "| `make exp-10` | 2 arms × 1 repeat | 1,000,000 | 8.85 GiB | 4.4 min | Xeon × 2 | 2026-11-29 |")
	assertHas(t, md, "| `make exp-2` | 1 arm × 3 repeats (quick) | – | – | 15 s | EPYC × 2 | 2026-11-25 |")
	assertHas(t, md, "| `make limits` | the OS limits for 1,000,000 connections | – | – | not recorded | not recorded | 2026-11-26 |")
	assertHas(t, md, "| **total** |  |  |  | **27.9 min** |  |  |")
	assertHas(t, md, "A step marked (quick)")
	assertHas(t, md, "At 1,000,000 connections exp-10 peaked at 8.85 GiB of memory, on a machine of 24 GiB.")
}

func TestWallText(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                           "not recorded",
		44*time.Second + 600e6:      "45 s",
		3*time.Minute + 30e9:        "3.5 min",
		2*time.Hour + 4*time.Minute: "2 h 04 min",
		3*time.Hour + 1*time.Minute + 40*time.Second: "3 h 02 min",
	} {
		assert.Equal(t, want, wallText(d), d.String())
	}
}

func TestReplaceMarked(t *testing.T) {
	t.Parallel()
	doc := "# title\n\nbefore\n<!-- b -->\nold\ntable\n<!-- e -->\nafter\n"
	out, err := ReplaceMarked(doc, "<!-- b -->", "<!-- e -->", "new")
	require.NoError(t, err)
	assert.Equal(t, "# title\n\nbefore\n<!-- b -->\nnew\n<!-- e -->\nafter\n", out, "only what lies between the markers changes")
	again, err := ReplaceMarked(out, "<!-- b -->", "<!-- e -->", "new\n")
	require.NoError(t, err)
	assert.Equal(t, out, again, "idempotent")

	for name, bad := range map[string]string{
		"missing":  "# title\n",
		"only one": "<!-- b -->\n",
		"twice":    "<!-- b -->\n<!-- e -->\n<!-- b -->\n",
		"swapped":  "<!-- e -->\n<!-- b -->\n",
	} {
		_, err := ReplaceMarked(bad, "<!-- b -->", "<!-- e -->", "new")
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "<!-- b -->", name)
	}
}

func TestWriteREADMEDurations(t *testing.T) {
	t.Parallel()
	results := stepsResults(t)
	readme := filepath.Join(t.TempDir(), "README.md")
	writeFile(t, readme, "# c1m\n\n"+DurationsBegin+"\nstale\n"+DurationsEnd+"\n\nthe rest\n")
	require.NoError(t, WriteREADMEDurations(results, readme))
	b, err := os.ReadFile(readme)
	require.NoError(t, err)
	doc := string(b)
	assert.True(t, strings.HasPrefix(doc, "# c1m\n\n"+DurationsBegin+"\n| step |"), doc)
	assert.True(t, strings.HasSuffix(doc, "\n"+DurationsEnd+"\n\nthe rest\n"), doc)
	assert.NotContains(t, doc, "stale")
	assertHas(t, doc, "`make exp-10`")

	require.NoError(t, WriteREADMEDurations(results, readme))
	b2, err := os.ReadFile(readme)
	require.NoError(t, err)
	assert.Equal(t, doc, string(b2), "a second run changes nothing")

	unmarked := filepath.Join(t.TempDir(), "README.md")
	writeFile(t, unmarked, "# no markers\n")
	err = WriteREADMEDurations(results, unmarked)
	require.Error(t, err)
	assert.Contains(t, err.Error(), DurationsBegin, "names the markers to add")
	b3, err := os.ReadFile(unmarked)
	require.NoError(t, err)
	assert.Equal(t, "# no markers\n", string(b3), "left alone")
}

// An experiment whose headline arms repeat more often than the rest says
// how many runs it made, not arms × the experiment's repeats.
func TestRunsOfCountsPerArmRepeats(t *testing.T) {
	t.Parallel()
	twoArms := []schema.Arm{{Name: "a"}, {Name: "b"}}
	assert.Equal(t, "2 arms × 3 repeats", runsOf(Meta{Arms: twoArms, Repeats: 3}))
	headline := []schema.Arm{{Name: "a", Repeats: 3}, {Name: "b"}}
	assert.Equal(t, "2 arms × 3 repeats", runsOf(Meta{Arms: headline, Repeats: 3}), "arm a's repeats are no more than the experiment's")
	assert.Equal(t, "2 arms, 4 runs", runsOf(Meta{Arms: headline, Repeats: 1}), "arm a ran three times")
}
