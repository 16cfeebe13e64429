package core

import "time"

// A graceful stop (SIGTERM) closes connections in batches, so that the
// machine stays responsive while a million close: each loop closes at most
// StopBatch connections, then goes back to its wait for StopPause, where
// it serves what is in flight (pending output drains on EPOLLOUT or send
// completions), the Go scheduler can stop the world for a GC and the
// /stats server gets a CPU. 256 closes cost a loop about 1-3 ms of kernel
// time here (a FIN each, handled inline on loopback), so a loop spends at
// most about three quarters of its time closing: 1,000,000 connections over
// 2 CPUs close in well under a minute, and the loopback backlog
// (net.core.netdev_max_backlog) sees at most a few hundred FINs per CPU at
// once rather than a flood.
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
