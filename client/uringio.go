package client

// The io_uring transport (-engine uring): a loop's connections live in the
// registered-file tables of io_uring rings of its own, never in the fd
// table, so one process holds any number of them past RLIMIT_NOFILE. A
// socket is created straight into a table slot and bound and connected
// there by one linked chain of requests; each open connection has one
// multishot receive into a ring of provided buffers; every request a loop
// iteration queues goes to the kernel in one io_uring_enter per ring.

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"c1m/core"
	"c1m/eventloop"
	"c1m/iouring"
)

// Ring sizing. A keepalive's sends and echoes come in bursts of one tick
// on one ring (the schedule walks connections in table order), so the
// queues are sized for a tick's sends, and buffers for the echoes in
// flight, not for the connections.
const (
	uringSQEntries  = 1024
	uringCQEntries  = 8192
	uringBufEntries = 1024 // provided-buffer ring slots
	uringBufCount   = 4096 // the pool behind them (reserved, touched as used)
	uringBufSize    = 2048
	uringBufFirst   = 64 // buffers offered at first; doubled each time receives run out
	connectLinks    = 4  // socket, setsockopt, bind, connect
)

// Operations, in the top byte of a request's user data.
const (
	uopSocket   = iota + 1 // a connect chain's links: only their failures post
	uopSockopt             //
	uopBind                //
	uopConnect             // the chain's end
	uopRecv                // the connection's multishot receive
	uopSend                //
	uopWritable            // a send met a full socket: wait until it takes more
	uopClose               // shutdown and close: only failures post, and are ignored
)

// sendWaiting in uringIO.sending: no send in flight, one waits for room.
const sendWaiting = ^uint32(0)

// uringData packs an operation, the connection's generation (so a late
// completion is never taken for the slot's next socket) and its index.
func uringData(op uint8, gen uint32, k int) uint64 {
	return uint64(op)<<56 | uint64(gen&0xFFFFFF)<<32 | uint64(uint32(k))
}

func splitUringData(u uint64) (op uint8, gen uint32, k int) {
	return uint8(u >> 56), uint32(u>>32) & 0xFFFFFF, int(uint32(u))
}

// rawSockaddr is a socket address as the kernel reads it.
type rawSockaddr struct {
	b [unix.SizeofSockaddrInet6]byte
	n uint32
}

func rawSockaddrOf(ap netip.AddrPort) rawSockaddr {
	var r rawSockaddr
	port := ap.Port()
	if ap.Addr().Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.b[0]))
		sa.Family, sa.Addr = unix.AF_INET, ap.Addr().As4()
		sa.Port = port<<8 | port>>8 // network byte order
		r.n = unix.SizeofSockaddrInet4
		return r
	}
	sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&r.b[0]))
	sa.Family, sa.Addr = unix.AF_INET6, ap.Addr().As16()
	sa.Port = port<<8 | port>>8
	r.n = unix.SizeofSockaddrInet6
	return r
}

// uringRing is one ring: connections [first, first+plan.PerTable) of the
// loop, connection k in slot k-first.
type uringRing struct {
	ring      *iouring.Ring
	bufs      *iouring.BufRing
	first     int
	bufTarget int
	rearm     []uint64           // receives that ended for want of a buffer (their user data)
	reap      func(*iouring.CQE) // the transport's complete, for this ring (made once: no closure per reap)
}

// uringIO is the io_uring transport of one loop.
type uringIO struct {
	e       *engine
	plan    core.Plan // core.PlanRings for this loop's connections
	rings   []*uringRing
	efd     int      // every ring signals it; the loop's epoll waits on it
	gen     []uint32 // per connection: bumped at each close
	sending []uint32 // per connection: bytes of the send in flight (0: none; sendWaiting)
	srcs    []rawSockaddr
	dsts    []rawSockaddr
	family  int
	noPort  int32 // IP_BIND_ADDRESS_NO_PORT's value, read by the kernel
	failed  bool
}

func newUringIO(e *engine) *uringIO {
	n := len(e.conns)
	t := &uringIO{e: e, efd: -1, gen: make([]uint32, n), sending: make([]uint32, n), noPort: 1, family: unix.AF_INET}
	sp := &e.job.Spread
	for _, a := range sp.Sources {
		t.srcs = append(t.srcs, rawSockaddrOf(netip.AddrPortFrom(a, 0)))
	}
	for _, p := range sp.Ports {
		t.dsts = append(t.dsts, rawSockaddrOf(netip.AddrPortFrom(sp.Server, p)))
	}
	if sp.Server.Is6() {
		t.family = unix.AF_INET6
	}
	return t
}

// init plans and creates the loop's rings, on the loop's thread (each
// ring's single issuer), all signalling one eventfd in the loop's epoll.
func (t *uringIO) init(l *eventloop.Loop) error {
	if err := UringSupported(); err != nil {
		return err
	}
	var err error
	if t.plan, err = uringPlan(len(t.e.conns)); err != nil {
		return err
	}
	if t.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	if err := l.Poller.Add(t.efd, unix.EPOLLIN); err != nil {
		t.exit()
		return err
	}
	for i := 0; i < t.plan.Tables; i++ {
		r, err := t.newRing(i * t.plan.PerTable)
		if err != nil {
			t.exit()
			return fmt.Errorf("client ring %d of %d: %w", i, t.plan.Tables, err)
		}
		t.rings = append(t.rings, r)
	}
	return nil
}

// uringPlan is the rings of a loop holding conns connections. A ring's
// table is capped at the soft RLIMIT_NOFILE: the server's plan for its
// rings, with no listeners, is the loop's.
func uringPlan(conns int) (core.Plan, error) {
	soft, _, err := core.RaiseNofile()
	if err != nil {
		return core.Plan{}, err
	}
	return core.PlanRings(core.Config{MaxConns: max(conns, 1), Workers: 1}, soft)
}

func (t *uringIO) newRing(first int) (*uringRing, error) {
	// SUBMIT_ALL: a request that fails does not hold back the ones behind it.
	// No DEFER_TASKRUN: tried, it saved no CPU at 20,000 connections,
	// doubled the RTT's median, and at 50,000 spun (28-109 µs an echo).
	r, err := iouring.New(uringSQEntries, uringCQEntries, iouring.SetupSingleIssuer|iouring.SetupSubmitAll)
	if err != nil {
		return nil, err
	}
	ur := &uringRing{ring: r, first: first, bufTarget: uringBufFirst}
	ur.reap = func(c *iouring.CQE) { t.complete(ur, c) }
	fail := func(err error) (*uringRing, error) {
		if ur.bufs != nil {
			ur.bufs.Close()
		}
		r.Close()
		return nil, err
	}
	if err := r.RegisterSparseFiles(core.RingTable(t.plan, 0)); err != nil {
		return fail(err)
	}
	if err := r.RegisterEventfd(t.efd); err != nil {
		return fail(err)
	}
	if ur.bufs, err = iouring.NewBufRing(r, uringBufEntries, uringBufCount, uringBufSize); err != nil {
		return fail(err)
	}
	ur.bufs.Refill(ur.bufTarget)
	return ur, nil
}

// ringOf is connection k's ring and its slot there.
func (t *uringIO) ringOf(k int) (*uringRing, uint32) {
	r := t.rings[k/t.plan.PerTable]
	return r, uint32(k - r.first)
}

// sqe is a free submission entry of r. A ring that cannot take requests
// any more stops the ramp, with why; the entry is then a scratch one the
// kernel never sees.
func (t *uringIO) sqe(r *uringRing) *iouring.SQE {
	s, err := r.ring.GetSQE()
	if err != nil {
		t.fail(err)
		return &iouring.SQE{}
	}
	return s
}

func (t *uringIO) fail(err error) {
	if !t.failed {
		t.failed = true
		why := fmt.Sprintf("io_uring: %v", err)
		t.e.rampStop.CompareAndSwap(nil, &why)
	}
}

// connect queues connection k's chain: a socket created in its slot,
// IP_BIND_ADDRESS_NO_PORT (as the epoll engine: the port is chosen at
// connect, per 4-tuple, so each (source, server port) pair gets the whole
// ephemeral range), bound to its source, connected. Only the connect's
// completion comes back, unless a link fails.
func (t *uringIO) connect(k int) error {
	r, slot := t.ringOf(k)
	if err := r.ring.Reserve(connectLinks); err != nil {
		t.fail(err)
		return err
	}
	src, dst := t.e.job.Spread.TargetIndex(t.e.global(k))
	gen := t.gen[k]
	const link = iouring.SqeIOLink | iouring.SqeCQESkipSuccess
	s := t.sqe(r)
	s.PrepSocketDirect(t.family, unix.SOCK_STREAM, 0, slot)
	s.Flags, s.UserData = link, uringData(uopSocket, gen, k)
	s = t.sqe(r)
	s.PrepSetsockopt(slot, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, unsafe.Pointer(&t.noPort), 4)
	s.Flags, s.UserData = s.Flags|link, uringData(uopSockopt, gen, k)
	s = t.sqe(r)
	s.PrepBind(slot, unsafe.Pointer(&t.srcs[src].b[0]), t.srcs[src].n)
	s.Flags, s.UserData = s.Flags|link, uringData(uopBind, gen, k)
	s = t.sqe(r)
	s.PrepConnect(slot, unsafe.Pointer(&t.dsts[dst].b[0]), t.dsts[dst].n)
	s.UserData = uringData(uopConnect, gen, k)
	t.e.conns[k].fd = int32(slot)
	t.sending[k] = 0
	return nil
}

// armRecv arms connection k's multishot receive into the ring's buffers.
func (t *uringIO) armRecv(k int) {
	r, slot := t.ringOf(k)
	s := t.sqe(r)
	s.Opcode, s.Fd, s.Flags = iouring.OpRecv, int32(slot), iouring.SqeFixedFile|iouring.SqeBufferSelect
	s.BufGroup, s.Ioprio = iouring.BufGroup, iouring.RecvMultishot
	s.UserData = uringData(uopRecv, t.gen[k], k)
}

// send queues k's unsent bytes, straight from the message pattern, unless
// a send is in flight (its completion sends the rest). The bytes count as
// written once queued, so an echo reaped before the send's own completion
// is not taken for extra bytes; a short or failed send gives back what
// did not go.
func (t *uringIO) send(k int) bool {
	c := &t.e.conns[k]
	if t.sending[k] != 0 || c.written >= c.queued {
		return true
	}
	L := uint64(len(t.e.job.Msg))
	off := c.written % L
	n := min(c.queued-c.written, maxChunk)
	r, slot := t.ringOf(k)
	s := t.sqe(r)
	s.Opcode, s.Fd, s.Flags = iouring.OpSend, int32(slot), iouring.SqeFixedFile
	s.Addr, s.Len = uint64(uintptr(unsafe.Pointer(&t.e.job.pattern[off]))), uint32(n)
	// MSG_DONTWAIT: a full socket comes back EAGAIN and waits in a poll of
	// its own (as the server's engine does, which saw sends left parked).
	s.OpFlags = unix.MSG_NOSIGNAL | unix.MSG_DONTWAIT
	s.UserData = uringData(uopSend, t.gen[k], k)
	t.sending[k] = uint32(n)
	c.written += n
	return true
}

// close cancels what is pending on connection k's socket (its receive,
// its connect, a wait for room) and frees its slot, which closes it. Both
// run inline, in queue order, so a new socket queued into the slot after
// them is never the one they act on (a shutdown would run later, in a
// worker, and could hit it). Cancels go by exact user data: a cancel by
// file scans every request of the ring. At the run's end the rings'
// teardown closes everything instead.
func (t *uringIO) close(k int) {
	gen := t.gen[k] & 0xFFFFFF
	t.gen[k]++
	waiting := t.sending[k] == sendWaiting
	t.sending[k] = 0
	if t.e.phase.Load() == phaseClose {
		return
	}
	r, slot := t.ringOf(k)
	if err := r.ring.Reserve(3); err != nil {
		t.fail(err)
		return
	}
	cancel := func(op uint8) {
		s := t.sqe(r)
		s.Opcode, s.Addr, s.Flags = iouring.OpAsyncCancel, uringData(op, gen, k), iouring.SqeCQESkipSuccess
		s.UserData = uringData(uopClose, 0, k)
	}
	switch t.e.conns[k].state {
	case stOpen:
		cancel(uopRecv)
	case stConnecting:
		cancel(uopConnect)
	}
	if waiting {
		cancel(uopWritable)
	}
	s := t.sqe(r)
	s.PrepCloseDirect(slot)
	s.Flags |= iouring.SqeCQESkipSuccess
	s.UserData = uringData(uopClose, 0, k)
}

// live says whether a completion of generation gen is connection k's now.
func (t *uringIO) live(k int, gen uint32) bool {
	return k < len(t.gen) && t.gen[k]&0xFFFFFF == gen && t.e.conns[k].fd >= 0
}

// event serves the rings once the eventfd says completions came.
func (t *uringIO) event(fd int, _ uint32) {
	if fd != t.efd {
		return
	}
	var b [8]byte
	unix.Read(t.efd, b[:]) // first: a completion posted after it signals again
	t.serve()
}

func (t *uringIO) complete(r *uringRing, c *iouring.CQE) {
	op, gen, k := splitUringData(c.UserData)
	switch op {
	case uopRecv:
		t.received(r, k, gen, c.Res, c.Flags)
	case uopSend:
		t.sent(k, gen, c.Res)
	case uopWritable:
		if t.live(k, gen) && t.sending[k] == sendWaiting {
			t.sending[k] = 0
			t.send(k)
		}
	case uopSocket, uopSockopt, uopBind, uopConnect:
		t.connected(op, k, gen, c.Res)
	}
}

// connected takes a connect chain's end, or the failure of one of its
// links (the links after it then end ECANCELED, for a closed generation).
func (t *uringIO) connected(op uint8, k int, gen uint32, res int32) {
	if !t.live(k, gen) || t.e.conns[k].state != stConnecting {
		return
	}
	if res < 0 {
		err := unix.Errno(-res)
		if op == uopSockopt || op == uopBind {
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
				t.fail(fmt.Errorf("the kernel refused a socket %s through the ring (%w): it needs Linux 6.11 (IORING_OP_BIND, SOCKET_URING_OP_SETSOCKOPT); use -engine epoll",
					map[uint8]string{uopSockopt: "setsockopt", uopBind: "bind"}[op], err))
			}
		}
		t.e.connectFailed(k, err)
		return
	}
	if op != uopConnect {
		return
	}
	t.e.established(k)
	if t.e.conns[k].state == stOpen {
		t.armRecv(k)
	}
}

// received takes one completion of k's multishot receive: the bytes go to
// the verification, and the buffer back to the ring at once.
func (t *uringIO) received(r *uringRing, k int, gen uint32, res int32, flags uint32) {
	if flags&iouring.CqeFBuffer != 0 {
		bid := uint16(flags >> iouring.CqeBufferShift)
		r.bufs.Consumed()
		defer r.bufs.Release(bid)
		if res > 0 && t.live(k, gen) && !t.e.received(k, r.bufs.At(bid)[:res]) {
			return
		}
	}
	if !t.live(k, gen) || t.e.conns[k].state != stOpen {
		return
	}
	switch {
	case res == 0:
		t.e.drop(k, causeEOF.Name)
		return
	case res == -int32(unix.ENOBUFS):
		// Offer more buffers from now on: the memory touched follows the
		// echoes in flight, not a guess.
		r.bufTarget = min(2*r.bufTarget, uringBufEntries)
		r.rearm = append(r.rearm, uringData(uopRecv, gen, k))
		return
	case res < 0:
		t.e.drop(k, Classify(unix.Errno(-res)).Name)
		return
	}
	if flags&iouring.CqeFMore == 0 {
		t.armRecv(k)
	}
}

// sent takes a send's completion: the rest goes next, or the socket is
// full and a poll waits for room.
func (t *uringIO) sent(k int, gen uint32, res int32) {
	if !t.live(k, gen) {
		return
	}
	c := &t.e.conns[k]
	n := t.sending[k]
	t.sending[k] = 0
	switch {
	case res == -int32(unix.EAGAIN):
		c.written -= uint64(n)
		t.sending[k] = sendWaiting
		r, slot := t.ringOf(k)
		s := t.sqe(r)
		s.Opcode, s.Fd, s.Flags = iouring.OpPollAdd, int32(slot), iouring.SqeFixedFile
		s.OpFlags = unix.POLLOUT // poll32_events
		s.UserData = uringData(uopWritable, gen, k)
	case res < 0:
		c.written -= uint64(n)
		t.e.drop(k, Classify(unix.Errno(-res)).Name)
	default:
		t.e.c.bytesSent.Add(int64(res))
		c.written -= uint64(n) - uint64(res)
		t.send(k)
	}
}

// submit serves the rings after the loop's tick: what the schedule
// queued goes to the kernel.
func (t *uringIO) submit() time.Duration { return t.serve() }

// serve reaps each ring's completions and enters each ring that has
// requests queued or, deferring, completions waiting to run: one
// io_uring_enter per busy ring per loop iteration, whatever the count of
// sends in it. What the enter completed at once is reaped at once, a few
// rounds at most; it returns when to come back (-1: on the eventfd).
func (t *uringIO) serve() time.Duration {
	wait := time.Duration(-1)
	for _, r := range t.rings {
		for round := 0; round < 4; round++ {
			n := r.ring.Reap(r.reap)
			t.offerBuffers(r)
			if r.ring.Queued() > 0 || r.ring.Ready() || r.ring.MayHaveMore() {
				if err := r.ring.Submit(); err != nil {
					t.fail(err)
					break
				}
			} else if n == 0 {
				break
			}
		}
		switch {
		case r.ring.Ready() || r.ring.MayHaveMore():
			wait = 0 // still busy after the rounds: come back at once
		case r.ring.Queued() > 0 || len(r.rearm) > 0:
			if wait < 0 || wait > time.Millisecond {
				wait = time.Millisecond // the kernel took not all, or buffers ran out: soon again
			}
		}
	}
	return wait
}

// offerBuffers tops the ring's buffers up and re-arms the receives that
// ended for want of one.
func (t *uringIO) offerBuffers(r *uringRing) {
	r.bufs.Refill(r.bufTarget)
	if len(r.rearm) == 0 || r.bufs.InRing() == 0 {
		return
	}
	list := r.rearm
	r.rearm = nil
	for _, u := range list {
		_, gen, k := splitUringData(u)
		if t.live(k, gen) && t.e.conns[k].state == stOpen {
			t.armRecv(k)
		}
	}
}

// exit takes the buffer rings away (so no late receive writes into the
// pools once unmapped), then closes the rings: the kernel cancels their
// requests and closes every socket in their tables in the background.
func (t *uringIO) exit() {
	for _, r := range t.rings {
		r.bufs.Unregister(r.ring)
		r.bufs.Close()
		r.ring.Close()
	}
	t.rings = nil
	if t.efd >= 0 {
		unix.Close(t.efd)
		t.efd = -1
	}
}

// UringSupported checks, once, that this kernel runs everything -engine
// uring asks of it; the error names what is missing and the way out.
var UringSupported = sync.OnceValue(func() error {
	const fix = "use -engine epoll"
	if rel, major, minor := iouring.KernelVersion(); rel != "" && (major < 6 || major == 6 && minor < 11) {
		return fmt.Errorf("kernel %s: -engine uring binds sockets through the ring (IORING_OP_BIND, SOCKET_URING_OP_SETSOCKOPT), which needs Linux 6.11 or later: %s", rel, fix)
	}
	r, err := iouring.New(8, 16, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("%w (io_uring is disabled: see sysctl kernel.io_uring_disabled, or a seccomp filter): %s", err, fix)
		}
		return fmt.Errorf("%w: %s", err, fix)
	}
	defer r.Close()
	if err := r.Supports(iouring.OpSocket, iouring.OpUringCmd, iouring.OpBind, iouring.OpConnect, iouring.OpRecv,
		iouring.OpSend, iouring.OpPollAdd, iouring.OpAsyncCancel, iouring.OpClose); err != nil {
		return fmt.Errorf("%w: %s", err, fix)
	}
	return nil
})
