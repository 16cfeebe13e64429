// Package iouring is the one io_uring wrapper of the repository: the part
// of the kernel ABI (include/uapi/linux/io_uring.h) the engines use, set up
// and driven through raw system calls (no liburing, no cgo). A Ring belongs
// to one thread; nothing here knows about connections or echoes.
package iouring

import (
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	SetupSubmitAll        = 1 << 7
	SetupTaskrunFlag      = 1 << 9
	SetupSingleIssuer     = 1 << 12
	SetupDeferTaskrun     = 1 << 13
	iouringFeatSingleMmap = 1 << 0
	iouringFeatNoDrop     = 1 << 1
	iouringFeatFastPoll   = 1 << 5

	iouringEnterGetEvents = 1 << 0
	iouringEnterExtArg    = 1 << 3
	iouringSqCqOverflow   = 1 << 1
	iouringSqTaskrun      = 1 << 2

	iouringCqEventfdDisabled = 1 << 0

	iouringOffSqRing = 0
	iouringOffSqes   = 0x10000000

	iouringUnregisterFiles    = 3
	iouringRegisterEventfd    = 4
	iouringRegisterProbe      = 8
	iouringRegisterFiles2     = 13
	iouringRegisterPbufRing   = 22
	iouringUnregisterPbufRing = 23
	iouringRsrcSparse         = 1 << 0

	SqeFixedFile      = 1 << 0
	SqeIOLink         = 1 << 2 // the next SQE runs after this one, and is cancelled if it fails
	SqeBufferSelect   = 1 << 5
	SqeCQESkipSuccess = 1 << 6 // post a completion only on failure

	OpPollAdd     = 6
	OpAccept      = 13
	OpAsyncCancel = 14
	OpConnect     = 16
	OpClose       = 19
	OpSend        = 26
	OpRecv        = 27
	OpSocket      = 45 // Linux 5.19; direct (registered-file) sockets
	OpUringCmd    = 46 // socket commands (setsockopt) from Linux 6.7
	OpBind        = 56 // Linux 6.11

	// SOCKET_URING_OP_SETSOCKOPT: an OpUringCmd's cmd_op on a socket.
	socketUringOpSetsockopt = 3

	RecvMultishot           = 1 << 1
	AcceptMultishot         = 1 << 0 // IORING_ACCEPT_MULTISHOT, in an accept's ioprio
	CancelAll               = 1 << 0
	CancelFD                = 1 << 1
	CancelFDFixed           = 1 << 3
	FileIndexAlloc          = ^uint32(0)
	CqeFBuffer              = 1 << 0
	CqeFMore                = 1 << 1
	CqeBufferShift          = 16
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

// SQE is struct io_uring_sqe (64 bytes); the unions are named by the one
// member this repository uses.
type SQE struct {
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

// CQE is struct io_uring_cqe (16 bytes, no CQE32).
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// Ring is one io_uring instance: its submission and completion rings
// mapped into this process. Only its owning thread touches it.
type Ring struct {
	fd      int
	ringMem []byte
	sqeMem  []byte

	sqTail      *uint32
	sqHead      *uint32
	sqFlags     *uint32
	sqMask      uint32
	sqes        []SQE
	sqLocal     uint32 // next free SQE (tail not yet published)
	defer_      bool   // IORING_SETUP_DEFER_TASKRUN: completions wait for this thread's next enter
	getArg      getEventsArg
	mayHaveMore bool     // the last enter ran completions enough to have left some
	zeroTS      [2]int64 // struct __kernel_timespec {0, 0}: wait for nothing

	cqHead  *uint32
	cqTail  *uint32
	cqFlags *uint32
	cqMask  uint32
	cqes    []CQE

	enters *atomic.Uint64 // io_uring_enter calls, counted where the owner reads them (nil: not counted)
}

// New sets up a ring with sqEntries submission and cqEntries
// completion slots.
func New(sqEntries, cqEntries uint32, flags uint32) (*Ring, error) {
	p := iouringParams{Flags: flags | 1<<3 /* IORING_SETUP_CQSIZE */, CqEntries: cqEntries}
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(sqEntries), uintptr(unsafe.Pointer(&p)), 0)
	if e != 0 {
		return nil, fmt.Errorf("io_uring_setup(%d entries): %w", sqEntries, e)
	}
	r := &Ring{fd: int(fd), defer_: flags&SetupDeferTaskrun != 0}
	if p.Features&iouringFeatSingleMmap == 0 || p.Features&iouringFeatNoDrop == 0 || p.Features&iouringFeatFastPoll == 0 {
		unix.Close(r.fd)
		return nil, fmt.Errorf("io_uring lacks single-mmap, no-drop or fast-poll (features %#x): the kernel is older than this engine needs", p.Features)
	}
	size := max(int(p.SqOff.Array)+int(p.SqEntries)*4, int(p.CqOff.Cqes)+int(p.CqEntries)*int(unsafe.Sizeof(CQE{})))
	mem, err := unix.Mmap(r.fd, iouringOffSqRing, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		unix.Close(r.fd)
		return nil, fmt.Errorf("mmap io_uring rings: %w", err)
	}
	r.ringMem = mem
	sqes, err := unix.Mmap(r.fd, iouringOffSqes, int(p.SqEntries)*int(unsafe.Sizeof(SQE{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("mmap io_uring SQEs: %w", err)
	}
	r.sqeMem = sqes
	u32 := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead, r.sqTail, r.sqFlags = u32(p.SqOff.Head), u32(p.SqOff.Tail), u32(p.SqOff.Flags)
	r.sqMask = *u32(p.SqOff.RingMask)
	r.sqes = unsafe.Slice((*SQE)(unsafe.Pointer(&sqes[0])), p.SqEntries)
	array := unsafe.Slice(u32(p.SqOff.Array), p.SqEntries)
	for i := range array {
		array[i] = uint32(i) // SQE i sits at ring slot i: no indirection
	}
	r.cqHead, r.cqTail, r.cqFlags = u32(p.CqOff.Head), u32(p.CqOff.Tail), u32(p.CqOff.Flags)
	r.cqMask = *u32(p.CqOff.RingMask)
	r.cqes = unsafe.Slice((*CQE)(unsafe.Pointer(&mem[p.CqOff.Cqes])), p.CqEntries)
	r.sqLocal = atomic.LoadUint32(r.sqTail)
	return r, nil
}

// GetSQE returns a zeroed SQE, submitting what is queued first when the
// submission ring is full.
func (r *Ring) GetSQE() (*SQE, error) {
	if r.sqLocal-atomic.LoadUint32(r.sqHead) >= uint32(len(r.sqes)) {
		if err := r.Submit(); err != nil {
			return nil, err
		}
		if r.sqLocal-atomic.LoadUint32(r.sqHead) >= uint32(len(r.sqes)) {
			return nil, fmt.Errorf("io_uring submission ring full after submit")
		}
	}
	s := &r.sqes[r.sqLocal&r.sqMask]
	*s = SQE{}
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

// Reserve makes sure n SQEs can be taken without a submit in between,
// submitting what is queued first if not: a linked chain must reach the
// kernel in one submission, or its links run unordered.
func (r *Ring) Reserve(n uint32) error {
	if r.Queued()+n <= uint32(len(r.sqes)) {
		return nil
	}
	if err := r.Submit(); err != nil {
		return err
	}
	if r.Queued()+n > uint32(len(r.sqes)) {
		return fmt.Errorf("io_uring submission ring has no room for %d linked requests after submit", n)
	}
	return nil
}

// Queued is how many SQEs the kernel has not taken yet: written since the
// last submit, or published and refused (EAGAIN, EBUSY).
func (r *Ring) Queued() uint32 { return r.sqLocal - atomic.LoadUint32(r.sqHead) }

// Submit hands every queued SQE to the kernel without waiting. A full
// completion ring (the kernel holding overflowed CQEs) is flushed with it.
// What the kernel refuses stays queued, counted by queued, for the next one.
func (r *Ring) Submit() error {
	n := r.Queued()
	r.mayHaveMore = false
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
		// At 1M the kept-back completions then waited for the 50 ms poll,
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
		// Never blocks (min_complete 0), yet not a raw call: the kernel
		// runs completions' task work in it (a deferring ring's, or at the
		// return to user space), which in a close storm of many thousand
		// EOFs takes seconds. Marked as a system call, the thread lets the
		// Go runtime stop the world and scan its stack meanwhile, and hands
		// its P to others (the /stats server); as a raw one it held up
		// every GC, and every goroutine with it, until it came back.
		tail := atomic.LoadUint32(r.cqTail)
		_, _, e := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(n), minComplete, flags, arg, argSize)
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

// Reap calls fn for every completion ready now and returns how many.
func (r *Ring) Reap(fn func(c *CQE)) int {
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

// Ready reports whether completions wait to be reaped.
func (r *Ring) Ready() bool {
	return atomic.LoadUint32(r.cqHead) != atomic.LoadUint32(r.cqTail) ||
		atomic.LoadUint32(r.sqFlags)&(iouringSqCqOverflow|iouringSqTaskrun) != 0
}

// Notify turns the ring's eventfd signal on or off: while its thread is
// reaping anyway, a signal per completion is wasted work.
func (r *Ring) Notify(on bool) {
	if on {
		atomic.StoreUint32(r.cqFlags, atomic.LoadUint32(r.cqFlags)&^iouringCqEventfdDisabled)
	} else {
		atomic.StoreUint32(r.cqFlags, atomic.LoadUint32(r.cqFlags)|iouringCqEventfdDisabled)
	}
}

func (r *Ring) register(op uintptr, arg unsafe.Pointer, n uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), op, uintptr(arg), n, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// RegisterSparseFiles gives the ring a table of n empty registered-file
// slots. The kernel caps n at RLIMIT_NOFILE, per ring.
func (r *Ring) RegisterSparseFiles(n int) error {
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

// RegisterEventfd makes the ring signal efd on every completion.
func (r *Ring) RegisterEventfd(efd int) error {
	fd := int32(efd)
	if err := r.register(iouringRegisterEventfd, unsafe.Pointer(&fd), 1); err != nil {
		return fmt.Errorf("registering the ring's eventfd: %w", err)
	}
	return nil
}

// Supports reports which of ops the kernel implements.
func (r *Ring) Supports(ops ...uint8) error {
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

// MayHaveMore reports whether the last enter of a deferring ring ran so
// many completions that it may have left some aside: enter again to run them.
func (r *Ring) MayHaveMore() bool { return r.mayHaveMore }

// CountEnters makes the ring count its io_uring_enter calls in c, which
// other goroutines may read.
func (r *Ring) CountEnters(c *atomic.Uint64) { r.enters = c }

// Close releases the ring.
func (r *Ring) Close() {
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

// BufRing is a ring of provided buffers (IORING_REGISTER_PBUF_RING): the
// kernel picks one for each multishot receive. Buffers are handed out
// lowest id first, so the buffers in use stay packed at the pool's start
// and the memory a ring touches is its peak of buffers in use, which Trim
// gives back once the peak has passed. (Last-freed-first reuse scattered
// the few buffers in use over every page a burst had touched: with two
// buffers a page, almost no page was wholly free to give back.)
type BufRing struct {
	ring    []byte // struct io_uring_buf entries; the tail overlays entry 0's resv
	entries uint32
	tail    uint16
	mem     []byte // the pool, reserved, touched only as used
	size    int
	free    []uint64 // a bit per buffer: set while it is free (neither in the ring nor in use)
	low     int      // no word of free below this one has a bit set
	inRing  int      // given to the kernel and not yet consumed
	hot     []bool   // pages of the pool handed out since the last Trim
}

// BufGroup is the buffer group id NewBufRing registers (one per ring).
const BufGroup = 0

// bufReg is struct io_uring_buf_reg.
type bufReg struct {
	RingAddr    uint64
	RingEntries uint32
	Bgid, Pad   uint16
	Resv        [3]uint64
}

// Unregister takes the buffer ring away from r, which must still be open:
// from then on no request of r can pick one of its buffers. Call it
// before Close when r's requests may outlive this process's use of the
// pool (a closed ring's teardown runs in the background, and a receive
// completing then would write into memory unmapped, or mapped again for
// something else).
func (b *BufRing) Unregister(r *Ring) error {
	reg := bufReg{Bgid: BufGroup}
	if err := r.register(iouringUnregisterPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		return fmt.Errorf("unregistering a provided-buffer ring: %w", err)
	}
	return nil
}

// NewBufRing registers a buffer ring of entries slots over a pool of
// count buffers of size bytes.
func NewBufRing(r *Ring, entries uint32, count, size int) (*BufRing, error) {
	ring, err := unix.Mmap(-1, 0, int(entries)*16, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("mmap buffer ring: %w", err)
	}
	mem, err := unix.Mmap(-1, 0, count*size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		unix.Munmap(ring)
		return nil, fmt.Errorf("mmap buffer pool: %w", err)
	}
	reg := bufReg{RingAddr: uint64(uintptr(unsafe.Pointer(&ring[0]))), RingEntries: entries, Bgid: BufGroup}
	if err := r.register(iouringRegisterPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		unix.Munmap(ring)
		unix.Munmap(mem)
		return nil, fmt.Errorf("registering a provided-buffer ring: %w", err)
	}
	b := &BufRing{ring: ring, entries: entries, mem: mem, size: size, free: make([]uint64, (count+63)/64)}
	for bid := 0; bid < count; bid++ {
		b.free[bid/64] |= 1 << (bid % 64)
	}
	return b, nil
}

// At is buffer bid's memory.
func (b *BufRing) At(bid uint16) []byte {
	off := int(bid) * b.size
	return b.mem[off : off+b.size : off+b.size]
}

// Consumed notes that the kernel used one buffer of the ring.
func (b *BufRing) Consumed() { b.inRing-- }

// InRing is how many buffers the kernel holds and has not used yet.
func (b *BufRing) InRing() int { return b.inRing }

// Release returns a buffer for reuse.
func (b *BufRing) Release(bid uint16) {
	w := int(bid) / 64
	b.free[w] |= 1 << (bid % 64)
	b.low = min(b.low, w)
}

// takeLowest takes the free buffer with the lowest id (false: none is free).
func (b *BufRing) takeLowest() (uint16, bool) {
	for ; b.low < len(b.free); b.low++ {
		if word := b.free[b.low]; word != 0 {
			bit := bits.TrailingZeros64(word)
			b.free[b.low] &^= 1 << bit
			return uint16(b.low*64 + bit), true
		}
	}
	return 0, false
}

func (b *BufRing) isFree(bid int) bool { return b.free[bid/64]&(1<<(bid%64)) != 0 }

// Refill tops the ring up to target buffers (or the pool's end).
func (b *BufRing) Refill(target int) {
	target = min(target, int(b.entries))
	added := false
	for b.inRing < target {
		bid, ok := b.takeLowest()
		if !ok {
			break
		}
		b.markHot(bid)
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

// markHot notes that buffer bid's pages may be touched.
func (b *BufRing) markHot(bid uint16) {
	page := os.Getpagesize()
	if b.hot == nil {
		b.hot = make([]bool, (len(b.mem)+page-1)/page)
	}
	off := int(bid) * b.size
	for p := off / page; p <= (off+b.size-1)/page; p++ {
		b.hot[p] = true
	}
}

// Trim gives back to the kernel (MADV_DONTNEED) the pages of free buffers
// handed out since the last Trim, all but those of the keep lowest free
// buffers (the next ones Refill hands out), and only pages no other buffer
// shares: after a burst the pool's resident memory shrinks to the buffers
// in use, in the ring and kept. A trimmed buffer reads as zeros when used
// again. It returns the bytes given back.
func (b *BufRing) Trim(keep int) int {
	if b.hot == nil {
		return 0
	}
	page := os.Getpagesize()
	count := len(b.mem) / b.size
	kept := 0 // free buffers passed so far, lowest first
	trimmable := func(p int) bool {
		first, last := p*page/b.size, min(((p+1)*page-1)/b.size, count-1)
		for bid := first; bid <= last; bid++ {
			if !b.isFree(bid) {
				return false
			}
		}
		kept += last - first + 1
		return b.hot[p] && kept > keep
	}
	given, run := 0, -1 // run: the first page of the current stretch to give back
	giveBack := func(end int) {
		if unix.Madvise(b.mem[run*page:min(end*page, len(b.mem))], unix.MADV_DONTNEED) == nil {
			for q := run; q < end; q++ {
				b.hot[q] = false
			}
			given += (end - run) * page
		}
		run = -1
	}
	for p := range b.hot {
		switch {
		case trimmable(p):
			if run < 0 {
				run = p
			}
		case run >= 0:
			giveBack(p)
		}
	}
	if run >= 0 {
		giveBack(len(b.hot))
	}
	return given
}

// Close unmaps the ring and its pool.
func (b *BufRing) Close() {
	unix.Munmap(b.ring)
	unix.Munmap(b.mem)
}

// KernelVersion is the running kernel's release and its major and minor
// numbers (0, 0 if unreadable): what an opcode probe cannot tell, such as
// which socket commands OpUringCmd takes, goes by it.
func KernelVersion() (release string, major, minor int) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", 0, 0
	}
	release = unix.ByteSliceToString(u.Release[:])
	v := strings.SplitN(release, ".", 3)
	major, _ = strconv.Atoi(v[0])
	if len(v) > 1 {
		minor, _ = strconv.Atoi(v[1])
	}
	return release, major, minor
}
