package core

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// StrategyRings is the io_uring engine's way past RLIMIT_NOFILE: sockets
// are accepted straight into rings' registered-file tables (one table of up
// to RLIMIT_NOFILE slots per ring) and never take an ordinary fd, so one
// process with one thread per CPU holds them all.
const StrategyRings = "rings"

// Ring sizing. Every page of a ring's queues and buffers that is ever
// touched stays in the process: at 51 rings a KiB per ring is 51 B per
// connection at 1M, so they are small. A recv CQE hands over one provided
// buffer, which goes back when its echo is sent: a ring needs as many
// buffers as echoes in flight, not as connections.
const (
	ringSQEntries  = 512
	ringCQEntries  = 4096
	ringBufEntries = 1024  // provided-buffer ring slots
	ringBufCount   = 32768 // the pool behind them (reserved, touched as used)
	ringBufSize    = 2048
	ringBufFirst   = 32 // buffers offered to the kernel at first; doubled each time receives run out
	acceptSlack    = 8  // table slots kept free beyond one armed accept per listener
)

// How a ring's completions reach its thread (-uring-taskrun).
const (
	TaskrunSignal = "signal" // the kernel interrupts the thread to post them (task_work with a signal-style kick)
	TaskrunDefer  = "defer"  // they wait until the thread enters the kernel for them (IORING_SETUP_DEFER_TASKRUN); its eventfd says when
)

// PlanRings sizes the io_uring engine: how many rings (registered-file
// tables of up to nofile slots each) and threads -max-conns needs.
func PlanRings(cfg Config, nofile uint64) (Plan, error) {
	p := Plan{Strategy: StrategyRings, Procs: 1, NofileSoft: nofile, NofileHard: nofile}
	if cfg.Strategy != "" && cfg.Strategy != StrategyAuto {
		return p, fmt.Errorf("-engine uring holds connections past RLIMIT_NOFILE by itself: drop -strategy %s", cfg.Strategy)
	}
	per := int(nofile) - cfg.Ports - acceptSlack
	if per < 1 {
		return p, fmt.Errorf("RLIMIT_NOFILE %d leaves a ring's table no room for connections: raise it (ulimit -n)", nofile)
	}
	rings := cfg.Rings
	if rings <= 0 {
		rings = max(1, (cfg.MaxConns+per-1)/per)
	}
	want := cfg.MaxConns
	if want == 0 {
		want = rings * per
	}
	if want > rings*per {
		return p, fmt.Errorf("-rings %d hold at most %d connections (%d per ring, RLIMIT_NOFILE %d): raise -rings or leave it 0", rings, rings*per, per, nofile)
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	p.Tables, p.Workers = rings, min(workers, rings)
	p.PerTable, p.MaxConns, p.MaxConnsPerProc = per, want, want
	return p, nil
}

// uringServer is the io_uring engine: rings, each a registered-file table
// of sockets, spread over one locked thread per CPU. Each thread's rings
// share an eventfd the thread's epoll loop waits on.
type uringServer struct {
	cfg       Config
	plan      Plan
	addrs     []netip.AddrPort
	listeners []int
	threads   []*uringThread
	rings     []*ringWorker
	open      atomic.Int64
	stopping  atomic.Bool

	errOnce sync.Once
	err     error
	failed  chan struct{}
}

type uringThread struct {
	loop  *Loop
	efd   int
	rings []*ringWorker
	wakes atomic.Uint64 // eventfd reads
}

// recvByteLimit: the kernel ends a multishot receive at a byte limit
// (sqe->optlen, Linux 6.17+); older kernels would refuse the field.
var recvByteLimit bool

// uringSupport checks, once, that this kernel runs everything the engine
// asks of it; the error says what is missing.
var uringSupport = sync.OnceValue(func() error {
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		rel := unix.ByteSliceToString(u.Release[:])
		v := strings.SplitN(rel, ".", 3)
		major, _ := strconv.Atoi(v[0])
		minor := 0
		if len(v) > 1 {
			minor, _ = strconv.Atoi(v[1])
		}
		if major < 6 {
			return fmt.Errorf("kernel %s: multishot receive and provided-buffer rings need Linux 6.0 or later", rel)
		}
		recvByteLimit = major > 6 || minor >= 17
	}
	r, err := newUring(8, 16, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("%w (io_uring is disabled: see sysctl kernel.io_uring_disabled, or a seccomp filter)", err)
		}
		return err
	}
	defer r.close()
	if err := r.supports(iouringOpAccept, iouringOpRecv, iouringOpSend, iouringOpClose, iouringOpAsyncCancel); err != nil {
		return err
	}
	if err := r.registerSparseFiles(16); err != nil {
		return err
	}
	b, err := newBufRing(r, 8, 8, 64)
	if err != nil {
		return err
	}
	b.close()
	return nil
})

func newUringServer(cfg Config, nofile uint64) (*uringServer, error) {
	plan, err := PlanRings(cfg, nofile)
	if err != nil {
		return nil, err
	}
	addrs, err := ListenAddrs(cfg.Addr, cfg.Ports)
	if err != nil {
		return nil, err
	}
	if addrs[0].Port() == 0 && cfg.Ports > 1 {
		return nil, fmt.Errorf("-ports %d needs a fixed base port, not 0", cfg.Ports)
	}
	cfg.Workers, cfg.Rings, cfg.Dispatch = plan.Workers, plan.Tables, "uring"
	EnsureProcs(plan.Workers)
	return &uringServer{cfg: cfg, plan: plan, addrs: addrs, failed: make(chan struct{})}, nil
}

func (s *uringServer) Plan() Plan              { return s.plan }
func (s *uringServer) Config() Config          { return s.cfg }
func (s *uringServer) Failed() <-chan struct{} { return s.failed }

func (s *uringServer) Err() error {
	select {
	case <-s.failed:
		return s.err
	default:
		return nil
	}
}

func (s *uringServer) fatal(err error) {
	s.errOnce.Do(func() {
		s.err = err
		close(s.failed)
	})
}

// Start listens, then starts the threads; each creates its rings on itself
// (the ring's single issuer) and arms an accept per listener on each.
func (s *uringServer) Start() error {
	opts := ListenOptions{Backlog: s.cfg.Backlog, RcvBuf: s.cfg.RcvBuf, SndBuf: s.cfg.SndBuf}
	for i, ap := range s.addrs {
		fd, err := Listen(ap, opts)
		if err != nil {
			s.Stop()
			return err
		}
		if ap.Port() == 0 {
			if sa, err := unix.Getsockname(fd); err == nil {
				if in4, ok := sa.(*unix.SockaddrInet4); ok {
					s.addrs[i] = netip.AddrPortFrom(ap.Addr(), uint16(in4.Port))
				}
			}
		}
		s.listeners = append(s.listeners, fd)
	}
	for i := 0; i < s.plan.Tables; i++ {
		s.rings = append(s.rings, &ringWorker{id: i, srv: s, stats: newWorkerStats(), acc: &acceptStats{}})
	}
	for t := 0; t < s.plan.Workers; t++ {
		th := &uringThread{efd: -1}
		for i := t; i < len(s.rings); i += s.plan.Workers {
			th.rings = append(th.rings, s.rings[i])
		}
		cpu := -1
		if s.cfg.Pin {
			cpu = t % runtime.NumCPU()
		}
		l, err := StartLoop(LoopOptions{CPU: cpu, RawWaitMs: s.cfg.RawWaitMs}, th.hooks(s))
		if err != nil {
			s.Stop()
			return fmt.Errorf("io_uring thread %d: %w", t, err)
		}
		th.loop = l
		s.threads = append(s.threads, th)
	}
	return nil
}

// Addrs are the listening addresses.
func (s *uringServer) Addrs() []netip.AddrPort { return append([]netip.AddrPort(nil), s.addrs...) }

// Stop ends the threads (each closes its rings, and with them every
// connection) and the listeners. Safe to call more than once.
func (s *uringServer) Stop() {
	if s.stopping.Swap(true) {
		return
	}
	for _, th := range s.threads {
		th.loop.Stop()
	}
	for _, th := range s.threads {
		th.loop.Wait()
	}
	for _, fd := range s.listeners {
		unix.Close(fd)
	}
	s.listeners = nil
}

func (s *uringServer) Snapshot() Snapshot {
	snap := Snapshot{Time: time.Now(), Engine: EngineUring, Strategy: StrategyRings, Procs: 1, Tables: len(s.rings), Rings: len(s.rings),
		Dispatch: "uring", Trigger: "multishot", CloseReasons: map[string]uint64{}, AcceptErrors: map[string]uint64{}}
	for _, w := range s.rings {
		ws := w.stats.snapshot(w.id)
		ws.UringEnters = w.enters()
		snap.addWorker(ws, w.stats)
		snap.Accepted += w.acc.addTo(snap.AcceptErrors)
		snap.AcceptCalls += w.acc.calls.Load()
	}
	for _, th := range s.threads {
		snap.EpollWaits += th.loop.Waits.Load()
		snap.Syscalls += th.loop.Waits.Load() + th.wakes.Load()
	}
	snap.Syscalls += snap.UringEnters
	samples := append([]metrics.Sample(nil), heapMetric...)
	metrics.Read(samples)
	snap.GoHeapBytes = samples[0].Value.Uint64()
	snap.GoSysBytes = samples[1].Value.Uint64()
	return snap
}

func (th *uringThread) hooks(s *uringServer) LoopHooks {
	return LoopHooks{
		Init: func(l *Loop) error {
			efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
			if err != nil {
				return fmt.Errorf("eventfd: %w", err)
			}
			th.efd = efd
			if err := l.Poller.Add(efd, unix.EPOLLIN); err != nil {
				return err
			}
			for _, w := range th.rings {
				if err := w.init(efd); err != nil {
					th.exit()
					return err
				}
			}
			th.run()
			return nil
		},
		Event: func(fd int, _ uint32) {
			if fd == th.efd {
				var b [8]byte
				unix.Read(th.efd, b[:])
				th.wakes.Add(1)
				th.run()
			}
		},
		Tick: func(now time.Time) time.Duration {
			wait := time.Duration(-1)
			for _, w := range th.rings {
				d := w.tick(now)
				if w.ring != nil && w.ring.queued() > 0 {
					d = time.Millisecond // the kernel took not all: try again soon
				}
				if d >= 0 && (wait < 0 || d < wait) {
					wait = d
				}
			}
			return wait
		},
		Exit: th.exit,
	}
}

// run serves every ring of the thread until none has completions left.
// The rings' eventfd signals are off meanwhile, and back on before the
// last look, so a completion posted after it still wakes the thread.
func (th *uringThread) run() {
	for _, w := range th.rings {
		if w.ring != nil {
			w.ring.notify(false)
		}
	}
	for round := 0; round < 16; round++ {
		busy := false
		last := round == 15
		for _, w := range th.rings {
			if w.ring == nil {
				continue
			}
			if last {
				w.ring.notify(true)
			}
			if w.ring.ready() || w.ring.queued() > 0 {
				w.serve()
				busy = true
			}
		}
		if !busy && !last {
			round = 14 // one more pass, notifications on
		} else if !busy {
			return
		}
	}
}

func (th *uringThread) exit() {
	for _, w := range th.rings {
		w.close()
	}
	if th.efd >= 0 {
		unix.Close(th.efd)
		th.efd = -1
	}
}

// Per-slot connection state in a ring.
const (
	slotOpen       uint8 = 1 << iota
	slotRecv             // a multishot receive is armed
	slotCancelling       // its cancel was asked for (backpressure)
	slotPeerClosed       // EOF seen: close once output is sent
)

// Operations, in the top byte of user_data.
const (
	opAccept = iota + 1
	opRecv
	opSend
	opClose
	opCancel    // a receive paused for backpressure
	opCancelAll // every request on a closing connection
)

const heapBid = 0xFFFF // a send from a heap slice, not from a provided buffer

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
	srv       *uringServer
	ring      *uring
	bufs      *bufRing
	stats     *workerStats
	acc       *acceptStats
	capacity  int
	conns     int
	bufTarget int // buffers kept offered in the ring

	gen      []uint32
	state    []uint8
	out      map[uint64]*connOut
	spare    [][]byte
	rearm    []uint64 // outKeys whose receive stopped for want of buffers
	armed    []bool   // an accept is armed on listener i
	nArmed   int
	pauseEnd time.Time
	backoff  time.Duration
	fatal    error

	enterCount atomic.Uint64 // read by Snapshot from any goroutine
}

func (w *ringWorker) init(efd int) error {
	flags := uint32(iouringSetupSingleIssuer)
	if w.srv.cfg.UringTaskrun == TaskrunDefer {
		flags |= iouringSetupDeferTaskrun | iouringSetupTaskrunFlag
	}
	r, err := newUring(ringSQEntries, ringCQEntries, flags)
	if err != nil {
		return fmt.Errorf("ring %d: %w", w.id, err)
	}
	w.ring = r
	r.enters = &w.enterCount
	table := w.srv.plan.PerTable + w.srv.cfg.Ports + acceptSlack
	if err := r.registerSparseFiles(table); err != nil {
		return fmt.Errorf("ring %d: %w", w.id, err)
	}
	if err := r.registerEventfd(efd); err != nil {
		return fmt.Errorf("ring %d: %w", w.id, err)
	}
	if w.bufs, err = newBufRing(r, ringBufEntries, ringBufCount, ringBufSize); err != nil {
		return fmt.Errorf("ring %d: %w", w.id, err)
	}
	w.bufTarget = ringBufFirst
	w.bufs.refill(w.bufTarget)
	w.capacity = w.srv.plan.PerTable
	w.gen = make([]uint32, table)
	w.state = make([]uint8, table)
	w.out = make(map[uint64]*connOut)
	w.armed = make([]bool, len(w.srv.listeners))
	w.armAccepts()
	return w.ring.submit()
}

// serve reaps every completion, then submits what handling them queued.
func (w *ringWorker) serve() {
	for i := 0; i < 4; i++ {
		n := w.ring.reap(w.complete)
		w.bufs.refill(w.bufTarget)
		w.retryReceives()
		w.armAccepts()
		if err := w.ring.submit(); err != nil && w.fatal == nil {
			w.fatal = err
			w.srv.fatal(fmt.Errorf("ring %d: %w", w.id, err))
		}
		if n == 0 {
			return
		}
	}
}

func (w *ringWorker) enters() uint64 { return w.enterCount.Load() }

func (w *ringWorker) sqe() *sqe {
	s, err := w.ring.getSQE()
	if err != nil {
		if w.fatal == nil {
			w.fatal = err
			w.srv.fatal(fmt.Errorf("ring %d: %w", w.id, err))
		}
		return &sqe{} // a scratch entry the kernel never sees; the server is stopping
	}
	return s
}

func (w *ringWorker) complete(c *cqe) {
	op, gen, bid, slot := splitUserData(c.UserData)
	switch op {
	case opAccept:
		w.accepted(int(slot), c.Res)
	case opRecv:
		w.received(gen, slot, c.Res, c.Flags)
	case opSend:
		w.sent(gen, bid, slot, c.Res)
	case opCancel:
		// A multishot receive that is running, not waiting, is not found
		// (ENOENT, EALREADY): ask again at its next completion.
		if c.Res < 0 && w.live(gen, slot) {
			w.state[slot] &^= slotCancelling
		}
	}
}

// armAccepts arms one accept per listener while the table has room and
// accepting is not backing off. An accept puts the socket straight into a
// free slot of this ring's table (no ordinary fd).
func (w *ringWorker) armAccepts() {
	if w.srv.stopping.Load() || time.Now().Before(w.pauseEnd) {
		return
	}
	for i, lfd := range w.srv.listeners {
		if w.armed[i] || w.conns+w.nArmed >= w.capacity {
			continue
		}
		s := w.sqe()
		s.Opcode, s.Fd, s.FileIndex = iouringOpAccept, int32(lfd), iouringFileIndexAlloc
		s.UserData = userData(opAccept, 0, 0, uint16(i))
		w.armed[i] = true
		w.nArmed++
		w.acc.calls.Add(1)
	}
}

func (w *ringWorker) accepted(listener int, res int32) {
	if listener < len(w.armed) && w.armed[listener] {
		w.armed[listener] = false
		w.nArmed--
	}
	if res < 0 {
		switch err := unix.Errno(-res); err {
		case unix.ECANCELED:
		case unix.ECONNABORTED, unix.EINTR, unix.EAGAIN:
			w.acc.econnaborted.Add(1)
		case unix.ENFILE, unix.EMFILE:
			w.acc.enfile.Add(1)
			w.startBackoff()
		default:
			w.acc.otherErr.Add(1)
			w.startBackoff()
		}
		return
	}
	w.backoff = 0
	slot := uint16(res)
	if limit := int64(w.srv.plan.MaxConns); limit > 0 && w.srv.open.Load() >= limit {
		w.closeSlot(slot)
		w.acc.shedMaxConns.Add(1)
		return
	}
	w.srv.open.Add(1)
	w.conns++
	w.stats.openConns.Add(1)
	w.stats.registered.Add(1)
	w.acc.accepted.Add(1)
	w.gen[slot] = (w.gen[slot] + 1) & 0xFFFFFF
	w.state[slot] = slotOpen
	w.armRecv(slot)
}

func (w *ringWorker) startBackoff() {
	w.backoff = min(max(2*w.backoff, backoffFirst), backoffMax)
	w.acc.backoffs.Add(1)
	w.pauseEnd = time.Now().Add(w.backoff)
}

// tick re-arms accepts once a back-off has run out.
func (w *ringWorker) tick(now time.Time) time.Duration {
	if w.ring == nil || w.pauseEnd.IsZero() {
		return -1
	}
	if left := w.pauseEnd.Sub(now); left > 0 {
		return left
	}
	w.pauseEnd = time.Time{}
	w.armAccepts()
	w.ring.submit()
	return -1
}

// armRecv arms a multishot receive: one request that posts a completion,
// with a provided buffer, each time data arrives. It ends after the room
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
		w.stats.backpressure.Add(1) // paused: the send that drains the output re-arms it
		return
	}
	s := w.sqe()
	s.Opcode, s.Fd, s.Flags = iouringOpRecv, int32(slot), iosqeFixedFile|iosqeBufferSelect
	s.Ioprio, s.BufGroup = iouringRecvMultishot, bufGroup
	if recvByteLimit {
		s.FileIndex = uint32(room) // optlen: the multishot's total byte limit
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
	hasBuf := flags&iouringCqeFBuffer != 0
	bid := uint16(flags >> iouringCqeBufferShift)
	if hasBuf {
		w.bufs.consumed()
	}
	if !w.live(gen, slot) {
		if hasBuf {
			w.bufs.release(bid)
		}
		return
	}
	ended := flags&iouringCqeFMore == 0
	if ended {
		w.state[slot] &^= slotRecv | slotCancelling
	}
	switch {
	case res > 0 && hasBuf:
		w.stats.reads.Add(1)
		w.stats.bytesIn.Add(uint64(res))
		w.echo(gen, slot, bid, int(res))
	case res == 0:
		w.stats.reads.Add(1)
		if _, busy := w.out[outKey(gen, slot)]; busy {
			w.state[slot] |= slotPeerClosed
		} else {
			w.closeConn(slot, &w.stats.closeEOF)
		}
		return
	case res == -int32(unix.ENOBUFS):
		// Offer more buffers from now on: the memory touched follows the
		// echoes in flight, not a guess.
		w.bufTarget = min(2*w.bufTarget, ringBufEntries)
		w.stats.noBuffers.Add(1)
		w.rearm = append(w.rearm, outKey(gen, slot))
		return
	case res == -int32(unix.ECANCELED):
	case res < 0:
		w.closeConn(slot, w.reasonOf(unix.Errno(-res)))
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

// retryReceives re-arms receives that ended for want of a buffer.
func (w *ringWorker) retryReceives() {
	if len(w.rearm) == 0 || w.bufs.inRing == 0 {
		return
	}
	list := w.rearm
	w.rearm = nil
	for _, k := range list {
		gen, slot := uint32(k>>16), uint16(k)
		if w.live(gen, slot) {
			w.maybeRearm(gen, slot)
		}
	}
}

// echo sends what arrived back. With no send in flight the provided buffer
// itself is sent; otherwise the bytes wait in the connection's pending
// slice (bounded by -max-pending) and the buffer goes back at once.
func (w *ringWorker) echo(gen uint32, slot uint16, bid uint16, n int) {
	key := outKey(gen, slot)
	if o := w.out[key]; o != nil {
		if o.pending == nil {
			o.pending = w.takeSpare()
		}
		o.pending = append(o.pending, w.bufs.at(bid)[:n]...)
		w.bufs.release(bid)
		if w.queued(gen, slot) >= w.srv.cfg.MaxPending && w.state[slot]&(slotRecv|slotCancelling) == slotRecv {
			w.stats.backpressure.Add(1)
			w.cancelRecv(gen, slot)
		}
		return
	}
	o := &connOut{buf: w.bufs.at(bid)[:n], bid: bid}
	w.out[key] = o
	w.send(gen, slot, o)
}

func (w *ringWorker) send(gen uint32, slot uint16, o *connOut) {
	s := w.sqe()
	s.Opcode, s.Fd, s.Flags = iouringOpSend, int32(slot), iosqeFixedFile
	s.Addr = uint64(uintptr(unsafe.Pointer(&o.buf[o.off])))
	s.Len = uint32(len(o.buf) - o.off)
	s.OpFlags = unix.MSG_NOSIGNAL
	s.UserData = userData(opSend, gen, o.bid, slot)
}

func (w *ringWorker) cancelRecv(gen uint32, slot uint16) {
	s := w.sqe()
	s.Opcode, s.Addr = iouringOpAsyncCancel, userData(opRecv, gen, 0, slot)
	s.UserData = userData(opCancel, gen, 0, slot)
	w.state[slot] |= slotCancelling
}

func (w *ringWorker) sent(gen uint32, bid, slot uint16, res int32) {
	key := outKey(gen, slot)
	o := w.out[key]
	if o == nil {
		if bid != heapBid {
			w.bufs.release(bid) // cannot happen; never lose a buffer
		}
		return
	}
	if o.closed || !w.live(gen, slot) {
		w.finishOut(key, o)
		return
	}
	if res < 0 {
		w.finishOut(key, o)
		w.closeConn(slot, w.reasonOf(unix.Errno(-res)))
		return
	}
	w.stats.writes.Add(1)
	w.stats.bytesOut.Add(uint64(res))
	o.off += int(res)
	if o.off < len(o.buf) {
		w.send(gen, slot, o) // a short send: the rest, in order
		return
	}
	if o.bid != heapBid {
		w.bufs.release(o.bid)
	} else {
		w.putSpare(o.buf)
	}
	if len(o.pending) > 0 {
		o.buf, o.bid, o.off, o.pending = o.pending, heapBid, 0, nil
		w.send(gen, slot, o)
		w.maybeRearm(gen, slot)
		return
	}
	delete(w.out, key)
	if w.state[slot]&slotPeerClosed != 0 {
		w.closeConn(slot, &w.stats.closeEOF)
		return
	}
	w.maybeRearm(gen, slot)
}

// finishOut drops a connection's output once the kernel is done with it.
func (w *ringWorker) finishOut(key uint64, o *connOut) {
	if o.bid != heapBid {
		w.bufs.release(o.bid)
	} else {
		w.putSpare(o.buf)
	}
	if o.pending != nil {
		w.putSpare(o.pending)
	}
	delete(w.out, key)
}

func (w *ringWorker) takeSpare() []byte {
	if n := len(w.spare); n > 0 {
		b := w.spare[n-1]
		w.spare = w.spare[:n-1]
		return b[:0]
	}
	return make([]byte, 0, min(w.srv.cfg.MaxPending, 64<<10))
}

func (w *ringWorker) putSpare(b []byte) {
	if len(w.spare) < maxSpare && cap(b) <= w.srv.cfg.MaxPending && cap(b) > 0 {
		w.spare = append(w.spare, b[:0])
	}
}

func (w *ringWorker) reasonOf(err unix.Errno) *atomic.Uint64 {
	switch err {
	case unix.ECONNRESET:
		return &w.stats.closeReset
	case unix.EPIPE:
		return &w.stats.closePipe
	}
	return &w.stats.closeOther
}

// closeConn cancels what is in flight on a connection and closes its slot.
// A send still in flight keeps its output until its completion comes.
func (w *ringWorker) closeConn(slot uint16, reason *atomic.Uint64) {
	if w.state[slot]&slotOpen == 0 {
		return
	}
	gen := w.gen[slot]
	if o := w.out[outKey(gen, slot)]; o != nil {
		o.closed = true
		if o.pending != nil {
			w.putSpare(o.pending)
			o.pending = nil
		}
	}
	w.state[slot] = 0
	w.conns--
	w.stats.openConns.Add(-1)
	w.stats.closed.Add(1)
	w.srv.open.Add(-1)
	reason.Add(1)
	// Cancel every request on the socket: an armed receive holds the file,
	// so closing the slot alone would not close the connection.
	s := w.sqe()
	s.Opcode, s.Fd = iouringOpAsyncCancel, int32(slot)
	s.OpFlags = iouringCancelAll | iouringCancelFD | iouringCancelFDFixed
	s.UserData = userData(opCancelAll, gen, 0, slot)
	w.closeSlot(slot)
}

// closeSlot closes a registered socket and frees its slot.
func (w *ringWorker) closeSlot(slot uint16) {
	s := w.sqe()
	s.Opcode, s.FileIndex = iouringOpClose, uint32(slot)+1
	s.UserData = userData(opClose, 0, 0, slot)
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
			w.stats.closeShutdown.Add(1)
			w.stats.closed.Add(1)
			w.stats.openConns.Add(-1)
			w.srv.open.Add(-1)
		}
	}
	w.conns = 0
	w.ring.close()
	if w.bufs != nil {
		w.bufs.close()
	}
	w.out = nil
	w.ring = nil
}

// launchUring starts the io_uring engine, or, when this kernel cannot run
// it, the epoll engine with a note (in Snapshot.EngineNote) saying why.
func launchUring(cfg Config, supported func() error) (Runner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := supported(); err != nil {
		cfg.Engine = EngineEpoll
		r, lerr := Launch(cfg)
		if lerr != nil {
			return nil, lerr
		}
		if s, ok := r.(*Server); ok {
			s.engineNote = fmt.Sprintf("-engine uring unavailable, running epoll: %v", err)
		}
		return r, nil
	}
	soft, _, err := RaiseNofile()
	if err != nil {
		return nil, err
	}
	s, err := newUringServer(cfg, soft)
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}
