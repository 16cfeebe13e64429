package chaos

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/schema"
)

// The soak's verdict: a leaked fd, a connection the server still holds
// after the close, RSS or slab drifting between the hold's second and last
// quarters, a dropped connection or an unanswered echo each fail it, and
// say so.
func TestSoakEvaluate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	okClient := filepath.Join(dir, "ok.json")
	require.NoError(t, os.WriteFile(okClient, []byte(`{"sent":100,"echoed":100,"churned":7,"dropped":{},"in_flight_at_close":0,"ended":"hold done"}`), 0o644))
	badClient := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(badClient, []byte(`{"sent":100,"echoed":97,"mismatched":1,"churned":7,"dropped":{"EOF":2},"in_flight_at_close":1}`), 0o644))
	// t_s, phase, server_fds, server_rss, slab_bytes, conns, tcp_inuse, tcp_tw
	rows := func(rssGrowth float64) [][]float64 {
		out := [][]float64{{0, 0, 35, 1e6, 1e8, 0, 0, 0}}
		for i := range 16 {
			out = append(out, []float64{float64(i + 1), 1, 1035, 2e6 * (1 + rssGrowth*float64(i)/15), 2e8, 1000, 1001, 5})
		}
		return append(out, []float64{17, 2, 35, 2e6, 1e8, 0, 0, 9})
	}

	zero, two := int64(0), int64(2)
	good := schema.SoakSummary{Engine: "epoll", IdleFDs: 35, FinalFDs: 35, FinalConns: &zero, ChurnPerS: 10}
	evaluate(&good, rows(0.05), okClient, nil)
	assert.True(t, good.Pass, "%v", good.Failures)
	assert.InDelta(t, 0, good.SlabDrift, 1e-9)
	assert.Equal(t, int64(7), good.Churned)

	bad := schema.SoakSummary{Engine: "epoll", IdleFDs: 35, FinalFDs: 38, FinalConns: &two, ChurnPerS: 10}
	evaluate(&bad, rows(0.5), badClient, nil)
	assert.False(t, bad.Pass)
	joined := bad.Failures
	require.Len(t, joined, 6, "%v", joined)
	assert.Contains(t, joined[0], "3 leaked")
	assert.Contains(t, joined[1], "still held 2 connections")
	assert.Contains(t, joined[2], "server RSS drifted +")
	assert.Contains(t, joined[3], "2 connections dropped")
	assert.Contains(t, joined[4], "1 echoes corrupted")
	assert.Contains(t, joined[5], "1 echoes unanswered")

	short := schema.SoakSummary{IdleFDs: 35, FinalFDs: 35, FinalConns: &zero}
	evaluate(&short, rows(0)[:5], okClient, nil)
	assert.False(t, short.Pass)
	assert.Contains(t, short.Failures[0], "too short to judge")
}

// On uring the sockets are in the rings' registered-file tables, so the
// server's fds stay at the idle count with connections held: the rule
// still fails the soak when /stats says connections outlived the close,
// when /stats did not answer, and when an fd (a listener, a ring, an
// eventfd) leaked.
func TestSoakEvaluateUring(t *testing.T) {
	t.Parallel()
	okClient := filepath.Join(t.TempDir(), "ok.json")
	require.NoError(t, os.WriteFile(okClient, []byte(`{"sent":100,"echoed":100,"churned":7,"dropped":{},"in_flight_at_close":0,"ended":"hold done"}`), 0o644))
	// t_s, phase, server_fds, server_rss, slab_bytes, conns, tcp_inuse, tcp_tw:
	// the fds are 12 throughout, 1000 connections held or not.
	rows := [][]float64{{0, 0, 12, 1e6, 1e8, 0, 0, 0}}
	for i := range 16 {
		rows = append(rows, []float64{float64(i + 1), 1, 12, 2e6, 2e8, 1000, 1001, 5})
	}
	rows = append(rows, []float64{17, 2, 12, 2e6, 1e8, 5, 5, 9})
	conns := func(n int64) *int64 { return &n }

	for _, c := range []struct {
		name       string
		finalFDs   int
		finalConns *int64
		want       string
	}{
		{"conns back to 0", 12, conns(0), ""},
		{"conns not back to 0", 12, conns(5), "the server still held 5 connections after the client closed"},
		{"stats silent", 12, conns(-1), "the server's /stats did not answer after the close"},
		{"fds leaked", 14, conns(0), "server fds 14 after the close, 12 when idle: 2 leaked"},
	} {
		sum := schema.SoakSummary{Engine: "uring", IdleFDs: 12, FinalFDs: c.finalFDs, FinalConns: c.finalConns, ChurnPerS: 10}
		evaluate(&sum, rows, okClient, nil)
		if c.want == "" {
			assert.True(t, sum.Pass, "%s: %v", c.name, sum.Failures)
			continue
		}
		assert.False(t, sum.Pass, c.name)
		require.Len(t, sum.Failures, 1, "%s: %v", c.name, sum.Failures)
		assert.Contains(t, sum.Failures[0], c.want, c.name)
	}
}

// A soak names its engine: one it does not know is an error before
// anything starts.
func TestRunSoakUnknownEngine(t *testing.T) {
	t.Parallel()
	_, err := RunSoak(t.Context(), SoakOptions{Engine: "kqueue", Results: t.TempDir()})
	require.ErrorContains(t, err, `soak engine "kqueue": want epoll or uring`)
}
