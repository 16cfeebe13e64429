package core

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// ListenOptions shape every listening socket the server opens.
type ListenOptions struct {
	Backlog   int
	ReusePort bool
	RcvBuf    int // 0: kernel default; accepted sockets inherit it
	SndBuf    int
	Reap      ReapConfig // TCP keepalive and TCP_USER_TIMEOUT, inherited by accepted sockets
}

// ListenAddrs expands "host:port" and a port count into consecutive addresses.
func ListenAddrs(addr string, ports int) ([]netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w (want ip:port, e.g. 127.0.0.1:9876)", addr, err)
	}
	if ports < 1 {
		ports = 1
	}
	if int(ap.Port())+ports-1 > 65535 {
		return nil, fmt.Errorf("%d ports from %d run past 65535: lower -ports or the base port", ports, ap.Port())
	}
	out := make([]netip.AddrPort, ports)
	for i := range out {
		out[i] = netip.AddrPortFrom(ap.Addr(), ap.Port()+uint16(i))
	}
	return out, nil
}

// SockaddrOf converts an address to the unix form.
func SockaddrOf(ap netip.AddrPort) (unix.Sockaddr, int) {
	if ap.Addr().Is4() || ap.Addr().Is4In6() {
		return &unix.SockaddrInet4{Addr: ap.Addr().Unmap().As4(), Port: int(ap.Port())}, unix.AF_INET
	}
	return &unix.SockaddrInet6{Addr: ap.Addr().As16(), Port: int(ap.Port())}, unix.AF_INET6
}

// Listen opens a non-blocking listening socket on ap.
func Listen(ap netip.AddrPort, o ListenOptions) (int, error) {
	sa, family := SockaddrOf(ap)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	fail := func(what string, err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("listen %s: %s: %w", ap, what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("SO_REUSEADDR", err)
	}
	if o.ReusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("SO_REUSEPORT", err)
		}
	}
	if err := SetBuffers(fd, o.RcvBuf, o.SndBuf); err != nil {
		return fail("buffers", err)
	}
	if err := SetReapOptions(fd, o.Reap); err != nil {
		return fail("reap options", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		if err == unix.EADDRINUSE {
			return fail("bind", fmt.Errorf("%w: another process holds the port (stop it, or pick another -addr)", err))
		}
		return fail("bind", err)
	}
	backlog := o.Backlog
	if backlog <= 0 {
		backlog = 65535 // the kernel caps it at net.core.somaxconn
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return fail("listen", err)
	}
	return fd, nil
}

// ListenOn opens a listener on every address, or none: on an error it
// closes those it opened. A port of 0 is replaced in addrs by the one the
// kernel chose.
func ListenOn(addrs []netip.AddrPort, o ListenOptions) ([]int, error) {
	var fds []int
	for i, ap := range addrs {
		fd, err := Listen(ap, o)
		if err != nil {
			for _, f := range fds {
				unix.Close(f)
			}
			return nil, err
		}
		if ap.Port() == 0 {
			if sa, err := unix.Getsockname(fd); err == nil {
				if in4, ok := sa.(*unix.SockaddrInet4); ok {
					addrs[i] = netip.AddrPortFrom(ap.Addr(), uint16(in4.Port))
				} else if in6, ok := sa.(*unix.SockaddrInet6); ok {
					addrs[i] = netip.AddrPortFrom(ap.Addr(), uint16(in6.Port))
				}
			}
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// SetBuffers sets SO_RCVBUF/SO_SNDBUF where non-zero.
func SetBuffers(fd, rcv, snd int) error {
	if rcv > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcv); err != nil {
			return fmt.Errorf("SO_RCVBUF=%d: %w", rcv, err)
		}
	}
	if snd > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, snd); err != nil {
			return fmt.Errorf("SO_SNDBUF=%d: %w", snd, err)
		}
	}
	return nil
}
