// Package eventloop is the one epoll wrapper of the repository and the event
// loop built on it: a Poller (an epoll instance), a Loop (a Poller on one
// locked, optionally pinned OS thread, optionally with a private fd table)
// and raw non-blocking Read and Write. The server's engines and the load
// client run every socket they wait on through it.
package eventloop

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Poller is a thin epoll instance: the one place in the repository that
// talks to epoll. Server workers, the acceptor and the load client all use it.
type Poller struct {
	fd     int
	events []unix.EpollEvent
	// RawWaitMs is how long Wait may block without the Go scheduler's
	// knowledge (see Wait); 0 makes every blocking wait a scheduler one.
	RawWaitMs int
}

// Event masks used by the loops; ET is added by the caller when wanted.
const (
	EventRead  = unix.EPOLLIN | unix.EPOLLRDHUP
	EventWrite = unix.EPOLLOUT
	EventET    = unix.EPOLLET
)

// NewPoller creates an epoll instance that returns at most batch events per wait.
func NewPoller(batch int) (*Poller, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if batch <= 0 {
		batch = 256
	}
	return &Poller{fd: fd, events: make([]unix.EpollEvent, batch)}, nil
}

// FD returns the epoll file descriptor (for dispatchers that add to it directly).
func (p *Poller) FD() int { return p.fd }

// Add registers fd for the given events.
func (p *Poller) Add(fd int, events uint32) error {
	return epollCtl(p.fd, unix.EPOLL_CTL_ADD, fd, events)
}

// Mod changes the events fd is registered for.
func (p *Poller) Mod(fd int, events uint32) error {
	return epollCtl(p.fd, unix.EPOLL_CTL_MOD, fd, events)
}

// Del removes fd from the interest list.
func (p *Poller) Del(fd int) error {
	return epollCtl(p.fd, unix.EPOLL_CTL_DEL, fd, 0)
}

// AddTo registers fd on another epoll instance by its fd; used by the
// direct dispatcher, where the acceptor adds sockets to a worker's epoll.
func AddTo(epfd, fd int, events uint32) error {
	return epollCtl(epfd, unix.EPOLL_CTL_ADD, fd, events)
}

func epollCtl(epfd, op, fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	if err := unix.EpollCtl(epfd, op, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl(op %d, fd %d): %w", op, fd, err)
	}
	return nil
}

// Wait blocks up to timeoutMs (-1: forever) and returns the ready events.
// It first asks without blocking, then waits up to RawWaitMs without telling
// the Go scheduler (under load events come within that, and the thread
// keeps its P instead of handing it off and queueing for it again), and
// only then makes a wait the scheduler knows of, so an idle loop costs
// nothing. EINTR is not an error: it returns no events.
func (p *Poller) Wait(timeoutMs int) ([]unix.EpollEvent, error) {
	n, err := p.rawWait(0)
	if err == nil && n == 0 && timeoutMs != 0 && p.RawWaitMs > 0 {
		raw := p.RawWaitMs
		if timeoutMs > 0 {
			raw = min(raw, timeoutMs)
		}
		n, err = p.rawWait(raw)
		if timeoutMs > 0 {
			timeoutMs = max(timeoutMs-raw, 0)
		}
	}
	if err == nil && n == 0 && timeoutMs != 0 {
		n, err = unix.EpollWait(p.fd, p.events, timeoutMs)
	}
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return nil, nil
		}
		return nil, fmt.Errorf("epoll_wait: %w", err)
	}
	return p.events[:n], nil
}

// Close releases the epoll instance.
func (p *Poller) Close() error { return unix.Close(p.fd) }
