// Experiment 5: socket buffer sizes and the user-space read buffer.
package main

import (
	"strconv"

	"c1m/harness"
)

func main() {
	harness.Main(harness.Experiment{
		Number:     5,
		Title:      "Buffer sizes",
		Question:   "What do SO_RCVBUF/SO_SNDBUF and the user-space read buffer cost in memory per connection, idle and with data in flight, and what do they buy in throughput?",
		Hypothesis: "Idle connections cost the same whatever the buffer settings (the kernel allocates buffers lazily); with data in flight, kernel memory per connection grows with the socket buffers, and the per-worker read buffer does not show in per-connection user memory.",
		Factor:     "-rcvbuf/-sndbuf (kernel default, 4 KiB, 64 KiB) and -readbuf (4 KiB, 64 KiB), each idle and loaded",
		Metrics:    harness.Metrics("kernel_bytes_per_conn", "server_user_bytes_per_conn", "echo_per_sec", "rtt_p99_us", "mismatched"),
		Arms: func(s harness.Scale) []harness.Arm {
			n := strconv.Itoa(s.Pick(5000, 300))
			hold := []string{"10s", "1s"}[s.Pick(0, 1)]
			settings := []struct {
				name   string
				server []string
			}{
				{"default", nil},
				{"sock4k", []string{"-rcvbuf", "4096", "-sndbuf", "4096"}},
				{"sock64k", []string{"-rcvbuf", "65536", "-sndbuf", "65536"}},
				{"readbuf4k", []string{"-readbuf", "4096"}},
				{"readbuf64k", []string{"-readbuf", "65536", "-max-pending", "65536"}},
			}
			loads := []struct {
				name   string
				client []string
			}{
				{"idle", []string{"-interval", "30s"}},
				// 16 KiB messages, 4 in flight per connection: 64 KiB of data in flight each.
				{"loaded", []string{"-interval", "0", "-size", "16384", "-depth", "4"}},
			}
			var arms []harness.Arm
			for _, l := range loads {
				for _, st := range settings {
					arms = append(arms, harness.Arm{Name: l.name + "-" + st.name,
						Server: append([]string{"-max-conns", n}, st.server...),
						Client: append([]string{"-conns", n, "-hold", hold}, l.client...)})
				}
			}
			return arms
		},
		Repeats: harness.FullRepeats(2),
		Checks: []harness.Check{
			{Metric: "kernel_bytes_per_conn", A: "idle-sock64k", B: "idle-sock4k", Expect: "a~b", Tolerance: 0.10, Claim: "idle connections cost the same kernel memory whatever SO_RCVBUF/SO_SNDBUF say"},
			{Metric: "kernel_bytes_per_conn", A: "loaded-sock64k", B: "loaded-sock4k", Expect: "a>=b", Tolerance: 0, Claim: "with data in flight, bigger socket buffers hold more kernel memory"},
			{Metric: "server_user_bytes_per_conn", A: "idle-readbuf64k", B: "idle-readbuf4k", Expect: "a~b", Tolerance: 0.25, Claim: "the per-worker read buffer does not show per connection"},
		},
		Figures: []harness.Figure{{Kind: "bars", Metric: "kernel_bytes_per_conn"}, {Kind: "bars", Metric: "server_user_bytes_per_conn"}, {Kind: "bars", Metric: "echo_per_sec"}},
	})
}
