// Package client is the c1m keepalive load client: it opens many
// connections from many source addresses, keeps them alive with verified
// echoes, and measures connect and round-trip times. Its event loops are
// core's; past one fd table it splits the work over child processes.
package client

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"c1m/calibrate"
	"c1m/core"
	"c1m/eventloop"
)

// The client's engines (-engine).
const (
	EngineEpoll = "epoll" // ordinary fds in epoll, one process per RLIMIT_NOFILE of connections
	EngineUring = "uring" // sockets in io_uring rings' registered-file tables: one process for any count
	// EngineAuto, c1m-client's default, is uring where the kernel runs it
	// and the flags allow one process (no -procs, no -fdtables), else
	// epoll: experiment 15 measured the uring client cheaper per echo.
	EngineAuto = "auto"
)

// ResolveEngine is the engine cfg runs and, when auto chose epoll, why.
func ResolveEngine(cfg Config) (engine, why string) {
	switch {
	case cfg.Engine == "":
		return EngineEpoll, ""
	case cfg.Engine != EngineAuto:
		return cfg.Engine, ""
	case cfg.FDTables || cfg.Procs > 1:
		return EngineEpoll, "-fdtables and -procs are the epoll client's: engine epoll"
	}
	if err := UringSupported(); err != nil {
		return EngineEpoll, fmt.Sprintf("io_uring unavailable (%v): engine epoll", err)
	}
	return EngineUring, ""
}

// Config is everything the client's flags set.
type Config struct {
	Engine         string        // EngineEpoll or EngineUring
	Server         string        // server ip:port (the first port)
	Ports          int           // consecutive server ports
	Src            string        // source addresses: range, CIDR or list
	Conns          int           // connections to open
	Rate           float64       // connects per second, 0: as fast as the server accepts
	InFlight       int           // connects in progress at once, all processes together
	Msg            string        // keepalive message
	Size           int           // message size in bytes; overrides Msg with a pattern when > 0
	Interval       time.Duration // keepalive period per connection; 0: saturating (send on echo)
	Tick           time.Duration // keepalive sends are grouped into ticks this long, aligned across processes
	Depth          int           // saturating mode: messages in flight per connection
	Timeout        time.Duration // an echo later than this counts as a time-out
	ConnectTimeout time.Duration
	Hold           time.Duration // how long to hold the connections once the ramp is done
	QuietRamp      bool          // send no keepalive until every connection is open: the hold sees the steady state, not the ramp's backlog
	Keepalives     int           // keepalives per connection, then silence (a peer the server should reap); 0: no limit
	Silent         bool          // send nothing at all: open the connections and hold them (a bare holder's peers)
	Loops          int           // event loops per process, 0: auto
	RawWaitMs      int           // ms a loop may wait in epoll without the Go scheduler knowing
	Procs          int           // processes, 0: as RLIMIT_NOFILE needs
	FDTables       bool          // one process whose loops each unshare a private fd table, instead of one process per fd table
	Reconnect      bool          // reconnect dropped or failed connections with back-off and jitter
	Churn          float64       // once ramped, close this many idle connections per second and reconnect each at once
	Force          bool          // connect even if the spread plan says it cannot fit
	Calibrate      time.Duration // measure the machine this long before the load, for the result's env (0: not at all)
	Flags          []string      // the command line, recorded in the result
	PortRange      string        // override of net.ipv4.ip_local_port_range ("" reads /proc)
	ReservedPorts  string        // override of net.ipv4.ip_local_reserved_ports
	// OnProgress, if set, gets the run's live counts about once a second
	// (an in-process caller, such as the chaos suite, watching its echoes).
	OnProgress func(Progress)
	// StopReconnect, closed, ends -reconnect: connections lost from then
	// on stay closed (an in-process caller measuring a server's stop, not
	// its clients' retries). Nil: never.
	StopReconnect <-chan struct{}
	Nofile        uint64 // override of RLIMIT_NOFILE for planning (0: raise this process's soft limit to its hard limit and use it)
}

// DefaultConfig is the flags' starting point: the original's client.
func DefaultConfig() Config {
	return Config{
		Engine: EngineEpoll, Server: "127.0.0.1:9876", Ports: 1, Src: "127.0.0.2-127.0.0.254", Conns: 1000,
		InFlight: 4096, Msg: "keepalive!\x00", Interval: 30 * time.Second, Tick: 10 * time.Millisecond, Depth: 1, RawWaitMs: 10,
		Timeout: 5 * time.Second, ConnectTimeout: 30 * time.Second, Hold: 10 * time.Second,
		Calibrate: calibrate.DefaultBudget,
	}
}

// Job is one process's share of a run (sent to child processes as JSON).
type Job struct {
	Engine         string
	Spread         Spread
	Msg            []byte
	Total          int // connections in the whole run (phases spread over all)
	Offset, Count  int // this process's connections: global indices [Offset, Offset+Count)
	Rate           float64
	InFlight       int
	Interval       time.Duration
	Tick           time.Duration
	Depth          int
	Timeout        time.Duration
	ConnectTimeout time.Duration
	Hold           time.Duration
	QuietRamp      bool
	Keepalives     int // keepalives per connection (0: no limit)
	Silent         bool
	Loops          int
	PrivateTables  bool // each loop unshares its fd table (FDTables)
	Reconnect      bool
	Churn          float64 // closes and reconnects per second, this process
	RawWaitMs      int

	pattern []byte // Msg repeated: any chunk at any stream offset is one slice of it
}

func (j *Job) prepare() {
	reps := (maxChunk+len(j.Msg)-1)/len(j.Msg) + 1
	j.pattern = []byte(strings.Repeat(string(j.Msg), reps))
}

// Plan turns a Config into the spread and the per-process jobs.
func Plan(cfg Config) ([]Job, Spread, error) {
	if cfg.Conns < 1 {
		return nil, Spread{}, fmt.Errorf("-conns %d: want at least 1", cfg.Conns)
	}
	srv, err := netip.ParseAddrPort(cfg.Server)
	if err != nil {
		return nil, Spread{}, fmt.Errorf("-server %q: %w (want ip:port)", cfg.Server, err)
	}
	sources, err := ParseSources(cfg.Src)
	if err != nil {
		return nil, Spread{}, err
	}
	for _, s := range sources {
		if s.Is4() != srv.Addr().Is4() {
			return nil, Spread{}, fmt.Errorf("-src %s and -server %s are of different address families", s, srv.Addr())
		}
	}
	pr, err := portRange(cfg)
	if err != nil {
		return nil, Spread{}, err
	}
	ports := max(cfg.Ports, 1)
	if int(srv.Port())+ports-1 > 65535 {
		return nil, Spread{}, fmt.Errorf("-ports %d from %d run past 65535", ports, srv.Port())
	}
	sp := Spread{Sources: sources, Server: srv.Addr(), Range: pr}
	for i := 0; i < ports; i++ {
		sp.Ports = append(sp.Ports, srv.Port()+uint16(i))
	}
	if err := sp.Check(cfg.Conns); err != nil && !cfg.Force {
		return nil, sp, fmt.Errorf("%w (or -force to try anyway and see where it fails)", err)
	}
	msg := []byte(cfg.Msg)
	if cfg.Size > 0 {
		msg = make([]byte, cfg.Size)
		for i := range msg {
			msg[i] = byte('a' + i%26)
		}
	}
	if cfg.Churn < 0 {
		return nil, sp, fmt.Errorf("-churn %v: want 0 or more connections per second", cfg.Churn)
	}
	if len(msg) == 0 {
		return nil, sp, fmt.Errorf("-msg is empty and -size is 0: nothing to send")
	}
	if cfg.Interval < 0 || (cfg.Interval == 0 && cfg.Depth < 1) {
		return nil, sp, fmt.Errorf("-interval %v -depth %d: want interval >= 0, and depth >= 1 when saturating", cfg.Interval, cfg.Depth)
	}
	if cfg.Keepalives < 0 {
		return nil, sp, fmt.Errorf("-keepalives %d: want 0 (no limit) or a count", cfg.Keepalives)
	}
	if cfg.Silent && cfg.Interval == 0 {
		return nil, sp, fmt.Errorf("-silent with -interval 0: a saturating client sends at once; give an -interval (it is not used) or drop -silent")
	}
	depth := 1
	if cfg.Interval == 0 {
		depth = cfg.Depth
	}
	cfg.Engine, _ = ResolveEngine(cfg)
	procs, loops, err := processesAndLoops(cfg)
	if err != nil {
		return nil, sp, err
	}
	jobs := make([]Job, procs)
	off := 0
	for p := range jobs {
		n := cfg.Conns / procs
		if p < cfg.Conns%procs {
			n++
		}
		jobs[p] = Job{Engine: cfg.Engine, Spread: sp, Msg: msg, Total: cfg.Conns, Offset: off, Count: n,
			Rate: cfg.Rate / float64(procs), InFlight: max(cfg.InFlight/procs, loops),
			Interval: cfg.Interval, Tick: cfg.Tick, Depth: depth, Timeout: cfg.Timeout, ConnectTimeout: cfg.ConnectTimeout,
			Hold: cfg.Hold, QuietRamp: cfg.QuietRamp, Keepalives: cfg.Keepalives, Silent: cfg.Silent, Loops: min(loops, max(n, 1)), PrivateTables: cfg.FDTables, Reconnect: cfg.Reconnect, Churn: cfg.Churn / float64(procs), RawWaitMs: cfg.RawWaitMs}
		off += n
	}
	return jobs, sp, nil
}

// processesAndLoops is how many processes, and loops in each, cfg runs.
func processesAndLoops(cfg Config) (procs, loops int, err error) {
	switch cfg.Engine {
	case EngineEpoll:
	case EngineUring:
		// The rings' tables hold the sockets, not the fd table: one process,
		// a loop (thread, with rings of its own) per CPU.
		if cfg.FDTables || cfg.Procs > 1 {
			return 0, 0, fmt.Errorf("-engine uring runs one process whatever the count: drop -fdtables and -procs")
		}
		if cfg.Nofile == 0 {
			if _, _, err := core.RaiseNofile(); err != nil { // a ring's table is capped at the soft limit
				return 0, 0, err
			}
		}
		loops = cfg.Loops
		if loops <= 0 {
			loops = runtime.NumCPU()
		}
		return 1, loops, nil
	default:
		return 0, 0, fmt.Errorf("-engine %q: want %s, %s or %s", cfg.Engine, EngineEpoll, EngineUring, EngineAuto)
	}
	if cfg.FDTables && cfg.Procs > 1 {
		return 0, 0, fmt.Errorf("-fdtables runs one process: drop -procs %d", cfg.Procs)
	}
	if procs, err = procsFor(cfg); err != nil {
		return 0, 0, err
	}
	loops = cfg.Loops
	if loops <= 0 {
		loops = 1
		if procs == 1 {
			loops = runtime.NumCPU()
		}
	}
	if cfg.FDTables {
		// The processes RLIMIT_NOFILE asks for become loops with a private
		// fd table each, in one process.
		loops, procs = max(loops, procs), 1
	}
	return procs, loops, nil
}

func portRange(cfg Config) (PortRange, error) {
	read := func(name, override string) (string, error) {
		if override != "" {
			return override, nil
		}
		b, err := os.ReadFile("/proc/sys/net/ipv4/" + name)
		if err != nil {
			return "", fmt.Errorf("reading net.ipv4.%s: %w", name, err)
		}
		return string(b), nil
	}
	s, err := read("ip_local_port_range", cfg.PortRange)
	if err != nil {
		return PortRange{}, err
	}
	pr, err := ParsePortRange(s)
	if err != nil {
		return pr, err
	}
	res, err := read("ip_local_reserved_ports", cfg.ReservedPorts)
	if err != nil {
		return pr, err
	}
	if pr.Reserved, err = pr.CountReserved(res); err != nil {
		return pr, err
	}
	return pr, nil
}

// fdsPerProcessOverhead is what a client process needs besides its sockets.
const fdsPerProcessOverhead = 128

func procsFor(cfg Config) (int, error) {
	soft := cfg.Nofile
	if soft == 0 {
		var err error
		if soft, _, err = core.RaiseNofile(); err != nil {
			return 0, err
		}
	}
	per := int(soft) - fdsPerProcessOverhead
	if per < 1 {
		return 0, fmt.Errorf("RLIMIT_NOFILE %d is too small for a client process: raise it (ulimit -n)", soft)
	}
	need := (cfg.Conns + per - 1) / per
	if cfg.Procs == 0 {
		return need, nil
	}
	if cfg.Procs < need {
		return 0, fmt.Errorf("-procs %d: %d connections need at least %d processes under RLIMIT_NOFILE %d: raise -procs or leave it 0",
			cfg.Procs, cfg.Conns, need, soft)
	}
	return min(cfg.Procs, cfg.Conns), nil
}

// Run ends states: why a run finished.
const (
	endHold     = "hold done"
	endSignal   = "interrupted"
	endNoneOpen = "no connection left open"
)

// signals are how a parent process steers a job's run; a nil channel is
// never closed.
type signals struct {
	// stop ends the run at once (interrupted).
	stop <-chan struct{}
	// finish ends the hold early and cleanly: a parent ends every child's
	// hold together (Job.Hold < 0 waits for it).
	finish <-chan struct{}
	// hold tells that every process has ramped (nil: this process decides
	// alone): round trips from then on also go to rtt_hold_us.
	hold <-chan struct{}
	// closeOK is the parent's word that every process has drained: this
	// one, drained, says so and keeps reading late echoes until then, so
	// no process's close storm (20,000 FINs at once) delays another's last
	// echoes.
	closeOK <-chan struct{}
	// noRetry, closed, ends -reconnect: connections lost from then on
	// stay closed (Config.StopReconnect).
	noRetry <-chan struct{}
}

// jobRun is one process's share of a run, on its event loops.
type jobRun struct {
	job       Job
	sig       signals
	every     time.Duration  // how often progress gets a snapshot
	progress  func(Progress) // nil: no one asks
	phase     atomic.Int32
	retryOff  atomic.Bool // sig.noRetry came: reconnect no more
	engines   []*engine
	holdBegan time.Time
	holdCPU0  float64 // the process's CPU seconds when the hold began
}

// runJob runs job until its hold ends or a signal ends it, and returns
// this process's result.
func runJob(job Job, sig signals, every time.Duration, progress func(Progress)) (Result, error) {
	r := &jobRun{job: job, sig: sig, every: every, progress: progress}
	r.job.prepare()
	start := time.Now()
	cpu0 := cpuSeconds()
	if err := r.startLoops(); err != nil {
		return Result{}, err
	}
	res := Result{Failed: map[string]int64{}, Dropped: map[string]int64{}, Procs: 1}
	rampEnd := r.rampAndHold(&res)
	if !r.holdBegan.IsZero() {
		res.HoldSeconds = time.Since(r.holdBegan).Seconds()
		res.HoldCPUSeconds = cpuSeconds() - r.holdCPU0
	}
	if rampEnd.IsZero() {
		rampEnd = time.Now()
	}
	r.drain(res.Ended)
	r.phase.Store(phaseClose)
	stopLoops(r.engines)
	r.collect(&res)
	res.RampSeconds = rampEnd.Sub(start).Seconds()
	res.CPUSeconds = cpuSeconds() - cpu0
	res.WallSeconds = time.Since(start).Seconds()
	return res, nil
}

func (r *jobRun) startLoops() error {
	eventloop.EnsureProcs(r.job.Loops)
	r.engines = make([]*engine, r.job.Loops)
	for i := range r.engines {
		r.engines[i] = newEngine(&r.job, i, r.job.Loops, &r.phase)
		r.engines[i].retryOff = &r.retryOff
		opts := eventloop.Options{CPU: -1, Batch: 512, RawWaitMs: r.job.RawWaitMs, PrivateFiles: r.job.PrivateTables}
		if _, err := eventloop.Start(opts, r.engines[i].hooks()); err != nil {
			r.phase.Store(phaseClose)
			stopLoops(r.engines[:i])
			return fmt.Errorf("client loop %d: %w", i, err)
		}
	}
	return nil
}

// snapshot is the live counts of every loop together.
func (r *jobRun) snapshot() Progress {
	p := Progress{Failed: map[string]int64{}, Dropped: map[string]int64{}, RampDone: true}
	for _, e := range r.engines {
		ep := e.c.progress()
		p.add(&ep)
		p.RampDone = p.RampDone && e.rampDone.Load()
	}
	return p
}

func (r *jobRun) wake() {
	for _, e := range r.engines {
		e.loop.Wake()
	}
}

// markHold starts the hold: round trips from now on are the steady state's.
func (r *jobRun) markHold() {
	ns := core.MonoNs()
	if r.holdBegan.IsZero() {
		r.holdBegan = time.Now()
		r.holdCPU0 = cpuSeconds()
	}
	for _, e := range r.engines {
		e.holdStart.Store(ns)
	}
	r.wake() // a quiet ramp's loops sleep until told the hold began
}

// rampAndHold watches the ramp and the hold, reporting progress, until the
// run ends (res.Ended says why); it returns when the ramp ended (zero if
// it did not).
func (r *jobRun) rampAndHold(res *Result) (rampEnd time.Time) {
	var holdEnd time.Time
	hold, noRetry := r.sig.hold, r.sig.noRetry
	tick := time.NewTicker(min(r.every, 100*time.Millisecond))
	defer tick.Stop()
	lastReport := time.Now()
	for res.Ended == "" {
		select {
		case <-hold:
			r.markHold()
			hold = nil
			continue
		case <-noRetry:
			r.retryOff.Store(true)
			noRetry = nil
			continue
		case <-r.sig.stop:
			res.Ended = endSignal
			continue
		case <-r.sig.finish:
			res.Ended = endHold
			continue
		case <-tick.C:
		}
		p := r.snapshot()
		if r.progress != nil && time.Since(lastReport) >= r.every {
			lastReport = time.Now()
			r.progress(p)
		}
		switch {
		case rampEnd.IsZero() && p.RampDone:
			rampEnd = time.Now()
			holdEnd = rampEnd.Add(r.job.Hold)
			if r.job.Hold >= 0 { // alone: this process's ramp is the run's
				r.markHold()
			}
		case !rampEnd.IsZero() && p.Open == 0 && p.InFlight == 0 && !r.job.Reconnect:
			res.Ended = endNoneOpen
		case !rampEnd.IsZero() && r.job.Hold >= 0 && time.Now().After(holdEnd):
			res.Ended = endHold
		}
	}
	return rampEnd
}

// drain sends nothing new and, after a hold, gives outstanding echoes up
// to -timeout to return; under a parent it then says it drained and waits
// for every other process to have drained too.
func (r *jobRun) drain(ended string) {
	r.phase.Store(phaseDrain)
	r.wake()
	if ended != endHold {
		return
	}
	deadline := time.Now().Add(r.job.Timeout)
	for time.Now().Before(deadline) && pendingOf(r.engines) > 0 {
		select {
		case <-r.sig.stop:
			deadline = time.Now()
		case <-time.After(10 * time.Millisecond):
		}
	}
	if r.sig.closeOK != nil && r.progress != nil {
		p := r.snapshot()
		p.Drained = true
		r.progress(p)
		// The parent says when all have drained; the bound only keeps a
		// child whose parent is gone from waiting for ever.
		select {
		case <-r.sig.closeOK:
		case <-r.sig.stop:
		case <-time.After(r.job.Timeout + drainGrace):
		}
	}
}

// collect puts the stopped loops' final counts and histograms in res.
func (r *jobRun) collect(res *Result) {
	connH, rttH, holdH, downH := core.NewLatencyHistogram(), core.NewLatencyHistogram(), core.NewLatencyHistogram(), core.NewLatencyHistogram()
	final := r.snapshot() // the loops have stopped: these counts are final
	res.Attempted, res.Established, res.Sent = final.Attempted, final.Established, final.Sent
	res.Echoed, res.Mismatched, res.Timeouts, res.Failed = final.Echoed, final.Mismatched, final.Timeouts, final.Failed
	res.Churned, res.Dropped = final.Churned, final.Dropped
	for _, e := range r.engines {
		res.PeakOpen += e.c.peakOpen.Load()
		res.OpenAtEnd += e.c.openAtClose.Load()
		res.InFlightAtClose += e.c.pendingAtClose.Load()
		res.ConnsVerified += e.c.verified.Load()
		res.BytesSent += e.c.bytesSent.Load()
		res.BytesReceived += e.c.bytesReceived.Load()
		res.Reconnects += e.c.reconnects.Load()
		connH.Merge(e.connH)
		rttH.Merge(e.rttH)
		holdH.Merge(e.holdH)
		downH.Merge(e.downH)
		if why := e.rampStop.Load(); why != nil && res.Ended == endHold {
			res.Ended = "ramp stopped by " + *why + "; then " + endHold
		}
	}
	res.ConnectHist, res.RttHist, res.RttHoldHist = connH.Export(), rttH.Export(), holdH.Export()
	if downH.TotalCount() > 0 {
		res.DowntimeHist = downH.Export()
	}
}

func pendingOf(engines []*engine) int64 {
	var n int64
	for _, e := range engines {
		n += e.c.pending.Load()
	}
	return n
}

func stopLoops(engines []*engine) {
	for _, e := range engines {
		if e.loop != nil {
			e.loop.Stop()
		}
	}
	for _, e := range engines {
		if e.loop != nil {
			e.loop.Wait()
		}
	}
}

// isTerminal reports whether w is a terminal (for the live progress line).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
