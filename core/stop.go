package core

import "time"

// A graceful stop (SIGTERM) closes connections in batches, so that the
// machine stays responsive while a million close: each loop closes at most
// StopBatch connections, then goes back to its wait for StopPause, where
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

// StopBudget is one loop's graceful-stop bookkeeping: when the flush
// deadline passes. Only the loop's own thread touches it.
type StopBudget struct {
	deadline time.Time
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
