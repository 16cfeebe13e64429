package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// A completed run replaces the files it wrote and keeps the others (the
// storm's beside the suite's); an interrupted or failed one leaves the
// results as they were and its partial files in staging.
func TestStagedRunReplacesResultsOnlyWhenComplete(t *testing.T) {
	t.Parallel()
	results := filepath.Join(t.TempDir(), "results", "chaos")
	write(t, filepath.Join(results, "reap.json"), "old reap")
	write(t, filepath.Join(results, "storm-epoll.json"), "old storm")
	run := func(ctx context.Context, dir string) error {
		write(t, filepath.Join(dir, "reap.json"), "new reap")
		return nil
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := staged(ctx, results, run)
	assert.ErrorContains(t, err, "interrupted")
	assert.Equal(t, "old reap", read(t, filepath.Join(results, "reap.json")))
	assert.Equal(t, "new reap", read(t, filepath.Join(StagingFor(results), "reap.json")), "the partial run is kept")

	err = staged(context.Background(), results, func(ctx context.Context, dir string) error {
		write(t, filepath.Join(dir, "reap.json"), "half")
		return errors.New("server would not start")
	})
	assert.ErrorContains(t, err, "server would not start")
	assert.Equal(t, "old reap", read(t, filepath.Join(results, "reap.json")))

	require.NoError(t, staged(context.Background(), results, run))
	assert.Equal(t, "new reap", read(t, filepath.Join(results, "reap.json")))
	assert.Equal(t, "old storm", read(t, filepath.Join(results, "storm-epoll.json")), "another step's files stay")
	assert.NoDirExists(t, StagingFor(results))
	assert.Equal(t, filepath.Join(filepath.Dir(results), ".staging", "chaos"), StagingFor(results))
}
