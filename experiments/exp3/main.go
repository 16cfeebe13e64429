// Experiment 3: worker pinning and worker count.
package main

import (
	"runtime"
	"strconv"

	"c1m/harness"
)

func main() {
	cpus := runtime.NumCPU()
	harness.Main(harness.Experiment{
		Number:     3,
		Title:      "Worker pinning and count",
		Question:   "Does pinning each worker to a CPU (the original's pthread_setaffinity_np) help, and how many workers should there be?",
		Hypothesis: "Pinned beats unpinned at NumCPU workers, and NumCPU workers beat 1 and 2×NumCPU in saturating echo throughput.",
		Factor:     "-pin and -workers (1, NumCPU, 2×NumCPU)",
		Metrics:    harness.Metrics("echo_per_sec", "rtt_p50_us", "rtt_p99_us", "rtt_p999_us", "server_cpu_us_per_msg", "mismatched"),
		Arms: func(s harness.Scale) []harness.Arm {
			client := []string{"-conns", strconv.Itoa(s.Pick(1000, 100)), "-interval", "0", "-depth", "4", "-size", "16",
				"-hold", []string{"10s", "1s"}[s.Pick(0, 1)]}
			arm := func(name string, workers int, pin bool) harness.Arm {
				return harness.Arm{Name: name, Server: []string{"-workers", strconv.Itoa(workers), "-pin=" + strconv.FormatBool(pin)}, Client: client}
			}
			return []harness.Arm{
				arm("pinned", cpus, true), arm("unpinned", cpus, false),
				arm("workers-1", 1, true), arm("workers-2xcpu", 2*cpus, true),
			}
		},
		Repeats: harness.FullRepeats(3),
		Checks: []harness.Check{
			{Metric: "echo_per_sec", A: "pinned", B: "unpinned", Expect: "a>=b", Tolerance: 0.05, Claim: "pinned workers echo at least as fast as unpinned"},
			{Metric: "echo_per_sec", A: "pinned", B: "workers-1", Expect: "a>=b", Tolerance: 0.05, Claim: "NumCPU workers beat one"},
			{Metric: "echo_per_sec", A: "pinned", B: "workers-2xcpu", Expect: "a>=b", Tolerance: 0.05, Claim: "NumCPU workers beat 2×NumCPU"},
		},
		Figures: []harness.Figure{{Kind: "bars", Metric: "echo_per_sec"}, {Kind: "bars", Metric: "rtt_p99_us"}, {Kind: "bars", Metric: "server_cpu_us_per_msg"}},
	})
}
