package core

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Engines: what waits for socket readiness and moves the bytes.
const (
	EngineEpoll = "epoll" // epoll loops on locked threads; past one fd table, fdtables or prefork (core/epoll)
	EngineUring = "uring" // io_uring rings whose registered-file tables hold the sockets, no ordinary fds (core/uring)
)

// Dispatch modes of the epoll engine: how an accepted fd reaches its worker.
const (
	DispatchPipe      = "pipe"      // fixed-width frames on a pipe the worker watches (the original design)
	DispatchChan      = "chan"      // a Go channel, plus the worker loop's eventfd to wake it
	DispatchDirect    = "direct"    // the acceptor adds the fd to the worker's epoll itself
	DispatchReusePort = "reuseport" // no acceptor: each worker accepts on its own SO_REUSEPORT listeners
	DispatchSCM       = "scm"       // SCM_RIGHTS over a unix socketpair, one fd per message: workers with private fd tables
	DispatchSCMBatch  = "scm-batch" // SCM_RIGHTS, up to 250 fds per message: one sendmsg per acceptor wake-up and worker
	DispatchExclusive = "exclusive" // no acceptor: every worker accepts on the shared listeners, in its epoll with EPOLLEXCLUSIVE
)

// DispatchModes lists the modes a user may choose with -dispatch in one fd table.
var DispatchModes = []string{DispatchPipe, DispatchChan, DispatchDirect, DispatchReusePort}

// FDTablesDispatchModes are the ways an accepted connection can reach a
// worker's private fd table (-strategy fdtables): passed over SCM_RIGHTS,
// or accepted by the worker itself, on SO_REUSEPORT listeners of its own
// (reuseport) or on the shared ones, present in every table copied at
// unshare (exclusive). Experiment 12 measures them against each other.
var FDTablesDispatchModes = []string{DispatchSCM, DispatchSCMBatch, DispatchReusePort, DispatchExclusive}

// FDTablesDefaultDispatch is the fastest of them measured here (experiment
// 12, 1M connections, unthrottled client, medians of 2): reuseport filled
// 1M in 15.5 s at 8.0 µs of server CPU a connection, scm-batch in 16.5 s
// (but 256 ms p99 from accept to a worker), exclusive in 19 s, scm in 27 s.
// pipe, chan and direct cannot reach a private table, so fdtables runs this
// one instead, and says so on the startup line.
const FDTablesDefaultDispatch = DispatchReusePort

// FDTablesDispatch is the mode fdtables runs when asked for mode.
func FDTablesDispatch(mode string) string {
	if slices.Contains(FDTablesDispatchModes, mode) {
		return mode
	}
	return FDTablesDefaultDispatch
}

// How the epoll engine holds more connections than one fd table allows.
const (
	StrategyAuto     = "auto"
	StrategySingle   = "single"   // one process, one fd table
	StrategyFDTables = "fdtables" // one process; each worker thread has a private fd table
	StrategyPrefork  = "prefork"  // several processes sharing the ports with SO_REUSEPORT
)

// StrategyRings is the io_uring engine's way past RLIMIT_NOFILE: sockets
// are accepted straight into rings' registered-file tables (one table of up
// to RLIMIT_NOFILE slots per ring) and never take an ordinary fd, so one
// process with one thread per CPU holds them all.
const StrategyRings = "rings"

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

// DefaultLookEvery is -uring-look's default: off (see UringConfig.LookEvery).
const DefaultLookEvery = 0

// Config is everything the server's flags set: what both engines read at
// the top, what only one engine reads in its own part.
type Config struct {
	Addr       string     // base listen address ip:port
	Ports      int        // consecutive ports from Addr's
	Backlog    int        // listen backlog (capped by net.core.somaxconn)
	MaxConns   int        // most connections held at once (0: what one fd table, or one ring, allows)
	MaxPending int        // unsent output kept per connection before reading pauses
	RcvBuf     int        // SO_RCVBUF, 0: kernel default
	SndBuf     int        // SO_SNDBUF, 0: kernel default
	Workers    int        // event-loop threads: epoll workers, or the threads that drive the rings (0: one per CPU)
	Pin        bool       // pin loop thread i to CPU i % NumCPU
	RawWaitMs  int        // ms a loop may wait in epoll without the Go scheduler knowing (0: never)
	Engine     string     // EngineEpoll or EngineUring
	Reap       ReapConfig // noticing dead peers: idle timeout, TCP keepalive, TCP_USER_TIMEOUT
	Epoll      EpollConfig
	Uring      UringConfig
}

// EpollConfig is what only the epoll engine reads.
type EpollConfig struct {
	Dispatch  string // one of DispatchModes; past one fd table one of FDTablesDispatchModes
	Balance   string // rr | least: how the acceptor picks a worker
	Batch     int    // rr: consecutive connections given to one worker before moving on
	Trigger   string // et | lt
	ReadBuf   int    // user-space read buffer, one per worker
	Strategy  string // StrategyAuto, StrategySingle, StrategyFDTables or StrategyPrefork
	Procs     int    // prefork processes, 0: as many as -max-conns needs
	ReusePort bool   // listen with SO_REUSEPORT: set for prefork children, which share their ports
}

// UringConfig is what only the io_uring engine reads.
type UringConfig struct {
	Rings   int    // 0: as many as -max-conns needs, one registered-file table each
	Taskrun string // TaskrunSignal or TaskrunDefer
	Recv    string // RecvMultishot or RecvSingle
	// LookEvery: each thread looks into all its rings this often even when
	// no completion was signalled (0: never). Off by default: it was a
	// safety net against completions thought to be kept back unsignalled,
	// a symptom later traced to the client's close storm, and an A/B
	// (AMD EPYC, 2026-12-07: 20k and 1M keepalives, 4 runs with it and 4
	// without) left 0 keepalives unanswered either way at the same CPU per
	// echo. Experiment 13's uring-look arms keep measuring it.
	LookEvery time.Duration
}

// BinaryEngine is c1m-server's default engine: io_uring, which experiment 15
// measured cheaper per echo at a million on this machine kind (the server
// falls back to epoll, saying why, where the kernel refuses io_uring).
// DefaultConfig keeps epoll for the library's callers: its tests and the
// lab's experiments 1-14 set epoll's options and were measured on it.
const BinaryEngine = EngineUring

// DefaultConfig returns the defaults the flags start from.
func DefaultConfig() Config {
	return Config{
		Addr: "127.0.0.1:9876", Ports: 1, Backlog: 65535, MaxPending: 64 << 10,
		Workers: runtime.NumCPU(), Pin: true, RawWaitMs: 10, Engine: EngineEpoll,
		Epoll: EpollConfig{Dispatch: DispatchPipe, Balance: "rr", Batch: 16, Trigger: "et", ReadBuf: 16 << 10, Strategy: StrategyAuto},
		Uring: UringConfig{Taskrun: TaskrunSignal, Recv: RecvMultishot, LookEvery: DefaultLookEvery},
	}
}

// Validate checks every choice, naming the flag and the values it takes,
// and fills in defaults for what was left empty. Both engines' parts are
// checked whichever engine is asked for: a uring server falls back to
// epoll where the kernel refuses io_uring, with the epoll part as given.
func (c *Config) Validate() error {
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.Ports <= 0 {
		c.Ports = 1
	}
	if c.MaxPending < 1 {
		return fmt.Errorf("-max-pending %d: want at least 1 byte", c.MaxPending)
	}
	if err := oneOf("-engine", &c.Engine, EngineEpoll, EngineUring); err != nil {
		return err
	}
	if err := c.Reap.validate(); err != nil {
		return err
	}
	if err := c.Epoll.validate(); err != nil {
		return err
	}
	if err := c.Uring.validate(); err != nil {
		return err
	}
	if c.Engine == EngineUring && c.Epoll.Strategy != StrategyAuto {
		return fmt.Errorf("-engine uring holds connections past RLIMIT_NOFILE by itself: drop -strategy %s", c.Epoll.Strategy)
	}
	return nil
}

func (e *EpollConfig) validate() error {
	if err := oneOf("-trigger", &e.Trigger, "et", "lt"); err != nil {
		return err
	}
	if err := oneOf("-balance", &e.Balance, "rr", "least"); err != nil {
		return err
	}
	if err := oneOf("-strategy", &e.Strategy, StrategyAuto, StrategySingle, StrategyFDTables, StrategyPrefork); err != nil {
		return err
	}
	if e.Dispatch == "" {
		e.Dispatch = DispatchPipe
	}
	if !slices.Contains(DispatchModes, e.Dispatch) && !slices.Contains(FDTablesDispatchModes, e.Dispatch) {
		return fmt.Errorf("-dispatch %q: want one of %v (past one fd table: %v)", e.Dispatch, DispatchModes, FDTablesDispatchModes)
	}
	if e.ReadBuf < 64 {
		return fmt.Errorf("-readbuf %d: want at least 64 bytes", e.ReadBuf)
	}
	return nil
}

func (u *UringConfig) validate() error {
	if u.LookEvery < 0 {
		return fmt.Errorf("-uring-look %v: want 0 (off) or a positive interval", u.LookEvery)
	}
	if err := oneOf("-uring-taskrun", &u.Taskrun, TaskrunSignal, TaskrunDefer); err != nil {
		return err
	}
	return oneOf("-uring-recv", &u.Recv, RecvMultishot, RecvSingle)
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
