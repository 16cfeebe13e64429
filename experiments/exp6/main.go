// Experiment 6: where the original client stops, and the two ways past it.
package main

import (
	"strconv"

	"c1m/harness"
	"c1m/schema"
)

func main() {
	harness.Main(harness.Experiment{
		Number: 6,
		Title:  "The original client's failure: one source, one port",
		Question: "The original client connected from one source address to one server port and failed near 28k connections. " +
			"Is that the ephemeral-port count of one address pair (EADDRNOTAVAIL), as planned, or TIME_WAIT? And do more source addresses or more server ports get past it?",
		Hypothesis: "One source to one ip:port stops with EADDRNOTAVAIL at the size of net.ipv4.ip_local_port_range (less ports in use), with no socket in TIME_WAIT; " +
			"spreading over source addresses or over server ports reaches the target.",
		Factor: "the connection spread: one source × one server port (forced past the plan), 253 sources × one port, one source × three ports",
		Metrics: harness.Metrics("established", "predicted_capacity", "eaddrnotavail", "connect_failures", "tcp_tw_at_peak",
			"connect_rate", "conns"),
		Arms: func(s harness.Scale) []harness.Arm {
			// The target is past one pair's ephemeral ports (28,232 with the default range).
			n := strconv.Itoa(s.Pick(60_000, 30_000))
			server := []string{"-max-conns", n, "-ports", "3"}
			client := func(extra ...string) []string {
				return append([]string{"-conns", n, "-interval", "24h", "-hold", "5s"}, extra...)
			}
			return []harness.Arm{
				{Name: "one-source", Server: server, Client: client("-src", "127.0.0.2", "-ports", "1", "-force"),
					Note: "the original: one source address, one server port; -force connects past the plan to see where it fails"},
				{Name: "sources", Server: server, Client: client("-src", "127.0.0.2-127.0.0.254", "-ports", "1"),
					Note: "253 source addresses, one server port"},
				{Name: "ports", Server: server, Client: client("-src", "127.0.0.2", "-ports", "3"),
					Note: "one source address, three server ports"},
			}
		},
		Repeats: harness.FullRepeats(2),
		Feeds:   []string{schema.FeedPortExhaustion},
		Checks: []harness.Check{
			{Metric: "established", A: "sources", B: "one-source", Expect: "a>=b", Tolerance: 0.05, Claim: "more source addresses get past one pair's ports"},
			{Metric: "established", A: "ports", B: "one-source", Expect: "a>=b", Tolerance: 0.05, Claim: "more server ports get past one pair's ports"},
			{Metric: "established", A: "sources", B: "ports", Expect: "a~b", Tolerance: 0.02, Claim: "either spread reaches the target"},
		},
		Figures: []harness.Figure{
			{Kind: "timeline", Y: []string{"conns_server"}, Title: "Connections over time"},
			{Kind: "bars", Metric: "established"},
		},
	})
}
