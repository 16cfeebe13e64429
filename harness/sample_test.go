package harness

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/procfs"
)

// fakeProcess writes what the sampler reads of one process under root.
func fakeProcess(t *testing.T, root string, pid int, children string, pssKB, cpuTicks int) {
	t.Helper()
	dir := filepath.Join(root, "proc", strconv.Itoa(pid))
	p := strconv.Itoa(pid)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "task", p), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "task", p, "children"), []byte(children), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "task", p, "status"), // as many voluntary switches as CPU ticks, one forced
		[]byte("voluntary_ctxt_switches:\t"+strconv.Itoa(cpuTicks)+"\nnonvoluntary_ctxt_switches:\t1\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "smaps_rollup"),
		[]byte("Rss: "+strconv.Itoa(2*pssKB)+" kB\nPss: "+strconv.Itoa(pssKB)+" kB\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stat"),
		[]byte(p+" (x) S 1 1 1 0 -1 0 0 0 0 0 "+strconv.Itoa(cpuTicks)+" 0 0 0 20 0 1 0\n"), 0o644))
}

// The sampler sums a process tree, keeps the listing between samples, and
// lists again once a process of it is gone.
func TestSamplerTree(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	fakeProcess(t, root, 10, "11 12", 100, 100)
	fakeProcess(t, root, 11, "", 10, 50)
	fakeProcess(t, root, 12, "", 10, 50)
	s := &sampler{fs: procfs.New(root)}

	u := s.tree(10)
	assert.Equal(t, 120.0*1024, u.pss)
	assert.InDelta(t, 2.0, u.user+u.sys, 1e-9)
	assert.Equal(t, 203.0, u.switches, "every thread of every process: 101 + 51 + 51")
	assert.Equal(t, 3.0, u.threads)

	// A child forked since the listing is not seen until it is stale...
	fakeProcess(t, root, 13, "", 10, 50)
	require.NoError(t, os.WriteFile(filepath.Join(root, "proc/10/task/10/children"), []byte("11 12 13"), 0o644))
	assert.Equal(t, 120.0*1024, s.tree(10).pss, "the listing is kept")
	// ... or one of the listed is gone.
	require.NoError(t, os.RemoveAll(filepath.Join(root, "proc/12")))
	require.NoError(t, os.WriteFile(filepath.Join(root, "proc/10/task/10/children"), []byte("11 13"), 0o644))
	assert.Equal(t, 110.0*1024, s.tree(10).pss, "12 is gone; 13 is not listed yet")
	u = s.tree(10)
	assert.Equal(t, 120.0*1024, u.pss, "listed again: 10, 11 and 13")
	assert.InDelta(t, 2.0, u.user+u.sys, 1e-9)
}
