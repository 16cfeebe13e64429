package procfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeRoot builds a tree of files (path below the root → content) in a
// temporary directory and returns it as an FS.
func fakeRoot(t *testing.T, files map[string]string) FS {
	t.Helper()
	root := t.TempDir()
	for path, content := range files {
		full := filepath.Join(root, path)
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(content), 0o644))
	}
	return New(root)
}

func TestNewDefaultsToRealRoot(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "/", New("").Root)
	assert.Equal(t, "/x", New("/x").Root)
}

func TestFakeRootReaders(t *testing.T) {
	t.Parallel()
	fs := fakeRoot(t, map[string]string{
		"proc/meminfo":                          readTestdata(t, "meminfo"),
		"proc/cpuinfo":                          "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n",
		"proc/slabinfo":                         readTestdata(t, "slabinfo"),
		"proc/net/sockstat":                     readTestdata(t, "sockstat"),
		"proc/10/smaps_rollup":                  readTestdata(t, "smaps_rollup"),
		"proc/10/stat":                          readTestdata(t, "stat"),
		"proc/10/limits":                        readTestdata(t, "limits"),
		"proc/10/fd/0":                          "",
		"proc/10/fd/1":                          "",
		"proc/10/task/11/fd/5":                  "",
		"proc/20/status":                        readTestdata(t, "status"), // no smaps_rollup: old kernel
		"sys/kernel/slab/TCP/object_size":       "2304\n",
		"proc/modules":                          "nf_conntrack 1 0 - Live 0x0\n",
		"sys/module/tcp_cubic/parameters/x":     "",
		"proc/sys/net/ipv4/tcp_mem":             "1\t2\t3\n",
		"proc/sys/net/ipv4/ip_local_port_range": "32768\t60999\n",
	})

	model, err := fs.CPUModel()
	require.NoError(t, err)
	assert.Equal(t, "Intel(R) Xeon(R) Processor", model)

	m, err := fs.Meminfo()
	require.NoError(t, err)
	assert.Equal(t, uint64(59628*1024), m["Slab"])

	slabs, err := fs.Slabinfo()
	require.NoError(t, err)
	assert.NotEmpty(t, slabs)

	size, err := fs.SlabObjectSize("TCP")
	require.NoError(t, err)
	assert.Equal(t, 2304, size)

	s, err := fs.Sockstat()
	require.NoError(t, err)
	assert.Equal(t, uint64(804), s.TCPTimeWait)

	mem, err := fs.ProcMem(10)
	require.NoError(t, err)
	assert.Equal(t, uint64(503<<10), mem.Pss)
	mem, err = fs.ProcMem(20)
	require.NoError(t, err)
	assert.True(t, mem.FromStatus)
	assert.Equal(t, uint64(1744<<10), mem.Rss)
	_, err = fs.ProcMem(30)
	assert.ErrorIs(t, err, os.ErrNotExist, "a vanished process is recognisable")

	user, _, err := fs.ProcCPU(10)
	require.NoError(t, err)
	assert.Equal(t, 150*time.Millisecond, user)

	n, err := fs.FDCount(10)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	n, err = fs.TaskFDCount(10, 11)
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	limits, err := fs.Limits(10)
	require.NoError(t, err)
	assert.Equal(t, uint64(20000), limits["Max open files"].Hard)

	assert.True(t, fs.ModuleLoaded("nf_conntrack"))
	assert.True(t, fs.ModuleLoaded("tcp-cubic"), "built in, found in /sys/module; '-' is '_'")
	assert.False(t, fs.ModuleLoaded("nf_conntrack_ftp"))

	v, err := fs.Sysctl("net.ipv4.tcp_mem")
	require.NoError(t, err)
	assert.Equal(t, "1 2 3", v)
	v, err = fs.Sysctl("net/ipv4/tcp_mem")
	require.NoError(t, err)
	assert.Equal(t, "1 2 3", v)
	_, err = fs.Sysctl("net.nope")
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.ErrorContains(t, err, "net.nope")
}

func TestPorts(t *testing.T) {
	t.Parallel()
	fs := fakeRoot(t, map[string]string{
		"proc/sys/net/ipv4/ip_local_port_range":     "32768\t60999\n",
		"proc/sys/net/ipv4/ip_local_reserved_ports": "8080,32768-32777,60999,61000-62000\n",
	})
	lo, hi, err := fs.PortRange()
	require.NoError(t, err)
	assert.Equal(t, [2]int{32768, 60999}, [2]int{lo, hi})

	reserved, err := fs.ReservedPorts()
	require.NoError(t, err)
	assert.Len(t, reserved, 4)

	n, err := fs.EphemeralPortCount()
	require.NoError(t, err)
	assert.Equal(t, 28232-10-1, n, "only reserved ports inside the range count")

	require.NoError(t, fs.SetSysctl("net.ipv4.ip_local_port_range", "1024 x"))
	_, _, err = fs.PortRange()
	assert.Error(t, err)
}

func TestChildrenAndDescendants(t *testing.T) {
	t.Parallel()
	fs := fakeRoot(t, map[string]string{
		"proc/1/task/1/children": "2 3 ",
		"proc/1/task/4/children": "5",   // a thread forked too
		"proc/2/task/2/children": "6\n", // grandchild
		"proc/3/task/3/children": "",
		"proc/5/task/5/children": "1", // pid reuse cycle: must not loop
		"proc/6/task/6/children": "7", // 7 exited since: no /proc/7
		"proc/8/task/8/children": "x",
	})
	children, err := fs.Children(1)
	require.NoError(t, err)
	assert.ElementsMatch(t, []int{2, 3, 5}, children)

	all, err := fs.Descendants(1)
	require.NoError(t, err)
	assert.ElementsMatch(t, []int{2, 3, 5, 6, 7}, all)

	_, err = fs.Descendants(99)
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = fs.Children(8)
	assert.Error(t, err)
}
