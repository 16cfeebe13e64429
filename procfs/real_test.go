package procfs

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRealRoot reads (never writes) the running system, to catch format
// drift the captured samples would miss.
func TestRealRoot(t *testing.T) {
	t.Parallel()
	fs := New("")
	pid := os.Getpid()

	m, err := fs.Meminfo()
	require.NoError(t, err)
	assert.Positive(t, m["MemTotal"])
	assert.Positive(t, m["Slab"])

	_, err = fs.Sockstat()
	require.NoError(t, err)

	mem, err := fs.ProcMem(pid)
	require.NoError(t, err)
	assert.Positive(t, mem.Rss)

	_, _, err = fs.ProcCPU(pid)
	require.NoError(t, err)

	n, err := fs.FDCount(pid)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 3)
	n, err = fs.TaskFDCount(pid, pid)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 3)

	limits, err := fs.Limits(pid)
	require.NoError(t, err)
	var rl syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl))
	assert.Equal(t, rl.Max, limits["Max open files"].Hard)

	lo, hi, err := fs.PortRange()
	require.NoError(t, err)
	assert.Less(t, lo, hi)
	_, err = fs.ReservedPorts()
	require.NoError(t, err)

	if slabs, err := fs.Slabinfo(); errors.Is(err, os.ErrPermission) {
		t.Log("slabinfo needs root; skipped")
	} else {
		require.NoError(t, err)
		assert.NotEmpty(t, slabs)
	}
	if size, err := fs.SlabObjectSize("TCP"); errors.Is(err, os.ErrNotExist) {
		t.Log("no /sys/kernel/slab; skipped")
	} else {
		require.NoError(t, err)
		assert.Positive(t, size)
	}

	child := exec.Command("sleep", "10")
	require.NoError(t, child.Start())
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	descendants, err := fs.Descendants(pid)
	require.NoError(t, err)
	assert.Contains(t, descendants, child.Process.Pid)
}
