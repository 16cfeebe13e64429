package core

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Keepalive and TCP_USER_TIMEOUT set on a listener are what every socket
// it accepts has: the uring engine, whose accepted sockets have no fd to
// set them on, relies on it.
func TestReapOptionsAreInheritedAtAccept(t *testing.T) {
	t.Parallel()
	reap := ReapConfig{KeepAlive: 20 * time.Second, UserTimeout: 1500 * time.Millisecond}
	fds, err := ListenOn([]netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, ListenOptions{Backlog: 8, Reap: reap})
	require.NoError(t, err)
	lfd := fds[0]
	t.Cleanup(func() { unix.Close(lfd) })
	sa, err := unix.Getsockname(lfd)
	require.NoError(t, err)
	c, err := net.Dial("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sa.(*unix.SockaddrInet4).Port)).String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })

	var fd int
	require.Eventually(t, func() bool {
		fd, _, err = unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		return err == nil
	}, 10*time.Second, 5*time.Millisecond)
	t.Cleanup(func() { unix.Close(fd) })

	get := func(level, opt int) int {
		v, err := unix.GetsockoptInt(fd, level, opt)
		require.NoError(t, err)
		return v
	}
	assert.Equal(t, 1, get(unix.SOL_SOCKET, unix.SO_KEEPALIVE))
	assert.Equal(t, 20, get(unix.IPPROTO_TCP, unix.TCP_KEEPIDLE))
	assert.Equal(t, 5, get(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL))
	assert.Equal(t, KeepAliveProbes, get(unix.IPPROTO_TCP, unix.TCP_KEEPCNT))
	assert.Equal(t, 1500, get(unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT))
}

func TestKeepAliveIntervalIsAQuarterInWholeSeconds(t *testing.T) {
	t.Parallel()
	assert.Equal(t, time.Second, KeepAliveInterval(time.Second))
	assert.Equal(t, time.Second, KeepAliveInterval(6*time.Second))
	assert.Equal(t, 15*time.Second, KeepAliveInterval(time.Minute))
}

func TestSoonerWait(t *testing.T) {
	t.Parallel()
	assert.Equal(t, time.Duration(-1), SoonerWait(-1, -1))
	assert.Equal(t, time.Second, SoonerWait(-1, time.Second))
	assert.Equal(t, time.Second, SoonerWait(time.Second, -1))
	assert.Equal(t, time.Duration(0), SoonerWait(0, time.Second))
}
