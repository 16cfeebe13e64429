// Experiment 1: capacity and memory (the original's questions 2 and 3).
package main

import (
	"strconv"
	"time"

	"c1m/harness"
	"c1m/schema"
)

func main() {
	harness.Main(harness.Experiment{
		Number:     1,
		Title:      "Capacity and memory",
		Question:   "How much kernel and application memory does one long-lived connection cost, up to 1,000,000 of them on this machine?",
		Hypothesis: "Kernel memory per connection is flat in N and close to the bare holder's (epoll and echo add one epoll item per socket); the core's user memory per idle connection stays far below 100 B.",
		Factor:     "what holds the accepted sockets: the core server (epoll workers, echo) or a bare holder (accept and keep, no epoll, no reads)",
		Metrics: harness.Metrics("conns", "established", "kernel_bytes_per_conn", "server_user_bytes_per_conn",
			"client_bytes_per_conn", "connect_rate", "server_ramp_s", "rtt_p50_us", "rtt_p99_us", "rtt_p999_us", "mismatched", "timeouts"),
		Arms: func(s harness.Scale) []harness.Arm {
			n := strconv.Itoa(s.Pick(1_000_000, 3_000))
			hold := (time.Duration(s.Pick(60, 3)) * time.Second).String()
			// A quiet ramp (no keepalive until every connection is open), so the
			// round trips measure the hold, not the accept queues of the ramp.
			client := []string{"-conns", n, "-ports", "20", "-hold", hold, "-reconnect", "-quiet-ramp"}
			return []harness.Arm{
				{Name: "core", Server: []string{"-max-conns", n, "-ports", "20"}, ClientNice: 10,
					Client: append(client, "-interval", "60s"), Note: "keepalives every 60 s, every echo verified"},
				{Name: "holder", ServerBin: "c1m-holder", Server: []string{"-max-conns", n, "-ports", "20"}, ClientNice: 10,
					Client: append(client, "-interval", "24h", "-silent"), Note: "idle: the client sends nothing (-silent) and the holder never reads"},
			}
		},
		// Three at full scale: bytes per connection are a headline number.
		Repeats: harness.FullRepeats(3),
		Feeds:   []string{schema.FeedCapacity},
		// A deep accept queue so a fast ramp is queued, not dropped; TCP
		// memory (pages) past the default limit, which 1M keepalive
		// connections exceed here (tcp_mem max 575,796 pages: drops, then
		// timeouts); no TIME_WAIT, so the second arm need not wait for the first's.
		Sysctls:    harness.MillionSysctls(),
		ArmTimeout: 15 * time.Minute,
		Checks: []harness.Check{
			{Metric: "kernel_bytes_per_conn", A: "core", B: "holder", Expect: "a~b", Tolerance: 0.15,
				Claim: "epoll and echo add little kernel memory beyond the sockets themselves"},
		},
		Figures: []harness.Figure{
			{Kind: "series", X: "conns_server", Y: []string{"kernel_bytes_per_conn", "server_user_bytes_per_conn"},
				Stack: []string{"slab_TCP_bytes", "slab_sock_inode_cache_bytes", "slab_dentry_bytes", "slab_filp_bytes",
					"slab_eventpoll_epi_bytes", "slab_kmalloc___bytes"},
				Title: "Memory per connection as N grows"},
			{Kind: "timeline", Y: []string{"conns_server"}, Title: "Connections over time"},
			{Kind: "bars", Metric: "kernel_bytes_per_conn"},
			{Kind: "bars", Metric: "server_user_bytes_per_conn"},
		},
	})
}
