package core

import "time"

// A graceful stop (SIGTERM) closes connections in batches, so that the
// machine stays responsive while a million close: each loop closes a
// StopBatch for each StopPause gone by (StopBudget.Budget), then goes back
// to its wait for StopPause, where
// it serves what is in flight (pending output drains on EPOLLOUT or send
// completions), the Go runtime can stop the world for a GC and the /stats
// server gets a CPU, and the loopback backlog (net.core.netdev_max_backlog)
// gets a batch of FINs at a time rather than a flood. The pause bounds
// the rate at 256,000 closes a second per loop, far above what the kernel
// managed here (50,000 in 3.4 s on epoll, 1.7 s on uring, both sides of
// each connection on 2 AMD EPYC CPUs), so it spaces the work out without
// being what limits it.
const (
	StopBatch = 256
	StopPause = time.Millisecond
	// StopFlushTimeout bounds how long a stop waits for output a client
	// does not read; connections still holding some then are closed
	// anyway and counted in Snapshot.StopDropped.
	StopFlushTimeout = 5 * time.Second
)

// StopCatchUp bounds Budget: at most this many batches at once.
const StopCatchUp = 16

// StopBudget is one loop's graceful-stop bookkeeping: when the flush
// deadline passes, and when it last took a batch. Only the loop's own
// thread touches it.
type StopBudget struct {
	deadline time.Time
	last     time.Time
}

// Budget is how many connections the loop may close now: StopBatch for
// each StopPause since its last call, at least one batch and at most
// StopCatchUp. A loop whose serving between two calls took long closes
// more at once, not fewer: on a machine the traffic of a million
// saturates, closing is what relieves it. (A fixed batch per call let an
// io_uring server stopped under 1M keepalives from an epoll client close
// none in 5 minutes on 2 AMD EPYC CPUs: each call came seconds apart.)
func (b *StopBudget) Budget(now time.Time) int {
	batches := 1
	if !b.last.IsZero() {
		batches = min(max(int(now.Sub(b.last)/StopPause), 1), StopCatchUp)
	}
	b.last = now
	return batches * StopBatch
}

// Begin starts the flush deadline once; it reports whether this was the first call.
func (b *StopBudget) Begin(now time.Time) bool {
	if !b.deadline.IsZero() {
		return false
	}
	b.deadline = now.Add(StopFlushTimeout)
	return true
}

// Expired reports whether the flush deadline has passed.
func (b *StopBudget) Expired(now time.Time) bool { return now.After(b.deadline) }
