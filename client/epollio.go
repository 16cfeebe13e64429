package client

import (
	"errors"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"c1m/core"
	"c1m/eventloop"
)

// epollIO is the epoll engine's transport: each connection an ordinary
// non-blocking fd in the loop's epoll set, edge-triggered.
type epollIO struct {
	e    *engine
	byFD []int32 // fd → index+1 in conns
	buf  []byte
}

func newEpollIO(e *engine) *epollIO { return &epollIO{e: e, buf: make([]byte, maxChunk)} }

func (t *epollIO) init(*eventloop.Loop) error { return nil }
func (t *epollIO) submit() time.Duration      { return -1 }
func (t *epollIO) exit()                      {}

// connect starts a non-blocking connect for connection k.
func (t *epollIO) connect(k int) error {
	e := t.e
	c := &e.conns[k]
	src, port := e.job.Spread.Target(e.global(k))
	sa, family := core.SockaddrOf(netip.AddrPortFrom(e.job.Spread.Server, port))
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	c.fd = int32(fd)
	// Bind the source address only; the port is chosen at connect, per
	// 4-tuple, so each (source, server port) pair gets the whole range.
	unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	srcSA, _ := core.SockaddrOf(netip.AddrPortFrom(src, 0))
	if err := unix.Bind(fd, srcSA); err != nil {
		return err
	}
	if err := unix.Connect(fd, sa); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		return err
	}
	if fd >= len(t.byFD) {
		grown := make([]int32, max(fd+1, 2*len(t.byFD), 1024))
		copy(grown, t.byFD)
		t.byFD = grown
	}
	t.byFD[fd] = int32(k + 1)
	// ET with EPOLLOUT always on: it reports the handshake, and later only
	// the moments a full send buffer drains, so no epoll_ctl MOD is needed.
	return e.loop.Poller.Add(fd, eventloop.EventRead|eventloop.EventWrite|eventloop.EventET)
}

func (t *epollIO) event(fd int, ev uint32) {
	if fd >= len(t.byFD) || t.byFD[fd] == 0 {
		return
	}
	e := t.e
	k := int(t.byFD[fd] - 1)
	c := &e.conns[k]
	const closing = unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR
	switch c.state {
	case stConnecting:
		soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && soErr != 0 {
			err = unix.Errno(soErr)
		}
		if err != nil {
			e.connectFailed(k, err)
			return
		}
		if ev&(unix.EPOLLOUT|unix.EPOLLIN) == 0 {
			return
		}
		e.established(k)
		// Edge-triggered: what came with the handshake (a server that sheds
		// the connection at once closes it) raises no second edge, so read
		// it now, not when the next keepalive runs into the close.
		if c.state == stOpen && ev&(unix.EPOLLIN|closing) != 0 {
			t.readable(k, ev&closing == 0)
		}
	case stOpen:
		if ev&unix.EPOLLOUT != 0 && c.queued > c.written {
			if !t.send(k) {
				return
			}
		}
		if ev&(unix.EPOLLIN|closing) != 0 {
			t.readable(k, ev&closing == 0)
		}
	}
}

// send writes queued bytes until done or the socket is full.
func (t *epollIO) send(k int) bool {
	e := t.e
	c := &e.conns[k]
	L := uint64(len(e.job.Msg))
	for c.written < c.queued {
		off := c.written % L
		n := min(c.queued-c.written, maxChunk)
		w, err := eventloop.Write(int(c.fd), e.job.pattern[off:off+n])
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.EAGAIN) {
				return true // EPOLLOUT (ET) will say when to go on
			}
			e.drop(k, Classify(err).Name)
			return false
		}
		c.written += uint64(w)
		e.c.bytesSent.Add(int64(w))
	}
	return true
}

// readable reads to EAGAIN, handing every chunk to the verification.
// With mayStopShort (see core's worker) it stops at a short read.
func (t *epollIO) readable(k int, mayStopShort bool) {
	e := t.e
	for {
		n, err := eventloop.Read(int(e.conns[k].fd), t.buf)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if !errors.Is(err, unix.EAGAIN) {
				e.drop(k, Classify(err).Name)
			}
			return
		}
		if n == 0 {
			e.drop(k, causeEOF.Name)
			return
		}
		if !e.received(k, t.buf[:n]) || mayStopShort && n < len(t.buf) {
			return
		}
	}
}

// close closes connection k's fd (which removes it from epoll).
func (t *epollIO) close(k int) {
	fd := t.e.conns[k].fd
	if int(fd) < len(t.byFD) {
		t.byFD[fd] = 0
	}
	unix.Close(int(fd))
}
