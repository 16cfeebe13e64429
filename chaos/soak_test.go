package chaos

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/schema"
)

// The soak's verdict: a leaked fd, RSS or slab drifting between the hold's
// second and last quarters, a dropped connection or an unanswered echo each
// fail it, and say so.
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

	good := schema.SoakSummary{IdleFDs: 35, FinalFDs: 35, ChurnPerS: 10}
	evaluate(&good, rows(0.05), okClient, nil)
	assert.True(t, good.Pass, "%v", good.Failures)
	assert.InDelta(t, 0, good.SlabDrift, 1e-9)
	assert.Equal(t, int64(7), good.Churned)

	bad := schema.SoakSummary{IdleFDs: 35, FinalFDs: 38, ChurnPerS: 10}
	evaluate(&bad, rows(0.5), badClient, nil)
	assert.False(t, bad.Pass)
	joined := bad.Failures
	require.Len(t, joined, 5, "%v", joined)
	assert.Contains(t, joined[0], "3 leaked")
	assert.Contains(t, joined[1], "server RSS drifted +")
	assert.Contains(t, joined[2], "2 connections dropped")
	assert.Contains(t, joined[3], "1 echoes corrupted")
	assert.Contains(t, joined[4], "1 echoes unanswered")

	short := schema.SoakSummary{IdleFDs: 35, FinalFDs: 35}
	evaluate(&short, rows(0)[:5], okClient, nil)
	assert.False(t, short.Pass)
	assert.Contains(t, short.Failures[0], "too short to judge")
}
