package analysis

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLimitsAnswer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	lines, tab, _, err := limitsAnswer(dir, newStaleness(noChanges))
	require.NoError(t, err)
	assert.Equal(t, []string{"The table of every limit on this machine: not measured yet (run `make limits`)."}, lines)
	assert.Empty(t, tab.Rows)

	writeFile(t, filepath.Join(dir, "limits/limits.json"), `{"time": "2026-11-25T20:00:00Z", "kernel": "6.18.0", "report": {"target": 1000000,
		"rows": [{"name": "RLIMIT_NOFILE hard", "value": "20,000", "allows": 19872, "kind": "per-process", "binds": true, "lift": "cannot be lifted"},
		         {"name": "net.core.somaxconn", "value": "4,096", "allows": -1, "kind": "ramp", "binds": false, "lift": "sysctl -w net.core.somaxconn=65535"}],
		"summary": ["Largest connection count this machine can reach: 1,232,608 (bound by fs.file-max)."]}}`)
	lines, tab, prov, err := limitsAnswer(dir, newStaleness(noChanges))
	require.NoError(t, err)
	assert.Equal(t, "`make limits` (results/limits/limits.json, 2026-11-25T20:00:00Z, kernel 6.18.0) for a target of 1,000,000 connections:", lines[0])
	assert.Equal(t, "Largest connection count this machine can reach: 1,232,608 (bound by fs.file-max).", lines[1])
	require.Len(t, tab.Rows, 2)
	assert.Equal(t, []string{"RLIMIT_NOFILE hard", "20,000", "19,872", "per-process", "**yes**", "cannot be lifted"}, tab.Rows[0])
	assert.Equal(t, "–", tab.Rows[1][2], "a ramp limit allows no count")
	assert.Equal(t, "**Provenance unknown:** the run recorded no commit or machine (it predates provenance); started 2026-11-25T20:00:00Z.", prov.Line)

	writeFile(t, filepath.Join(dir, "limits/limits.json"), `{`)
	_, _, _, err = limitsAnswer(dir, newStaleness(noChanges))
	assert.ErrorContains(t, err, "limits.json")
}
