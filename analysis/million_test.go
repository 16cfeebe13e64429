package analysis

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// holdArm is a meta.json arm that declares it holds 1M on engine.
func holdArm(name, engine string) string {
	return `{"name": "` + name + `", "role": {"engine": "` + engine + `", "workload": "hold"}}`
}

func loadExp13(t *testing.T, rows string) []Experiment {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "exp-13/meta.json"), `{"id": "exp-13", "number": 13, "title": "epoll or io_uring?", "repeats": 1,
		"feeds": ["engines-at-million"], "env": {"cpus": 2}, "arms": [{"name": "epoll.echo-1k"}, `+
		holdArm("epoll.hold-1M-1m0s", "epoll")+`, `+holdArm("epoll.hold-1M-30s", "epoll")+`, `+
		holdArm("uring.hold-1M-1m0s", "uring")+`, `+holdArm("uring.hold-1M-30s", "uring")+`]}`)
	writeFile(t, filepath.Join(dir, "exp-13/summary.csv"),
		"arm,rep,interval_s,offered_per_sec,echo_share,server_ramp_s,rtt_p99_us,timeouts,mismatched,unanswered_at_close\n"+rows)
	exps, err := Load(dir)
	require.NoError(t, err)
	return exps
}

// Per engine: the median fill over its hold arms (not the fastest), the fastest rate answered in full (every
// keepalive, no time-out), and what the next faster rate got.
func TestAnswerMillion(t *testing.T) {
	t.Parallel()
	lines := answerMillion(loadExp13(t,
		"epoll.echo-1k,1,,,,,,0,0,0\n"+
			"epoll.hold-1M-1m0s,1,60,16666,0.998,120.5,1300000,0,0,0\n"+
			"epoll.hold-1M-30s,1,30,33333,0.49,118,,5000,0,0\n"+
			"uring.hold-1M-1m0s,1,60,16666,1,35,90000,0,0,3\n"+
			"uring.hold-1M-30s,1,30,33333,0.995,36,150000,0,0,120\n"))
	require.Len(t, lines, 3)
	assert.Equal(t, "**epoll**: 1,000,000 connections held 119 s [118–121] (n=2) after the client started (median over its hold arms' runs); the highest keepalive rate answered in full: "+
		"16,666/s (one every 60 s per connection), round trip p99 1.30 s; at 33,333/s (every 30 s) it answered 49%.", lines[0])
	assert.Contains(t, lines[1], "**uring**: 1,000,000 connections held 35.5 s [35–36] (n=2) after the client started (median over its hold arms' runs); the highest keepalive rate answered in full: 33,333/s")
	assert.Contains(t, lines[1], "yet 120 keepalives were still unanswered when the client closed (the fastest tried)")
	assert.Contains(t, lines[2], "answered in full means ≥ 99%")
}

func TestAnswerMillionNothingInFull(t *testing.T) {
	t.Parallel()
	lines := answerMillion(loadExp13(t, "epoll.hold-1M-1m0s,1,60,16666,0.9,200,,10,0,0\n"))
	assert.Contains(t, lines[0], "no keepalive rate tried was answered in full: at the slowest, one every 60 s (16,666/s), 90% was answered")
	assert.Contains(t, answerMillion(nil)[0], `not measured yet (no experiment in the results declares that it feeds "engines-at-million")`)
}

// The summary follows what meta.json declares: an experiment's number and
// its arms' names say nothing.
func TestAnswerMillionReadsDeclarations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rows := "arm,rep,interval_s,offered_per_sec,echo_share,server_ramp_s,timeouts,mismatched\n" +
		"first,1,60,16666,1,20,0,0\nsecond,1,60,16666,1,40,0,0\n"
	writeFile(t, filepath.Join(dir, "exp-13/meta.json"), `{"id": "exp-13", "number": 13, "title": "undeclared", "arms": [{"name": "epoll.hold-1M-1m0s"}]}`)
	writeFile(t, filepath.Join(dir, "exp-13/summary.csv"), "arm,rep,interval_s,offered_per_sec,echo_share\nepoll.hold-1M-1m0s,1,60,16666,1\n")
	writeFile(t, filepath.Join(dir, "exp-50/meta.json"), `{"id": "exp-50", "number": 50, "title": "declared", "repeats": 1,
		"feeds": ["engines-at-million"], "arms": [`+holdArm("first", "alpha")+`, `+holdArm("second", "beta")+`]}`)
	writeFile(t, filepath.Join(dir, "exp-50/summary.csv"), rows)
	exps, err := Load(dir)
	require.NoError(t, err)
	lines := answerMillion(exps)
	require.Len(t, lines, 3)
	assert.Contains(t, lines[0], "**alpha**: 1,000,000 connections held 20 s (n=1)")
	assert.Contains(t, lines[1], "**beta**: 1,000,000 connections held 40 s (n=1)")
	assert.Contains(t, lines[2], "From [Experiment 50: declared](#experiment-50-declared)")
}
