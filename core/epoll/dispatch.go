package epoll

import (
	"c1m/core"
	"c1m/eventloop"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// acceptsInWorkers reports whether mode has no acceptor: each worker accepts.
func acceptsInWorkers(mode string) bool {
	return mode == core.DispatchReusePort || mode == core.DispatchExclusive
}

// Inbox carries accepted fds from the acceptor to one worker.
type Inbox interface {
	// Deliver takes ownership of h.FD and hands it to the worker; it blocks
	// while the worker is behind, and gives up once the server stops.
	Deliver(h Handoff) error
	// WatchFD is the fd the worker watches for deliveries; -1 when none
	// (chan wakes the loop's eventfd, direct needs no notification).
	WatchFD() int
	// Drain runs on the worker's thread and registers every delivered fd.
	Drain(register func(Handoff)) error
	// Close releases the inbox; fds delivered but never drained are closed.
	Close()
}

// batcher is an inbox whose Deliver only queues (scm-batch): the acceptor
// flushes it when Full and once per wake-up, after accepting all it could.
// A failed Flush has closed the lost connections and says how many.
type batcher interface {
	Full() bool
	Flush() (lost int, err error)
}

// errStopped is returned by Deliver once the server is stopping.
var errStopped = errors.New("server stopping")

// newInbox builds the inbox for mode; the worker's loop must already exist
// for the modes that need it (chan, direct).
func newInbox(mode string, w *worker, stopping *atomic.Bool) (Inbox, error) {
	switch mode {
	case core.DispatchPipe:
		return newPipeInbox(stopping)
	case core.DispatchChan:
		return &chanInbox{ch: make(chan Handoff, 1024), w: w, stopping: stopping}, nil
	case core.DispatchDirect:
		return &directInbox{w: w}, nil
	case core.DispatchSCM:
		return newSCMInbox(stopping, 1)
	case core.DispatchSCMBatch:
		return newSCMInbox(stopping, scmBatchMax)
	}
	return nil, fmt.Errorf("dispatch %q has no inbox (choose one of %v)", mode, core.DispatchModes)
}

// waitWritable blocks until fd can take a write, polling so that a stopping
// server is noticed within 100 ms.
func waitWritable(fd int, stopping *atomic.Bool) error {
	for !stopping.Load() {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if _, err := unix.Poll(pfd, 100); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll: %w", err)
		}
		if pfd[0].Revents&(unix.POLLOUT|unix.POLLERR|unix.POLLHUP) != 0 {
			return nil
		}
	}
	return errStopped
}

// pipeInbox is the original design, fixed: binary frames, a non-blocking
// read end drained to EAGAIN on every wake, level-triggered (no ONESHOT trap).
type pipeInbox struct {
	r, w     int
	dec      FrameDecoder
	buf      []byte
	stopping *atomic.Bool
}

func newPipeInbox(stopping *atomic.Bool) (*pipeInbox, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe2: %w", err)
	}
	return &pipeInbox{r: p[0], w: p[1], buf: make([]byte, 256*FrameSize), stopping: stopping}, nil
}

func (p *pipeInbox) Deliver(h Handoff) error {
	var frame [FrameSize]byte
	PutFrame(frame[:], h)
	for {
		n, err := unix.Write(p.w, frame[:])
		switch {
		case err == nil && n == FrameSize:
			return nil
		case err == nil:
			return fmt.Errorf("pipe: short write of %d bytes breaks the %d-byte framing", n, FrameSize)
		case errors.Is(err, unix.EAGAIN):
			if err := waitWritable(p.w, p.stopping); err != nil {
				return err
			}
		case errors.Is(err, unix.EINTR):
		default:
			return fmt.Errorf("pipe write: %w", err)
		}
	}
}

func (p *pipeInbox) WatchFD() int { return p.r }

func (p *pipeInbox) Drain(register func(Handoff)) error {
	return untilEmpty(func() (bool, error) {
		n, err := unix.Read(p.r, p.buf)
		if err != nil {
			return false, fmt.Errorf("pipe read: %w", err)
		}
		return n > 0, p.dec.Feed(p.buf[:n], register)
	})
}

// untilEmpty calls read until the fd it reads is empty (EAGAIN) or read
// says there is no more, retrying EINTR; any other error ends it.
func untilEmpty(read func() (more bool, err error)) error {
	for {
		more, err := read()
		switch {
		case errors.Is(err, unix.EAGAIN):
			return nil
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return err
		case !more:
			return nil
		}
	}
}

func (p *pipeInbox) Close() {
	p.Drain(func(h Handoff) { unix.Close(int(h.FD)) })
	unix.Close(p.r)
	unix.Close(p.w)
}

// chanInbox: a buffered Go channel; the loop's eventfd wakes the worker.
type chanInbox struct {
	ch       chan Handoff
	w        *worker // its loop exists by the first delivery
	stopping *atomic.Bool
}

func (c *chanInbox) Deliver(h Handoff) error {
	for {
		select {
		case c.ch <- h:
			c.w.loop.Wake()
			return nil
		case <-time.After(100 * time.Millisecond):
			if c.stopping.Load() {
				return errStopped
			}
		}
	}
}

func (c *chanInbox) WatchFD() int { return -1 }

func (c *chanInbox) Drain(register func(Handoff)) error {
	for {
		select {
		case h := <-c.ch:
			register(h)
		default:
			return nil
		}
	}
}

func (c *chanInbox) Close() {
	c.Drain(func(h Handoff) { unix.Close(int(h.FD)) })
}

// directInbox: the acceptor registers the fd in the worker's epoll itself
// and sends no notification. The fd is also noted in a list the worker
// adopts from at its next wake (or at the fd's first event, which cannot
// come before the note), so idle connections are still counted and closed.
type directInbox struct {
	w       *worker
	mu      sync.Mutex
	adopted []Handoff
}

func (d *directInbox) Deliver(h Handoff) error {
	// The note and the ADD happen under one lock, so a worker that sees an
	// event for an fd it does not know finds the note by draining.
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := eventloop.AddTo(d.w.loop.Poller.FD(), int(h.FD), d.w.connEvents); err != nil {
		return err
	}
	d.adopted = append(d.adopted, h)
	d.w.stats.RecordDispatch(h.AcceptedNs) // registered: the ADD above is the whole hand-off
	return nil
}

func (d *directInbox) WatchFD() int { return -1 }

func (d *directInbox) Drain(register func(Handoff)) error {
	d.mu.Lock()
	list := d.adopted
	d.adopted = nil
	d.mu.Unlock()
	for _, h := range list {
		register(h)
	}
	return nil
}

func (d *directInbox) Close() {
	d.Drain(func(h Handoff) { unix.Close(int(h.FD)) })
}
