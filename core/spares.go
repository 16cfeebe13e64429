package core

// Spares keeps a few drained output buffers of a loop for reuse, so a
// connection that falls behind and catches up again allocates nothing.
// Only its own loop's thread touches it.
type Spares struct {
	free     [][]byte
	max      int // buffers kept
	limit    int // a buffer with more capacity than this is dropped, not kept
	startCap int // capacity of a new buffer
}

// NewSpares keeps up to max buffers of at most limit bytes; new ones start
// with startCap bytes of capacity.
func NewSpares(max, limit, startCap int) *Spares {
	return &Spares{max: max, limit: limit, startCap: startCap}
}

// Take returns an empty buffer, a kept one if there is one.
func (s *Spares) Take() []byte {
	if n := len(s.free); n > 0 {
		b := s.free[n-1]
		s.free = s.free[:n-1]
		return b[:0]
	}
	return make([]byte, 0, s.startCap)
}

// Put keeps b for reuse if there is room and it is not oversized.
func (s *Spares) Put(b []byte) {
	if len(s.free) < s.max && cap(b) > 0 && cap(b) <= s.limit {
		s.free = append(s.free, b[:0])
	}
}
