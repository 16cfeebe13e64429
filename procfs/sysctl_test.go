package procfs

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sysctlRoot(t *testing.T) FS {
	return fakeRoot(t, map[string]string{
		"proc/sys/net/core/somaxconn":           "4096\n",
		"proc/sys/net/ipv4/ip_local_port_range": "32768\t60999\n",
		"proc/sys/net/ipv4/tcp_max_syn_backlog": "1024\n",
		"proc/sys/net/ipv4/tcp_max_tw_buckets":  "131072\n",
	})
}

func TestApplyAndRestore(t *testing.T) {
	t.Parallel()
	fs := sysctlRoot(t)
	g, err := fs.Apply(map[string]string{
		"net.core.somaxconn":           "65535",
		"net.ipv4.ip_local_port_range": "1024 65535",
		"net.ipv4.tcp_max_syn_backlog": "1024",      // already set
		"net.ipv4.tcp_max_tw_buckets":  " 131072\t", // already set, spelt differently
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_max_tw_buckets"}, g.Skipped())
	assert.Equal(t, map[string][2]string{
		"net.core.somaxconn":           {"4096", "65535"},
		"net.ipv4.ip_local_port_range": {"32768 60999", "1024 65535"},
	}, g.Changed())

	lo, hi, err := fs.PortRange()
	require.NoError(t, err)
	assert.Equal(t, [2]int{1024, 65535}, [2]int{lo, hi})

	var wg sync.WaitGroup // a signal handler and a defer may race to restore
	for range 2 {
		wg.Go(func() { assert.NoError(t, g.Restore()) })
	}
	wg.Wait()
	require.NoError(t, g.Restore(), "restoring again is harmless")

	for name, want := range map[string]string{
		"net.core.somaxconn":           "4096",
		"net.ipv4.ip_local_port_range": "32768 60999",
		"net.ipv4.tcp_max_syn_backlog": "1024",
	} {
		got, err := fs.Sysctl(name)
		require.NoError(t, err)
		assert.Equal(t, want, got, name)
	}
	assert.Len(t, g.Changed(), 2, "the record survives Restore for meta.json")
}

func TestApplyRollsBackOnFailure(t *testing.T) {
	t.Parallel()
	fs := sysctlRoot(t)
	g, err := fs.Apply(map[string]string{
		"net.core.somaxconn":             "65535",   // applied first (name order) ...
		"net.netfilter.nf_conntrack_max": "2000000", // ... then this one does not exist
	})
	assert.Nil(t, g)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.ErrorContains(t, err, "net.netfilter.nf_conntrack_max")

	got, err := fs.Sysctl("net.core.somaxconn")
	require.NoError(t, err)
	assert.Equal(t, "4096", got, "the earlier change was undone")
	_, err = os.Stat(filepath.Join(fs.Root, "proc/sys/net/netfilter"))
	assert.ErrorIs(t, err, os.ErrNotExist, "SetSysctl never creates files")
}

func TestSysctlErrorSaysWhatToDo(t *testing.T) {
	t.Parallel()
	err := sysctlError("set", "net.core.somaxconn", "65535", &os.PathError{Op: "open", Path: "/proc/sys/net/core/somaxconn", Err: syscall.EACCES})
	assert.ErrorIs(t, err, os.ErrPermission)
	assert.ErrorContains(t, err, `net.core.somaxconn="65535"`)
	assert.ErrorContains(t, err, "need root: run as root or skip tuning")

	err = sysctlError("set", "net.core.somaxconn", "-1", syscall.EINVAL)
	assert.ErrorContains(t, err, "rejected")
	err = sysctlError("set", "net.core.somaxconn", "1", syscall.EROFS)
	assert.ErrorContains(t, err, "read-only")
}
