// Experiment 10: past the fd cap, prefork against fd tables.
package main

import (
	"strconv"
	"time"

	"c1m/harness"
)

// Workloads at full scale; the checks name these arms. At quick scale
// both still pass one fd table (RLIMIT_NOFILE 20,000 here), so both
// strategies engage, but the names differ and the checks are reported as
// not measured.
const (
	holdConns = 1_000_000
	echoConns = 40_000
)

var strategies = []string{"fdtables", "prefork"}

func arms(s harness.Scale) []harness.Arm {
	hold, echo := s.Pick(holdConns, 30_000), s.Pick(echoConns, 25_000)
	holdFor := time.Duration(s.Pick(60, 3)) * time.Second
	echoFor := time.Duration(s.Pick(10, 2)) * time.Second
	// No keepalive until all are open, so that the hold's keepalives do not
	// wait in accept queues; unthrottled, as both strategies accept as fast
	// as the client connects (experiment 12).
	var out []harness.Arm
	for _, st := range strategies {
		n := strconv.Itoa(hold)
		out = append(out, harness.Arm{Name: st + ".hold-" + harness.CountName(hold),
			Server: []string{"-strategy", st, "-max-conns", n, "-ports", "20"},
			Client: []string{"-conns", n, "-ports", "20", "-hold", holdFor.String(), "-reconnect", "-interval", "60s",
				"-quiet-ramp"},
			ClientNice: 10, Note: "20 ports, keepalive every 60 s from the hold on, unthrottled quiet ramp; one repeat at 1M (a run takes about 3 minutes)"})
	}
	for _, st := range strategies {
		n := strconv.Itoa(echo)
		out = append(out, harness.Arm{Name: st + ".echo-" + harness.CountName(echo),
			Server:     []string{"-strategy", st, "-max-conns", n, "-ports", "20"},
			Client:     []string{"-conns", n, "-ports", "20", "-hold", echoFor.String(), "-interval", "0", "-depth", "1", "-size", "16"},
			ClientNice: 10, Note: "saturating echo past one fd table: two to three tables or processes"})
	}
	return out
}

func main() {
	hold, echo := ".hold-"+harness.CountName(holdConns), ".echo-"+harness.CountName(echoConns)
	harness.Main(harness.Experiment{
		Number: 10,
		Title:  "Past the fd cap: prefork vs fd tables",
		Question: "RLIMIT_NOFILE caps one fd table at 20,000 here. Past it, should the server run several processes sharing the ports " +
			"with SO_REUSEPORT (prefork) or one process whose workers each own a private fd table (fdtables)? " +
			"Which costs less memory per connection, ramps faster, answers sooner and echoes more?",
		Hypothesis: "Kernel memory per connection is the same (the same sockets); fdtables uses less user memory per connection, " +
			"since each of prefork's ~50 processes (at 1M) carries a Go runtime and heap of its own: server_bytes_per_conn (the whole " +
			"server's PSS at the peak ÷ connections) shows it; server_user_bytes_per_conn is growth from the idle server, " +
			"so prefork's ~50 idle runtimes are not in that one; ramp, " +
			"round trips and echo throughput are within noise of each other. Then fdtables, which needs no process management, " +
			"should stay the default past one table.",
		Factor: "-strategy fdtables|prefork; arms are STRATEGY.WORKLOAD: hold (1M connections, unthrottled quiet ramp, then a keepalive every 60 s) " +
			"and echo (40k connections, saturating 16 B echo). One repeat: a 1M run takes about 5 minutes.",
		Metrics: harness.Metrics("conns", "established", "connect_rate", "server_ramp_s", "server_bytes_per_conn", "server_user_bytes_per_conn", "kernel_bytes_per_conn",
			"rtt_p50_us", "rtt_p99_us", "rtt_p999_us", "echo_per_sec", "server_cpu_us_per_msg", "host_busy_cores", "mismatched", "timeouts"),
		Arms:    arms,
		Repeats: harness.Once,
		// As experiment 1: a deep accept queue, and TCP memory past what 1M keepalive connections need.
		// And no TIME_WAIT, so the harness need not wait 60 s for the last run's to go before each arm:
		// what is measured is held connections, not closed ones.
		Sysctls:    harness.MillionSysctls(),
		ArmTimeout: 15 * time.Minute,
		Checks: []harness.Check{
			{Metric: "server_bytes_per_conn", A: "fdtables" + hold, B: "prefork" + hold, Expect: "a<=b", Tolerance: 0.05,
				Claim: "one process pays the Go runtime once: the whole fdtables server costs less per connection than prefork's processes"},
			{Metric: "server_user_bytes_per_conn", A: "fdtables" + hold, B: "prefork" + hold, Expect: "a<=b", Tolerance: 0.05,
				Claim: "one process pays the Go runtime once: fdtables uses less user memory per connection than prefork"},
			{Metric: "kernel_bytes_per_conn", A: "fdtables" + hold, B: "prefork" + hold, Expect: "a~b", Tolerance: 0.15,
				Claim: "the kernel's cost per connection does not depend on the strategy"},
			{Metric: "server_ramp_s", A: "fdtables" + hold, B: "prefork" + hold, Expect: "a<=b", Tolerance: 0.15,
				Claim: "fdtables ramps no slower than prefork (per-table SO_REUSEPORT listeners in one process against 50 processes)"},
			{Metric: "server_cpu_us_per_msg", A: "fdtables" + echo, B: "prefork" + echo, Expect: "a<=b", Tolerance: 0.10,
				Claim: "fdtables echoes at no more CPU per message than prefork"},
		},
		Figures: []harness.Figure{
			{Kind: "ratios", Baseline: "fdtables", Y: []string{"connect_rate", "server_ramp_s", "server_bytes_per_conn", "server_user_bytes_per_conn", "kernel_bytes_per_conn",
				"rtt_p50_us", "rtt_p99_us", "rtt_p999_us", "echo_per_sec", "server_cpu_us_per_msg"}},
			{Kind: "series", X: "conns_server", Y: []string{"kernel_bytes_per_conn", "server_user_bytes_per_conn"},
				Title: "Memory per connection as N grows"},
			{Kind: "timeline", Y: []string{"conns_server"}, Title: "Connections over time"},
			{Kind: "bars", Metric: "server_bytes_per_conn"},
			{Kind: "bars", Metric: "server_user_bytes_per_conn"},
		},
	})
}
