// Experiment 12: the accept path at a million.
package main

import (
	"strconv"
	"time"

	"c1m/harness"
)

// The factor: how a connection reaches a worker's private fd table. One
// line per design; its server flags are the whole difference.
var designs = []struct {
	name   string
	server []string
}{
	{"scm", fdtables("scm")},             // one acceptor, one fd per SCM_RIGHTS message (the design before this experiment)
	{"scm-batch", fdtables("scm-batch")}, // one acceptor, up to 250 fds per message, one message per wake-up and worker
	{"reuseport", fdtables("reuseport")}, // every worker accepts on SO_REUSEPORT listeners of its own table
	{"exclusive", fdtables("exclusive")}, // every worker accepts on the shared listeners (EPOLLEXCLUSIVE)
}

// fdtables names the strategy, so that quick scale (one table's worth) runs the same path.
func fdtables(dispatch string) []string {
	return []string{"-strategy", "fdtables", "-dispatch", dispatch}
}

const fullConns = 1_000_000

func arms(s harness.Scale) []harness.Arm {
	n := s.Pick(fullConns, 5_000)
	// The hold outlasts the slowest design's catching up (scm: ~20 s after
	// the client's own ramp); keepalives every 60 s once all are open.
	hold := time.Duration(s.Pick(60, 2)) * time.Second
	var out []harness.Arm
	for _, d := range designs {
		out = append(out, harness.Arm{Name: d.name + "." + harness.CountName(n),
			Server: append([]string{"-max-conns", strconv.Itoa(n), "-ports", "20"}, d.server...),
			Client: []string{"-conns", strconv.Itoa(n), "-ports", "20", "-interval", "60s", "-hold", hold.String(), "-quiet-ramp", "-rate", "0"},
			Note:   "unthrottled client (no -rate, not niced), 20 ports, no keepalive until all are open, then one every 60 s"})
	}
	return out
}

func main() {
	arm := func(design string) string { return design + "." + harness.CountName(fullConns) }
	harness.Main(harness.Experiment{
		Number: 12,
		Title:  "The accept path at a million",
		Question: "Past one fd table every worker owns a private table. How should a connection get into one: accepted by one acceptor " +
			"and passed over SCM_RIGHTS (one fd per message, or many), or accepted by the workers themselves, on SO_REUSEPORT listeners " +
			"of their own or on the shared listeners in every table with EPOLLEXCLUSIVE? Which fills a million soonest when the client " +
			"connects as fast as it can?",
		Hypothesis: "One acceptor passing one fd per message (scm) is the bottleneck of the ramp: a sendmsg, a close and a recvmsg per " +
			"connection, all on one thread that competes for 2 cores with ~50 client processes. Batching the hop (scm-batch) or removing it " +
			"(reuseport, exclusive) fills 1M in at most two thirds of scm's time and at no more server CPU per connection; once the hop is " +
			"gone the machine (client and kernel) is the limit, so the three are within noise of each other; kernel memory per connection " +
			"does not depend on the design.",
		Factor: "-dispatch scm|scm-batch|reuseport|exclusive under -strategy fdtables, -max-conns 1M, 20 ports (the epoll engine's " +
			"dispatch designs; experiment 13 compares io_uring); client unthrottled with -quiet-ramp. Arms are DESIGN.N.",
		Metrics: harness.Metrics("conns", "established", "server_ramp_s", "accept_rate", "connect_rate", "server_cpu_us_per_conn",
			"kernel_bytes_per_conn", "dispatch_p50_us", "dispatch_p99_us", "listen_overflows", "client_cpu_s"),
		Arms:    arms,
		Repeats: harness.FullRepeats(2),
		// As experiments 1 and 10: deep accept queues, TCP memory past what 1M sockets need, no TIME_WAIT between arms.
		Sysctls: map[string]string{"net.core.somaxconn": "65535", "net.ipv4.tcp_max_syn_backlog": "65535",
			"net.ipv4.tcp_mem": "1500000 2000000 3000000", "net.ipv4.tcp_max_tw_buckets": "0"},
		ArmTimeout: 10 * time.Minute,
		Checks: []harness.Check{
			{Metric: "server_ramp_s", A: arm("scm-batch"), B: arm("scm"), Expect: "a<=b", Tolerance: -0.33,
				Claim: "batching the SCM_RIGHTS hop fills 1M in at most two thirds of scm's time"},
			{Metric: "server_ramp_s", A: arm("exclusive"), B: arm("scm"), Expect: "a<=b", Tolerance: -0.33,
				Claim: "workers accepting on the shared listeners fill 1M in at most two thirds of scm's time"},
			{Metric: "server_ramp_s", A: arm("reuseport"), B: arm("scm"), Expect: "a<=b", Tolerance: -0.33,
				Claim: "workers accepting on their own SO_REUSEPORT listeners fill 1M in at most two thirds of scm's time"},
			{Metric: "server_ramp_s", A: arm("exclusive"), B: arm("scm-batch"), Expect: "a~b", Tolerance: 0.15,
				Claim: "without the hop's cost the designs fill 1M in the same time: the machine is the limit"},
			{Metric: "server_cpu_us_per_conn", A: arm("exclusive"), B: arm("scm"), Expect: "a<=b", Tolerance: 0.05,
				Claim: "accepting in the workers costs the server no more CPU per connection than the hop"},
			{Metric: "kernel_bytes_per_conn", A: arm("exclusive"), B: arm("scm"), Expect: "a~b", Tolerance: 0.15,
				Claim: "the kernel's cost per held connection does not depend on the accept path"},
		},
		Figures: []harness.Figure{
			{Kind: "timeline", Y: []string{"conns_server"}, Title: "Connections the server holds from the client's start"},
			{Kind: "bars", Metric: "server_ramp_s"},
			{Kind: "bars", Metric: "server_cpu_us_per_conn"},
			{Kind: "series", X: "conns_server", Y: []string{"kernel_bytes_per_conn"}, Title: "Kernel memory per held connection as N grows"},
		},
	})
}
