// Package epoll is the server's epoll engine, the design the repository
// starts from: an acceptor hands each accepted fd to one of W workers, each
// an epoll loop on its own locked (and by default pinned) thread, which
// echoes what its connections send. Past one fd table it runs workers with
// private fd tables (fdtables) or several processes (prefork).
//
// The files: server.go (plan, start, hand-off, stop, stats), worker.go (one
// worker's echo and backpressure), accept.go (accepting without spinning),
// dispatch.go and scm.go (how an accepted fd reaches its worker),
// framing.go (the pipe's fd frames), prefork.go (the multi-process strategy).
package epoll

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"c1m/core"
	"c1m/eventloop"

	"golang.org/x/sys/unix"
)

// Server is one process's core: workers, and an acceptor unless the workers accept (reuseport, exclusive).
type Server struct {
	cfg         core.Config
	plan        core.Plan
	addrs       []netip.AddrPort
	workers     []*worker
	acceptor    *eventloop.Loop
	acc         *accepting
	shared      []int // exclusive: the listeners every worker accepts on (in every private table too)
	acceptStats []*core.AcceptStats
	open        atomic.Int64 // connections accepted and not yet closed
	stopping    atomic.Bool
	next        int // round-robin cursor (acceptor thread only)
	runLeft     int // connections the current worker still gets before rr moves on
	listenMu    sync.Mutex
	engineNote  string // why this engine runs although uring was asked for (server.Launch)
	core.Failure
}

// NewServer plans capacity for cfg (which core.Config.Validate has
// checked) under the current fd limit. It raises the soft RLIMIT_NOFILE to
// the hard limit first.
func NewServer(cfg core.Config) (*Server, error) {
	soft, hard, err := core.RaiseNofile()
	if err != nil {
		return nil, err
	}
	plan, err := core.PlanCapacity(cfg, soft)
	if err != nil {
		return nil, err
	}
	plan.NofileSoft, plan.NofileHard = soft, hard
	if plan.Strategy == core.StrategyFDTables {
		cfg.Epoll.Dispatch = core.FDTablesDispatch(cfg.Epoll.Dispatch)
		if cfg.Epoll.Dispatch == core.DispatchReusePort {
			if plan, err = reuseportSlack(cfg, plan); err != nil {
				return nil, err
			}
		}
		cfg.Workers = plan.Workers
	}
	eventloop.EnsureProcs(cfg.Workers + 1) // the workers and the acceptor
	addrs, err := core.ListenAddrs(cfg.Addr, cfg.Ports)
	if err != nil {
		return nil, err
	}
	if addrs[0].Port() == 0 && (cfg.Ports > 1 || plan.Strategy == core.StrategyPrefork) {
		return nil, fmt.Errorf("-ports %d with -strategy %s needs a fixed base port, not 0 (each listener would get its own)", cfg.Ports, plan.Strategy)
	}
	return &Server{cfg: cfg, plan: plan, addrs: addrs}, nil
}

// reuseportSlack plans about 3% more tables for per-table SO_REUSEPORT
// listeners: the kernel spreads connections over them by a hash of the
// addresses, not by room, and what lands on a full table is shed.
func reuseportSlack(cfg core.Config, plan core.Plan) (core.Plan, error) {
	wider := cfg
	wider.MaxConns = cfg.MaxConns + (cfg.MaxConns+31)/32
	p, err := core.PlanCapacity(wider, plan.NofileSoft)
	if err != nil {
		return plan, err
	}
	p.MaxConns, p.MaxConnsPerProc = plan.MaxConns, plan.MaxConnsPerProc
	p.NofileSoft, p.NofileHard = plan.NofileSoft, plan.NofileHard
	return p, nil
}

// Plan is the capacity plan the server runs with.
func (s *Server) Plan() core.Plan { return s.plan }

// Addrs are the listening addresses (port 0 resolved once listening).
func (s *Server) Addrs() []netip.AddrPort {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	return append([]netip.AddrPort(nil), s.addrs...)
}

func (s *Server) maxConnsPerProcess() int { return s.plan.MaxConnsPerProc }

// listenAll opens a listener on every address; a base port of 0 is resolved
// by the first listener and reused after (reuseport workers share it).
func (s *Server) listenAll(reusePort bool) ([]int, error) {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	opts := core.ListenOptions{Backlog: s.cfg.Backlog, ReusePort: reusePort || s.cfg.Epoll.ReusePort, RcvBuf: s.cfg.RcvBuf, SndBuf: s.cfg.SndBuf, Reap: s.cfg.Reap}
	return core.ListenOn(s.addrs, opts)
}

// portsFree fails if another process listens on one of the ports. The
// workers' SO_REUSEPORT listeners would otherwise join its group and
// silently share the port with it (prefork children mean to: they set
// ReusePort). A socket bound without SO_REUSEPORT cannot join such a group.
func (s *Server) portsFree() error {
	opts := core.ListenOptions{Backlog: 1}
	for _, ap := range s.Addrs() {
		if ap.Port() == 0 {
			continue
		}
		fd, err := core.Listen(ap, opts)
		if err != nil {
			return err
		}
		unix.Close(fd)
	}
	return nil
}

// Start opens the workers, then the listeners and the acceptor.
func (s *Server) Start() error {
	if err := s.start(); err != nil {
		s.Stop()
		return err
	}
	return nil
}

func (s *Server) start() error {
	cfg := s.cfg
	reuse := acceptsInWorkers(cfg.Epoll.Dispatch)
	n := cfg.Workers
	if cfg.Epoll.Dispatch == core.DispatchExclusive {
		// Before any worker unshares: its private table is a copy of this one.
		fds, err := s.listenAll(false)
		if err != nil {
			return err
		}
		s.shared = fds
	}
	if cfg.Epoll.Dispatch == core.DispatchReusePort && !cfg.Epoll.ReusePort {
		if err := s.portsFree(); err != nil {
			return err
		}
	}
	if reuse {
		s.acceptStats = make([]*core.AcceptStats, n)
	} else {
		s.acceptStats = []*core.AcceptStats{{}}
	}
	for i := range s.acceptStats {
		s.acceptStats[i] = &core.AcceptStats{}
	}
	// Every inbox first: a private fd table is a copy of the shared one taken
	// at unshare, and must already hold its inbox's end.
	for i := 0; i < n; i++ {
		w := &worker{id: i, srv: s, stats: core.NewConnStats(), et: cfg.Epoll.Trigger == "et", maxPending: cfg.MaxPending}
		w.connEvents = w.interest(connOpen)
		if reuse {
			w.acc = &accepting{}
		} else {
			inbox, err := newInbox(cfg.Epoll.Dispatch, w, &s.stopping)
			if err != nil {
				return err
			}
			w.inbox = inbox
		}
		s.workers = append(s.workers, w)
	}
	for i, w := range s.workers {
		cpu := -1
		if cfg.Pin {
			cpu = i % runtime.NumCPU()
		}
		opts := eventloop.Options{CPU: cpu, PrivateFiles: s.plan.Strategy == core.StrategyFDTables, RawWaitMs: cfg.RawWaitMs}
		if _, err := eventloop.Start(opts, w.hooks()); err != nil { // Init sets w.loop
			return fmt.Errorf("worker %d: %w", i, err)
		}
	}
	if reuse {
		return nil
	}
	fds, err := s.listenAll(false)
	if err != nil {
		return err
	}
	s.acc = &accepting{ls: listenerSet{fds: fds}, gate: newAcceptGate(s.acceptStats[0], &s.open, s.plan.MaxConnsPerProc)}
	var poller *eventloop.Poller // set in Init, on the acceptor's thread, before any event
	l, err := eventloop.Start(eventloop.Options{CPU: -1, RawWaitMs: cfg.RawWaitMs}, eventloop.Hooks{
		Init: func(l *eventloop.Loop) error {
			poller = l.Poller
			return s.acc.ls.register(l.Poller)
		},
		Event: func(fd int, _ uint32) { s.acc.event(poller, fd, s.handOff) },
		Tick: func(now time.Time) time.Duration {
			s.flushAll()
			return s.acc.tick(poller, now)
		},
		Exit: s.acc.close,
	})
	if err != nil {
		s.acc.close()
		return fmt.Errorf("acceptor: %w", err)
	}
	s.acceptor = l
	return nil
}

// handOff gives an accepted fd to a worker (acceptor thread).
func (s *Server) handOff(fd int, acceptedNs int64) {
	w := s.pick()
	if w == nil {
		unix.Close(fd)
		s.open.Add(-1)
		s.acceptStats[0].ShedMaxConns.Add(1)
		return
	}
	// Counted at hand-off, not when the worker registers it, so that pick
	// sees connections still in flight (a burst would otherwise all go to
	// one worker under -balance least, or overfill a private fd table).
	w.stats.OpenConns.Add(1)
	if err := w.inbox.Deliver(Handoff{FD: int32(fd), AcceptedNs: acceptedNs}); err != nil {
		w.stats.OpenConns.Add(-1)
		unix.Close(fd)
		s.open.Add(-1)
		if !errors.Is(err, errStopped) {
			s.Fail(fmt.Errorf("dispatch to worker %d: %w", w.id, err))
		}
		return
	}
	if b, ok := w.inbox.(batcher); ok && b.Full() {
		s.flush(w, b)
	}
}

// flushAll sends what batching inboxes hold (acceptor thread, once per wake-up).
func (s *Server) flushAll() {
	for _, w := range s.workers {
		if b, ok := w.inbox.(batcher); ok {
			s.flush(w, b)
		}
	}
}

func (s *Server) flush(w *worker, b batcher) {
	lost, err := b.Flush()
	if err == nil {
		return
	}
	w.stats.OpenConns.Add(int64(-lost))
	s.open.Add(int64(-lost))
	if !errors.Is(err, errStopped) {
		s.Fail(fmt.Errorf("dispatch to worker %d: %w", w.id, err))
	}
}

// pick chooses a worker with room: round-robin, or the fewest open connections.
func (s *Server) pick() *worker {
	n := len(s.workers)
	limit := int64(s.plan.PerTable)
	if s.cfg.Epoll.Balance == "least" {
		var best *worker
		for _, w := range s.workers {
			c := w.stats.OpenConns.Load()
			if c < limit && (best == nil || c < best.stats.OpenConns.Load()) {
				best = w
			}
		}
		return best
	}
	// Round-robin in runs of Batch: a burst of accepts wakes each worker
	// once for many connections instead of once per connection (a wake-up
	// is a context switch, the dearest thing here; see the README).
	if s.runLeft > 0 {
		if w := s.workers[s.next]; w.stats.OpenConns.Load() < limit {
			s.runLeft--
			return w
		}
	}
	for i := 0; i < n; i++ {
		s.next = (s.next + 1) % n
		if w := s.workers[s.next]; w.stats.OpenConns.Load() < limit {
			s.runLeft = max(s.cfg.Epoll.Batch, 1) - 1
			return w
		}
	}
	return nil
}

// Stop stops accepting and closes every connection gracefully: each worker
// echoes what its clients sent, closes its connections in paced batches
// and lets pending output drain (see worker.stopTick); Stop waits for the
// loops. It is safe to call more than once.
func (s *Server) Stop() {
	if s.stopping.Swap(true) {
		return
	}
	if s.acceptor != nil {
		s.acceptor.Stop()
		s.acceptor.Wait()
	}
	for _, w := range s.workers {
		if w.loop != nil {
			w.stopping.Store(true)
			w.loop.Wake()
		}
	}
	for _, w := range s.workers {
		if w.loop != nil {
			w.loop.Wait()
		}
		if w.inbox != nil {
			w.inbox.Close()
		}
	}
	for _, fd := range s.shared {
		unix.Close(fd)
	}
	s.shared = nil
}

// Snapshot reads every counter (safe while running).
func (s *Server) Snapshot() core.Snapshot {
	snap := core.Snapshot{
		Time: time.Now(), Engine: core.EngineEpoll, EngineNote: s.engineNote, Strategy: s.plan.Strategy, Procs: 1, Tables: s.plan.Tables,
		Dispatch: s.cfg.Epoll.Dispatch, Trigger: s.cfg.Epoll.Trigger,
		CloseReasons: map[string]uint64{}, AcceptErrors: map[string]uint64{},
	}
	hist := core.NewLatencyHistogram()
	for _, w := range s.workers {
		st := w.stats
		ws := st.Snapshot(w.id)
		if w.loop != nil {
			ws.EpollWaits = w.loop.Waits.Load()
		}
		snap.AddWorker(ws, st)
		snap.StopDropped += w.stopDropped.Load()
		st.MergeDispatch(hist)
	}
	for _, a := range s.acceptStats {
		snap.Accepted += a.AddTo(snap.AcceptErrors)
		snap.AcceptCalls += a.Calls.Load()
	}
	if s.acceptor != nil {
		snap.EpollWaits += s.acceptor.Waits.Load()
	}
	snap.Syscalls = snap.Reads + snap.Writes + snap.EpollWaits + snap.AcceptCalls
	snap.DispatchUs = core.PercentilesOf(hist)
	snap.DispatchHist = hist.Export()
	snap.ReadGoMemory()
	return snap
}
