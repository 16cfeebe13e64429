// Experiment 8: what a million connections' keepalives cost in CPU.
package main

import (
	"strconv"
	"time"

	"c1m/harness"
	"c1m/schema"
)

func main() {
	harness.Main(harness.KeepaliveAtMillion(harness.Experiment{
		Number: 8,
		Title:  "Keepalive interval at 1,000,000 connections: CPU, packets or bandwidth?",
		Question: "At a million connections, what runs out first as keepalives get more frequent on this machine: " +
			"CPU, packets per second, or bandwidth?",
		Hypothesis: "CPU: the echoes a second grow as 1/interval until the two cores (server, client and the kernel's TCP together) " +
			"saturate, long before the packet rate or the bytes would fill even a 1 GbE card (see the wire model). " +
			"The ramp is quiet (no keepalive until all connections are open) so that the hold measures the steady state.",
		Factor: "-interval, the keepalive period of every connection: 60 s, 30 s, 10 s, 1 s",
		Metrics: harness.Metrics("established", "echo_per_sec", "interval_s", "offered_per_sec", "echo_share",
			"host_busy_cores", "host_softirq_cores", "server_cpu_cores", "client_cpu_cores", "server_cpu_us_per_msg", "client_cpu_us_per_msg",
			"tcp_segs_per_sec", "rtt_p50_us", "rtt_p99_us", "timeouts", "mismatched"),
		Arms: func(s harness.Scale) []harness.Arm {
			n := strconv.Itoa(s.Pick(1_000_000, 3_000))
			intervals := []time.Duration{60 * time.Second, 30 * time.Second, 10 * time.Second, time.Second}
			hold := 90 * time.Second
			if s.Quick {
				intervals, hold = []time.Duration{2 * time.Second, time.Second}, 4*time.Second
			}
			// Unthrottled: the default server accepts as fast as the client
			// connects (experiment 12), and the quiet ramp keeps the hold's
			// keepalives out of the ramp.
			var arms []harness.Arm
			for _, iv := range intervals {
				arms = append(arms, harness.Arm{Name: iv.String(), ClientNice: 10,
					Server: []string{"-max-conns", n, "-ports", "20"},
					Client: []string{"-conns", n, "-ports", "20", "-interval", iv.String(), "-hold", hold.String(), "-quiet-ramp", "-reconnect"},
					Params: map[string]float64{"interval_s": iv.Seconds()},
					Note:   "keepalives every " + iv.String() + ", every echo verified"})
			}
			return arms
		},
		Feeds:      []string{schema.FeedKeepaliveCost},
		ArmTimeout: 15 * time.Minute,
		Checks: []harness.Check{
			{Metric: "echo_share", A: "1m0s", B: "1s", Expect: "a>=b", Tolerance: 0.05, Claim: "60 s keepalives are answered; 1 s keepalives are not"},
			{Metric: "host_busy_cores", A: "1s", B: "1m0s", Expect: "a>=b", Tolerance: 0, Claim: "more frequent keepalives keep the machine busier"},
		},
		Figures: []harness.Figure{
			{Kind: "bars", Metric: "echo_per_sec"}, {Kind: "bars", Metric: "echo_share"},
			{Kind: "bars", Metric: "host_busy_cores"}, {Kind: "bars", Metric: "server_cpu_us_per_msg"},
			{Kind: "bars", Metric: "tcp_segs_per_sec"},
		},
	}))
}
