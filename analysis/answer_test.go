package analysis

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The million table pools an engine's hold arms (their median, not the
// fastest) and gives each peer a row from its declared roles.
func TestMillionTable(t *testing.T) {
	t.Parallel()
	exps := loadExp13(t,
		"epoll.hold-1M-1m0s,1,60,16666,1,19,1300000,0,0,0\n"+
			"epoll.hold-1M-30s,1,30,33333,0.49,26,,5000,0,0\n"+
			"uring.hold-1M-1m0s,1,60,16666,1,15,90000,0,0,0\n"+
			"uring.hold-1M-30s,1,30,33333,0.995,16,150000,0,0,0\n")
	exps = append(exps, loadExp14(t)...)
	tab, notes := millionTable(exps)
	require.Len(t, tab.Rows, 5)
	assert.Equal(t, []string{"**epoll** (experiment 13)", "22.5 s [19–26] (n=2)", "16,666/s (every 60 s, 100.0% answered); at 33,333/s 49%", "–", "–", "–", "1.30 s"}, tab.Rows[0])
	assert.Equal(t, "33,333/s (every 30 s, 99.5% answered), the fastest tried", tab.Rows[1][2])
	assert.Equal(t, []string{"**core** (experiment 14)", "17.5 s [17–18] (n=2)", "–", "16 B", "9,300 B", "15 µs", "145 ms"}, tab.Rows[2][:7])
	assert.Equal(t, "**netgo** (experiment 14) (short of the million: see its section)", tab.Rows[4][0])
	assert.Contains(t, strings.Join(notes, " "), "not the fastest run")
	assert.Contains(t, strings.Join(notes, " "), "Kernel memory counts both ends of each loopback connection")
}

func TestQ4TableAndKeepaliveClause(t *testing.T) {
	t.Parallel()
	exps := loadExp8(t, "1m0s,1,1000000,60,16666,16600,1.2,0.3,0.5,0.4\n"+
		"1s,1,1000000,1,1000000,25000,1.97,0.6,0.7,0.6\n")
	tab, _ := q4Table(exps)
	require.Len(t, tab.Rows, 2)
	assert.Equal(t, []string{"60 s", "1,000,000", "16,666", "16,600 (100%)", "1.20 of 2 cores", "–", "25.4 Mbit/s, 33,200 packets/s (2.5%, 2.2%)"}, tab.Rows[0])
	assert.Equal(t, "**1.97 of 2 cores** (saturated)", tab.Rows[1][4])
	assert.Equal(t, "at one keepalive every 60 s per connection (16,666/s), 99.6% answered with 1.20 of 2 cores busy, while a wire would carry them in 2.5% of a 1 GbE card; "+
		"at one every 1 s, 2% were answered with the 2 cores saturated: the CPU runs out long before the network card", keepaliveClause(&exps[0]))
}

// The paragraph's numbers come from the results: the limits that bind,
// the kernel memory over the capacity arms, the cheapest and dearest
// server, the keepalives, the fill times.
func TestAnswerParagraph(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	results := filepath.Join(root, "results")
	require.NoError(t, os.CopyFS(results, os.DirFS("testdata/results")))
	writeFile(t, filepath.Join(results, "limits/limits.json"), `{"time": "t", "kernel": "6.18.0", "report": {"target": 1000000, "rows": [
		{"name": "RLIMIT_NOFILE hard", "value": "20,000", "allows": 19872, "kind": "per-process", "binds": true, "lift": "cannot be lifted; way around: several fd tables"},
		{"name": "net.core.somaxconn", "value": "4,096", "allows": -1, "kind": "ramp", "binds": true, "lift": "sysctl -w net.core.somaxconn=65535"},
		{"name": "fs.file-max", "value": "2,466,160", "allows": 1232914, "kind": "count", "binds": false, "lift": "not needed"}]}}`)
	exps, err := Load(results)
	require.NoError(t, err)
	p := answerParagraph(results, exps)
	assert.Contains(t, p, "**In short:** on this machine (Test CPU @ 2.0GHz × 2 CPUs, ")
	assert.Contains(t, p, "one Linux server held 1,000 concurrent TCP connections")
	assert.Contains(t, p, "(1) getting around RLIMIT_NOFILE hard = 20,000 (19,872 connections a process) with several fd tables, and raising 1 kernel settings (net.core.somaxconn)")
	assert.Contains(t, p, "(2) 4,700–4,912 B of kernel memory per connection, counting both ends of each loopback connection")
	assert.NotContains(t, p, "(3)", "no server user memory measured in the test data")

	tab, _ := q1Table(results, exps)
	require.Len(t, tab.Rows, 3, "the two limits that bind, then the ephemeral ports")
	assert.Equal(t, "28,232", tab.Rows[2][2])
}

// The summary opens with the answer and stays short: the long lists are
// the questions' own sections, after the experiments.
func TestSummaryIsShort(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	results := filepath.Join(root, "results")
	require.NoError(t, os.CopyFS(results, os.DirFS("testdata/results")))
	out := filepath.Join(root, "REPORT.md")
	require.NoError(t, WriteReportWith(results, out, Options{Changed: noChanges}))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	summary, rest, ok := strings.Cut(string(b), "\n## Experiment ")
	require.True(t, ok)
	assert.LessOrEqual(t, strings.Count(summary, "\n"), 120)
	_, afterHeading, _ := strings.Cut(summary, "## Summary\n\n")
	assert.True(t, strings.HasPrefix(afterHeading, "**In short:**"), "the summary opens with the answer")
	assert.NotContains(t, summary, "Every limit on concurrent connections")
	for _, h := range []string{q1Heading, q2Heading, q3Heading, q4Heading, millionHeading} {
		assert.Contains(t, summary, "(#"+anchor(h)+")", "the summary links to %q", h)
		assert.Contains(t, rest, "\n## "+h+"\n", "the section %q follows the experiments", h)
	}
}
