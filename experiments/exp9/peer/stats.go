package peer

import (
	"runtime/metrics"
	"sync/atomic"
	"time"

	"c1m/core"
)

// shards spreads the byte counters: the event loops of a peer run on
// different CPUs and count every message, and one shared counter would
// bounce its cache line between them on each one.
const shards = 64

type shard struct {
	in, out atomic.Uint64
	_       [112]byte // a shard fills 128 bytes: the prefetcher pulls cache lines in pairs
}

// Stats counts one process's connections and bytes for /stats.
type Stats struct {
	limit    int64
	conns    atomic.Int64
	accepted atomic.Uint64
	closed   atomic.Uint64
	shed     atomic.Uint64
	bytes    [shards]shard
}

// NewStats returns counters that admit at most limit connections at once
// (0: no limit).
func NewStats(limit int) *Stats { return &Stats{limit: int64(limit)} }

// Open counts an accepted connection and says whether it may be held; on
// false it was not counted and the caller closes it at once, as the core
// sheds connections past -max-conns.
func (s *Stats) Open() bool {
	s.accepted.Add(1)
	if n := s.conns.Add(1); s.limit > 0 && n > s.limit {
		s.conns.Add(-1)
		s.shed.Add(1)
		return false
	}
	return true
}

// Close counts the end of a connection Open admitted.
func (s *Stats) Close() {
	s.conns.Add(-1)
	s.closed.Add(1)
}

// In and Out count bytes read and written; key (an fd, a connection
// number) picks the shard, so one connection always uses the same one.
func (s *Stats) In(key, n int)  { s.bytes[uint(key)%shards].in.Add(uint64(n)) }
func (s *Stats) Out(key, n int) { s.bytes[uint(key)%shards].out.Add(uint64(n)) }

// Conns is the number of connections held now.
func (s *Stats) Conns() int64 { return s.conns.Load() }

var goMemMetrics = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/total:bytes"}}

// Snapshot is the counters in the core's /stats form, so the harness reads
// a peer as it reads c1m-server; counters a peer does not have (syscalls,
// dispatch latency) stay zero.
func (s *Stats) Snapshot(name string) core.Snapshot {
	snap := core.Snapshot{Time: time.Now(), Strategy: name, Procs: 1, Tables: 1,
		Conns: s.conns.Load(), Accepted: s.accepted.Load(), Closed: s.closed.Load(),
		AcceptErrors: map[string]uint64{"shed_max_conns": s.shed.Load()}}
	snap.Registered = snap.Accepted - s.shed.Load()
	for i := range s.bytes {
		snap.BytesIn += s.bytes[i].in.Load()
		snap.BytesOut += s.bytes[i].out.Load()
	}
	samples := append([]metrics.Sample(nil), goMemMetrics...)
	metrics.Read(samples)
	snap.GoHeapBytes, snap.GoSysBytes = samples[0].Value.Uint64(), samples[1].Value.Uint64()
	return snap
}
