// Package idlewheel finds connections that have received nothing for a
// timeout: a timing wheel for one event loop (not safe for concurrent use),
// indexed by the loop's own connection numbers (fd or ring slot).
//
// A connection is in exactly one of the wheel's buckets, the one of the
// tick at which it must next be looked at. Receiving only stamps the
// connection with the current tick (Touch: one byte stored, no list
// moved). When a bucket's tick comes, each connection in it is either idle
// for the whole timeout (expired) or moved to the bucket where its latest
// stamp says to look again. So a connection is looked at most once per
// timeout however often it receives: O(1) per event, O(1) amortised per
// expiry, and 9 bytes per connection (two int32 links and the stamp),
// no goroutine or timer per connection.
package idlewheel

import "time"

// TicksPerTimeout splits the timeout into this many ticks: a connection is
// reaped between the timeout and the timeout plus one tick after it last
// received (plus however late its loop comes to look).
const TicksPerTimeout = 8

// minTick bounds how often a loop wakes for the wheel, however short the timeout.
const minTick = time.Millisecond

// buckets must exceed the ticks between a stamp and its look (span): the
// bucket a connection moves to must not be the one being emptied. The stamp
// is a byte, so the wheel works modulo 256, a multiple of it.
const buckets = 16

const none = -1

// Wheel is one loop's idle timer over connections 0..n-1.
type Wheel struct {
	tick time.Duration
	span uint8     // ticks from a connection's stamp to its expiry
	now  uint8     // the current tick, modulo 256
	next time.Time // when the next tick begins
	// draining: the current tick's bucket still holds expired connections
	// (Advance's budget ran out before it was empty).
	draining bool
	stamp    []uint8 // per connection: tick of its last receive (or Add)
	// Circular doubly-linked lists: nodes 0..buckets-1 are the buckets'
	// heads, node buckets+i is connection i; a node in no list links to itself.
	nextOf, prevOf []int32
}

// New returns a wheel that expires connections idle for timeout, its
// clock starting at start; nil (a wheel that does nothing) if timeout <= 0.
func New(timeout time.Duration, start time.Time) *Wheel {
	if timeout <= 0 {
		return nil
	}
	tick := max(timeout/TicksPerTimeout, minTick)
	span := (timeout + tick - 1) / tick // ticks the timeout covers, rounded up
	w := &Wheel{tick: tick, span: uint8(min(span, buckets-2)) + 1, next: start.Add(tick)}
	w.grow(0)
	return w
}

// Tick is the wheel's granularity.
func (w *Wheel) Tick() time.Duration { return w.tick }

// Grow makes room for connections 0..n-1.
func (w *Wheel) Grow(n int) {
	if w != nil && n > len(w.stamp) {
		w.grow(max(n, 2*len(w.stamp)))
	}
}

func (w *Wheel) grow(n int) {
	stamp := make([]uint8, n)
	copy(stamp, w.stamp)
	nextOf := make([]int32, buckets+n)
	prevOf := make([]int32, buckets+n)
	copy(nextOf, w.nextOf)
	copy(prevOf, w.prevOf)
	for i := len(w.nextOf); i < len(nextOf); i++ {
		nextOf[i], prevOf[i] = int32(i), int32(i)
	}
	w.stamp, w.nextOf, w.prevOf = stamp, nextOf, prevOf
}

// Add starts the clock of connection i (after Grow made room for it).
func (w *Wheel) Add(i int) {
	if w == nil {
		return
	}
	w.stamp[i] = w.now
	w.unlink(int32(buckets + i))
	w.link(int32(buckets+i), w.now+w.span)
}

// Touch notes that connection i received something: the hot path.
func (w *Wheel) Touch(i int) {
	if w != nil {
		w.stamp[i] = w.now
	}
}

// Remove takes connection i out of the wheel (it closed). Removing one that
// is not in it does nothing.
func (w *Wheel) Remove(i int) {
	if w != nil && i < len(w.stamp) {
		w.unlink(int32(buckets + i))
	}
}

// Len counts the connections in the wheel (for tests: it walks every bucket).
func (w *Wheel) Len() int {
	n := 0
	for b := int32(0); b < buckets; b++ {
		for x := w.nextOf[b]; x != b; x = w.nextOf[x] {
			n++
		}
	}
	return n
}

// Advance runs every tick begun by now, calling expire for each connection
// idle for the whole timeout (already out of the wheel: expire closes it,
// and may call Remove or Add), but for at most budget of them (<= 0: no
// limit), so that a mass expiry (a whole network gone at once) is spread
// over several calls and the loop serves its live connections in between.
// It returns how long until it must run again: pause when the budget ran
// out with expiries left, otherwise the time to the next tick.
func (w *Wheel) Advance(now time.Time, budget int, pause time.Duration, expire func(i int)) time.Duration {
	if w == nil {
		return -1
	}
	if budget <= 0 {
		budget = -1 // counts down from there and never reaches 0
	}
	for {
		if w.draining {
			if !w.expireBucket(&budget, expire) {
				return pause
			}
			w.draining = false
		}
		if now.Before(w.next) {
			return w.next.Sub(now)
		}
		w.now++
		w.next = w.next.Add(w.tick)
		w.draining = true
	}
}

// expireBucket looks at the connections in the current tick's bucket until
// it is empty (true) or the budget of expiries is spent (false).
func (w *Wheel) expireBucket(budget *int, expire func(i int)) bool {
	head := int32(w.now % buckets)
	for {
		x := w.nextOf[head]
		if x == head {
			return true
		}
		i := int(x - buckets)
		idle := w.now - w.stamp[i]
		if idle >= w.span && *budget == 0 {
			return false
		}
		w.unlink(x)
		if idle >= w.span {
			expire(i)
			*budget--
		} else {
			w.link(x, w.stamp[i]+w.span) // received since: look again a timeout after that
		}
	}
}

func (w *Wheel) link(x int32, at uint8) {
	head := int32(at % buckets)
	last := w.prevOf[head]
	w.nextOf[last], w.prevOf[x] = x, last
	w.nextOf[x], w.prevOf[head] = head, x
}

func (w *Wheel) unlink(x int32) {
	n, p := w.nextOf[x], w.prevOf[x]
	w.nextOf[p], w.prevOf[n] = n, p
	w.nextOf[x], w.prevOf[x] = x, x
}
