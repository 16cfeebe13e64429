package epoll

import (
	"c1m/core"
	"c1m/eventloop"
	"c1m/idlewheel"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Per-connection state is one byte in a slice indexed by fd: an idle
// connection costs the application one byte and nothing the GC must scan.
const (
	connOpen       uint8 = 1 << iota
	connOutArmed         // EPOLLOUT requested: output is pending
	connReadPaused       // reading stopped at -max-pending until output drains
	connPeerClosed       // EOF seen: close once pending output is flushed
)

// maxSpares is how many drained output buffers a loop keeps for reuse.
const maxSpares = 64

// worker owns a set of connections on one loop: it echoes what they send,
// bounded by maxPending bytes of unsent output per connection.
type worker struct {
	id         int
	srv        *Server
	loop       *eventloop.Loop
	inbox      Inbox // nil when the worker accepts (reuseport, exclusive)
	acc        *accepting
	stats      *core.ConnStats
	connEvents uint32 // events a connection is registered for
	et         bool
	maxPending int

	state   []uint8
	pending map[int32][]byte // unsent output, only for connections that have some
	spares  *core.Spares     // drained pending buffers kept for reuse
	buf     []byte           // the worker's one read buffer
	idle    *idlewheel.Wheel // -idle-timeout, by fd (nil: off)

	stopping    atomic.Bool     // Server.Stop asked for a graceful stop (set from any thread)
	stop        core.StopBudget // the stop's flush deadline
	stopCursor  int             // the next fd the stop looks at
	stopDropped atomic.Uint64   // closed by the stop with output still unsent
}

// interest is the epoll mask a connection in state st needs: no EPOLLIN
// while reading is paused or the peer has closed (in LT mode it would fire
// forever), EPOLLOUT only while output is pending.
func (w *worker) interest(st uint8) uint32 {
	var ev uint32
	if st&(connReadPaused|connPeerClosed) == 0 {
		ev |= eventloop.EventRead
	}
	if st&connOutArmed != 0 {
		ev |= eventloop.EventWrite
	}
	if w.et {
		ev |= eventloop.EventET
	}
	return ev
}

// setState changes a connection's state and its epoll interest with it. It
// returns false if the connection had to be closed.
func (w *worker) setState(fd int, st uint8) bool {
	old := w.state[fd]
	w.state[fd] = st
	if w.interest(old) == w.interest(st) {
		return true
	}
	if err := w.loop.Poller.Mod(fd, w.interest(st)); err != nil {
		w.closeConn(fd, &w.stats.CloseOther)
		return false
	}
	return true
}

func (w *worker) hooks() eventloop.Hooks {
	return eventloop.Hooks{
		Init:  w.init,
		Event: w.event,
		Wake:  w.drainInbox,
		Tick:  w.tick,
		Exit:  w.exit,
	}
}

func (w *worker) init(l *eventloop.Loop) error {
	w.loop = l
	w.pending = make(map[int32][]byte)
	w.spares = core.NewSpares(maxSpares, w.maxPending, w.maxPending)
	w.buf = make([]byte, w.srv.cfg.Epoll.ReadBuf)
	w.idle = idlewheel.New(w.srv.cfg.Reap.IdleTimeout, time.Now())
	if w.inbox != nil {
		if fd := w.inbox.WatchFD(); fd >= 0 {
			if err := l.Poller.Add(fd, unix.EPOLLIN); err != nil {
				return err
			}
		}
	}
	if w.acc != nil {
		return w.initAccepting(l)
	}
	return nil
}

// initAccepting readies a worker that accepts for itself, on its own thread
// (after unshare, so the reserve fd and any listener it opens are in its table).
func (w *worker) initAccepting(l *eventloop.Loop) error {
	srv := w.srv
	exclusive := srv.cfg.Epoll.Dispatch == core.DispatchExclusive
	if exclusive {
		// The server's listeners: the same numbers in a private copy of its table.
		w.acc.ls = listenerSet{fds: srv.shared, exclusive: true, shared: true}
	} else {
		// reuseport: this worker's own listeners, opened in its own fd table.
		fds, err := srv.listenAll(true)
		if err != nil {
			return err
		}
		w.acc.ls.fds = fds
	}
	w.acc.gate = newAcceptGate(srv.acceptStats[w.id], &srv.open, srv.maxConnsPerProcess())
	if srv.plan.Strategy == core.StrategyFDTables {
		// Shared listeners let a full table yield to the others; its own
		// reuseport listeners can only shed what the kernel hashed to it.
		w.acc.gate.limitTable(&w.stats.OpenConns, srv.plan.PerTable, exclusive)
	}
	return w.acc.ls.register(l.Poller)
}

// tick reaps idle connections and resumes accepting after a back-off; it
// returns how long the loop may sleep (-1: until an event).
func (w *worker) tick(now time.Time) time.Duration {
	if w.stopping.Load() {
		return w.stopTick(now)
	}
	wait := w.idle.Advance(now, core.StopBatch, core.StopPause, w.reapIdle)
	if w.acc != nil {
		wait = core.SoonerWait(wait, w.acc.tick(w.loop.Poller, now))
	}
	return wait
}

// reapIdle closes a connection idle past -idle-timeout with a reset
// (SO_LINGER 0), as nginx's reset_timedout_connection does: its peer is
// most likely gone, and a FIN to a vanished peer would leave the kernel
// an orphan socket retransmitting it for a minute or two, memory the
// reaping is meant to give back; a peer still there hears ECONNRESET.
func (w *worker) reapIdle(fd int) {
	unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	w.closeConn(fd, &w.stats.CloseIdle)
}

func (w *worker) drainInbox() {
	if w.inbox == nil {
		return
	}
	if err := w.inbox.Drain(w.register); err != nil {
		w.srv.Fail(fmt.Errorf("worker %d: %w", w.id, err))
	}
}

// register adopts an accepted connection.
func (w *worker) register(h Handoff) {
	if h.FD < 0 {
		// Lost in passing (scm: this worker's fd table was full) and closed
		// by the kernel: shed, so let go of the count handOff took for it.
		w.stats.CloseNoFD.Add(1)
		w.stats.OpenConns.Add(-1)
		w.srv.open.Add(-1)
		return
	}
	fd := int(h.FD)
	if fd >= len(w.state) {
		grown := make([]uint8, max(fd+1, 2*len(w.state), 1024))
		copy(grown, w.state)
		w.state = grown
		w.idle.Grow(len(grown))
	}
	if w.state[fd]&connOpen != 0 { // direct: already adopted at its first event
		return
	}
	w.state[fd] = connOpen
	w.idle.Add(fd)
	w.stats.Registered.Add(1)
	if w.srv.cfg.Epoll.Dispatch == core.DispatchDirect {
		return // the acceptor added it to epoll and counted it
	}
	if w.acc != nil {
		w.stats.OpenConns.Add(1) // accepted here; handOff counts the others
	}
	if err := w.loop.Poller.Add(fd, w.connEvents); err != nil {
		w.closeConn(fd, &w.stats.CloseOther)
		return
	}
	w.stats.RecordDispatch(h.AcceptedNs)
	if w.et {
		// Data may have arrived before the ADD; with ET there would be no
		// edge for it, so read now.
		w.readable(fd, false)
	}
}

func (w *worker) event(fd int, ev uint32) {
	if w.inbox != nil && fd == w.inbox.WatchFD() {
		w.drainInbox()
		return
	}
	if w.acc != nil && w.acc.event(w.loop.Poller, fd, func(cfd int, ns int64) {
		w.register(Handoff{FD: int32(cfd), AcceptedNs: ns})
	}) {
		return
	}
	if fd >= len(w.state) || w.state[fd]&connOpen == 0 {
		w.drainInbox() // direct: the note for this fd is in the inbox
		if fd >= len(w.state) || w.state[fd]&connOpen == 0 {
			return
		}
	}
	// ERR/HUP with output pending: the write in flush meets the error and closes.
	if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 && w.state[fd]&connOutArmed != 0 {
		if !w.flush(fd) {
			return
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		w.readable(fd, ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0)
	}
}

// readable reads and echoes: to EAGAIN in ET mode, once in LT mode. With
// mayStopShort (an event without RDHUP/HUP/ERR), ET may stop at a short
// read: the socket held no more, and later data or a FIN raises a new edge.
// A FIN that came before the event is in its mask, so then it reads on.
func (w *worker) readable(fd int, mayStopShort bool) {
	for {
		st := w.state[fd]
		if st&connOpen == 0 || st&(connReadPaused|connPeerClosed) != 0 {
			return
		}
		room := w.maxPending - len(w.pending[int32(fd)])
		if room <= 0 {
			w.stats.Backpressure.Add(1)
			w.setState(fd, st|connReadPaused)
			return
		}
		want := min(len(w.buf), room)
		n, err := eventloop.Read(fd, w.buf[:want])
		switch {
		case err == nil && n > 0:
			w.idle.Touch(fd)
			w.stats.Reads.Add(1)
			w.stats.BytesIn.Add(uint64(n))
			if !w.send(fd, w.buf[:n]) {
				return
			}
			// LT reads once per event (a stop reads to EAGAIN, so that nothing
			// is left unread at the close, which would send a reset);
			// ET saves the read that would only say EAGAIN.
			if (!w.et && !w.stopping.Load()) || (mayStopShort && n < want) {
				return
			}
		case err == nil: // n == 0: EOF; echo what is pending, then close
			w.stats.Reads.Add(1)
			if len(w.pending[int32(fd)]) == 0 {
				w.closeConn(fd, &w.stats.CloseEOF)
			} else {
				w.setState(fd, st|connPeerClosed)
			}
			return
		case errors.Is(err, unix.EAGAIN):
			return
		case errors.Is(err, unix.EINTR):
		default:
			w.closeConn(fd, w.stats.CloseReason(err))
			return
		}
	}
}

// send writes b, keeping what the socket cannot take as pending output. It
// returns false if the connection was closed.
func (w *worker) send(fd int, b []byte) bool {
	key := int32(fd)
	if p, ok := w.pending[key]; ok {
		w.pending[key] = append(p, b...) // readable bounded b by the room left
		return true
	}
	b, ok := w.write(fd, b)
	if !ok {
		return false
	}
	if len(b) > 0 {
		w.pending[key] = append(w.spares.Take(), b...)
		return w.setState(fd, w.state[fd]|connOutArmed)
	}
	return true
}

// write writes b until done or the socket is full and returns the unsent
// rest; ok is false if the connection was closed on an error.
func (w *worker) write(fd int, b []byte) (rest []byte, ok bool) {
	for len(b) > 0 {
		n, err := eventloop.Write(fd, b)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if errors.Is(err, unix.EAGAIN) {
				return b, true
			}
			w.closeConn(fd, w.stats.CloseReason(err))
			return nil, false
		}
		w.stats.Writes.Add(1)
		w.stats.BytesOut.Add(uint64(n))
		b = b[n:]
	}
	return nil, true
}

// flush writes pending output on EPOLLOUT; when it drains, reading resumes
// (or a half-closed connection is closed). Returns false if closed.
func (w *worker) flush(fd int) bool {
	key := int32(fd)
	p, ok := w.write(fd, w.pending[key])
	if !ok {
		return false
	}
	if len(p) > 0 {
		// Keep the unsent tail at the front so the buffer never grows past maxPending.
		w.pending[key] = append(w.pending[key][:0], p...)
		return true
	}
	w.spares.Put(w.pending[key])
	delete(w.pending, key)
	if w.state[fd]&connPeerClosed != 0 {
		w.closeConn(fd, &w.stats.CloseEOF)
		return false
	}
	wasPaused := w.state[fd]&connReadPaused != 0
	if !w.setState(fd, w.state[fd]&^(connOutArmed|connReadPaused)) {
		return false
	}
	if wasPaused && w.et {
		w.readable(fd, false) // re-arming ET only reports new data: read what was left
	}
	return true
}

// closeConn removes fd from epoll, frees its state and closes it, once.
func (w *worker) closeConn(fd int, reason *atomic.Uint64) {
	if w.state[fd]&connOpen == 0 {
		return
	}
	w.state[fd] = 0
	w.idle.Remove(fd)
	if p, ok := w.pending[int32(fd)]; ok {
		w.spares.Put(p)
		delete(w.pending, int32(fd))
	}
	w.loop.Poller.Del(fd)
	unix.Close(fd)
	reason.Add(1)
	w.stats.Closed.Add(1)
	w.stats.OpenConns.Add(-1)
	w.srv.open.Add(-1)
}

// stopTick is one step of a graceful stop, on the worker's thread: stop
// accepting, then visit a core.StopBudget of connections, echoing what
// each client has sent and closing those with no output left to send.
// Passes repeat over what is still open (its output drains meanwhile and
// reading resumes, as in any echo) until nothing is, or until the flush
// deadline, when the rest is closed and what still held output counted as
// dropped. Then the loop ends.
func (w *worker) stopTick(now time.Time) time.Duration {
	if w.stop.Begin(now) {
		if w.acc != nil {
			w.acc.close()
			w.acc = nil
		}
		w.drainInbox() // what the acceptor handed over before it stopped
	}
	budget := w.stop.Budget(now)
	for visited := 0; w.stopCursor < len(w.state) && visited < budget; w.stopCursor++ {
		if w.state[w.stopCursor]&connOpen != 0 {
			w.closeGracefully(w.stopCursor)
			visited++
		}
	}
	if w.stopCursor < len(w.state) {
		return core.StopPause
	}
	if len(w.pending) > 0 && !w.stop.Expired(now) {
		w.stopCursor = 0 // another pass, for those that were still sending
		return core.StopPause
	}
	for fd, st := range w.state {
		if st&connOpen != 0 {
			if _, ok := w.pending[int32(fd)]; ok {
				w.stopDropped.Add(1)
			}
			w.closeConn(fd, &w.stats.CloseShutdown)
		}
	}
	w.loop.Stop()
	return 0
}

// closeGracefully echoes what fd's client has sent and closes it, unless
// output is still waiting for the socket: then a later pass closes it.
func (w *worker) closeGracefully(fd int) {
	w.readable(fd, false)
	if w.state[fd]&connOpen == 0 {
		return // the read met EOF or an error and closed it
	}
	if _, ok := w.pending[int32(fd)]; !ok {
		w.closeConn(fd, &w.stats.CloseShutdown)
	}
}

// exit closes every connection the worker still holds (shutdown).
func (w *worker) exit() {
	if w.acc != nil {
		w.acc.close()
	}
	if w.inbox != nil {
		w.drainInbox()
	}
	for fd, st := range w.state {
		if st&connOpen != 0 {
			w.closeConn(fd, &w.stats.CloseShutdown)
		}
	}
}
