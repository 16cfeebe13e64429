package core

import "time"

// Accept back-off: after an accept error that retrying at once cannot fix
// (out of fds, out of memory), a loop stops accepting for a while, twice as
// long each time it happens again, so accept never spins the CPU.
const (
	BackoffFirst = 10 * time.Millisecond
	BackoffMax   = time.Second
)

// Backoff is one accepting loop's pause. The zero value is not paused.
type Backoff struct {
	until time.Time
	step  time.Duration
}

// Start begins (or doubles) the pause from now.
func (b *Backoff) Start(now time.Time) {
	b.step = min(max(2*b.step, BackoffFirst), BackoffMax)
	b.until = now.Add(b.step)
}

// Reset forgets the doubling once an accept succeeded.
func (b *Backoff) Reset() { b.step = 0 }

// Paused reports whether the pause still runs at now, and for how long more.
func (b *Backoff) Paused(now time.Time) (bool, time.Duration) {
	if b.until.IsZero() {
		return false, 0
	}
	if left := b.until.Sub(now); left > 0 {
		return true, left
	}
	b.until = time.Time{}
	return false, 0
}

// Active reports whether a pause was started and has not been seen to end.
func (b *Backoff) Active() bool { return !b.until.IsZero() }

// SoonerWait is the shorter of two loop waits, where a negative one sets
// no limit (the Tick hooks' convention).
func SoonerWait(a, b time.Duration) time.Duration {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return min(a, b)
}
