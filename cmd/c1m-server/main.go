// Command c1m-server is the c1m echo server: the pipe-notified epoll design
// or the io_uring engine, able to hold a million connections past a
// 20,000-fd RLIMIT_NOFILE. Its flags fill core.Config; package server runs it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"c1m/cmd/internal/cli"
	"c1m/core"
	"c1m/server"
	"c1m/statshttp"
)

func main() {
	server.RunChildIfAsked()
	os.Exit(run())
}

func run() int {
	cfg := core.DefaultConfig()
	fs := cli.FlagSet("c1m-server", "An echo server: every byte a client sends comes back. Holds long-lived\nconnections in per-CPU epoll workers fed by an acceptor.")
	listenFlags(fs, &cfg)
	loopFlags(fs, &cfg)
	reapFlags(fs, &cfg.Reap)
	epollFlags(fs, &cfg.Epoll)
	uringFlags(fs, &cfg.Uring)
	fs.StringVar(&cfg.Engine, "engine", core.BinaryEngine, "epoll (event loops on locked threads; past one fd table, -strategy) or uring (io_uring rings whose registered-file tables hold the sockets: one process, one thread per CPU, no fd per connection; falls back to epoll, saying why, where the kernel refuses)")
	statsAddr := fs.String("stats-addr", "", "serve JSON stats at http://ADDR/stats and pprof at /debug/pprof/ (e.g. 127.0.0.1:9100)")
	statsEvery := fs.Duration("stats-interval", 10*time.Second, "print one JSON stats line on stderr this often (0: only at exit)")
	fs.Parse(os.Args[1:])
	if why := epollByFlags(fs); why != "" {
		cfg.Engine = core.EngineEpoll
		fmt.Fprintf(os.Stderr, "c1m-server: engine epoll: %s\n", why)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	r, err := server.Launch(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "c1m-server: %v\n", err)
		return 1
	}
	snap := r.Snapshot()
	if snap.EngineNote != "" {
		fmt.Fprintf(os.Stderr, "c1m-server: %s\n", snap.EngineNote)
	}
	addrs := r.Addrs()
	fmt.Fprintf(os.Stderr, "c1m-server: listening on %s (+%d ports) engine=%s %s %s\n",
		addrs[0], len(addrs)-1, snap.Engine, snap.Modes(), r.Plan())
	if *statsAddr != "" {
		ln, err := statshttp.Serve(*statsAddr, r.Snapshot)
		if err != nil {
			r.Stop()
			fmt.Fprintf(os.Stderr, "c1m-server: %v\n", err)
			return 1
		}
		defer ln.Close()
	}
	var tick <-chan time.Time
	if *statsEvery > 0 {
		t := time.NewTicker(*statsEvery)
		defer t.Stop()
		tick = t.C
	}
	code := 0
	for done := false; !done; {
		select {
		case <-tick:
			printStats(r.Snapshot())
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "c1m-server: %v: stopping (no more accepts; echo what came, then close every connection, %d per loop per %v)\n", s, core.StopBatch, core.StopPause)
			done = true
		case <-r.Failed():
			fmt.Fprintf(os.Stderr, "c1m-server: %v\n", r.Err())
			code, done = 1, true
		}
	}
	stop(r)
	return code
}

// stop stops r gracefully and says how long it took and what it closed.
func stop(r core.Engine) {
	t0, before := time.Now(), r.Snapshot()
	r.Stop()
	after := r.Snapshot()
	fmt.Fprintf(os.Stderr, "c1m-server: stopped in %v: %d connections were open, %d closed, %d dropped with output unsent\n",
		time.Since(t0).Round(time.Millisecond), before.Conns, after.Closed-before.Closed, after.StopDropped)
	printStats(after)
}

// epollByFlags says why the server runs epoll when -engine was left at its
// default but an option only the epoll engine has was set ("": it does not).
func epollByFlags(fs *flag.FlagSet) string {
	epollOnly := flag.NewFlagSet("", flag.ContinueOnError)
	epollFlags(epollOnly, &core.EpollConfig{})
	engineSet, set := false, ""
	fs.Visit(func(f *flag.Flag) {
		switch {
		case f.Name == "engine":
			engineSet = true
		case epollOnly.Lookup(f.Name) != nil && set == "":
			set = f.Name
		}
	})
	if engineSet || set == "" {
		return ""
	}
	return "-" + set + " is an epoll option and -engine was not given"
}

// listenFlags set how the server listens (both engines).
func listenFlags(fs *flag.FlagSet, cfg *core.Config) {
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "base listen address ip:port")
	fs.IntVar(&cfg.Ports, "ports", cfg.Ports, "listen on this many consecutive ports from -addr's")
	fs.IntVar(&cfg.Backlog, "backlog", cfg.Backlog, "listen backlog (the kernel caps it at net.core.somaxconn)")
	fs.IntVar(&cfg.RcvBuf, "rcvbuf", cfg.RcvBuf, "SO_RCVBUF in bytes for every connection (0: kernel default, autotuned)")
	fs.IntVar(&cfg.SndBuf, "sndbuf", cfg.SndBuf, "SO_SNDBUF in bytes for every connection (0: kernel default, autotuned)")
}

// loopFlags set the loop threads and what a connection may hold (both engines).
func loopFlags(fs *flag.FlagSet, cfg *core.Config) {
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "worker event loops (default: one per CPU); fdtables uses at least one per table")
	fs.BoolVar(&cfg.Pin, "pin", cfg.Pin, "pin worker i to CPU i % NumCPU (sched_setaffinity)")
	fs.IntVar(&cfg.RawWaitMs, "raw-wait", cfg.RawWaitMs, "ms an event loop may sleep in epoll_wait without the Go scheduler knowing; under load it keeps its P and skips the hand-off (0: never)")
	fs.IntVar(&cfg.MaxConns, "max-conns", cfg.MaxConns, "most connections held at once; more are accepted and closed (0: what one fd table allows)")
	fs.IntVar(&cfg.MaxPending, "max-pending", cfg.MaxPending, "unsent output kept per connection; past it the worker stops reading that connection until it drains")
}

// reapFlags set how dead peers are noticed (both engines; all off by default).
func reapFlags(fs *flag.FlagSet, r *core.ReapConfig) {
	fs.DurationVar(&r.IdleTimeout, "idle-timeout", r.IdleTimeout, "close a connection that received nothing for this long, within 1/8 of it more (0: never); counted as close reason idle")
	fs.DurationVar(&r.KeepAlive, "tcp-keepalive", r.KeepAlive, fmt.Sprintf("TCP keepalive on every connection: first probe after this much silence, then %d probes a quarter of it apart (at least 1s); a peer that answers none is dropped (close reason timeout) about 2x this after it went quiet (0: off)", core.KeepAliveProbes))
	fs.DurationVar(&r.UserTimeout, "tcp-user-timeout", r.UserTimeout, "TCP_USER_TIMEOUT on every connection: drop it when sent data (or, with -tcp-keepalive, probes) stay unacknowledged this long (close reason timeout; 0: the kernel's retries, ~15 min)")
}

// epollFlags set what only the epoll engine reads.
func epollFlags(fs *flag.FlagSet, e *core.EpollConfig) {
	fs.StringVar(&e.Dispatch, "dispatch", e.Dispatch, "how accepted fds reach workers: pipe (fd frames on a pipe), chan (Go channel + eventfd), direct (acceptor adds to the worker's epoll), reuseport (each worker accepts on its own SO_REUSEPORT listeners); past one fd table (fdtables) reuseport (the default there), exclusive (every worker on the shared listeners, EPOLLEXCLUSIVE), scm or scm-batch (SCM_RIGHTS from one acceptor, one fd or up to 250 per message)")
	fs.StringVar(&e.Balance, "balance", e.Balance, "how the acceptor picks a worker: rr (round-robin) or least (fewest connections)")
	fs.IntVar(&e.Batch, "batch", e.Batch, "rr: consecutive connections handed to one worker before moving to the next (fewer wake-ups in bursts)")
	fs.StringVar(&e.Strategy, "strategy", e.Strategy, "how to pass RLIMIT_NOFILE: auto, single (one fd table), fdtables (workers with private fd tables fed over SCM_RIGHTS), prefork (processes sharing ports via SO_REUSEPORT)")
	fs.IntVar(&e.Procs, "procs", e.Procs, "prefork: server processes (0: as many as -max-conns needs)")
	epollEchoFlags(fs, e)
}

func epollEchoFlags(fs *flag.FlagSet, e *core.EpollConfig) {
	fs.StringVar(&e.Trigger, "trigger", e.Trigger, "epoll mode for connections: et (edge: read to EAGAIN) or lt (level: one read per event)")
	fs.IntVar(&e.ReadBuf, "readbuf", e.ReadBuf, "user-space read buffer in bytes, one per worker (not per connection)")
}

// uringFlags set what only the io_uring engine reads.
func uringFlags(fs *flag.FlagSet, u *core.UringConfig) {
	fs.IntVar(&u.Rings, "rings", u.Rings, "uring: rings, each a table of up to RLIMIT_NOFILE sockets (0: as many as -max-conns needs)")
	fs.StringVar(&u.Taskrun, "uring-taskrun", u.Taskrun, "uring: how completions reach a ring's thread: signal (the kernel interrupts it) or defer (they wait for its next io_uring_enter; its eventfd wakes it)")
	fs.StringVar(&u.Recv, "uring-recv", u.Recv, "uring: how a connection's receive is armed: multishot (one request, a completion per arrival) or single (one request per receive, armed again after each)")
	fs.DurationVar(&u.LookEvery, "uring-look", u.LookEvery, "uring: each thread looks into all its rings this often even when no completion was signalled (0: never, the default; experiment 13 measures it)")
}

func printStats(s core.Snapshot) {
	s.DispatchHist, s.Workers = nil, nil
	b, _ := json.Marshal(&s)
	fmt.Fprintf(os.Stderr, "%s\n", b)
}
