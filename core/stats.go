package core

import (
	"c1m/schema"
	"errors"
	"fmt"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"
)

var clockBase = time.Now()

// MonoNs is nanoseconds on this process's monotonic clock (accept stamps).
func MonoNs() int64 { return int64(time.Since(clockBase)) }

// Percentiles is the latency summary used across the repository (µs):
// the one definition, schema's, which the result files share.
type Percentiles = schema.Percentiles

// PercentilesOf summarises a histogram.
func PercentilesOf(h *hdrhistogram.Histogram) Percentiles {
	return Percentiles{
		P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), Max: h.Max(), N: h.TotalCount(),
	}
}

// NewLatencyHistogram covers 1 µs .. 10 min at 2 significant digits, small
// enough to ship between processes every second.
func NewLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 2)
}

// ConnStats are written by one worker and read by the stats reporter.
type ConnStats struct {
	OpenConns     atomic.Int64
	Registered    atomic.Uint64
	Closed        atomic.Uint64
	Reads         atomic.Uint64
	Writes        atomic.Uint64
	BytesIn       atomic.Uint64
	BytesOut      atomic.Uint64
	Backpressure  atomic.Uint64 // times a connection's reading paused at -max-pending
	CloseEOF      atomic.Uint64
	CloseReset    atomic.Uint64
	ClosePipe     atomic.Uint64
	CloseOther    atomic.Uint64
	CloseShutdown atomic.Uint64
	CloseNoFD     atomic.Uint64 // lost in passing: this worker's private fd table was full (scm)
	CloseIdle     atomic.Uint64 // received nothing for -idle-timeout
	CloseTimeout  atomic.Uint64 // ETIMEDOUT: TCP keepalive probes unanswered or -tcp-user-timeout passed (the kernel says not which)
	NoBuffers     atomic.Uint64 // uring: receives that ended for want of a provided buffer (re-armed)
	SendRetries   atomic.Uint64 // uring: sends that met a full socket (EAGAIN), sent again once it was writable

	mu       sync.Mutex
	dispatch *hdrhistogram.Histogram // accept → registered, µs
}

// NewConnStats returns zeroed counters with an empty dispatch histogram.
func NewConnStats() *ConnStats {
	return &ConnStats{dispatch: NewLatencyHistogram()}
}

// MergeDispatch adds this worker's accept-to-registered times to h.
func (s *ConnStats) MergeDispatch(h *hdrhistogram.Histogram) {
	s.mu.Lock()
	h.Merge(s.dispatch)
	s.mu.Unlock()
}

// CloseReason is the counter a connection closed on err is counted in:
// reset, broken pipe, timeout, or other.
func (s *ConnStats) CloseReason(err error) *atomic.Uint64 {
	switch {
	case errors.Is(err, unix.ETIMEDOUT):
		return &s.CloseTimeout
	case errors.Is(err, unix.ECONNRESET):
		return &s.CloseReset
	case errors.Is(err, unix.EPIPE):
		return &s.ClosePipe
	}
	return &s.CloseOther
}

// RecordDispatch records the time from accept (MonoNs) to registration.
func (s *ConnStats) RecordDispatch(acceptedNs int64) {
	us := (MonoNs() - acceptedNs) / 1000
	s.mu.Lock()
	s.dispatch.RecordValue(max(us, 1))
	s.mu.Unlock()
}

// AcceptStats count what happened at accept, per accepting loop.
type AcceptStats struct {
	Accepted     atomic.Uint64
	Emfile       atomic.Uint64
	Enfile       atomic.Uint64
	Econnaborted atomic.Uint64
	OtherErr     atomic.Uint64
	ShedMaxConns atomic.Uint64
	ShedNoFD     atomic.Uint64 // closed at once via the reserve-fd trick
	Backoffs     atomic.Uint64
	Calls        atomic.Uint64 // accept4 calls, to show accept never spins
}

// AcceptFailure is what an accept error asks of the loop that met it.
type AcceptFailure int

const (
	AcceptAgain   AcceptFailure = iota // nothing to count: EINTR, or the queue is empty (EAGAIN)
	AcceptAborted                      // the peer gave up before the accept: go on
	AcceptNoFD                         // the fd table (or the system's) is full: shed one and back off
	AcceptBroken                       // ENOBUFS, ENOMEM, ...: back off and let the kernel recover
)

// CountError counts an accept error by its cause, the same way for both
// engines, and says what the loop should do about it.
func (s *AcceptStats) CountError(err error) AcceptFailure {
	switch {
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		return AcceptAgain
	case errors.Is(err, unix.ECONNABORTED), errors.Is(err, unix.EPROTO):
		s.Econnaborted.Add(1)
		return AcceptAborted
	case errors.Is(err, unix.EMFILE):
		s.Emfile.Add(1)
		return AcceptNoFD
	case errors.Is(err, unix.ENFILE):
		s.Enfile.Add(1)
		return AcceptNoFD
	}
	s.OtherErr.Add(1)
	return AcceptBroken
}

// WorkerSnapshot is one worker's counters.
type WorkerSnapshot struct {
	ID          int    `json:"id"`
	Conns       int64  `json:"conns"`
	Registered  uint64 `json:"registered"`
	Closed      uint64 `json:"closed"`
	Reads       uint64 `json:"reads"`
	Writes      uint64 `json:"writes"`
	EpollWaits  uint64 `json:"epoll_waits"`
	UringEnters uint64 `json:"uring_enters,omitempty"`
	NoBuffers   uint64 `json:"no_buffers,omitempty"`   // uring: receives that ran out of provided buffers
	SendRetries uint64 `json:"send_retries,omitempty"` // uring: sends that met a full socket and were retried
}

// Snapshot is the server's state as served at /stats and printed as JSON lines.
type Snapshot struct {
	Time         time.Time              `json:"time"`
	Engine       string                 `json:"engine"`
	Rings        int                    `json:"rings,omitempty"` // uring: io_uring instances, each with its own registered-file table
	Strategy     string                 `json:"strategy"`
	Procs        int                    `json:"procs"`
	Tables       int                    `json:"tables"`
	Dispatch     string                 `json:"dispatch,omitempty"`      // epoll: how accepted fds reach workers
	Trigger      string                 `json:"trigger,omitempty"`       // epoll: et or lt
	UringRecv    string                 `json:"uring_recv,omitempty"`    // uring: multishot or single
	UringTaskrun string                 `json:"uring_taskrun,omitempty"` // uring: signal or defer
	Conns        int64                  `json:"conns"`
	Accepted     uint64                 `json:"accepted"`
	Registered   uint64                 `json:"registered"`
	Closed       uint64                 `json:"closed"`
	Reads        uint64                 `json:"reads"`
	Writes       uint64                 `json:"writes"`
	BytesIn      uint64                 `json:"bytes_in"`
	BytesOut     uint64                 `json:"bytes_out"`
	EpollWaits   uint64                 `json:"epoll_waits"`
	UringEnters  uint64                 `json:"uring_enters,omitempty"` // io_uring_enter calls (submissions), uring engine
	Syscalls     uint64                 `json:"syscalls"`               // system calls on the I/O path: epoll: epoll_wait, accept4, and read/write that moved data; uring: epoll_wait, eventfd read, io_uring_enter
	EngineNote   string                 `json:"engine_note,omitempty"`  // why the engine asked for is not the one running
	Backpressure uint64                 `json:"backpressure"`
	AcceptCalls  uint64                 `json:"accept_calls"`
	CloseReasons map[string]uint64      `json:"close_reasons"`
	AcceptErrors map[string]uint64      `json:"accept_errors"`
	DispatchUs   Percentiles            `json:"dispatch_us"`
	GoHeapBytes  uint64                 `json:"go_heap_bytes"`
	GoSysBytes   uint64                 `json:"go_sys_bytes"`
	Workers      []WorkerSnapshot       `json:"workers,omitempty"`
	DispatchHist *hdrhistogram.Snapshot `json:"dispatch_hist,omitempty"`
	StopDropped  uint64                 `json:"stop_dropped,omitempty"` // a graceful stop closed these with output their client had not read by core.StopFlushTimeout
}

// Modes names the engine's modes in force, for the startup line.
func (snap *Snapshot) Modes() string {
	if snap.Engine == EngineUring {
		return fmt.Sprintf("recv=%s taskrun=%s", snap.UringRecv, snap.UringTaskrun)
	}
	return fmt.Sprintf("dispatch=%s trigger=%s", snap.Dispatch, snap.Trigger)
}

var heapMetric = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}

// ReadGoMemory fills in the Go runtime's heap and total memory.
func (snap *Snapshot) ReadGoMemory() {
	samples := append([]metrics.Sample(nil), heapMetric...)
	metrics.Read(samples)
	snap.GoHeapBytes = samples[0].Value.Uint64()
	snap.GoSysBytes = samples[1].Value.Uint64()
}

// Snapshot is one worker's (or ring's) counters.
func (s *ConnStats) Snapshot(id int) WorkerSnapshot {
	return WorkerSnapshot{ID: id, Conns: s.OpenConns.Load(), Registered: s.Registered.Load(),
		Closed: s.Closed.Load(), Reads: s.Reads.Load(), Writes: s.Writes.Load(), NoBuffers: s.NoBuffers.Load(),
		SendRetries: s.SendRetries.Load()}
}

// AddWorker adds one worker's (or ring's) counters to the totals.
func (snap *Snapshot) AddWorker(ws WorkerSnapshot, st *ConnStats) {
	snap.Workers = append(snap.Workers, ws)
	snap.Conns += ws.Conns
	snap.Registered += ws.Registered
	snap.Closed += ws.Closed
	snap.Reads += ws.Reads
	snap.Writes += ws.Writes
	snap.EpollWaits += ws.EpollWaits
	snap.UringEnters += ws.UringEnters
	snap.BytesIn += st.BytesIn.Load()
	snap.BytesOut += st.BytesOut.Load()
	snap.Backpressure += st.Backpressure.Load()
	snap.CloseReasons["eof"] += st.CloseEOF.Load()
	snap.CloseReasons["reset"] += st.CloseReset.Load()
	snap.CloseReasons["epipe"] += st.ClosePipe.Load()
	snap.CloseReasons["other"] += st.CloseOther.Load()
	snap.CloseReasons["shutdown"] += st.CloseShutdown.Load()
	snap.CloseReasons["no_fd"] += st.CloseNoFD.Load()
	snap.CloseReasons["idle"] += st.CloseIdle.Load()
	snap.CloseReasons["timeout"] += st.CloseTimeout.Load()
}

// AddTo adds the error counts to m and returns the connections accepted.
func (s *AcceptStats) AddTo(m map[string]uint64) uint64 {
	m["emfile"] += s.Emfile.Load()
	m["enfile"] += s.Enfile.Load()
	m["econnaborted"] += s.Econnaborted.Load()
	m["other"] += s.OtherErr.Load()
	m["shed_max_conns"] += s.ShedMaxConns.Load()
	m["shed_no_fd"] += s.ShedNoFD.Load()
	m["backoffs"] += s.Backoffs.Load()
	return s.Accepted.Load()
}

// Merge adds another process's snapshot into s (prefork aggregation).
func (s *Snapshot) Merge(o *Snapshot) {
	s.Conns += o.Conns
	s.Accepted += o.Accepted
	s.Registered += o.Registered
	s.Closed += o.Closed
	s.Reads += o.Reads
	s.Writes += o.Writes
	s.BytesIn += o.BytesIn
	s.BytesOut += o.BytesOut
	s.EpollWaits += o.EpollWaits
	s.UringEnters += o.UringEnters
	s.Syscalls += o.Syscalls
	s.Backpressure += o.Backpressure
	s.AcceptCalls += o.AcceptCalls
	s.GoHeapBytes += o.GoHeapBytes
	s.GoSysBytes += o.GoSysBytes
	s.Tables += o.Tables
	s.StopDropped += o.StopDropped
	if s.CloseReasons == nil {
		s.CloseReasons = map[string]uint64{}
	}
	if s.AcceptErrors == nil {
		s.AcceptErrors = map[string]uint64{}
	}
	for k, v := range o.CloseReasons {
		s.CloseReasons[k] += v
	}
	for k, v := range o.AcceptErrors {
		s.AcceptErrors[k] += v
	}
	base := len(s.Workers)
	for _, w := range o.Workers {
		w.ID += base
		s.Workers = append(s.Workers, w)
	}
	if o.DispatchHist != nil {
		h := hdrhistogram.Import(o.DispatchHist)
		if s.DispatchHist != nil {
			mine := hdrhistogram.Import(s.DispatchHist)
			mine.Merge(h)
			h = mine
		}
		s.DispatchHist = h.Export()
		s.DispatchUs = PercentilesOf(h)
	}
}
