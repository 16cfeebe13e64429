package core

import (
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

var clockBase = time.Now()

// MonoNs is nanoseconds on this process's monotonic clock (accept stamps).
func MonoNs() int64 { return int64(time.Since(clockBase)) }

// Percentiles is the latency summary used across the repository (µs).
type Percentiles struct {
	P50  int64 `json:"p50"`
	P90  int64 `json:"p90"`
	P99  int64 `json:"p99"`
	P999 int64 `json:"p999"`
	Max  int64 `json:"max"`
	N    int64 `json:"n"`
}

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

// workerStats are written by one worker and read by the stats reporter.
type workerStats struct {
	openConns     atomic.Int64
	registered    atomic.Uint64
	closed        atomic.Uint64
	reads         atomic.Uint64
	writes        atomic.Uint64
	bytesIn       atomic.Uint64
	bytesOut      atomic.Uint64
	backpressure  atomic.Uint64 // times a connection's reading paused at -max-pending
	closeEOF      atomic.Uint64
	closeReset    atomic.Uint64
	closePipe     atomic.Uint64
	closeOther    atomic.Uint64
	closeShutdown atomic.Uint64
	closeNoFD     atomic.Uint64 // lost in passing: this worker's private fd table was full (scm)
	noBuffers     atomic.Uint64 // uring: receives that ended for want of a provided buffer (re-armed)
	sendRetries   atomic.Uint64 // uring: sends that met a full socket (EAGAIN), retried 50 ms later

	mu       sync.Mutex
	dispatch *hdrhistogram.Histogram // accept → registered, µs
}

func newWorkerStats() *workerStats {
	return &workerStats{dispatch: NewLatencyHistogram()}
}

func (s *workerStats) recordDispatch(acceptedNs int64) {
	us := (MonoNs() - acceptedNs) / 1000
	s.mu.Lock()
	s.dispatch.RecordValue(max(us, 1))
	s.mu.Unlock()
}

// acceptStats count what happened at accept, per accepting loop.
type acceptStats struct {
	accepted     atomic.Uint64
	emfile       atomic.Uint64
	enfile       atomic.Uint64
	econnaborted atomic.Uint64
	otherErr     atomic.Uint64
	shedMaxConns atomic.Uint64
	shedNoFD     atomic.Uint64 // closed at once via the reserve-fd trick
	backoffs     atomic.Uint64
	calls        atomic.Uint64 // accept4 calls, to show accept never spins
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
	Dispatch     string                 `json:"dispatch"`
	Trigger      string                 `json:"trigger"`
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
}

var heapMetric = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}

// readGoMemory fills in the Go runtime's heap and total memory.
func (snap *Snapshot) readGoMemory() {
	samples := append([]metrics.Sample(nil), heapMetric...)
	metrics.Read(samples)
	snap.GoHeapBytes = samples[0].Value.Uint64()
	snap.GoSysBytes = samples[1].Value.Uint64()
}

// snapshot is one worker's (or ring's) counters.
func (s *workerStats) snapshot(id int) WorkerSnapshot {
	return WorkerSnapshot{ID: id, Conns: s.openConns.Load(), Registered: s.registered.Load(),
		Closed: s.closed.Load(), Reads: s.reads.Load(), Writes: s.writes.Load(), NoBuffers: s.noBuffers.Load(),
		SendRetries: s.sendRetries.Load()}
}

// addWorker adds one worker's (or ring's) counters to the totals.
func (snap *Snapshot) addWorker(ws WorkerSnapshot, st *workerStats) {
	snap.Workers = append(snap.Workers, ws)
	snap.Conns += ws.Conns
	snap.Registered += ws.Registered
	snap.Closed += ws.Closed
	snap.Reads += ws.Reads
	snap.Writes += ws.Writes
	snap.EpollWaits += ws.EpollWaits
	snap.UringEnters += ws.UringEnters
	snap.BytesIn += st.bytesIn.Load()
	snap.BytesOut += st.bytesOut.Load()
	snap.Backpressure += st.backpressure.Load()
	snap.CloseReasons["eof"] += st.closeEOF.Load()
	snap.CloseReasons["reset"] += st.closeReset.Load()
	snap.CloseReasons["epipe"] += st.closePipe.Load()
	snap.CloseReasons["other"] += st.closeOther.Load()
	snap.CloseReasons["shutdown"] += st.closeShutdown.Load()
	snap.CloseReasons["no_fd"] += st.closeNoFD.Load()
}

func (s *acceptStats) addTo(m map[string]uint64) uint64 {
	m["emfile"] += s.emfile.Load()
	m["enfile"] += s.enfile.Load()
	m["econnaborted"] += s.econnaborted.Load()
	m["other"] += s.otherErr.Load()
	m["shed_max_conns"] += s.shedMaxConns.Load()
	m["shed_no_fd"] += s.shedNoFD.Load()
	m["backoffs"] += s.backoffs.Load()
	return s.accepted.Load()
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
