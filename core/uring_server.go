package core

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// StrategyRings is the io_uring engine's way past RLIMIT_NOFILE: sockets
// are accepted straight into rings' registered-file tables (one table of up
// to RLIMIT_NOFILE slots per ring) and never take an ordinary fd, so one
// process with one thread per CPU holds them all.
const StrategyRings = "rings"

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
	acceptSlack    = 8  // table slots kept free beyond one armed accept per listener
)

// How a ring's completions reach its thread (-uring-taskrun).
const (
	TaskrunSignal = "signal" // the kernel interrupts the thread to post them (task_work with a signal-style kick)
	TaskrunDefer  = "defer"  // they wait until the thread enters the kernel for them (IORING_SETUP_DEFER_TASKRUN); its eventfd says when
)

// How a connection's receive is armed (-uring-recv).
const (
	RecvMultishot = "multishot" // one request posts a completion each time data arrives
	RecvSingle    = "single"    // one request per receive, armed again after each completion
)

// PlanRings sizes the io_uring engine: how many rings (registered-file
// tables of up to nofile slots each) and threads -max-conns needs.
func PlanRings(cfg Config, nofile uint64) (Plan, error) {
	p := Plan{Strategy: StrategyRings, Procs: 1, NofileSoft: nofile, NofileHard: nofile}
	if cfg.Strategy != "" && cfg.Strategy != StrategyAuto {
		return p, fmt.Errorf("-engine uring holds connections past RLIMIT_NOFILE by itself: drop -strategy %s", cfg.Strategy)
	}
	per := int(nofile) - cfg.Ports - acceptSlack
	if per < 1 {
		return p, fmt.Errorf("RLIMIT_NOFILE %d leaves a ring's table no room for connections: raise it (ulimit -n)", nofile)
	}
	rings := cfg.Rings
	if rings <= 0 {
		rings = max(1, (cfg.MaxConns+per-1)/per)
	}
	want := cfg.MaxConns
	if want == 0 {
		want = rings * per
	}
	if want > rings*per {
		return p, fmt.Errorf("-rings %d hold at most %d connections (%d per ring, RLIMIT_NOFILE %d): raise -rings or leave it 0", rings, rings*per, per, nofile)
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	p.Tables, p.Workers = rings, min(workers, rings)
	p.PerTable, p.MaxConns, p.MaxConnsPerProc = per, want, want
	return p, nil
}

// uringServer is the io_uring engine: rings, each a registered-file table
// of sockets, spread over one locked thread per CPU. Each thread's rings
// share an eventfd the thread's epoll loop waits on.
type uringServer struct {
	cfg       Config
	plan      Plan
	addrs     []netip.AddrPort
	listeners []int
	threads   []*uringThread
	rings     []*ringWorker
	open      atomic.Int64
	stopping  atomic.Bool

	errOnce sync.Once
	err     error
	failed  chan struct{}
}

type uringThread struct {
	loop   *Loop
	efd    int
	rings  []*ringWorker
	wakes  atomic.Uint64 // eventfd reads
	more   bool          // the last run ended with work left
	polled time.Time     // when every ring was last looked into regardless
}

// pollEvery is how often a thread looks into all its rings even when no
// eventfd signal came: a completion the kernel kept back unsignalled
// (a deferring ring's, past what one enter runs) waits at most this long.
const pollEvery = 50 * time.Millisecond

// recvByteLimit: the kernel ends a multishot receive at a byte limit
// (sqe->optlen, Linux 6.17+); older kernels would refuse the field.
var recvByteLimit bool

// uringSupport checks, once, that this kernel runs everything the engine
// asks of it; the error says what is missing.
var uringSupport = sync.OnceValue(func() error {
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		rel := unix.ByteSliceToString(u.Release[:])
		v := strings.SplitN(rel, ".", 3)
		major, _ := strconv.Atoi(v[0])
		minor := 0
		if len(v) > 1 {
			minor, _ = strconv.Atoi(v[1])
		}
		if major < 6 {
			return fmt.Errorf("kernel %s: multishot receive and provided-buffer rings need Linux 6.0 or later", rel)
		}
		recvByteLimit = major > 6 || minor >= 17
	}
	r, err := newUring(8, 16, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("%w (io_uring is disabled: see sysctl kernel.io_uring_disabled, or a seccomp filter)", err)
		}
		return err
	}
	defer r.close()
	if err := r.supports(iouringOpAccept, iouringOpRecv, iouringOpSend, iouringOpClose, iouringOpAsyncCancel); err != nil {
		return err
	}
	if err := r.registerSparseFiles(16); err != nil {
		return err
	}
	b, err := newBufRing(r, 8, 8, 64)
	if err != nil {
		return err
	}
	b.close()
	return nil
})

func newUringServer(cfg Config, nofile uint64) (*uringServer, error) {
	plan, err := PlanRings(cfg, nofile)
	if err != nil {
		return nil, err
	}
	addrs, err := ListenAddrs(cfg.Addr, cfg.Ports)
	if err != nil {
		return nil, err
	}
	if addrs[0].Port() == 0 && cfg.Ports > 1 {
		return nil, fmt.Errorf("-ports %d needs a fixed base port, not 0", cfg.Ports)
	}
	cfg.Workers, cfg.Rings, cfg.Dispatch = plan.Workers, plan.Tables, "uring"
	EnsureProcs(plan.Workers)
	return &uringServer{cfg: cfg, plan: plan, addrs: addrs, failed: make(chan struct{})}, nil
}

func (s *uringServer) Plan() Plan              { return s.plan }
func (s *uringServer) Config() Config          { return s.cfg }
func (s *uringServer) Failed() <-chan struct{} { return s.failed }

func (s *uringServer) Err() error {
	select {
	case <-s.failed:
		return s.err
	default:
		return nil
	}
}

func (s *uringServer) fatal(err error) {
	s.errOnce.Do(func() {
		s.err = err
		close(s.failed)
	})
}

// Start listens, then starts the threads; each creates its rings on itself
// (the ring's single issuer) and arms an accept per listener on each.
func (s *uringServer) Start() error {
	fds, err := ListenOn(s.addrs, ListenOptions{Backlog: s.cfg.Backlog, RcvBuf: s.cfg.RcvBuf, SndBuf: s.cfg.SndBuf})
	if err != nil {
		return err
	}
	s.listeners = fds
	for i := 0; i < s.plan.Tables; i++ {
		s.rings = append(s.rings, &ringWorker{id: i, srv: s, stats: newWorkerStats(), acc: &acceptStats{}})
	}
	for t := 0; t < s.plan.Workers; t++ {
		th := &uringThread{efd: -1}
		for i := t; i < len(s.rings); i += s.plan.Workers {
			th.rings = append(th.rings, s.rings[i])
		}
		cpu := -1
		if s.cfg.Pin {
			cpu = t % runtime.NumCPU()
		}
		l, err := StartLoop(LoopOptions{CPU: cpu, RawWaitMs: s.cfg.RawWaitMs}, th.hooks(s))
		if err != nil {
			s.Stop()
			return fmt.Errorf("io_uring thread %d: %w", t, err)
		}
		th.loop = l
		s.threads = append(s.threads, th)
	}
	return nil
}

// Addrs are the listening addresses.
func (s *uringServer) Addrs() []netip.AddrPort { return append([]netip.AddrPort(nil), s.addrs...) }

// Stop ends the threads (each closes its rings, and with them every
// connection) and the listeners. Safe to call more than once.
func (s *uringServer) Stop() {
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
		th.loop.Stop()
	}
	for _, th := range s.threads {
		th.loop.Wait()
	}
	for _, fd := range s.listeners {
		unix.Close(fd)
	}
	s.listeners = nil
}

func (s *uringServer) Snapshot() Snapshot {
	snap := Snapshot{Time: time.Now(), Engine: EngineUring, Strategy: StrategyRings, Procs: 1, Tables: len(s.rings), Rings: len(s.rings),
		Dispatch: "uring", Trigger: s.cfg.UringRecv, CloseReasons: map[string]uint64{}, AcceptErrors: map[string]uint64{}}
	for _, w := range s.rings {
		ws := w.stats.snapshot(w.id)
		ws.UringEnters = w.enters()
		snap.addWorker(ws, w.stats)
		snap.Accepted += w.acc.addTo(snap.AcceptErrors)
		snap.AcceptCalls += w.acc.calls.Load()
	}
	for _, th := range s.threads {
		snap.EpollWaits += th.loop.Waits.Load()
		snap.Syscalls += th.loop.Waits.Load() + th.wakes.Load()
	}
	snap.Syscalls += snap.UringEnters
	snap.readGoMemory()
	return snap
}

func (th *uringThread) hooks(s *uringServer) LoopHooks {
	return LoopHooks{
		Init: func(l *Loop) error {
			efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
			if err != nil {
				return fmt.Errorf("eventfd: %w", err)
			}
			th.efd = efd
			if err := l.Poller.Add(efd, unix.EPOLLIN); err != nil {
				return err
			}
			for _, w := range th.rings {
				if err := w.init(efd); err != nil {
					th.exit()
					return err
				}
			}
			th.run()
			return nil
		},
		Event: func(fd int, _ uint32) {
			if fd == th.efd {
				var b [8]byte
				unix.Read(th.efd, b[:])
				th.wakes.Add(1)
				th.run()
			}
		},
		Tick: func(now time.Time) time.Duration {
			if now.Sub(th.polled) >= pollEvery {
				// A safety net, not the way completions normally arrive:
				// look into every ring (entering the kernel for deferring
				// ones) however quiet the eventfd has been.
				for _, w := range th.rings {
					if w.ring != nil {
						w.ring.mayHaveMore = true
						w.retrySends()
					}
				}
				th.more, th.polled = true, now
			}
			if th.more {
				th.run()
			}
			wait := pollEvery
			if th.more {
				wait = 0
			}
			for _, w := range th.rings {
				d := w.tick(now)
				if w.ring != nil && w.ring.queued() > 0 {
					d = time.Millisecond // the kernel took not all: try again soon
				}
				if d >= 0 && (wait < 0 || d < wait) {
					wait = d
				}
			}
			return wait
		},
		Exit: th.exit,
	}
}

// run serves every ring of the thread until none has completions left.
// The rings' eventfd signals are off meanwhile, and back on before the
// last look, so a completion posted after it still wakes the thread.
func (th *uringThread) run() {
	for _, w := range th.rings {
		if w.ring != nil {
			w.ring.notify(false)
		}
	}
	for round := 0; round < 16; round++ {
		busy := false
		last := round == 15
		for _, w := range th.rings {
			if w.ring == nil {
				continue
			}
			if last {
				w.ring.notify(true)
			}
			if w.ring.ready() || w.ring.queued() > 0 || w.ring.mayHaveMore {
				w.serve()
				busy = true
			}
		}
		if !busy && !last {
			round = 14 // one more pass, notifications on
		} else if !busy {
			th.more = false
			return
		}
	}
	// Still busy after every round: come back at once (Tick) rather than
	// wait for a signal that a deferring ring may not send.
	th.more = true
}

func (th *uringThread) exit() {
	for _, w := range th.rings {
		w.close()
	}
	if th.efd >= 0 {
		unix.Close(th.efd)
		th.efd = -1
	}
}

// launchUring starts the io_uring engine, or, when this kernel cannot run
// it, the epoll engine with a note (in Snapshot.EngineNote) saying why.
func launchUring(cfg Config, supported func() error) (Runner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := supported(); err != nil {
		cfg.Engine = EngineEpoll
		r, lerr := Launch(cfg)
		if lerr != nil {
			return nil, lerr
		}
		if s, ok := r.(*Server); ok {
			s.engineNote = fmt.Sprintf("-engine uring unavailable, running epoll: %v", err)
		}
		return r, nil
	}
	soft, _, err := RaiseNofile()
	if err != nil {
		return nil, err
	}
	s, err := newUringServer(cfg, soft)
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}
