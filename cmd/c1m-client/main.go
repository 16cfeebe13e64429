// Command c1m-client is the c1m keepalive load client: it opens -conns
// connections, keeps them alive with verified echoes and measures them.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"c1m/client"
	"c1m/cmd/internal/cli"
)

func main() {
	client.RunChildIfAsked()
	os.Exit(run())
}

func run() int {
	cfg := client.DefaultConfig()
	fs := cli.FlagSet("c1m-client", "Opens -conns connections to an echo server, sends -msg on each every -interval,\nverifies every echo byte for byte and records connect and round-trip times.")
	fs.StringVar(&cfg.Engine, "engine", client.EngineAuto, "epoll (ordinary fds, one process per RLIMIT_NOFILE of connections), uring (sockets in io_uring rings' registered-file tables: one process, a thread per CPU; Linux 6.11+) or auto (uring where the kernel runs it and neither -procs nor -fdtables is set, else epoll, saying why)")
	fs.StringVar(&cfg.Server, "server", cfg.Server, "server ip:port (the first of -ports consecutive ports)")
	fs.IntVar(&cfg.Ports, "ports", cfg.Ports, "spread connections over this many consecutive server ports")
	fs.StringVar(&cfg.Src, "src", cfg.Src, "source addresses: a range (127.0.0.2-127.0.0.254), a CIDR (127.1.0.0/24) or a comma-separated list")
	fs.IntVar(&cfg.Conns, "conns", cfg.Conns, "connections to open")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "connects per second (0: as fast as the server accepts)")
	fs.IntVar(&cfg.InFlight, "inflight", cfg.InFlight, "connects in progress at once, over all processes")
	fs.StringVar(&cfg.Msg, "msg", cfg.Msg, "keepalive message (default: the original's 11 bytes \"keepalive!\\0\")")
	fs.IntVar(&cfg.Size, "size", cfg.Size, "message size in bytes (a pattern; overrides -msg when > 0)")
	fs.DurationVar(&cfg.Interval, "interval", cfg.Interval, "keepalive period per connection, phases spread evenly; 0: saturating (send again as soon as the echo returns)")
	fs.DurationVar(&cfg.Tick, "tick", cfg.Tick, "group keepalive sends into ticks this long, aligned across processes, so the server sees batches (0: each at its exact phase)")
	fs.IntVar(&cfg.Depth, "depth", cfg.Depth, "saturating mode: messages in flight per connection")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "an echo later than this counts as a time-out")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", cfg.ConnectTimeout, "a connect taking longer fails with ETIMEDOUT")
	fs.DurationVar(&cfg.Hold, "hold", cfg.Hold, "hold the connections this long once all are open, then close cleanly")
	fs.IntVar(&cfg.Keepalives, "keepalives", cfg.Keepalives, "send this many keepalives per connection, then stay silent while holding it (a peer an -idle-timeout server should reap; 0: no limit)")
	fs.BoolVar(&cfg.Silent, "silent", cfg.Silent, "send nothing: open the connections and hold them silent (the peers of a server that never reads, such as c1m-holder)")
	fs.BoolVar(&cfg.QuietRamp, "quiet-ramp", cfg.QuietRamp, "send no keepalive until every connection is open, then start the phases from there (the hold measures the steady state, not the ramp's backlog)")
	fs.IntVar(&cfg.Loops, "loops", cfg.Loops, "event loops per process (0: one per CPU with one process, else 1)")
	fs.IntVar(&cfg.Procs, "procs", cfg.Procs, "processes to split the connections over (0: as RLIMIT_NOFILE requires)")
	fs.BoolVar(&cfg.FDTables, "fdtables", cfg.FDTables, "one process whose event loops each unshare a private fd table (as the server's fdtables), instead of one process per RLIMIT_NOFILE of connections")
	fs.BoolVar(&cfg.Reconnect, "reconnect", cfg.Reconnect, "reconnect dropped or failed connections, with exponential back-off and jitter")
	fs.Float64Var(&cfg.Churn, "churn", cfg.Churn, "once every connection is open, close this many idle connections per second (over all processes) and reconnect each at once (a soak's steady turnover; 0: none)")
	fs.BoolVar(&cfg.Force, "force", cfg.Force, "connect even when the spread plan says the connections cannot fit (to see where it fails)")
	fs.DurationVar(&cfg.Calibrate, "calibrate", cfg.Calibrate, "before the load, measure a system call, a context switch and a loopback echo for about this long, for the -json result's env (0: not at all)")
	fs.IntVar(&cfg.RawWaitMs, "raw-wait", cfg.RawWaitMs, "ms an event loop may sleep in epoll_wait without the Go scheduler knowing; under load it keeps its P and skips the hand-off (0: never)")
	jsonPath := fs.String("json", "", "write the result as one JSON object to this file")
	fs.Parse(os.Args[1:])
	cfg.Flags = os.Args[1:]

	stop := make(chan struct{})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "\nc1m-client: %v: closing every connection and writing the results\n", s)
		close(stop)
	}()

	res, err := client.Run(cfg, stop, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "c1m-client: %v\n", err)
		if res.Procs == 0 {
			return 1
		}
	}
	summarise(res)
	if *jsonPath != "" {
		res.ConnectHist, res.RttHist, res.RttHoldHist, res.DowntimeHist = nil, nil, nil, nil
		b, _ := json.MarshalIndent(&res, "", "  ")
		if werr := os.WriteFile(*jsonPath, append(b, '\n'), 0o644); werr != nil {
			fmt.Fprintf(os.Stderr, "c1m-client: writing -json: %v\n", werr)
			return 1
		}
	}
	if err != nil {
		return 1
	}
	return 0
}

func summarise(r client.Result) {
	w := os.Stderr
	fmt.Fprintf(w, "c1m-client: %s after %.1fs: %d attempted, %d established (peak %d open), ramp %.1fs\n",
		r.Ended, r.WallSeconds, r.Attempted, r.Established, r.PeakOpen, r.RampSeconds)
	if r.Reconnects > 0 || r.Churned > 0 {
		fmt.Fprintf(w, "  reconnects: %d; connections closed on purpose by -churn: %d\n", r.Reconnects, r.Churned)
	}
	fmt.Fprintf(w, "  keepalives: %d sent, %d echoed and verified, %d mismatched, %d timed out, %d unanswered at close; %d connections verified\n",
		r.Sent, r.Echoed, r.Mismatched, r.Timeouts, r.InFlightAtClose, r.ConnsVerified)
	fmt.Fprintf(w, "  connect µs p50 %d p99 %d max %d; cpu %.1fs (hold %.2fs", r.ConnectUs.P50, r.ConnectUs.P99, r.ConnectUs.Max, r.CPUSeconds, r.HoldCPUSeconds)
	if r.RttHoldUs.N > 0 {
		fmt.Fprintf(w, ", %.1f µs per hold echo", r.HoldCPUSeconds*1e6/float64(r.RttHoldUs.N))
	}
	fmt.Fprintf(w, "), engine %s × %d process(es)\n", r.Engine, r.Procs)
	fmt.Fprintf(w, "  rtt µs, whole run: p50 %d p90 %d p99 %d p999 %d max %d (n %d)\n", r.RttUs.P50, r.RttUs.P90, r.RttUs.P99, r.RttUs.P999, r.RttUs.Max, r.RttUs.N)
	fmt.Fprintf(w, "  rtt µs, hold only (all connections open): p50 %d p90 %d p99 %d p999 %d max %d (n %d)\n", r.RttHoldUs.P50, r.RttHoldUs.P90, r.RttHoldUs.P99, r.RttHoldUs.P999, r.RttHoldUs.Max, r.RttHoldUs.N)
	for _, m := range []struct {
		what string
		by   map[string]int64
	}{{"connect failures", r.Failed}, {"dropped by the server", r.Dropped}} {
		names := make([]string, 0, len(m.by))
		for k := range m.by {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			line := fmt.Sprintf("  %s: %s × %d", m.what, k, m.by[k])
			if c, ok := client.CauseByName(k); ok {
				line += fmt.Sprintf(": %s → %s", c.Cause, c.Fix)
			}
			fmt.Fprintln(w, line)
		}
	}
}
