// Experiment 9: the core against what a Go engineer would pick instead.
package main

import (
	"fmt"
	"runtime"
	"strconv"
	"time"

	"c1m/harness"
)

// peers are the other servers, each bin/c1m-peer-NAME (see peer/ and NAME/).
var peers = []string{"netgo", "gnet", "nbio"}

// Full-scale sizes. The checks name arms at these sizes, so at quick
// scale (smaller sizes, other names) they are reported as not measured.
const (
	idleSmall, idleLarge = 10_000, 100_000
	echoFew, echoMany    = 1_000, 10_000
	hold                 = 15 * time.Second // idle hold once ramped: samples at the peak
	echoHold             = 10 * time.Second
	ports                = 4
)

var sizes = []int{16, 1024}

func sizeName(b int) string {
	if b >= 1024 && b%1024 == 0 {
		return strconv.Itoa(b/1024) + "KiB"
	}
	return strconv.Itoa(b) + "B"
}

func idleWorkload(n int) string       { return "idle-" + harness.CountName(n) }
func echoWorkload(n, size int) string { return "echo-" + harness.CountName(n) + "-" + sizeName(size) }

// coreFlags are the core's best settings from experiments 2-5.
func coreFlags() []string {
	return []string{"-dispatch", "direct", "-workers", strconv.Itoa(2 * runtime.NumCPU())}
}

const coreNote = "best settings of experiments 2-5: -dispatch direct (exp 2: same echo rate and CPU as pipe, " +
	"registers a connection in 2 µs instead of 1 ms), 2×NumCPU workers (exp 3: 15-20% more echoes and the lowest " +
	"CPU per message), edge-triggered (exp 4: no difference), default buffers (exp 5: 64 KiB only helps 16 KiB messages); " +
	"past one fd table the default strategy"

var peerNotes = map[string]string{
	"netgo": "Go's net package: a goroutine per connection, 4 KiB read buffer; several processes (SO_REUSEPORT) past one fd table",
	"gnet":  "gnet v2 multicore (an event loop per CPU), echo in OnTraffic; several processes (WithReusePort) past one fd table",
	"nbio":  "nbio engine, a poller per CPU (its default is NumCPU/4), echo in OnData; several processes (SO_REUSEPORT listener) past one fd table",
}

type workload struct {
	name   string
	conns  int
	client []string
}

func workloads(s harness.Scale) []workload {
	var ws []workload
	idle := []int{idleSmall, idleLarge}
	echo := []int{echoFew, echoMany}
	idleHold, eHold := hold, echoHold
	if s.Quick {
		idle, echo, idleHold, eHold = []int{300}, []int{100}, 2*time.Second, 2*time.Second
	}
	for _, n := range idle {
		ws = append(ws, workload{idleWorkload(n), n, []string{"-conns", strconv.Itoa(n), "-ports", strconv.Itoa(ports),
			"-interval", "60s", "-hold", idleHold.String(), "-reconnect"}})
	}
	for _, n := range echo {
		for _, size := range sizes {
			ws = append(ws, workload{echoWorkload(n, size), n, []string{"-conns", strconv.Itoa(n), "-ports", strconv.Itoa(ports),
				"-interval", "0", "-depth", "1", "-size", strconv.Itoa(size), "-hold", eHold.String()}})
		}
	}
	return ws
}

// arms runs every server under each workload, the servers interleaved
// within a workload so each comparison is made minutes apart at most.
func arms(s harness.Scale) []harness.Arm {
	var out []harness.Arm
	for _, w := range workloads(s) {
		server := []string{"-max-conns", strconv.Itoa(w.conns), "-ports", strconv.Itoa(ports)}
		out = append(out, harness.Arm{Name: "core." + w.name, Server: append(server, coreFlags()...),
			Client: w.client, ClientNice: 10, Note: coreNote})
		for _, p := range peers {
			out = append(out, harness.Arm{Name: p + "." + w.name, ServerBin: "c1m-peer-" + p, Server: server,
				Client: w.client, ClientNice: 10, Note: peerNotes[p]})
		}
	}
	return out
}

// checks state the goals for the core against every peer: the
// fewest user bytes per idle connection, and at least as many messages per
// CPU-second (no more CPU per message) under saturating echo.
func checks() []harness.Check {
	var out []harness.Check
	for _, p := range peers {
		for _, n := range []int{idleSmall, idleLarge} {
			w := idleWorkload(n)
			out = append(out, harness.Check{Metric: "server_user_bytes_per_conn", A: "core." + w, B: p + "." + w,
				Expect: "a<=b", Tolerance: 0.05,
				Claim: fmt.Sprintf("the core holds an idle connection in fewer user-space bytes than %s (%s connections)", p, harness.CountName(n))})
		}
	}
	for _, p := range peers {
		for _, n := range []int{echoFew, echoMany} {
			for _, size := range sizes {
				w := echoWorkload(n, size)
				out = append(out, harness.Check{Metric: "server_cpu_us_per_msg", A: "core." + w, B: p + "." + w,
					Expect: "a<=b", Tolerance: 0.05,
					Claim: fmt.Sprintf("the core echoes at least as many messages per CPU-second as %s (%s connections, %s)", p, harness.CountName(n), sizeName(size))})
			}
		}
	}
	return out
}

func main() {
	harness.Main(harness.Experiment{
		Number: 9,
		Title:  "Peers: the core against Go's net, gnet and nbio",
		Question: "Why not just use Go's net package, or gnet, or nbio? What does each cost per idle connection in user and kernel " +
			"memory, and per echoed message in server CPU, against the core with its best settings, driven by the same client?",
		Hypothesis: "The core holds an idle connection in the fewest user-space bytes (one byte of state, no per-connection buffer " +
			"or goroutine; net pays a goroutine stack and a buffer each, gnet and nbio a connection object each) and echoes at least " +
			"as many messages per CPU-second as the best peer; kernel bytes per connection are the same for all (the same sockets). " +
			"1M connections are left out here to keep the run short: experiment 14 runs the same servers at 1M.",
		Factor: "the server: the core (bin/c1m-server) or a peer (bin/c1m-peer-netgo, -gnet, -nbio); arms are SERVER.WORKLOAD, " +
			"workloads idle (keepalive every 60 s) at 10k and 100k connections, saturating echo (-interval 0 -depth 1) at 1k and 10k " +
			"connections with 16 B and 1 KiB messages; the client is niced (10) to stand in for remote machines",
		Metrics: harness.Metrics("conns", "established", "server_user_bytes_per_conn", "kernel_bytes_per_conn",
			"echo_per_sec", "server_cpu_us_per_msg", "rtt_p50_us", "rtt_p99_us", "rtt_p999_us", "connect_rate",
			"mismatched", "timeouts"),
		Arms:    arms,
		Repeats: harness.FullRepeats(2),
		// A deep accept queue for the 100k ramp. And no TIME_WAIT: the harness waits for the previous
		// run's TIME_WAIT sockets to go (60 s) before each arm, which after each of the 24 arms
		// would add 24 minutes a repeat; what is measured is held connections, not closed ones.
		Sysctls: map[string]string{"net.core.somaxconn": "65535", "net.ipv4.tcp_max_syn_backlog": "65535",
			"net.ipv4.tcp_max_tw_buckets": "0"},
		Checks: checks(),
		Figures: []harness.Figure{
			{Kind: "ratios", Baseline: "core", Y: []string{"server_user_bytes_per_conn", "kernel_bytes_per_conn",
				"server_cpu_us_per_msg", "echo_per_sec", "rtt_p50_us", "rtt_p99_us", "rtt_p999_us"}},
		},
	})
}
