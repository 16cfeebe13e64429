// Experiment 2: how an accepted fd reaches its worker.
package main

import (
	"strconv"

	"c1m/core"
	"c1m/harness"
)

func main() {
	harness.Main(harness.Experiment{
		Number:     2,
		Title:      "Dispatch: pipe vs chan (and direct, reuseport)",
		Question:   "Does the original's pipe notification cost anything against a Go channel + eventfd, the acceptor adding to the worker's epoll directly, or per-worker SO_REUSEPORT listeners?",
		Hypothesis: "Dispatch matters only at accept: steady-state echo throughput is the same for all four; direct and reuseport register a connection sooner than pipe and chan.",
		Factor:     "-dispatch: pipe, chan, direct, reuseport",
		Metrics: harness.Metrics("connect_rate", "dispatch_p50_us", "dispatch_p99_us", "server_cpu_us_per_conn",
			"echo_per_sec", "rtt_p50_us", "rtt_p99_us", "mismatched"),
		Arms: func(s harness.Scale) []harness.Arm {
			n := strconv.Itoa(s.Pick(10_000, 300))
			hold := []string{"10s", "1s"}[s.Pick(0, 1)]
			var arms []harness.Arm
			for _, d := range core.DispatchModes {
				arms = append(arms, harness.Arm{Name: d,
					Server: []string{"-dispatch", d, "-max-conns", n},
					Client: []string{"-conns", n, "-interval", "0", "-depth", "1", "-size", "16", "-hold", hold}})
			}
			return arms
		},
		Repeats: harness.FullRepeats(3),
		Checks: []harness.Check{
			{Metric: "echo_per_sec", A: "pipe", B: "chan", Expect: "a~b", Tolerance: 0.10, Claim: "pipe and chan echo at the same rate once connected"},
			{Metric: "dispatch_p50_us", A: "direct", B: "pipe", Expect: "a<=b", Tolerance: 0.10, Claim: "direct registers a connection no later than pipe"},
			{Metric: "connect_rate", A: "pipe", B: "chan", Expect: "a~b", Tolerance: 0.15, Claim: "pipe and chan accept at the same rate"},
		},
		Figures: []harness.Figure{
			{Kind: "bars", Metric: "dispatch_p50_us"}, {Kind: "bars", Metric: "connect_rate"},
			{Kind: "bars", Metric: "echo_per_sec"}, {Kind: "bars", Metric: "server_cpu_us_per_conn"},
		},
	})
}
