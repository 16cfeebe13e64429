// Package peer is what the peers of experiment 9 share. A peer is an echo
// server built on another Go networking library (net, gnet, nbio) that the
// harness runs exactly as it runs c1m-server: Main takes the server's
// flags, Stats counts connections and bytes and is served at /stats in
// the core's JSON, and past one fd table (RLIMIT_NOFILE) Main runs the
// peer as several processes sharing the ports with SO_REUSEPORT, the
// parent summing their counts.
package peer

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"c1m/core"
	"c1m/procgroup"
	"c1m/statshttp"
)

// Spec is what one process of a peer serves.
type Spec struct {
	Addrs     []netip.AddrPort
	ReusePort bool   // several processes share the ports: set SO_REUSEPORT
	Stats     *Stats // count every connection (Open, Close) and byte (In, Out)
}

// Start serves spec and returns once it listens. stop closes the listeners
// and every connection and returns when they are closed; failed (nil if
// the peer cannot tell) yields an error if the server ends on its own.
type Start func(spec Spec) (stop func(), failed <-chan error, err error)

// childEnv is set in a child process to the connections it may hold.
const childEnv = "C1M_PEER_CHILD"

const (
	reportInterval = 500 * time.Millisecond // how often a child sends its counters to the parent
	stopGrace      = 30 * time.Second       // how long children may take to close their connections
)

type options struct {
	addrs     []netip.AddrPort
	maxConns  int
	perProc   int
	statsAddr string
}

// Main runs the peer named name (bin/c1m-peer-NAME) with the command
// line's flags, and exits.
func Main(name string, start Start) {
	os.Exit(run(name, start, os.Args[1:]))
}

func run(name string, start Start, args []string) int {
	prog := "c1m-peer-" + name
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return 1
	}
	o, err := parseFlags(prog, args)
	if err != nil {
		return 2
	}
	if raw := os.Getenv(childEnv); raw != "" {
		limit, err := strconv.Atoi(raw)
		if err != nil {
			return fail(fmt.Errorf("%s=%q: not a connection count (only the parent process sets it)", childEnv, raw))
		}
		return child(name, start, o, limit)
	}
	procs, limit := PlanProcs(o.maxConns, o.perProc)
	var (
		snap   func() core.Snapshot
		stop   func()
		failed <-chan error
	)
	if procs == 1 {
		stats := NewStats(limit)
		if stop, failed, err = start(Spec{Addrs: o.addrs, Stats: stats}); err != nil {
			return fail(err)
		}
		stop = sync.OnceFunc(stop)
		snap = func() core.Snapshot { return stats.Snapshot(name) }
	} else {
		c, err := startChildren(name, procs, limit, args)
		if err != nil {
			return fail(err)
		}
		snap, stop, failed = c.snapshot, func() { c.group.Stop(stopGrace) }, c.failed()
	}
	defer stop()
	if o.statsAddr != "" {
		ln, err := statshttp.Serve(o.statsAddr, snap)
		if err != nil {
			return fail(err)
		}
		defer ln.Close()
	}
	fmt.Fprintf(os.Stderr, "%s: listening on %s (+%d ports): %d process(es) holding up to %d connections each\n",
		prog, o.addrs[0], len(o.addrs)-1, procs, limit)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	code := 0
	select {
	case <-sigs:
	case err := <-failed:
		code = fail(err)
	}
	fmt.Fprintf(os.Stderr, "%s: %d connections open at the end\n", prog, snap().Conns)
	return code
}

func parseFlags(prog string, args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9876", "base listen address ip:port")
	ports := fs.Int("ports", 1, "listen on this many consecutive ports from -addr's")
	fs.IntVar(&o.maxConns, "max-conns", 0, "most connections held at once, all processes together; more are accepted and closed (0: what one fd table allows)")
	fs.StringVar(&o.statsAddr, "stats-addr", "", "serve JSON stats at http://ADDR/stats (and pprof at /debug/pprof/)")
	fs.Duration("stats-interval", 0, "accepted for compatibility with c1m-server; unused")
	fs.IntVar(&o.perProc, "per-proc", 0, "connections one process may hold (0: what RLIMIT_NOFILE allows); past it the peer runs as several processes")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.addrs, err = core.ListenAddrs(*addr, *ports); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
		return o, err
	}
	if o.perProc <= 0 {
		soft, _, err := core.RaiseNofile()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
			return o, err
		}
		o.perProc = PerProcess(soft, *ports)
	}
	return o, nil
}

// PerProcess is how many connections one process may hold under an fd
// limit of nofile: what the runtime, the stats listener and the event
// loops' epoll and wake-up fds leave, and with SO_REUSEPORT a listener
// per port in every event loop (gnet opens one each).
func PerProcess(nofile uint64, ports int) int {
	return int(nofile) - 128 - 2*ports*runtime.NumCPU()
}

// PlanProcs says how many processes hold maxConns (0: one process's
// worth) at perProc each, and the limit of each. SO_REUSEPORT spreads
// connections by hash, not evenly, so the processes are planned 95% full.
func PlanProcs(maxConns, perProc int) (procs, limit int) {
	switch {
	case maxConns <= 0:
		return 1, perProc
	case maxConns <= perProc:
		return 1, maxConns
	}
	planned := max(perProc*19/20, 1)
	return (maxConns + planned - 1) / planned, perProc
}

// Listen opens a listener for a peer built on the net package: with
// SO_REUSEPORT when several processes share the ports, and shedding (as
// the core does past -max-conns) what Stats does not admit, so the peer
// sees only the connections it holds. Its signature is net.Listen's.
func (s Spec) Listen(network, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	if s.ReusePort {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	ln, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w (another process holds the port? pick another -addr)", addr, err)
	}
	return limitListener{ln, s.Stats}, nil
}

type limitListener struct {
	net.Listener
	stats *Stats
}

// Accept returns the next connection Stats admits; Close it with Stats.Close.
func (l limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.stats.Open() {
			return c, err
		}
		c.Close()
	}
}

// child is one of several processes: it serves with SO_REUSEPORT and
// reports its counters to the parent until SIGTERM or the parent's end.
func child(name string, start Start, o options, limit int) int {
	report := procgroup.Reporter()
	if report == nil {
		fmt.Fprintf(os.Stderr, "c1m-peer-%s child: no report pipe on fd %d (only the parent starts children)\n", name, procgroup.ReportFD)
		return 2
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	stats := NewStats(limit)
	stop, failed, err := start(Spec{Addrs: o.addrs, ReusePort: true, Stats: stats})
	if err != nil {
		fmt.Fprintf(os.Stderr, "c1m-peer-%s child: %v\n", name, err)
		return 1
	}
	stop = sync.OnceFunc(stop)
	defer stop()
	tick := time.NewTicker(reportInterval)
	defer tick.Stop()
	for {
		snap := stats.Snapshot(name) // the first report says the child listens
		if report.Encode(&snap) != nil {
			return 1 // the parent is gone
		}
		select {
		case <-tick.C:
		case <-sigs:
			stop()
			snap = stats.Snapshot(name)
			report.Encode(&snap)
			return 0
		case err := <-failed:
			fmt.Fprintf(os.Stderr, "c1m-peer-%s child: %v\n", name, err)
			return 1
		}
	}
}

// children are the processes of a peer past one fd table.
type children struct {
	group *procgroup.Group
	mu    sync.Mutex
	last  []core.Snapshot // each child's latest report
	ready chan struct{}   // one send per child, at its first report
}

func startChildren(name string, procs, limit int, args []string) (*children, error) {
	c := &children{group: procgroup.New(procs), last: make([]core.Snapshot, procs), ready: make(chan struct{}, procs)}
	for i := range procs {
		cmd, err := procgroup.Self(args...)
		if err == nil {
			cmd.Env = append(os.Environ(), childEnv+"="+strconv.Itoa(limit))
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			_, err = c.group.Start(cmd, func(line []byte) { c.record(i, line) })
		}
		if err != nil {
			c.group.Stop(stopGrace)
			return nil, fmt.Errorf("child %d: %w", i, err)
		}
	}
	for range procs {
		select {
		case <-c.ready:
		case e := <-c.group.Exits():
			c.group.Stop(stopGrace)
			return nil, fmt.Errorf("child %d (pid %d) exited while starting: %v", e.Index, e.Pid, e.Err)
		}
	}
	return c, nil
}

func (c *children) record(i int, line []byte) {
	var s core.Snapshot
	if json.Unmarshal(line, &s) != nil {
		return
	}
	c.mu.Lock()
	first := c.last[i].Time.IsZero()
	c.last[i] = s
	c.mu.Unlock()
	if first {
		c.ready <- struct{}{}
	}
}

// snapshot sums the children's latest reports.
func (c *children) snapshot() core.Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := core.Snapshot{Time: time.Now()}
	for i := range c.last {
		out.Merge(&c.last[i])
	}
	out.Strategy, out.Procs = c.last[0].Strategy, len(c.last)
	return out
}

// failed yields an error when a child ends before Stop asked it to.
func (c *children) failed() <-chan error {
	ch := make(chan error, 1)
	go func() {
		for e := range c.group.Exits() {
			if !e.Expected {
				ch <- fmt.Errorf("child %d (pid %d) exited: %v", e.Index, e.Pid, e.Err)
				return
			}
		}
	}()
	return ch
}
