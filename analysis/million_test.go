package analysis

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func loadExp13(t *testing.T, rows string) []Experiment {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "exp-13/meta.json"), `{"id": "exp-13", "number": 13, "title": "epoll or io_uring?", "repeats": 1,
		"env": {"cpus": 2}, "arms": [{"name": "epoll.echo-1k"}, {"name": "epoll.hold-1M-1m0s"}, {"name": "epoll.hold-1M-30s"},
		{"name": "uring.hold-1M-1m0s"}, {"name": "uring.hold-1M-30s"}]}`)
	writeFile(t, filepath.Join(dir, "exp-13/summary.csv"),
		"arm,rep,interval_s,offered_per_sec,echo_share,server_ramp_s,rtt_p99_us,timeouts,mismatched,unanswered_at_close\n"+rows)
	exps, err := Load(dir)
	require.NoError(t, err)
	return exps
}

// Per engine: the fastest fill, the fastest rate answered in full (every
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
	assert.Equal(t, "**epoll**: 1,000,000 connections held 118 s after the client started; the highest keepalive rate answered in full: "+
		"16,666/s (one every 60 s per connection), round trip p99 1.30 s; at 33,333/s (every 30 s) it answered 49%.", lines[0])
	assert.Contains(t, lines[1], "**uring**: 1,000,000 connections held 35 s after the client started; the highest keepalive rate answered in full: 33,333/s")
	assert.Contains(t, lines[1], "yet 120 keepalives were still unanswered when the client closed (the fastest tried)")
	assert.Contains(t, lines[2], "answered in full means ≥ 99%")
}

func TestAnswerMillionNothingInFull(t *testing.T) {
	t.Parallel()
	lines := answerMillion(loadExp13(t, "epoll.hold-1M-1m0s,1,60,16666,0.9,200,,10,0,0\n"))
	assert.Contains(t, lines[0], "no keepalive rate tried was answered in full: at the slowest, one every 60 s (16,666/s), 90% was answered")
	assert.Contains(t, answerMillion(nil)[0], "not measured yet (run `make exp-13`)")
}
