// Package core is the c1m echo server: an acceptor hands each accepted fd
// to one of W workers, each an epoll loop on its own locked (and by default
// pinned) thread, which echoes what its connections send.
package core

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Config is everything the server's flags set.
type Config struct {
	Addr         string // base listen address ip:port
	Ports        int    // consecutive ports from Addr's
	Workers      int    // 0: one per CPU
	Balance      string // rr | least
	Pin          bool   // pin worker i to CPU i % NumCPU
	Dispatch     string // pipe | chan | direct | reuseport; past one fd table scm | scm-batch | reuseport | exclusive
	Trigger      string // et | lt
	RcvBuf       int    // SO_RCVBUF, 0: kernel default
	SndBuf       int    // SO_SNDBUF, 0: kernel default
	ReadBuf      int    // user-space read buffer, one per worker
	MaxPending   int    // unsent output kept per connection before reading pauses
	MaxConns     int    // 0: what one fd table allows
	Batch        int    // rr: consecutive connections given to one worker before moving on
	Backlog      int
	Strategy     string // auto | single | fdtables | prefork
	Procs        int    // prefork processes, 0: as many as -max-conns needs
	RawWaitMs    int    // ms a loop may wait in epoll without the Go scheduler knowing (0: never)
	ReusePort    bool   // listen with SO_REUSEPORT (set for prefork children)
	Engine       string // epoll | uring (io_uring rings with registered files; see uring_server.go)
	Rings        int    // uring: rings (0: as many as -max-conns needs, one registered-file table each)
	UringTaskrun string // uring: signal | defer (how completions reach the ring's thread)
	UringRecv    string // uring: multishot | single (how a connection's receive is armed)
}

// DefaultConfig returns the defaults the flags start from.
func DefaultConfig() Config {
	return Config{
		Addr: "127.0.0.1:9876", Ports: 1, Workers: runtime.NumCPU(), Balance: "rr", Pin: true,
		Dispatch: DispatchPipe, Trigger: "et", ReadBuf: 16 << 10, MaxPending: 64 << 10, Batch: 16,
		Backlog: 65535, Strategy: StrategyAuto, RawWaitMs: 10, Engine: EngineEpoll,
	}
}

func (c *Config) validate() error {
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.Ports <= 0 {
		c.Ports = 1
	}
	if err := oneOf("-engine", &c.Engine, EngineEpoll, EngineUring); err != nil {
		return err
	}
	if c.Engine == EngineUring {
		if err := oneOf("-uring-taskrun", &c.UringTaskrun, TaskrunSignal, TaskrunDefer); err != nil {
			return err
		}
		if err := oneOf("-uring-recv", &c.UringRecv, RecvMultishot, RecvSingle); err != nil {
			return err
		}
	}
	if err := oneOf("-trigger", &c.Trigger, "et", "lt"); err != nil {
		return err
	}
	if err := oneOf("-balance", &c.Balance, "rr", "least"); err != nil {
		return err
	}
	switch c.Dispatch {
	case DispatchPipe, DispatchChan, DispatchDirect, DispatchReusePort, DispatchSCM, DispatchSCMBatch, DispatchExclusive:
	default:
		return fmt.Errorf("-dispatch %q: want one of %v (past one fd table: %v)", c.Dispatch, DispatchModes, FDTablesDispatchModes)
	}
	if c.ReadBuf < 64 {
		return fmt.Errorf("-readbuf %d: want at least 64 bytes", c.ReadBuf)
	}
	if c.MaxPending < 1 {
		return fmt.Errorf("-max-pending %d: want at least 1 byte", c.MaxPending)
	}
	return nil
}

// oneOf checks a flag's value against the allowed ones; empty means the
// first of them, the default.
func oneOf(flag string, v *string, allowed ...string) error {
	if *v == "" {
		*v = allowed[0]
		return nil
	}
	if slices.Contains(allowed, *v) {
		return nil
	}
	return fmt.Errorf("%s %q: want %s", flag, *v, strings.Join(allowed, " or "))
}

// Server is one process's core: workers, and an acceptor unless the workers accept (reuseport, exclusive).
type Server struct {
	cfg         Config
	plan        Plan
	addrs       []netip.AddrPort
	workers     []*worker
	acceptor    *Loop
	acc         *accepting
	shared      []int // exclusive: the listeners every worker accepts on (in every private table too)
	acceptStats []*acceptStats
	open        atomic.Int64 // connections accepted and not yet closed
	stopping    atomic.Bool
	next        int // round-robin cursor (acceptor thread only)
	runLeft     int // connections the current worker still gets before rr moves on
	listenMu    sync.Mutex
	engineNote  string // set when -engine uring fell back to this engine

	errOnce sync.Once
	err     error
	failed  chan struct{}
}

// NewServer validates cfg and plans capacity under the current fd limit. It
// raises the soft RLIMIT_NOFILE to the hard limit first.
func NewServer(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	soft, hard, err := RaiseNofile()
	if err != nil {
		return nil, err
	}
	plan, err := PlanCapacity(cfg, soft)
	if err != nil {
		return nil, err
	}
	plan.NofileSoft, plan.NofileHard = soft, hard
	if plan.Strategy == StrategyFDTables {
		cfg.Dispatch = fdtablesDispatch(cfg.Dispatch)
		if cfg.Dispatch == DispatchReusePort {
			if plan, err = reuseportSlack(cfg, plan); err != nil {
				return nil, err
			}
		}
		cfg.Workers = plan.Workers
	}
	EnsureProcs(cfg.Workers + 1) // the workers and the acceptor
	addrs, err := ListenAddrs(cfg.Addr, cfg.Ports)
	if err != nil {
		return nil, err
	}
	if addrs[0].Port() == 0 && (cfg.Ports > 1 || plan.Strategy == StrategyPrefork) {
		return nil, fmt.Errorf("-ports %d with -strategy %s needs a fixed base port, not 0 (each listener would get its own)", cfg.Ports, plan.Strategy)
	}
	return &Server{cfg: cfg, plan: plan, addrs: addrs, failed: make(chan struct{})}, nil
}

// reuseportSlack plans about 3% more tables for per-table SO_REUSEPORT
// listeners: the kernel spreads connections over them by a hash of the
// addresses, not by room, and what lands on a full table is shed.
func reuseportSlack(cfg Config, plan Plan) (Plan, error) {
	wider := cfg
	wider.MaxConns = cfg.MaxConns + (cfg.MaxConns+31)/32
	p, err := PlanCapacity(wider, plan.NofileSoft)
	if err != nil {
		return plan, err
	}
	p.MaxConns, p.MaxConnsPerProc = plan.MaxConns, plan.MaxConnsPerProc
	p.NofileSoft, p.NofileHard = plan.NofileSoft, plan.NofileHard
	return p, nil
}

// Plan is the capacity plan the server runs with.
func (s *Server) Plan() Plan { return s.plan }

// Config is the validated configuration in force.
func (s *Server) Config() Config { return s.cfg }

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
	opts := ListenOptions{Backlog: s.cfg.Backlog, ReusePort: reusePort || s.cfg.ReusePort, RcvBuf: s.cfg.RcvBuf, SndBuf: s.cfg.SndBuf}
	return ListenOn(s.addrs, opts)
}

// portsFree fails if another process listens on one of the ports. The
// workers' SO_REUSEPORT listeners would otherwise join its group and
// silently share the port with it (prefork children mean to: they set
// ReusePort). A socket bound without SO_REUSEPORT cannot join such a group.
func (s *Server) portsFree() error {
	opts := ListenOptions{Backlog: 1}
	for _, ap := range s.Addrs() {
		if ap.Port() == 0 {
			continue
		}
		fd, err := Listen(ap, opts)
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
	reuse := acceptsInWorkers(cfg.Dispatch)
	n := cfg.Workers
	if cfg.Dispatch == DispatchExclusive {
		// Before any worker unshares: its private table is a copy of this one.
		fds, err := s.listenAll(false)
		if err != nil {
			return err
		}
		s.shared = fds
	}
	if cfg.Dispatch == DispatchReusePort && !cfg.ReusePort {
		if err := s.portsFree(); err != nil {
			return err
		}
	}
	if reuse {
		s.acceptStats = make([]*acceptStats, n)
	} else {
		s.acceptStats = []*acceptStats{{}}
	}
	for i := range s.acceptStats {
		s.acceptStats[i] = &acceptStats{}
	}
	// Every inbox first: a private fd table is a copy of the shared one taken
	// at unshare, and must already hold its inbox's end.
	for i := 0; i < n; i++ {
		w := &worker{id: i, srv: s, stats: newWorkerStats(), et: cfg.Trigger == "et", maxPending: cfg.MaxPending}
		w.connEvents = w.interest(connOpen)
		if reuse {
			w.acc = &accepting{}
		} else {
			inbox, err := newInbox(cfg.Dispatch, w, &s.stopping)
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
		opts := LoopOptions{CPU: cpu, PrivateFiles: s.plan.Strategy == StrategyFDTables, RawWaitMs: cfg.RawWaitMs}
		if _, err := StartLoop(opts, w.hooks()); err != nil { // Init sets w.loop
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
	var poller *Poller // set in Init, on the acceptor's thread, before any event
	l, err := StartLoop(LoopOptions{CPU: -1, RawWaitMs: cfg.RawWaitMs}, LoopHooks{
		Init: func(l *Loop) error {
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
		s.acceptStats[0].shedMaxConns.Add(1)
		return
	}
	// Counted at hand-off, not when the worker registers it, so that pick
	// sees connections still in flight (a burst would otherwise all go to
	// one worker under -balance least, or overfill a private fd table).
	w.stats.openConns.Add(1)
	if err := w.inbox.Deliver(Handoff{FD: int32(fd), AcceptedNs: acceptedNs}); err != nil {
		w.stats.openConns.Add(-1)
		unix.Close(fd)
		s.open.Add(-1)
		if !errors.Is(err, errStopped) {
			s.fatal(fmt.Errorf("dispatch to worker %d: %w", w.id, err))
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
	w.stats.openConns.Add(int64(-lost))
	s.open.Add(int64(-lost))
	if !errors.Is(err, errStopped) {
		s.fatal(fmt.Errorf("dispatch to worker %d: %w", w.id, err))
	}
}

// pick chooses a worker with room: round-robin, or the fewest open connections.
func (s *Server) pick() *worker {
	n := len(s.workers)
	limit := int64(s.plan.PerTable)
	if s.cfg.Balance == "least" {
		var best *worker
		for _, w := range s.workers {
			c := w.stats.openConns.Load()
			if c < limit && (best == nil || c < best.stats.openConns.Load()) {
				best = w
			}
		}
		return best
	}
	// Round-robin in runs of Batch: a burst of accepts wakes each worker
	// once for many connections instead of once per connection (a wake-up
	// is a context switch, the dearest thing here; see the README).
	if s.runLeft > 0 {
		if w := s.workers[s.next]; w.stats.openConns.Load() < limit {
			s.runLeft--
			return w
		}
	}
	for i := 0; i < n; i++ {
		s.next = (s.next + 1) % n
		if w := s.workers[s.next]; w.stats.openConns.Load() < limit {
			s.runLeft = max(s.cfg.Batch, 1) - 1
			return w
		}
	}
	return nil
}

// fatal records the first internal error and stops the server.
func (s *Server) fatal(err error) {
	s.errOnce.Do(func() {
		s.err = err
		close(s.failed)
	})
}

// Failed is closed when the server hit an internal error; Wait returns it.
func (s *Server) Failed() <-chan struct{} { return s.failed }

// Stop stops accepting, closes every connection and waits for the loops.
// It is safe to call more than once.
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
			w.loop.Stop()
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

// Err is the internal error that stopped the server, if any.
func (s *Server) Err() error {
	select {
	case <-s.failed:
		return s.err
	default:
		return nil
	}
}

// Snapshot reads every counter (safe while running).
func (s *Server) Snapshot() Snapshot {
	snap := Snapshot{
		Time: time.Now(), Engine: EngineEpoll, EngineNote: s.engineNote, Strategy: s.plan.Strategy, Procs: 1, Tables: s.plan.Tables,
		Dispatch: s.cfg.Dispatch, Trigger: s.cfg.Trigger,
		CloseReasons: map[string]uint64{}, AcceptErrors: map[string]uint64{},
	}
	hist := NewLatencyHistogram()
	for _, w := range s.workers {
		st := w.stats
		ws := st.snapshot(w.id)
		if w.loop != nil {
			ws.EpollWaits = w.loop.Waits.Load()
		}
		snap.addWorker(ws, st)
		st.mu.Lock()
		hist.Merge(st.dispatch)
		st.mu.Unlock()
	}
	for _, a := range s.acceptStats {
		snap.Accepted += a.addTo(snap.AcceptErrors)
		snap.AcceptCalls += a.calls.Load()
	}
	if s.acceptor != nil {
		snap.EpollWaits += s.acceptor.Waits.Load()
	}
	snap.Syscalls = snap.Reads + snap.Writes + snap.EpollWaits + snap.AcceptCalls
	snap.DispatchUs = PercentilesOf(hist)
	snap.DispatchHist = hist.Export()
	snap.readGoMemory()
	return snap
}
