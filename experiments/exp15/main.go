// Experiment 15: what does the load cost?
package main

import (
	"slices"
	"strconv"
	"time"

	"c1m/harness"
)

// pairs are the factor: a server engine and a client engine. The epoll
// client forks a process per 20,000 connections (RLIMIT_NOFILE's cap),
// 51 at 1M; the io_uring client holds them all in one process's rings.
var pairs = []struct{ server, client string }{
	{"epoll", "epoll"}, {"epoll", "uring"}, {"uring", "epoll"}, {"uring", "uring"},
}

func pairName(server, client string) string { return server + "-" + client }

func arms(s harness.Scale) []harness.Arm {
	n := s.Pick(1_000_000, 6_000)
	conns, sized := strconv.Itoa(n), strconv.Itoa(n)
	hold, iv, fast := 60*time.Second, 60*time.Second, 30*time.Second
	if s.Quick {
		hold, iv, fast = 4*time.Second, 2*time.Second, time.Second
	}
	var out []harness.Arm
	for _, p := range pairs {
		out = append(out, harness.Arm{
			Name:   pairName(p.server, p.client) + ".hold-" + harness.CountName(n) + "-" + iv.String(),
			Server: []string{"-engine", p.server, "-max-conns", sized, "-ports", "20"},
			Client: []string{"-engine", p.client, "-conns", conns, "-ports", "20", "-interval", iv.String(),
				"-hold", hold.String(), "-quiet-ramp", "-reconnect"},
			Params: map[string]float64{"interval_s": iv.Seconds()},
			Note:   "a quiet ramp to " + harness.CountName(n) + ", then a keepalive every " + iv.String() + " for " + hold.String(),
		})
	}
	// Accepting under load: keepalives from the first connection, at a
	// rate the machine answers at a million only if accepting keeps pace.
	for _, server := range []string{"epoll", "uring"} {
		out = append(out, harness.Arm{
			Name:   pairName(server, "uring") + ".ramp-loaded-" + harness.CountName(n) + "-" + fast.String(),
			Server: []string{"-engine", server, "-max-conns", sized, "-ports", "20"},
			Client: []string{"-engine", "uring", "-conns", conns, "-ports", "20", "-interval", fast.String(),
				"-hold", hold.String(), "-reconnect"},
			Params: map[string]float64{"interval_s": fast.Seconds()},
			Note:   "keepalives every " + fast.String() + " from the first connection on, while the accept queues still fill",
		})
	}
	return out
}

func hold(pair string) string { return pair + ".hold-1M-1m0s" }

func main() {
	harness.Main(harness.KeepaliveAtMillion(harness.Experiment{
		Number: 15,
		Title:  "What does the load cost?",
		Question: "On one machine the load client competes with the server for the same two cores. The epoll client needs a " +
			"process per 20,000 connections (51 at a million) and took about a third of the machine's CPU per keepalive in " +
			"earlier runs. What does each side cost per keepalive at a million, and how much does a client that holds the " +
			"million in one process's io_uring rings give back to the server?",
		Hypothesis: "Stated before the run. At a million with a keepalive every 60 s (16,667 a second), every pair answers " +
			"every keepalive. The io_uring client costs less than half the epoll client's CPU per echo (one process and two " +
			"threads instead of 51 processes: no wake-up per process per tick, sends batched per submission), so the whole " +
			"machine's CPU per echo of the uring server with the uring client is at most half that of the epoll server with " +
			"the epoll client; the context switches per echo fall with it. With keepalives flowing from the first connection, " +
			"both servers still accept the million (no connection waits in an accept queue for the hold).",
		Factor: "Server engine × client engine (-engine epoll|uring on each side), at 1M connections with a quiet ramp and a " +
			"keepalive every 60 s held for 60 s; arms are SERVER-CLIENT.WORKLOAD. Two ramp-loaded arms (each server against " +
			"the uring client) send a keepalive every 30 s from the first connection on. One repeat.",
		Metrics: slices.Concat(
			harness.Metrics("established", "conns", "server_ramp_s", "accept_rate", "listen_overflows"),
			harness.KeepaliveMetrics(),
			harness.Metrics("host_cpu_us_per_msg", "server_cpu_us_per_msg", "client_cpu_us_per_msg", "host_softirq_us_per_msg",
				"server_ctxt_per_msg", "client_ctxt_per_msg", "host_ctxt_per_msg", "client_threads", "server_threads",
				"client_bytes_per_conn", "rtt_p50_us", "rtt_p99_us", "timeouts", "unanswered_at_close", "mismatched")),
		Arms:       arms,
		ArmTimeout: 12 * time.Minute,
		Checks: []harness.Check{
			{Metric: "client_cpu_us_per_msg", A: hold("epoll-uring"), B: hold("epoll-epoll"), Expect: "a<=b", Tolerance: 0,
				Claim: "against the same server, the io_uring client costs less CPU per echo than the epoll client"},
			{Metric: "host_cpu_us_per_msg", A: hold("uring-uring"), B: hold("epoll-epoll"), Expect: "a<=b", Tolerance: 0,
				Claim: "the uring pair costs the whole machine less CPU per echo than the epoll pair"},
			{Metric: "host_ctxt_per_msg", A: hold("uring-uring"), B: hold("epoll-epoll"), Expect: "a<=b", Tolerance: 0,
				Claim: "the uring pair makes fewer context switches per echo"},
			{Metric: "echo_share", A: hold("uring-uring"), B: hold("epoll-epoll"), Expect: "a~b", Tolerance: 0.01,
				Claim: "both pairs answer every keepalive at 60 s"},
			{Metric: "established", A: "uring-uring.ramp-loaded-1M-30s", B: "epoll-uring.ramp-loaded-1M-30s", Expect: "a~b", Tolerance: 0.001,
				Claim: "with keepalives flowing during the ramp, both servers still accept the million"},
		},
		Figures: []harness.Figure{
			{Kind: "ratios", Baseline: "epoll-epoll", Y: []string{"host_cpu_us_per_msg", "server_cpu_us_per_msg", "client_cpu_us_per_msg",
				"host_ctxt_per_msg", "echo_share", "rtt_p99_us"}},
			{Kind: "bars", Metric: "host_cpu_us_per_msg"},
			{Kind: "bars", Metric: "client_cpu_us_per_msg"},
			{Kind: "bars", Metric: "host_ctxt_per_msg"},
			{Kind: "timeline", Y: []string{"conns_server"}, Title: "Connections the server holds over time"},
		},
	}))
}
