package epoll

import (
	"c1m/core"
	"c1m/eventloop"
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// acceptGate accepts from listening sockets on behalf of one loop (the
// acceptor, or a reuseport worker). It never lets an accept error kill the
// server or spin the CPU: out of fds it sheds one pending connection with
// the reserve-fd trick and backs off; a full server sheds at -max-conns.
type acceptGate struct {
	stats     *core.AcceptStats
	open      *atomic.Int64 // connections open in this process
	maxConns  int64
	table     *atomic.Int64 // connections in this loop's private fd table (nil: the table is shared)
	tableMax  int64         // what that table may hold; one accepted past it is shed like one past -max-conns,
	yieldFull bool          // or, yielding, is not accepted at all: another loop with room takes it
	reserve   int           // an fd held back to free when the table is full
	backoff   core.Backoff
}

const acceptBatch = 128 // accepts per readiness event, so one busy port cannot starve the rest

func newAcceptGate(stats *core.AcceptStats, open *atomic.Int64, maxConns int) *acceptGate {
	g := &acceptGate{stats: stats, open: open, maxConns: int64(maxConns), reserve: -1}
	g.reopenReserve()
	return g
}

// limitTable bounds what the gate accepts into a private fd table of max
// connections (counted in open), so it never meets EMFILE further on: past
// it the gate sheds, or with yield stops accepting and leaves the
// connection to a loop with room (shared listeners).
func (g *acceptGate) limitTable(open *atomic.Int64, max int, yield bool) {
	g.table, g.tableMax, g.yieldFull = open, int64(max), yield
}

func (g *acceptGate) tableFull() bool {
	return g.table != nil && g.table.Load() >= g.tableMax
}

func (g *acceptGate) reopenReserve() {
	if g.reserve < 0 {
		if fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
			g.reserve = fd
		}
	}
}

func (g *acceptGate) close() {
	if g.reserve >= 0 {
		unix.Close(g.reserve)
		g.reserve = -1
	}
}

// drain accepts up to acceptBatch connections from lfd, handing each to
// take. It returns true when accepting must pause (see paused).
func (g *acceptGate) drain(lfd int, take func(fd int, acceptedNs int64)) (pause bool) {
	for i := 0; i < acceptBatch; i++ {
		if g.yieldFull && g.tableFull() {
			return false
		}
		g.stats.Calls.Add(1)
		fd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err == nil {
			g.backoff.Reset()
			g.admit(fd, take)
			continue
		}
		switch g.stats.CountError(err) {
		case core.AcceptAgain:
			if errors.Is(err, unix.EAGAIN) {
				return false
			}
		case core.AcceptAborted:
		case core.AcceptNoFD:
			if fd, kept := g.shedOne(lfd); kept {
				g.backoff.Reset() // the table had room after all
				g.admit(fd, take)
				continue
			}
			g.startBackoff()
			return true
		case core.AcceptBroken:
			g.startBackoff()
			return true
		}
	}
	return false
}

// admit takes an accepted connection, or closes it at once past -max-conns
// (or past a private table's share, when not yielding).
func (g *acceptGate) admit(fd int, take func(fd int, acceptedNs int64)) {
	if g.maxConns > 0 && g.open.Load() >= g.maxConns || !g.yieldFull && g.tableFull() {
		unix.Close(fd)
		g.stats.ShedMaxConns.Add(1)
		return
	}
	g.open.Add(1)
	g.stats.Accepted.Add(1)
	take(fd, core.MonoNs())
}

// shedOne, after an EMFILE, frees the reserve fd to accept one pending
// connection and close it at once, so the client hears a clean close
// instead of waiting. But an EMFILE can be stale: accept4 fails at a full
// table before it looks at the backlog, and workers may close connections
// (on their own threads) between that failure and this accept, so the
// connection taken may be one that fits. If the reserve can be opened
// again beside it, the table had room: it is returned (kept) to be taken
// like any other, not shed.
func (g *acceptGate) shedOne(lfd int) (fd int, kept bool) {
	if g.reserve < 0 {
		return -1, false
	}
	unix.Close(g.reserve)
	g.reserve = -1
	fd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	g.reopenReserve()
	if err != nil {
		return -1, false
	}
	if g.reserve >= 0 {
		return fd, true
	}
	unix.Close(fd)
	g.stats.ShedNoFD.Add(1)
	g.reopenReserve()
	return -1, false
}

func (g *acceptGate) startBackoff() {
	g.stats.Backoffs.Add(1)
	g.backoff.Start(time.Now())
}

// listenerSet pauses and resumes a loop's listeners together.
type listenerSet struct {
	fds    []int
	paused bool
	// exclusive: listeners shared by every worker's epoll with EPOLLEXCLUSIVE,
	// so a connection wakes one waiting worker, not all. Such an entry cannot
	// be modified (EINVAL), so pausing removes it and resuming adds it back.
	exclusive bool
	shared    bool // owned by the server, not this loop: close leaves them open
}

func (s *listenerSet) has(fd int) bool {
	for _, l := range s.fds {
		if l == fd {
			return true
		}
	}
	return false
}

// setPaused stops (events 0) or restarts level-triggered interest in every listener.
func (s *listenerSet) setPaused(p *eventloop.Poller, pause bool) {
	if s.paused == pause {
		return
	}
	s.paused = pause
	if s.exclusive {
		for _, fd := range s.fds {
			if pause {
				p.Del(fd)
			} else {
				p.Add(fd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE)
			}
		}
		return
	}
	var ev uint32 = unix.EPOLLIN
	if pause {
		ev = 0
	}
	for _, fd := range s.fds {
		p.Mod(fd, ev)
	}
}

func (s *listenerSet) register(p *eventloop.Poller) error {
	var ev uint32 = unix.EPOLLIN
	if s.exclusive {
		ev |= unix.EPOLLEXCLUSIVE
	}
	for _, fd := range s.fds {
		if err := p.Add(fd, ev); err != nil {
			return err
		}
	}
	return nil
}

func (s *listenerSet) close() {
	if s.shared {
		s.fds = nil
		return
	}
	for _, fd := range s.fds {
		unix.Close(fd)
	}
	s.fds = nil
}

// accepting is what a loop that accepts holds: its listeners and its gate.
type accepting struct {
	gate *acceptGate
	ls   listenerSet
}

// yielding: the gate's table is full and it leaves connections to others
// (shared exclusive listeners), so this loop stops listening until a close.
func (a *accepting) yielding() bool { return a.gate.yieldFull && a.gate.tableFull() }

// event handles readiness on fd if it is one of the listeners.
func (a *accepting) event(p *eventloop.Poller, fd int, take func(fd int, acceptedNs int64)) bool {
	if !a.ls.has(fd) {
		return false
	}
	if a.gate.drain(fd, take) || a.yielding() {
		a.ls.setPaused(p, true)
	}
	return true
}

// tick resumes the listeners when a back-off has run out (and, when
// yielding, the table has room again: a close happens on this loop, which
// runs tick after it); it returns how long the loop may sleep (-1: no limit
// from accepting).
func (a *accepting) tick(p *eventloop.Poller, now time.Time) time.Duration {
	if !a.ls.paused {
		return -1
	}
	if still, left := a.gate.backoff.Paused(now); still {
		return left
	}
	if a.yielding() {
		return -1
	}
	a.ls.setPaused(p, false)
	return -1
}

func (a *accepting) close() {
	a.ls.close()
	a.gate.close()
}
