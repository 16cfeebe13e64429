// Package uring is the server's io_uring engine: rings, each with a
// registered-file table of up to RLIMIT_NOFILE sockets, spread over one
// locked thread per CPU. An accept puts a socket straight into a free slot
// of a ring's table, so a connection never takes an ordinary fd, and one
// process holds a million with a few dozen fds.
//
// The files: server.go (rings, threads, start, stop, stats), thread.go
// (one thread serving its rings), ring.go (one ring's echo: accept,
// multishot receive, send, backpressure, close), support.go (what the
// kernel must offer). The ring itself is package iouring.
package uring

import (
	"fmt"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"c1m/core"
	"c1m/eventloop"

	"golang.org/x/sys/unix"
)

// Ring sizing. Every page of a ring's queues and buffers that is ever
// touched stays in the process: at 51 rings a KiB per ring is 51 B per
// connection at 1M, so they are small. A recv CQE hands over one provided
// buffer, which goes back when its echo is sent: a ring needs as many
// buffers as echoes in flight, not as connections.
const (
	ringSQEntries  = 512
	ringCQEntries  = 4096
	ringBufEntries = 1024  // provided-buffer ring slots
	ringBufCount   = 32768 // the pool behind them (reserved, touched as used)
	ringBufSize    = 2048
	ringBufFirst   = 32 // buffers offered to the kernel at first; doubled each time receives run out
)

// Server is the io_uring engine: rings, each a registered-file table of
// sockets, spread over one locked thread per CPU. Each thread's rings
// share an eventfd the thread's epoll loop waits on.
type Server struct {
	cfg       core.Config
	plan      core.Plan
	addrs     []netip.AddrPort
	listeners []int
	threads   []*thread
	rings     []*ringWorker
	open      atomic.Int64
	stopping  atomic.Bool
	core.Failure
}

// Start plans rings for cfg (which core.Config.Validate has checked) under
// the current fd limit, listens, and starts the threads; each creates its
// rings on itself (the ring's single issuer) and arms an accept per
// listener on each. Call Supported first.
func Start(cfg core.Config) (*Server, error) {
	soft, _, err := core.RaiseNofile()
	if err != nil {
		return nil, err
	}
	s, err := newServer(cfg, soft)
	if err != nil {
		return nil, err
	}
	if err := s.start(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func newServer(cfg core.Config, nofile uint64) (*Server, error) {
	plan, err := core.PlanRings(cfg, nofile)
	if err != nil {
		return nil, err
	}
	addrs, err := core.ListenAddrs(cfg.Addr, cfg.Ports)
	if err != nil {
		return nil, err
	}
	if addrs[0].Port() == 0 && cfg.Ports > 1 {
		return nil, fmt.Errorf("-ports %d needs a fixed base port, not 0", cfg.Ports)
	}
	eventloop.EnsureProcs(plan.Workers)
	return &Server{cfg: cfg, plan: plan, addrs: addrs}, nil
}

func (s *Server) start() error {
	fds, err := core.ListenOn(s.addrs, core.ListenOptions{Backlog: s.cfg.Backlog, RcvBuf: s.cfg.RcvBuf, SndBuf: s.cfg.SndBuf, Reap: s.cfg.Reap})
	if err != nil {
		return err
	}
	s.listeners = fds
	for i := 0; i < s.plan.Tables; i++ {
		s.rings = append(s.rings, &ringWorker{id: i, srv: s, stats: core.NewConnStats(), acc: &core.AcceptStats{}})
	}
	for t := 0; t < s.plan.Workers; t++ {
		th := &thread{efd: -1, lookEvery: s.cfg.Uring.LookEvery}
		for i := t; i < len(s.rings); i += s.plan.Workers {
			th.rings = append(th.rings, s.rings[i])
		}
		cpu := -1
		if s.cfg.Pin {
			cpu = t % runtime.NumCPU()
		}
		l, err := eventloop.Start(eventloop.Options{CPU: cpu, RawWaitMs: s.cfg.RawWaitMs}, th.hooks())
		if err != nil {
			return fmt.Errorf("io_uring thread %d: %w", t, err)
		}
		th.loop = l
		s.threads = append(s.threads, th)
	}
	return nil
}

// Plan is the rings and threads the server runs with.
func (s *Server) Plan() core.Plan { return s.plan }

// Addrs are the listening addresses.
func (s *Server) Addrs() []netip.AddrPort { return append([]netip.AddrPort(nil), s.addrs...) }

// Stop stops accepting and closes every connection gracefully: each thread
// serves what has arrived, closes its rings' connections in paced batches
// and lets sends in flight finish (thread.stopTick), then closes its rings;
// then the listeners close. Safe to call more than once.
func (s *Server) Stop() {
	if s.stopping.Swap(true) {
		return
	}
	// Out of LISTEN first: the rings' armed accepts hold the listeners, and
	// a deferring ring drops them only when its completions run, which may
	// be after Stop returns; shut down, they free their ports at once.
	for _, fd := range s.listeners {
		unix.Shutdown(fd, unix.SHUT_RDWR)
	}
	for _, th := range s.threads {
		th.stopping.Store(true)
		th.loop.Wake()
	}
	for _, th := range s.threads {
		th.loop.Wait()
	}
	for _, fd := range s.listeners {
		unix.Close(fd)
	}
	s.listeners = nil
}

// Snapshot reads every counter (safe while running).
func (s *Server) Snapshot() core.Snapshot {
	snap := core.Snapshot{Time: time.Now(), Engine: core.EngineUring, Strategy: core.StrategyRings, Procs: 1,
		Tables: len(s.rings), Rings: len(s.rings), UringRecv: s.cfg.Uring.Recv, UringTaskrun: s.cfg.Uring.Taskrun,
		CloseReasons: map[string]uint64{}, AcceptErrors: map[string]uint64{}}
	for _, w := range s.rings {
		ws := w.stats.Snapshot(w.id)
		ws.UringEnters = w.enters()
		snap.AddWorker(ws, w.stats)
		snap.StopDropped += w.stopDropped.Load()
		snap.Accepted += w.acc.AddTo(snap.AcceptErrors)
		snap.AcceptCalls += w.acc.Calls.Load()
	}
	for _, th := range s.threads {
		snap.EpollWaits += th.loop.Waits.Load()
		snap.Syscalls += th.loop.Waits.Load() + th.wakes.Load()
	}
	snap.Syscalls += snap.UringEnters
	snap.ReadGoMemory()
	return snap
}
