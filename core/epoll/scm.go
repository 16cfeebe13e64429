package epoll

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// scmBatchMax is the most fds one scm-batch message carries (the kernel's
// SCM_MAX_FD is 253).
const scmBatchMax = 250

// scmInbox passes fds over a SOCK_SEQPACKET socketpair with SCM_RIGHTS, so
// a worker with a private fd table receives its own copy; the acceptor
// closes its copy once sent. A message is n frames and the same n fds, in
// order: n is 1 for scm (sent at once), up to scmBatchMax for scm-batch
// (held until Flush, so the hop costs one sendmsg per batch, not per fd).
type scmInbox struct {
	tx, rx   int
	stopping *atomic.Bool
	max      int

	// acceptor side
	queued []Handoff
	frames []byte
	fds    []int

	// worker side
	in  []byte
	oob []byte
	got []Handoff
}

func newSCMInbox(stopping *atomic.Bool, max int) (*scmInbox, error) {
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	return &scmInbox{tx: p[0], rx: p[1], stopping: stopping, max: max,
		in: make([]byte, max*FrameSize), oob: make([]byte, unix.CmsgSpace(4*max))}, nil
}

// Deliver sends h at once (scm), closing the acceptor's copy once sent, or
// queues it for Flush (scm-batch).
func (s *scmInbox) Deliver(h Handoff) error {
	if s.max > 1 {
		s.queued = append(s.queued, h)
		return nil
	}
	var frame [FrameSize]byte
	PutFrame(frame[:], h)
	if err := s.send(frame[:], unix.UnixRights(int(h.FD))); err != nil {
		return err
	}
	unix.Close(int(h.FD))
	return nil
}

// Full reports whether the next message is as large as one may be.
func (s *scmInbox) Full() bool { return len(s.queued) >= s.max }

// Flush sends what Deliver queued in one message, then closes the
// acceptor's copies. On failure it closes them too: lost connections, whose
// count and cause the caller hears.
func (s *scmInbox) Flush() (lost int, err error) {
	if len(s.queued) == 0 {
		return 0, nil
	}
	s.frames, s.fds = s.frames[:0], s.fds[:0]
	for _, h := range s.queued {
		var frame [FrameSize]byte
		PutFrame(frame[:], h)
		s.frames = append(s.frames, frame[:]...)
		s.fds = append(s.fds, int(h.FD))
	}
	s.queued = s.queued[:0]
	err = s.send(s.frames, unix.UnixRights(s.fds...))
	closeFDs(s.fds)
	if err != nil {
		return len(s.fds), err
	}
	return 0, nil
}

func (s *scmInbox) send(frames, rights []byte) error {
	for {
		err := unix.Sendmsg(s.tx, frames, rights, nil, unix.MSG_NOSIGNAL)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EAGAIN):
			if err := waitWritable(s.tx, s.stopping); err != nil {
				return err
			}
		case errors.Is(err, unix.EINTR):
		default:
			return fmt.Errorf("sendmsg(SCM_RIGHTS, %d fds): %w", len(frames)/FrameSize, err)
		}
	}
}

// closeFDs closes fds, a contiguous run at a time with one close_range (an
// acceptor reuses the lowest free numbers, so a batch is mostly one run).
func closeFDs(fds []int) {
	if len(fds) == 1 {
		unix.Close(fds[0])
		return
	}
	slices.Sort(fds)
	for i := 0; i < len(fds); {
		j := i + 1
		for j < len(fds) && fds[j] == fds[j-1]+1 {
			j++
		}
		if err := unix.CloseRange(uint(fds[i]), uint(fds[j-1]), 0); err != nil {
			for _, fd := range fds[i:j] {
				unix.Close(fd)
			}
		}
		i = j
	}
}

func (s *scmInbox) WatchFD() int { return s.rx }

func (s *scmInbox) Drain(register func(Handoff)) error {
	return untilEmpty(func() (bool, error) {
		n, oobn, flags, _, err := unix.Recvmsg(s.rx, s.in, s.oob, unix.MSG_CMSG_CLOEXEC)
		if err != nil {
			return false, fmt.Errorf("recvmsg(SCM_RIGHTS): %w (EMFILE here means this fd table is full: lower -max-conns or add tables)", err)
		}
		return true, s.unpack(s.in[:n], s.oob[:oobn], flags&unix.MSG_CTRUNC != 0, register)
	})
}

// unpack registers one message's connections. Truncated (MSG_CTRUNC), the
// kernel installed only the first fds before this private table was full
// and closed the rest: each of those is one connection shed, not a reason
// to stop the server, so the worker hears of it as FD -1.
func (s *scmInbox) unpack(frames, oob []byte, truncated bool, register func(Handoff)) error {
	var fds []int
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return fmt.Errorf("scm: control message: %w", err)
	}
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			closeFDs(fds)
			return fmt.Errorf("scm: rights: %w", err)
		}
		fds = append(fds, got...)
	}
	hs := s.got[:0]
	var dec FrameDecoder
	derr := dec.Feed(frames, func(h Handoff) { hs = append(hs, h) })
	s.got = hs
	if derr == nil && len(frames)%FrameSize != 0 {
		derr = fmt.Errorf("%d bytes are not whole frames", len(frames))
	}
	if derr == nil && (len(fds) > len(hs) || len(fds) < len(hs) && !truncated) {
		derr = fmt.Errorf("%d fds for %d frames", len(fds), len(hs))
	}
	if derr != nil {
		closeFDs(fds)
		return fmt.Errorf("scm message: %w", derr)
	}
	for i, h := range hs {
		h.FD = -1
		if i < len(fds) {
			h.FD = int32(fds[i])
		}
		register(h)
	}
	return nil
}

func (s *scmInbox) Close() {
	for _, h := range s.queued {
		unix.Close(int(h.FD))
	}
	s.queued = nil
	s.Drain(func(h Handoff) {
		if h.FD >= 0 {
			unix.Close(int(h.FD))
		}
	})
	unix.Close(s.rx)
	unix.Close(s.tx)
}
