package analysis

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadExp8 loads an experiment 8 with the given summary rows.
func loadExp8(t *testing.T, rows string) []Experiment {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "exp-8/meta.json"), `{"id": "exp-8", "number": 8, "title": "Keepalive interval", "repeats": 1, "feeds": ["keepalive-cost"],
		"env": {"cpus": 2}, "arms": [{"name": "1m0s"}, {"name": "1s"}, {"name": "10s"}]}`)
	writeFile(t, filepath.Join(dir, "exp-8/summary.csv"),
		"arm,rep,established,interval_s,offered_per_sec,echo_per_sec,host_busy_cores,host_softirq_cores,server_cpu_cores,client_cpu_cores\n"+rows)
	exps, err := Load(dir)
	require.NoError(t, err)
	return exps
}

func TestFirstToRunOutNamesTheSaturatedCPU(t *testing.T) {
	t.Parallel()
	lines := firstToRunOut(loadExp8(t,
		"1m0s,1,1000000,60,16666,16600,1.2,0.3,0.5,0.4\n"+
			"1s,1,1000000,1,1000000,25000,1.97,0.6,0.7,0.6\n"+
			"10s,1,600000,10,60000,,,,,\n"))
	require.Len(t, lines, 5)
	assert.Equal(t, "Experiment 8, keepalive every 60 s at 1,000,000 connections: asked for 16,666 keepalives/s, answered 16,600 (100%); "+
		"CPU: the machine busy 1.20 of 2 cores (server 0.50, client 0.40, softirqs 0.30); "+
		"on a wire that rate needs 25.4 Mbit/s and 33,200 packets/s (2.5% and 2.2% of 1 GbE).", lines[0])
	assert.Contains(t, lines[1], "answered 25,000 (2%); CPU: the machine busy 1.97 of 2 cores (server 0.70, client 0.60, softirqs 0.60) (saturated)")
	assert.Equal(t, "Experiment 8, keepalive every 10 s: the ramp never finished (600,000 connections established), so there is no steady state to report.", lines[2])
	assert.Contains(t, lines[3], "So on this machine the CPU runs out first: in 1 of 2 intervals the 2 cores were saturated")
}

func TestFirstToRunOutWhenTheCPUDoesNotExplainIt(t *testing.T) {
	t.Parallel()
	lines := firstToRunOut(loadExp8(t, "1s,1,1000000,1,1000000,25000,1.1,0.2,0.5,0.4\n"))
	assert.Contains(t, lines[1], "In 1 of 1 intervals keepalives went unanswered, but the CPU was saturated in only 0 of them")

	lines = firstToRunOut(loadExp8(t, "1m0s,1,1000000,60,16666,16600,1.2,0.3,0.5,0.4\n"))
	assert.Contains(t, lines[1], "Nothing ran out on this machine in these intervals: the CPU was at most 1.20 of 2 cores busy")
}
