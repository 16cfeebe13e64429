// Experiment 14: the core against its peers at a million connections.
package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"c1m/harness"
	"c1m/schema"
)

// servers are the factor: the core (bin/c1m-server) and experiment 9's
// peers (bin/c1m-peer-NAME), in the order each workload runs them.
var servers = []string{"core", "gnet", "nbio", "netgo"}

var peers = servers[1:]

// Full-scale sizes; the checks name arms by them, so at quick scale
// (other names) they are reported as not measured.
const (
	million = 1_000_000
	ports   = 20
)

// workload is a keepalive period every connection keeps: idle (every
// 60 s) and keepalive (every 30 s, which experiment 13's epoll server
// answered in full at 1M). Its role is what the summary reads it for.
type workload struct {
	name     string
	role     string
	interval time.Duration
}

var fullWorkloads = []workload{{"idle", schema.WorkloadIdle, 60 * time.Second}, {"keepalive", schema.WorkloadKeepalive, 30 * time.Second}}

// countName is harness.CountName in lower case: the arm names the issue
// asked for (core.idle-1m).
func countName(n int) string { return strings.ToLower(harness.CountName(n)) }

func armName(server, workload string, n int) string {
	return server + "." + workload + "-" + countName(n)
}

var notes = map[string]string{
	"core":  "bin/c1m-server with its defaults: past one fd table the fdtables strategy (one process, a private fd table per loop thread)",
	"gnet":  "gnet v2 multicore, echo in OnTraffic; past one fd table SO_REUSEPORT processes (WithReusePort), about 54 at 1M",
	"nbio":  "nbio engine, a poller per CPU, echo in OnData; past one fd table SO_REUSEPORT processes, about 54 at 1M",
	"netgo": "Go's net package, a goroutine and a 4 KiB buffer per connection; past one fd table SO_REUSEPORT processes, about 54 at 1M",
}

func arms(s harness.Scale) []harness.Arm {
	n := s.Pick(million, 3_000)
	hold := time.Duration(s.Pick(60, 3)) * time.Second
	ws := fullWorkloads
	if s.Quick {
		ws = []workload{{"idle", schema.WorkloadIdle, 2 * time.Second}, {"keepalive", schema.WorkloadKeepalive, time.Second}}
	}
	// At quick scale the servers are still sized past one fd table, so
	// the peers run as several processes and the core as fd tables.
	server := []string{"-max-conns", strconv.Itoa(s.Pick(million, 30_000)), "-ports", strconv.Itoa(ports)}
	var out []harness.Arm
	for _, w := range ws {
		// Unthrottled connects (the server's time to hold them all is a
		// metric) and quiet until all are open, so the hold measures the
		// steady state; -reconnect retries what a full accept queue drops.
		client := []string{"-conns", strconv.Itoa(n), "-ports", strconv.Itoa(ports), "-quiet-ramp",
			"-interval", w.interval.String(), "-hold", hold.String(), "-reconnect"}
		params := map[string]float64{"interval_s": w.interval.Seconds()}
		for _, srv := range servers { // interleaved: the servers of a workload run back to back
			a := harness.Arm{Name: armName(srv, w.name, n), Server: server, Client: client, ClientNice: 10,
				Params: params, Note: notes[srv] + "; a keepalive every " + w.interval.String(),
				Role: harness.Role{Server: srv, Workload: w.role}}
			if srv != "core" {
				a.ServerBin = "c1m-peer-" + srv
			} else {
				a.Repeats = s.Pick(3, 1) // the core's figures are the summary's headline numbers
			}
			out = append(out, a)
		}
	}
	return out
}

// checks ask which server is cheapest at 1M: the core against each peer in
// user memory per idle connection and in server CPU per answered keepalive.
func checks() []harness.Check {
	var out []harness.Check
	idle, keep := "idle-"+countName(million), "keepalive-"+countName(million)
	for _, p := range peers {
		out = append(out, harness.Check{Metric: "server_user_bytes_per_conn_hold", A: "core." + idle, B: p + "." + idle,
			Expect: "a<=b", Tolerance: 0.05,
			Claim: fmt.Sprintf("at 1M idle connections the core holds one in fewer user-space bytes than %s", p)})
	}
	for _, p := range peers {
		out = append(out, harness.Check{Metric: "server_cpu_us_per_msg", A: "core." + keep, B: p + "." + keep,
			Expect: "a<=b", Tolerance: 0.05,
			Claim: fmt.Sprintf("at 1M connections and a keepalive every 30 s the core answers one in less server CPU than %s", p)})
	}
	return out
}

func main() {
	harness.Main(harness.KeepaliveAtMillion(harness.Experiment{
		Number: 14,
		Title:  "Peers at a million",
		Question: "At the million connections the project is named for, what does each choice cost on one machine: the core, " +
			"gnet, nbio or Go's net package, driven by the same client? How long does each take to hold 1M, how many user and " +
			"kernel bytes does a connection cost, how much CPU does an answered keepalive cost the server and the whole machine, " +
			"and does each answer every keepalive?",
		Hypothesis: "Stated before the run. All four hold 1M (the peers as ~54 SO_REUSEPORT processes, the core as one process " +
			"with 51 fd tables); kernel bytes per connection are the same for all (the same sockets); the core holds an idle " +
			"connection in the fewest user bytes (tens of bytes; gnet and nbio about 500 B, a connection object each; net about " +
			"4 KiB, a goroutine stack and its buffer, as at 100k in experiment 9) and answers a keepalive in the least server CPU; " +
			"Go's net fills 1M slowest.",
		Factor: "the server: the core (bin/c1m-server -max-conns 1000000 -ports 20, its default strategy) or a peer " +
			"(bin/c1m-peer-gnet, -nbio, -netgo with the same flags, each past one fd table as SO_REUSEPORT processes); arms are " +
			"SERVER.WORKLOAD: idle-1m (1M connections, a keepalive every 60 s) and keepalive-1m (every 30 s), each an unthrottled " +
			"quiet ramp then a 60 s hold, the client niced (10) to stand in for remote machines. The core's arms run three times (the summary quotes their medians), the peers' once; an arm that does " +
			"not reach 1M within the arm timeout keeps its row with what it reached.",
		Metrics: slices.Concat(
			harness.Metrics("conns", "established", "server_ramp_s", "accept_rate", "server_user_bytes_per_conn",
				"server_user_bytes_per_conn_hold", "server_bytes_per_conn", "kernel_bytes_per_conn", "server_threads"),
			harness.KeepaliveMetrics(),
			harness.Metrics("server_cpu_us_per_msg", "host_cpu_us_per_msg", "host_busy_cores", "rtt_p50_us", "rtt_p99_us", "rtt_p999_us",
				"mismatched", "timeouts", "unanswered_at_close", "connect_failures")),
		Arms:  arms,
		Feeds: []string{schema.FeedPeersAtMillion},
		// Bounds a server that cannot fill 1M: the quiet before the arm,
		// the start, a ramp of up to about 3 minutes (1M at 5,000/s or
		// faster) and the hold. Then the client is stopped and writes what
		// it reached; the row keeps it.
		ArmTimeout: 5 * time.Minute,
		Checks:     checks(),
		Figures: []harness.Figure{
			{Kind: "ratios", Baseline: "core", Y: []string{"server_ramp_s", "server_user_bytes_per_conn_hold", "server_bytes_per_conn",
				"kernel_bytes_per_conn", "echo_share", "server_cpu_us_per_msg", "host_cpu_us_per_msg", "rtt_p50_us", "rtt_p99_us", "rtt_p999_us"}},
			{Kind: "bars", Metric: "server_user_bytes_per_conn_hold"},
			{Kind: "bars", Metric: "server_cpu_us_per_msg"},
			{Kind: "bars", Metric: "host_cpu_us_per_msg"},
			{Kind: "bars", Metric: "server_ramp_s"},
			{Kind: "bars", Metric: "echo_share"},
			{Kind: "bars", Metric: "rtt_p99_us"},
			{Kind: "timeline", Y: []string{"conns_server"}, Title: "Connections the server holds over time"},
		},
	}))
}
