package uring

// One ring of the io_uring engine: its registered-file table of
// connections, and the echo on them (accept, multishot receive, send,
// backpressure, close), driven by completions.

import (
	"c1m/core"
	"c1m/idlewheel"
	"c1m/iouring"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Per-slot connection state in a ring.
const (
	slotOpen       uint8 = 1 << iota
	slotRecv             // a multishot receive is armed
	slotCancelling       // its cancel was asked for (backpressure)
	slotPeerClosed       // EOF seen: close once output is sent
	slotFresh            // streaming since a graceful stop last looked (stopSome): a full buffer came, or a paused receive resumed
)

// Operations, in the top byte of user_data.
const (
	opAccept = iota + 1
	opRecv
	opSend
	opClose
	opCancel       // a receive paused for backpressure
	opCancelAll    // a request on a closing connection
	opWritable     // a send met a full socket: wait until it takes more
	opCancelAccept // a full ring stops its accepts
	opLinger       // SO_LINGER 0 on a connection about to be reaped, so its close resets it
)

const heapBid = 0xFFFF // a send from a heap slice, not from a provided buffer

// maxSpares is how many drained output buffers a ring keeps for reuse.
const maxSpares = 64

// userData packs an operation with what its completion needs: the slot and
// its generation (so a late completion is never taken for the slot's next
// connection) and the provided buffer a send returns.
func userData(op uint8, gen uint32, bid, slot uint16) uint64 {
	return uint64(op)<<56 | uint64(gen&0xFFFFFF)<<32 | uint64(bid)<<16 | uint64(slot)
}

func splitUserData(u uint64) (op uint8, gen uint32, bid, slot uint16) {
	return uint8(u >> 56), uint32(u>>32) & 0xFFFFFF, uint16(u >> 16), uint16(u)
}

// outKey names one connection's output: slot and generation.
func outKey(gen uint32, slot uint16) uint64 { return uint64(gen)<<16 | uint64(slot) }

// connOut is a connection's output while a send is in flight: what is being
// sent (a provided buffer or a heap slice), and what came in meanwhile.
type connOut struct {
	buf     []byte
	bid     uint16
	off     int
	pending []byte
	closed  bool // the connection closed with the send in flight
}

// ringWorker is one ring: its registered-file table of connections.
type ringWorker struct {
	id        int
	srv       *Server
	ring      *iouring.Ring
	bufs      *iouring.BufRing
	stats     *core.ConnStats
	acc       *core.AcceptStats
	capacity  int
	conns     int
	bufTarget int       // buffers kept offered in the ring
	bufShort  bool      // receives ran out of buffers since bufCheck
	bufCheck  time.Time // when the target was last decayed and the pool trimmed

	gen     []uint32
	state   []uint8
	out     map[uint64]*connOut
	spares  *core.Spares
	rearm   []uint64 // outKeys whose receive stopped for want of buffers
	armed   []uint8  // the accept armed on listener i: acceptNone, acceptOnce or acceptMulti
	nArmed  int
	noMulti bool // the kernel refused a multishot accept (before 5.19): single-shot only
	backoff core.Backoff
	fatal   error
	look    bool             // serve this ring at the thread's next run even if it shows nothing ready
	idle    *idlewheel.Wheel // -idle-timeout, by slot (nil: off)

	enterCount atomic.Uint64 // read by Snapshot from any goroutine

	stopCursor  int           // the next slot a graceful stop looks at
	stopDropped atomic.Uint64 // closed by the stop with output still unsent
}

// ringStopCloses bounds the closes one stopSome queues: each takes up to
// three submission entries (two cancels, the close), and the queue holds
// ringSQEntries.
const ringStopCloses = ringSQEntries / 4

func (w *ringWorker) init(efd int) error {
	// SUBMIT_ALL: an SQE that fails does not hold back the ones behind it.
	flags := uint32(iouring.SetupSingleIssuer | iouring.SetupSubmitAll)
	if w.srv.cfg.Uring.Taskrun == core.TaskrunDefer {
		flags |= iouring.SetupDeferTaskrun | iouring.SetupTaskrunFlag
	}
	r, err := iouring.New(ringSQEntries, ringCQEntries, flags)
	if err != nil {
		return fmt.Errorf("ring %d: %w", w.id, err)
	}
	w.ring = r
	r.CountEnters(&w.enterCount)
	table := core.RingTable(w.srv.plan, w.srv.cfg.Ports)
	if err := r.RegisterSparseFiles(table); err != nil {
		return fmt.Errorf("ring %d: %w", w.id, err)
	}
	if err := r.RegisterEventfd(efd); err != nil {
		return fmt.Errorf("ring %d: %w", w.id, err)
	}
	if w.bufs, err = iouring.NewBufRing(r, ringBufEntries, ringBufCount, ringBufSize); err != nil {
		return fmt.Errorf("ring %d: %w", w.id, err)
	}
	w.bufTarget = ringBufFirst
	w.bufs.Refill(w.bufTarget)
	w.spares = core.NewSpares(maxSpares, w.srv.cfg.MaxPending, min(w.srv.cfg.MaxPending, 64<<10))
	w.capacity = w.srv.plan.PerTable
	w.gen = make([]uint32, table)
	w.state = make([]uint8, table)
	w.idle = idlewheel.New(w.srv.cfg.Reap.IdleTimeout, time.Now())
	w.idle.Grow(table)
	w.out = make(map[uint64]*connOut)
	w.armed = make([]uint8, len(w.srv.listeners))
	w.armAccepts()
	return w.ring.Submit()
}

// serve reaps every completion, then submits what handling them queued
// (with defer, that enter also runs the next batch of completions).
func (w *ringWorker) serve() {
	w.look = false
	for i := 0; i < 4; i++ {
		n := w.ring.Reap(w.complete)
		w.bufs.Refill(w.bufTarget)
		w.retryReceives()
		w.armAccepts()
		if err := w.ring.Submit(); err != nil && w.fatal == nil {
			w.fatal = err
			w.srv.Fail(fmt.Errorf("ring %d: %w", w.id, err))
		}
		if n == 0 {
			return
		}
	}
}

func (w *ringWorker) enters() uint64 { return w.enterCount.Load() }

func (w *ringWorker) sqe() *iouring.SQE {
	s, err := w.ring.GetSQE()
	if err != nil {
		if w.fatal == nil {
			w.fatal = err
			w.srv.Fail(fmt.Errorf("ring %d: %w", w.id, err))
		}
		return &iouring.SQE{} // a scratch entry the kernel never sees; the server is stopping
	}
	return s
}

func (w *ringWorker) complete(c *iouring.CQE) {
	op, gen, bid, slot := splitUserData(c.UserData)
	switch op {
	case opAccept:
		w.accepted(int(slot), c.Res, c.Flags)
	case opRecv:
		w.received(gen, slot, c.Res, c.Flags)
	case opSend:
		w.sent(gen, bid, slot, c.Res)
	case opWritable:
		w.writable(gen, slot)
	case opCancel:
		// A multishot receive that is running, not waiting, is not found
		// (ENOENT, EALREADY): ask again at its next completion.
		if c.Res < 0 && w.live(gen, slot) {
			w.state[slot] &^= slotCancelling
		}
	}
}

// multishotTail is how many of a ring's last slots are filled by
// single-shot accepts (armAccepts says why). With a tail of a completion
// queue (4,096), 51 rings at a million filled their last 209k single-shot,
// and a reconnect storm's accept queues drained at ~1,400 a second.
const multishotTail = 512

// The accept armed on a listener.
const (
	acceptNone     uint8 = iota
	acceptOnce           // single-shot: one connection, armed again after it
	acceptMulti          // multishot: a completion per connection until cancelled
	acceptStopping       // multishot, its cancel asked for
)

// armAccepts arms one accept per listener while the table has room and
// accepting is not backing off. An accept puts the socket straight into a
// free slot of this ring's table (no ordinary fd). It is multishot while
// the table has more than multishotTail slots free: it stays armed and
// posts a completion per connection, so accepting keeps pace with the
// queues however long the thread spends on echoes between two submits
// (single-shot accepts, re-armed once per serve, let ~300k of a million
// wait in the accept queues once keepalives flowed). The table's last
// multishotTail slots are filled single-shot, so that a multishot accept
// that runs on between the completion saying the table is nearly full and
// the cancel answering it lands in free slots. That run is bounded by the
// accept queue and the completion queue's room, so in a herd it can pass
// the tail: the table's last slot then fails one accept (ENFILE, counted,
// the connection reset) and ends that multishot; the other rings take the
// rest of the queue.
func (w *ringWorker) armAccepts() {
	if w.srv.stopping.Load() {
		return
	}
	if paused, _ := w.backoff.Paused(time.Now()); paused {
		return
	}
	for i, lfd := range w.srv.listeners {
		if w.armed[i] != acceptNone || w.conns+w.nArmed >= w.capacity {
			continue
		}
		s := w.sqe()
		s.Opcode, s.Fd, s.FileIndex = iouring.OpAccept, int32(lfd), iouring.FileIndexAlloc
		s.UserData = userData(opAccept, 0, 0, uint16(i))
		w.armed[i] = acceptOnce
		if w.multishotRoom() {
			s.Ioprio = iouring.AcceptMultishot
			w.armed[i] = acceptMulti
		}
		w.nArmed++
		w.acc.Calls.Add(1)
	}
}

// balanceMargin is how far past an even share of the server's connections
// a ring's multishot accept may run before it is cancelled, so that the
// others take the next ones.
const balanceMargin = 1024

// multishotRoom says whether the ring may accept multishot: its table is
// not near full, and it holds no more than its share. A listener's
// connections went to one ring's multishot accept until its table was
// nearly full, then to the next: each ring in turn ran past its tail in
// the herd and reset what it took beyond its last slot (ENFILE: 7 at 200k
// of 1M planned, 144 in a 1M reconnect storm, on AMD EPYC). Kept near an
// even share, a ring reaches its tail only when the server is nearly full.
func (w *ringWorker) multishotRoom() bool {
	if w.noMulti || w.conns+multishotTail >= w.capacity {
		return false
	}
	return w.conns < int(w.srv.open.Load())/len(w.srv.rings)+balanceMargin
}

// stopMultishot cancels the ring's multishot accepts once its table is
// nearly full; single-shot ones take over when the cancels complete.
func (w *ringWorker) stopMultishot() {
	for i, a := range w.armed {
		if a == acceptMulti {
			w.armed[i] = acceptStopping
			s := w.sqe()
			s.Opcode, s.Addr = iouring.OpAsyncCancel, userData(opAccept, 0, 0, uint16(i))
			s.UserData = userData(opCancelAccept, 0, 0, uint16(i))
		}
	}
}

func (w *ringWorker) accepted(listener int, res int32, flags uint32) {
	multi := false
	if listener < len(w.armed) {
		multi = w.armed[listener] >= acceptMulti
		if flags&iouring.CqeFMore == 0 && w.armed[listener] != acceptNone {
			w.armed[listener] = acceptNone
			w.nArmed--
		}
	}
	if res < 0 {
		if w.srv.stopping.Load() {
			return // the listeners were shut down: not an accept error
		}
		err := unix.Errno(-res)
		switch {
		case err == unix.ECANCELED:
			return
		case err == unix.EINVAL && multi:
			w.noMulti = true // a kernel without multishot accept (before 5.19)
			return
		}
		// Out of fds or memory: the next accept would fail the same way,
		// so pause. (No reserve-fd shedding: a ring accepts into its
		// table, never into the fd table the reserve trick frees.)
		switch w.acc.CountError(err) {
		case core.AcceptNoFD, core.AcceptBroken:
			w.acc.Backoffs.Add(1)
			w.backoff.Start(time.Now())
		}
		return
	}
	w.backoff.Reset()
	slot := uint16(res)
	if limit := int64(w.srv.plan.MaxConns); limit > 0 && w.srv.open.Load() >= limit {
		w.closeSlot(slot)
		w.acc.ShedMaxConns.Add(1)
		return
	}
	w.srv.open.Add(1)
	w.conns++
	if multi && !w.multishotRoom() {
		w.stopMultishot()
	}
	w.stats.OpenConns.Add(1)
	w.stats.Registered.Add(1)
	w.acc.Accepted.Add(1)
	w.gen[slot] = (w.gen[slot] + 1) & 0xFFFFFF
	w.state[slot] = slotOpen
	w.idle.Add(int(slot))
	w.armRecv(slot)
}

// tick reaps idle connections and re-arms accepts once a back-off has run
// out; it returns how long the thread may sleep for this ring (-1: no limit).
func (w *ringWorker) tick(now time.Time) time.Duration {
	if w.ring == nil {
		return -1
	}
	wait := w.idle.Advance(now, core.StopBatch, core.StopPause, w.reapIdle)
	wait = core.SoonerWait(wait, w.shrinkBuffers(now))
	if w.backoff.Active() {
		if paused, left := w.backoff.Paused(now); paused {
			wait = core.SoonerWait(wait, left)
		} else {
			w.armAccepts()
		}
	}
	if w.ring.Queued() > 0 {
		w.ring.Submit()
	}
	return wait
}

// bufTrimEvery is how often a ring halves its buffer target if no
// receive ran short meanwhile, and gives back the memory of the free
// buffers beyond it.
const bufTrimEvery = 2 * time.Second

// shrinkBuffers undoes, after a burst, what the burst made the ring touch:
// the target that ENOBUFS doubled decays again (from 1,024 to 32 in ten
// seconds), and the buffers the burst left free give their pages back.
// Without it a uring server that had held 100k connections kept ~25 MiB
// more RSS (6 rings) for good. It returns when it wants to run again.
func (w *ringWorker) shrinkBuffers(now time.Time) time.Duration {
	if left := bufTrimEvery - now.Sub(w.bufCheck); left > 0 {
		return left
	}
	if !w.bufShort {
		w.bufTarget = max(ringBufFirst, w.bufTarget/2)
	}
	w.bufShort, w.bufCheck = false, now
	w.bufs.Trim(w.bufTarget)
	return bufTrimEvery
}

// reapIdle closes a connection idle past -idle-timeout with a reset (as
// the epoll engine's reapIdle says why).
func (w *ringWorker) reapIdle(slot int) {
	w.lingerZero(uint16(slot))
	w.closeConn(uint16(slot), &w.stats.CloseIdle)
}

// lingerReset is SO_LINGER on, 0 s: close sends a reset. One value for
// every request: the kernel reads it when the request runs.
var lingerReset = unix.Linger{Onoff: 1, Linger: 0}

// lingerZero sets SO_LINGER 0 on a registered socket, ahead of its close
// in the same submission (both run inline, in order). A kernel without
// socket commands (before 6.7) fails it, and the close is a FIN instead.
func (w *ringWorker) lingerZero(slot uint16) {
	s := w.sqe()
	s.PrepSetsockopt(uint32(slot), unix.SOL_SOCKET, unix.SO_LINGER, unsafe.Pointer(&lingerReset), uint32(unsafe.Sizeof(lingerReset)))
	s.UserData = userData(opLinger, w.gen[slot], 0, slot)
}

// armRecv arms a connection's receive into a provided buffer: by default a
// multishot one, a request that posts a completion each time data arrives
// (-uring-recv single: one completion, armed again after it). It ends after the room
// left under -max-pending (the kernel's multishot byte limit, in optlen;
// Linux 6.17+), so a client that does not read its echo cannot make the
// server hold more; older kernels ignore the limit and the backpressure
// cancel below bounds it instead.
func (w *ringWorker) armRecv(slot uint16) {
	queued := w.queued(w.gen[slot], slot)
	room := w.srv.cfg.MaxPending - queued
	if queued > 0 {
		room -= ringBufSize // the limit is checked after a receive, which may fill one buffer past it
	}
	if room <= 0 {
		w.stats.Backpressure.Add(1) // paused: the send that drains the output re-arms it
		return
	}
	s := w.sqe()
	s.Opcode, s.Fd, s.Flags = iouring.OpRecv, int32(slot), iouring.SqeFixedFile|iouring.SqeBufferSelect
	s.BufGroup = iouring.BufGroup
	if w.srv.cfg.Uring.Recv != core.RecvSingle {
		s.Ioprio = iouring.RecvMultishot
		if recvByteLimit {
			s.FileIndex = uint32(room) // optlen: the multishot's total byte limit
		}
	}
	s.UserData = userData(opRecv, w.gen[slot], 0, slot)
	w.state[slot] |= slotRecv
}

// queued is a connection's output not yet sent.
func (w *ringWorker) queued(gen uint32, slot uint16) int {
	if o := w.out[outKey(gen, slot)]; o != nil {
		return len(o.buf) - o.off + len(o.pending)
	}
	return 0
}

func (w *ringWorker) live(gen uint32, slot uint16) bool {
	return int(slot) < len(w.state) && w.state[slot]&slotOpen != 0 && w.gen[slot] == gen
}

func (w *ringWorker) received(gen uint32, slot uint16, res int32, flags uint32) {
	hasBuf := flags&iouring.CqeFBuffer != 0
	bid := uint16(flags >> iouring.CqeBufferShift)
	if hasBuf {
		w.bufs.Consumed()
	}
	if !w.live(gen, slot) {
		if hasBuf {
			w.bufs.Release(bid)
		}
		return
	}
	ended := flags&iouring.CqeFMore == 0
	if ended {
		w.state[slot] &^= slotRecv | slotCancelling
	}
	switch {
	case res > 0 && hasBuf:
		if int(res) == ringBufSize {
			w.state[slot] |= slotFresh // a full buffer: a stream, likely more behind it
		}
		w.idle.Touch(int(slot))
		w.stats.Reads.Add(1)
		w.stats.BytesIn.Add(uint64(res))
		w.echo(gen, slot, bid, int(res))
	case res == 0:
		w.stats.Reads.Add(1)
		if _, busy := w.out[outKey(gen, slot)]; busy {
			w.state[slot] |= slotPeerClosed
		} else {
			w.closeConn(slot, &w.stats.CloseEOF)
		}
		return
	case res == -int32(unix.ENOBUFS):
		// Offer more buffers from now on: the memory touched follows the
		// echoes in flight, not a guess.
		w.bufTarget = min(2*w.bufTarget, ringBufEntries)
		w.bufShort = true
		w.stats.NoBuffers.Add(1)
		w.rearm = append(w.rearm, outKey(gen, slot))
		return
	case res == -int32(unix.ECANCELED):
	case res < 0:
		w.closeConn(slot, w.stats.CloseReason(unix.Errno(-res)))
		return
	}
	if ended && w.state[slot]&slotOpen != 0 {
		w.maybeRearm(gen, slot)
	}
}

// maybeRearm re-arms a connection's receive unless it is paused for
// backpressure (its send will re-arm it) or the peer has closed.
func (w *ringWorker) maybeRearm(gen uint32, slot uint16) {
	st := w.state[slot]
	if st&(slotRecv|slotPeerClosed) != 0 || st&slotOpen == 0 {
		return
	}
	w.armRecv(slot)
}

// retryReceives re-arms receives that ended for want of a buffer, oldest
// first and no more than the ring has buffers for: each re-armed receive
// with data waiting takes a buffer at once, so re-arming the whole list
// into a nearly empty ring only fails most of them again (ENOBUFS), and
// under saturation that retry loop was most of the server's CPU.
func (w *ringWorker) retryReceives() {
	n := min(len(w.rearm), w.bufs.InRing())
	if n == 0 {
		return
	}
	for _, k := range w.rearm[:n] {
		gen, slot := uint32(k>>16), uint16(k)
		if w.live(gen, slot) {
			w.maybeRearm(gen, slot)
		}
	}
	w.rearm = w.rearm[n:]
	if len(w.rearm) == 0 {
		w.rearm = nil
	}
}

// echo sends what arrived back. With no send in flight the provided buffer
// itself is sent; otherwise the bytes wait in the connection's pending
// slice (bounded by -max-pending) and the buffer goes back at once.
func (w *ringWorker) echo(gen uint32, slot uint16, bid uint16, n int) {
	key := outKey(gen, slot)
	if o := w.out[key]; o != nil {
		if o.pending == nil {
			o.pending = w.spares.Take()
		}
		o.pending = append(o.pending, w.bufs.At(bid)[:n]...)
		w.bufs.Release(bid)
		if w.queued(gen, slot) >= w.srv.cfg.MaxPending && w.state[slot]&(slotRecv|slotCancelling) == slotRecv {
			w.stats.Backpressure.Add(1)
			w.cancelRecv(gen, slot)
		}
		return
	}
	o := &connOut{buf: w.bufs.At(bid)[:n], bid: bid}
	w.out[key] = o
	w.send(gen, slot, o)
}

func (w *ringWorker) send(gen uint32, slot uint16, o *connOut) {
	s := w.sqe()
	s.Opcode, s.Fd, s.Flags = iouring.OpSend, int32(slot), iouring.SqeFixedFile
	s.Addr = uint64(uintptr(unsafe.Pointer(&o.buf[o.off])))
	s.Len = uint32(len(o.buf) - o.off)
	// MSG_DONTWAIT: a send the socket cannot take now comes back EAGAIN
	// and waits for write space in a poll request of its own (waitWritable),
	// rather than inside io_uring's send, where a send now and then stayed
	// parked on an idle socket until the peer closed.
	s.OpFlags = unix.MSG_NOSIGNAL | unix.MSG_DONTWAIT
	s.UserData = userData(opSend, gen, o.bid, slot)
}

// waitWritable asks the kernel to say when a full socket takes more
// output; the connection's send goes again then (writable). A close
// cancels the request with every other one on the socket.
func (w *ringWorker) waitWritable(gen uint32, slot uint16) {
	s := w.sqe()
	s.Opcode, s.Fd, s.Flags = iouring.OpPollAdd, int32(slot), iouring.SqeFixedFile
	s.OpFlags = unix.POLLOUT // poll32_events
	s.UserData = userData(opWritable, gen, 0, slot)
}

// writable sends a connection's output again once its socket has room (or
// drops it if the connection closed meanwhile).
func (w *ringWorker) writable(gen uint32, slot uint16) {
	key := outKey(gen, slot)
	switch o := w.out[key]; {
	case o == nil:
	case o.closed || !w.live(gen, slot):
		w.finishOut(key, o)
	default:
		w.send(gen, slot, o)
	}
}

func (w *ringWorker) cancelRecv(gen uint32, slot uint16) {
	s := w.sqe()
	s.Opcode, s.Addr = iouring.OpAsyncCancel, userData(opRecv, gen, 0, slot)
	s.UserData = userData(opCancel, gen, 0, slot)
	w.state[slot] |= slotCancelling
}

func (w *ringWorker) sent(gen uint32, bid, slot uint16, res int32) {
	key := outKey(gen, slot)
	o := w.out[key]
	if o == nil {
		if bid != heapBid {
			w.bufs.Release(bid) // cannot happen; never lose a buffer
		}
		return
	}
	if o.closed || !w.live(gen, slot) {
		w.finishOut(key, o)
		return
	}
	if res == -int32(unix.EAGAIN) {
		w.stats.SendRetries.Add(1)
		w.waitWritable(gen, slot) // the socket is full: the peer reads slowly, or not at all
		return
	}
	if res < 0 {
		w.finishOut(key, o)
		w.closeConn(slot, w.stats.CloseReason(unix.Errno(-res)))
		return
	}
	w.stats.Writes.Add(1)
	w.stats.BytesOut.Add(uint64(res))
	if w.state[slot]&slotRecv == 0 {
		w.state[slot] |= slotFresh // a receive paused for this output resumes below: more may come
	}
	o.off += int(res)
	if o.off < len(o.buf) {
		w.send(gen, slot, o) // a short send: the rest, in order
		return
	}
	if o.bid != heapBid {
		w.bufs.Release(o.bid)
	} else {
		w.spares.Put(o.buf)
	}
	if len(o.pending) > 0 {
		o.buf, o.bid, o.off, o.pending = o.pending, heapBid, 0, nil
		w.send(gen, slot, o)
		w.maybeRearm(gen, slot)
		return
	}
	delete(w.out, key)
	if w.state[slot]&slotPeerClosed != 0 {
		w.closeConn(slot, &w.stats.CloseEOF)
		return
	}
	w.maybeRearm(gen, slot)
}

// finishOut drops a connection's output once the kernel is done with it.
func (w *ringWorker) finishOut(key uint64, o *connOut) {
	if o.bid != heapBid {
		w.bufs.Release(o.bid)
	} else {
		w.spares.Put(o.buf)
	}
	if o.pending != nil {
		w.spares.Put(o.pending)
	}
	delete(w.out, key)
}

// closeConn cancels what is in flight on a connection and closes its slot.
// A send still in flight keeps its output until its completion comes.
func (w *ringWorker) closeConn(slot uint16, reason *atomic.Uint64) {
	if w.state[slot]&slotOpen == 0 {
		return
	}
	gen, st := w.gen[slot], w.state[slot]
	o := w.out[outKey(gen, slot)]
	if o != nil {
		o.closed = true
		if o.pending != nil {
			w.spares.Put(o.pending)
			o.pending = nil
		}
	}
	w.state[slot] = 0
	w.idle.Remove(int(slot))
	w.conns--
	w.stats.OpenConns.Add(-1)
	w.stats.Closed.Add(1)
	w.srv.open.Add(-1)
	reason.Add(1)
	// Cancel the requests that hold the socket, or closing the slot would
	// not close the connection: an armed receive, and a wait for write
	// space while output is waiting (a send in flight completes by itself:
	// MSG_DONTWAIT). Each by its user data, a hash lookup: a cancel by
	// file (IORING_ASYNC_CANCEL_FD) scans every request of the ring, and
	// over a ring's thousands of armed receives made closing them all
	// quadratic (2,000 closes a second at 50k on AMD EPYC).
	if st&slotRecv != 0 {
		w.cancel(userData(opRecv, gen, 0, slot))
	}
	if o != nil {
		w.cancel(userData(opWritable, gen, 0, slot))
	}
	w.closeSlot(slot)
}

// cancel asks the kernel to cancel the request with user data target; its
// completion (found or not) needs nothing.
func (w *ringWorker) cancel(target uint64) {
	s := w.sqe()
	s.Opcode, s.Addr = iouring.OpAsyncCancel, target
	_, gen, _, slot := splitUserData(target)
	s.UserData = userData(opCancelAll, gen, 0, slot)
}

// closeSlot closes a registered socket and frees its slot.
func (w *ringWorker) closeSlot(slot uint16) {
	s := w.sqe()
	s.Opcode, s.FileIndex = iouring.OpClose, uint32(slot)+1
	s.UserData = userData(opClose, 0, 0, slot)
}

// stopSome closes up to budget connections for a graceful stop and returns
// how many it closed. One with output in flight, whose receive waits for
// a buffer, or that received since the last look is left for a later pass (its echo goes on meanwhile: the
// send re-arms its receive), unless the flush deadline has passed
// (expired): then it is closed, and counted as dropped if output was left. A pass that reached the last slot starts again at the first.
func (w *ringWorker) stopSome(budget int, expired bool) int {
	if w.stopCursor >= len(w.state) {
		w.stopCursor = 0
	}
	n := 0
	for ; w.stopCursor < len(w.state) && n < min(budget, ringStopCloses); w.stopCursor++ {
		slot := uint16(w.stopCursor)
		st := w.state[slot]
		if st&slotOpen == 0 {
			continue
		}
		if st&slotFresh != 0 && !expired {
			// Streaming since the last look (a full buffer came, or a
			// receive paused for backpressure resumed): the client is
			// likely sending more, and a close would reset it, unread.
			// Quiet for one look, it is closed. (Marking every arrival
			// instead doubled a 200k stop under keepalives and pushed
			// it past the flush deadline: 477 resets against 12.)
			w.state[slot] &^= slotFresh
			continue
		}
		sending := w.out[outKey(w.gen[slot], slot)] != nil
		// A receive that ran out of buffers (w.rearm) leaves what arrives
		// in the socket, and closing a socket with unread data resets the
		// connection: wait for its receive too.
		if sending || st&(slotRecv|slotPeerClosed) == 0 {
			if !expired {
				continue
			}
			if sending {
				w.stopDropped.Add(1)
			}
		}
		n++
		w.closeConn(slot, &w.stats.CloseShutdown)
	}
	if n > 0 {
		if err := w.ring.Submit(); err != nil && w.fatal == nil {
			w.fatal = err
			w.srv.Fail(fmt.Errorf("ring %d: %w", w.id, err))
		}
	}
	return n
}

// forgetFresh clears every connection's slotFresh when a stop begins: only
// what arrives from then on delays a close.
func (w *ringWorker) forgetFresh() {
	for slot := range w.state {
		w.state[slot] &^= slotFresh
	}
}

// close ends the ring: the kernel cancels every request and closes every
// socket in its table.
func (w *ringWorker) close() {
	if w.ring == nil {
		return
	}
	for slot, st := range w.state {
		if st&slotOpen != 0 {
			w.state[slot] = 0
			w.stats.CloseShutdown.Add(1)
			w.stats.Closed.Add(1)
			w.stats.OpenConns.Add(-1)
			w.srv.open.Add(-1)
		}
	}
	w.conns = 0
	// The kernel cancels every request and closes every socket of the ring
	// in the background (its teardown work). Doing it here instead, with a
	// synchronous cancel and an unregister, took over a minute at 1M
	// connections; the listeners, the one thing that must be free at once,
	// were shut down by Stop already.
	// The buffer ring goes first, so no receive the kernel finishes late
	// writes into the pool once it is unmapped (and maybe reused).
	if w.bufs != nil {
		w.bufs.Unregister(w.ring)
		w.bufs.Close()
	}
	w.ring.Close()
	w.out = nil
	w.ring = nil
}
