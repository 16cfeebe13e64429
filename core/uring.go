package core

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The io_uring ABI (include/uapi/linux/io_uring.h), the part this
// repository uses: one small file, as poller.go is for epoll. No liburing:
// rings are set up and driven through raw system calls.

const (
	iouringSetupSubmitAll    = 1 << 7
	iouringSetupTaskrunFlag  = 1 << 9
	iouringSetupSingleIssuer = 1 << 12
	iouringSetupDeferTaskrun = 1 << 13
	iouringFeatSingleMmap    = 1 << 0
	iouringFeatNoDrop        = 1 << 1
	iouringFeatFastPoll      = 1 << 5

	iouringEnterGetEvents = 1 << 0
	iouringEnterExtArg    = 1 << 3
	iouringSqCqOverflow   = 1 << 1
	iouringSqTaskrun      = 1 << 2

	iouringCqEventfdDisabled = 1 << 0

	iouringOffSqRing = 0
	iouringOffSqes   = 0x10000000

	iouringUnregisterFiles  = 3
	iouringRegisterEventfd  = 4
	iouringRegisterProbe    = 8
	iouringRegisterFiles2   = 13
	iouringRegisterPbufRing = 22
	iouringRsrcSparse       = 1 << 0

	iosqeFixedFile    = 1 << 0
	iosqeBufferSelect = 1 << 5

	iouringOpAccept      = 13
	iouringOpAsyncCancel = 14
	iouringOpClose       = 19
	iouringOpSend        = 26
	iouringOpRecv        = 27

	iouringRecvMultishot    = 1 << 1
	iouringCancelAll        = 1 << 0
	iouringCancelFD         = 1 << 1
	iouringCancelFDFixed    = 1 << 3
	iouringFileIndexAlloc   = ^uint32(0)
	iouringCqeFBuffer       = 1 << 0
	iouringCqeFMore         = 1 << 1
	iouringCqeBufferShift   = 16
	iouringProbeOpSupported = 1 << 0
)

type iouringSqOffsets struct {
	Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1 uint32
	Resv2                                                           uint64
}

type iouringCqOffsets struct {
	Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1 uint32
	Resv2                                                           uint64
}

type iouringParams struct {
	SqEntries, CqEntries, Flags, SqThreadCPU, SqThreadIdle, Features, WqFd uint32
	Resv                                                                   [3]uint32
	SqOff                                                                  iouringSqOffsets
	CqOff                                                                  iouringCqOffsets
}

// sqe is struct io_uring_sqe (64 bytes); the unions are named by the one
// member this repository uses.
type sqe struct {
	Opcode      uint8
	Flags       uint8
	Ioprio      uint16
	Fd          int32
	Off         uint64
	Addr        uint64
	Len         uint32
	OpFlags     uint32 // msg_flags, accept_flags, cancel_flags
	UserData    uint64
	BufGroup    uint16
	Personality uint16
	FileIndex   uint32
	Addr3       uint64
	Pad         uint64
}

// cqe is struct io_uring_cqe (16 bytes, no CQE32).
type cqe struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// uring is one io_uring instance: its submission and completion rings
// mapped into this process. Only its owning thread touches it.
type uring struct {
	fd      int
	ringMem []byte
	sqeMem  []byte

	sqTail      *uint32
	sqHead      *uint32
	sqFlags     *uint32
	sqMask      uint32
	sqes        []sqe
	sqLocal     uint32 // next free SQE (tail not yet published)
	defer_      bool   // IORING_SETUP_DEFER_TASKRUN: completions wait for this thread's next enter
	getArg      getEventsArg
	mayHaveMore bool     // the last enter ran completions enough to have left some
	zeroTS      [2]int64 // struct __kernel_timespec {0, 0}: wait for nothing

	cqHead  *uint32
	cqTail  *uint32
	cqFlags *uint32
	cqMask  uint32
	cqes    []cqe

	enters *atomic.Uint64 // io_uring_enter calls, counted where the owner reads them (nil: not counted)
}

// newUring sets up a ring with sqEntries submission and cqEntries
// completion slots.
func newUring(sqEntries, cqEntries uint32, flags uint32) (*uring, error) {
	p := iouringParams{Flags: flags | 1<<3 /* IORING_SETUP_CQSIZE */, CqEntries: cqEntries}
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(sqEntries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, fmt.Errorf("io_uring_setup(%d entries): %w", sqEntries, e)
	}
	r := &uring{fd: int(fd), defer_: flags&iouringSetupDeferTaskrun != 0}
	if p.Features&iouringFeatSingleMmap == 0 || p.Features&iouringFeatNoDrop == 0 || p.Features&iouringFeatFastPoll == 0 {
		unix.Close(r.fd)
		return nil, fmt.Errorf("io_uring lacks single-mmap, no-drop or fast-poll (features %#x): the kernel is older than this engine needs", p.Features)
	}
	size := max(int(p.SqOff.Array)+int(p.SqEntries)*4, int(p.CqOff.Cqes)+int(p.CqEntries)*int(unsafe.Sizeof(cqe{})))
	mem, err := unix.Mmap(r.fd, iouringOffSqRing, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		unix.Close(r.fd)
		return nil, fmt.Errorf("mmap io_uring rings: %w", err)
	}
	r.ringMem = mem
	sqes, err := unix.Mmap(r.fd, iouringOffSqes, int(p.SqEntries)*int(unsafe.Sizeof(sqe{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("mmap io_uring SQEs: %w", err)
	}
	r.sqeMem = sqes
	u32 := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead, r.sqTail, r.sqFlags = u32(p.SqOff.Head), u32(p.SqOff.Tail), u32(p.SqOff.Flags)
	r.sqMask = *u32(p.SqOff.RingMask)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&sqes[0])), p.SqEntries)
	array := unsafe.Slice(u32(p.SqOff.Array), p.SqEntries)
	for i := range array {
		array[i] = uint32(i) // SQE i sits at ring slot i: no indirection
	}
	r.cqHead, r.cqTail, r.cqFlags = u32(p.CqOff.Head), u32(p.CqOff.Tail), u32(p.CqOff.Flags)
	r.cqMask = *u32(p.CqOff.RingMask)
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&mem[p.CqOff.Cqes])), p.CqEntries)
	r.sqLocal = atomic.LoadUint32(r.sqTail)
	return r, nil
}

// getSQE returns a zeroed SQE, submitting what is queued first when the
// submission ring is full.
func (r *uring) getSQE() (*sqe, error) {
	if r.sqLocal-atomic.LoadUint32(r.sqHead) >= uint32(len(r.sqes)) {
		if err := r.submit(); err != nil {
			return nil, err
		}
		if r.sqLocal-atomic.LoadUint32(r.sqHead) >= uint32(len(r.sqes)) {
			return nil, fmt.Errorf("io_uring submission ring full after submit")
		}
	}
	s := &r.sqes[r.sqLocal&r.sqMask]
	*s = sqe{}
	r.sqLocal++
	return s, nil
}

// getEventsArg is struct io_uring_getevents_arg (IORING_ENTER_EXT_ARG).
type getEventsArg struct {
	Sigmask     uint64
	SigmaskSz   uint32
	MinWaitUsec uint32
	Ts          uint64 // *__kernel_timespec
}

// queued is how many SQEs the kernel has not taken yet: written since the
// last submit, or published and refused (EAGAIN, EBUSY).
func (r *uring) queued() uint32 { return r.sqLocal - atomic.LoadUint32(r.sqHead) }

// submit hands every queued SQE to the kernel without waiting. A full
// completion ring (the kernel holding overflowed CQEs) is flushed with it.
// What the kernel refuses stays queued, counted by queued, for the next one.
func (r *uring) submit() error {
	n := r.queued()
	r.mayHaveMore = false // a deferring ring always enters (below); the flag only makes run look
	var flags, minComplete, arg, argSize uintptr
	if atomic.LoadUint32(r.sqFlags)&(iouringSqCqOverflow|iouringSqTaskrun) != 0 {
		flags |= iouringEnterGetEvents // flush overflowed CQEs, run deferred completions
	}
	if r.defer_ {
		// Deferred completions run only in an enter that asks for events,
		// and only as many as it asks for (at least 20, Linux 6.13+): the
		// rest are kept aside with IORING_SQ_TASKRUN cleared, and no signal
		// comes for them. So ask for a whole CQ's worth, with a zero
		// timeout: every pending completion runs and the enter never waits.
		// (Entering only with something flagged or to submit was measured:
		// at 1M the kept-back completions then waited for the 50 ms poll,
		// and CPU per echo doubled.)
		flags |= iouringEnterGetEvents | iouringEnterExtArg
		minComplete = uintptr(len(r.cqes))
		r.getArg = getEventsArg{Ts: uint64(uintptr(unsafe.Pointer(&r.zeroTS)))}
		arg, argSize = uintptr(unsafe.Pointer(&r.getArg)), unsafe.Sizeof(r.getArg)
	}
	if n == 0 && flags == 0 {
		return nil
	}
	atomic.StoreUint32(r.sqTail, r.sqLocal)
	for {
		if r.enters != nil {
			r.enters.Add(1)
		}
		// Never blocks (min_complete 0): a raw call skips the scheduler's bookkeeping.
		tail := atomic.LoadUint32(r.cqTail)
		_, _, e := unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(n), minComplete, flags, arg, argSize)
		r.mayHaveMore = r.defer_ && atomic.LoadUint32(r.cqTail)-tail >= uint32(len(r.cqes))/2
		switch e {
		case 0, unix.ETIME: // ETIME: fewer completions than asked for, as expected
			return nil
		case unix.EINTR:
			continue
		case unix.EAGAIN, unix.EBUSY:
			// The kernel is short of memory or its CQ overflow list is
			// full: what it did not take stays queued in the ring and
			// goes with the next enter, once completions were reaped.
			return nil
		default:
			return fmt.Errorf("io_uring_enter: %w", e)
		}
	}
}

// reap calls fn for every completion ready now and returns how many.
func (r *uring) reap(fn func(c *cqe)) int {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for ; head != tail; head++ {
		c := r.cqes[head&r.cqMask]
		// Free the slot before fn runs: fn may submit, and a submit may post.
		atomic.StoreUint32(r.cqHead, head+1)
		fn(&c)
		n++
	}
	return n
}

// ready reports whether completions wait to be reaped.
func (r *uring) ready() bool {
	return atomic.LoadUint32(r.cqHead) != atomic.LoadUint32(r.cqTail) ||
		atomic.LoadUint32(r.sqFlags)&(iouringSqCqOverflow|iouringSqTaskrun) != 0
}

// notify turns the ring's eventfd signal on or off: while its thread is
// reaping anyway, a signal per completion is wasted work.
func (r *uring) notify(on bool) {
	if on {
		atomic.StoreUint32(r.cqFlags, atomic.LoadUint32(r.cqFlags)&^iouringCqEventfdDisabled)
	} else {
		atomic.StoreUint32(r.cqFlags, atomic.LoadUint32(r.cqFlags)|iouringCqEventfdDisabled)
	}
}

func (r *uring) register(op uintptr, arg unsafe.Pointer, n uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), op, uintptr(arg), n, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// registerSparseFiles gives the ring a table of n empty registered-file
// slots. The kernel caps n at RLIMIT_NOFILE, per ring.
func (r *uring) registerSparseFiles(n int) error {
	reg := struct {
		Nr, Flags  uint32
		Resv2      uint64
		Data, Tags uint64
	}{Nr: uint32(n), Flags: iouringRsrcSparse}
	if err := r.register(iouringRegisterFiles2, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		if errors.Is(err, unix.EMFILE) {
			return fmt.Errorf("registering %d file slots: %w (a ring's table is capped at RLIMIT_NOFILE: use more rings)", n, err)
		}
		return fmt.Errorf("registering %d file slots: %w", n, err)
	}
	return nil
}

// registerEventfd makes the ring signal efd on every completion.
func (r *uring) registerEventfd(efd int) error {
	fd := int32(efd)
	if err := r.register(iouringRegisterEventfd, unsafe.Pointer(&fd), 1); err != nil {
		return fmt.Errorf("registering the ring's eventfd: %w", err)
	}
	return nil
}

// supports reports which of ops the kernel implements.
func (r *uring) supports(ops ...uint8) error {
	var probe struct {
		LastOp, OpsLen uint8
		Resv           uint16
		Resv2          [3]uint32
		Ops            [256]struct {
			Op, Resv uint8
			Flags    uint16
			Resv2    uint32
		}
	}
	if err := r.register(iouringRegisterProbe, unsafe.Pointer(&probe), 256); err != nil {
		return fmt.Errorf("probing io_uring opcodes: %w", err)
	}
	for _, op := range ops {
		if op > probe.LastOp || probe.Ops[op].Flags&iouringProbeOpSupported == 0 {
			return fmt.Errorf("io_uring opcode %d is not supported by this kernel", op)
		}
	}
	return nil
}

func (r *uring) close() {
	if r.fd >= 0 {
		unix.Close(r.fd) // the kernel cancels what is in flight and closes every registered socket
		r.fd = -1
	}
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
		r.sqeMem = nil
	}
	if r.ringMem != nil {
		unix.Munmap(r.ringMem)
		r.ringMem = nil
	}
}

// bufRing is a ring of provided buffers (IORING_REGISTER_PBUF_RING): the
// kernel picks one for each multishot receive. Buffers are handed out
// lazily and reused last-freed-first, so the memory a ring touches is its
// peak of buffers in use, not the whole pool.
type bufRing struct {
	ring    []byte // struct io_uring_buf entries; the tail overlays entry 0's resv
	entries uint32
	tail    uint16
	mem     []byte // the pool, reserved, touched only as used
	size    int
	free    []uint16
	next    int // buffers never handed out start here
	inRing  int // given to the kernel and not yet consumed
}

const bufGroup = 0

// newBufRing registers a buffer ring of entries slots over a pool of
// count buffers of size bytes.
func newBufRing(r *uring, entries uint32, count, size int) (*bufRing, error) {
	ring, err := unix.Mmap(-1, 0, int(entries)*16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("mmap buffer ring: %w", err)
	}
	mem, err := unix.Mmap(-1, 0, count*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		unix.Munmap(ring)
		return nil, fmt.Errorf("mmap buffer pool: %w", err)
	}
	reg := struct {
		RingAddr    uint64
		RingEntries uint32
		Bgid, Pad   uint16
		Resv        [3]uint64
	}{RingAddr: uint64(uintptr(unsafe.Pointer(&ring[0]))), RingEntries: entries, Bgid: bufGroup}
	if err := r.register(iouringRegisterPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		unix.Munmap(ring)
		unix.Munmap(mem)
		return nil, fmt.Errorf("registering a provided-buffer ring: %w", err)
	}
	return &bufRing{ring: ring, entries: entries, mem: mem, size: size}, nil
}

// at is buffer bid's memory.
func (b *bufRing) at(bid uint16) []byte {
	off := int(bid) * b.size
	return b.mem[off : off+b.size : off+b.size]
}

// consumed notes that the kernel used one buffer of the ring.
func (b *bufRing) consumed() { b.inRing-- }

// release returns a buffer for reuse.
func (b *bufRing) release(bid uint16) { b.free = append(b.free, bid) }

// refill tops the ring up to target buffers (or the pool's end).
func (b *bufRing) refill(target int) {
	target = min(target, int(b.entries))
	added := false
	for b.inRing < target {
		var bid uint16
		if n := len(b.free); n > 0 {
			bid = b.free[n-1]
			b.free = b.free[:n-1]
		} else if b.next < len(b.mem)/b.size {
			bid = uint16(b.next)
			b.next++
		} else {
			break
		}
		e := unsafe.Pointer(&b.ring[int(uint32(b.tail)&(b.entries-1))*16])
		*(*uint64)(e) = uint64(uintptr(unsafe.Pointer(&b.mem[int(bid)*b.size])))
		*(*uint32)(unsafe.Add(e, 8)) = uint32(b.size)
		*(*uint16)(unsafe.Add(e, 12)) = bid
		b.tail++
		b.inRing++
		added = true
	}
	if added {
		// Publish the tail (bytes 14-15) with a release store. Go has no
		// 16-bit atomics, so store the 32-bit word it shares with entry
		// 0's bid, which only this thread writes, unchanged.
		word := (*uint32)(unsafe.Pointer(&b.ring[12]))
		bid0 := uint32(*(*uint16)(unsafe.Pointer(&b.ring[12])))
		atomic.StoreUint32(word, bid0|uint32(b.tail)<<16)
	}
}

func (b *bufRing) close() {
	unix.Munmap(b.ring)
	unix.Munmap(b.mem)
}
