// Package core holds what the server's two engines share: the
// configuration and its validation, the capacity plan under RLIMIT_NOFILE,
// listening sockets, the accept back-off, per-connection counters and
// close reasons, the /stats snapshot and its HTTP endpoint. The engines
// themselves are core/epoll and core/uring; package server picks one.
package core

import (
	"net/netip"
	"sync"
)

// Engine is a running server, whichever engine (or, for prefork, however
// many processes) holds its connections.
type Engine interface {
	Plan() Plan
	Addrs() []netip.AddrPort // the listening addresses, a base port of 0 resolved
	Snapshot() Snapshot
	Stop() // stop accepting, close every connection, wait; safe to call twice
	Failed() <-chan struct{}
	Err() error
}

// Failure records the first internal error of a running server: Fail
// keeps the first and closes Failed's channel; Err returns it after.
// The zero value is ready to use.
type Failure struct {
	once sync.Once
	mu   sync.Mutex
	ch   chan struct{}
	err  error
}

func (f *Failure) channel() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ch == nil {
		f.ch = make(chan struct{})
	}
	return f.ch
}

// Fail records err if it is the first, and signals Failed.
func (f *Failure) Fail(err error) {
	f.once.Do(func() {
		ch := f.channel()
		f.mu.Lock()
		f.err = err
		f.mu.Unlock()
		close(ch)
	})
}

// Failed is closed once Fail was called.
func (f *Failure) Failed() <-chan struct{} { return f.channel() }

// Err is the first error passed to Fail, or nil.
func (f *Failure) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
