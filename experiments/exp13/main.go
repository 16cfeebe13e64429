// Experiment 13: epoll or io_uring?
package main

import (
	"slices"
	"strconv"
	"time"

	"c1m/harness"
	"c1m/schema"
)

// engines are the factor: each arm's server runs one, sized for 1M. The
// uring engine's other task-run mode (how completions reach its threads)
// and its single-shot receive ride along on the small workloads only.
var engines = []string{"epoll", "uring"}

var engineFlags = map[string][]string{
	"epoll":        {"-engine", "epoll"},
	"uring":        {"-engine", "uring"}, // -uring-taskrun signal, the default
	"uring-defer":  {"-engine", "uring", "-uring-taskrun", "defer"},
	"uring-single": {"-engine", "uring", "-uring-recv", "single"},
	// The periodic look into every ring whatever its eventfd said, once
	// the default: off since a 2026-12-07 A/B (0 keepalives unanswered
	// without it, at 20k and at 1M). The arm keeps measuring it.
	"uring-look": {"-engine", "uring", "-uring-look", "50ms"},
}

// Full-scale workloads; the checks name arms by them.
const (
	million  = 1_000_000
	keepConn = 20_000
	echoConn = 1_000
)

// intervals are the keepalive periods tried at 1M: 16,667, 33,333 and
// 66,667 keepalives a second. Experiment 8 answered 60 s in full on epoll
// and 30 s at 49%.
var intervals = []time.Duration{60 * time.Second, 30 * time.Second, 15 * time.Second}

func arms(s harness.Scale) []harness.Arm {
	big, keep, echo := s.Pick(million, 6_000), s.Pick(keepConn, 2_000), s.Pick(echoConn, 500)
	ivs, hold := intervals, 90*time.Second
	if s.Quick {
		ivs, hold = []time.Duration{2 * time.Second}, 4*time.Second
	}
	sized := strconv.Itoa(s.Pick(million, 30_000)) // both engines sized for 1M: 51 fd tables or 51 rings
	server := func(engine string) []string {
		return append(append([]string(nil), engineFlags[engine]...), "-max-conns", sized, "-ports", "20")
	}
	var out []harness.Arm
	add := func(name, workload string, params map[string]float64, client []string, note string, engines ...string) {
		for _, e := range engines { // interleaved: the engines of a workload run back to back
			a := harness.Arm{Name: e + "." + name, Server: server(e), Client: client, ClientNice: 10, Params: params, Note: note}
			if workload != "" { // the summary's engines at a million read these: three runs each
				a.Role = harness.Role{Engine: e, Workload: workload}
				a.Repeats = s.Pick(3, 1)
			}
			out = append(out, a)
		}
	}
	small := append(append([]string(nil), engines...), "uring-defer", "uring-single", "uring-look")
	n := strconv.Itoa(echo)
	add("echo-"+harness.CountName(echo), "", nil, []string{"-conns", n, "-ports", "20", "-hold", "10s", "-interval", "0", "-depth", "1", "-size", "16"},
		"saturating 16 B echo: the most messages a second either engine answers", small...)
	n = strconv.Itoa(keep)
	add("keepalive-"+harness.CountName(keep), "", map[string]float64{"interval_s": 1}, []string{"-conns", n, "-ports", "20", "-interval", "1s", "-hold", "20s", "-quiet-ramp"},
		"20,000 keepalives a second on 20,000 connections", small...)
	n = strconv.Itoa(big)
	for _, iv := range ivs {
		// Unthrottled connects: the ramp is as fast as the server takes
		// them (its time to 1M is a metric); quiet, so the hold measures
		// the steady state.
		add("hold-"+harness.CountName(big)+"-"+iv.String(), schema.WorkloadHold, map[string]float64{"interval_s": iv.Seconds()},
			[]string{"-conns", n, "-ports", "20", "-interval", iv.String(), "-hold", hold.String(), "-quiet-ramp", "-reconnect"},
			"1M connections, unthrottled quiet ramp, then a keepalive every "+iv.String(), engines...)
	}
	// The look arm at 1M, at the rate everything answers: does anything
	// wait for the look (unanswered_at_close, timeouts), and what does it cost?
	iv := ivs[0]
	add("hold-"+harness.CountName(big)+"-"+iv.String(), "", map[string]float64{"interval_s": iv.Seconds()},
		[]string{"-conns", n, "-ports", "20", "-interval", iv.String(), "-hold", hold.String(), "-quiet-ramp", "-reconnect"},
		"as uring's hold, with the 50 ms look into every ring", "uring-look")
	return out
}

// hold1M names a full-scale hold arm of engine with a keepalive every iv.
func hold1M(engine, iv string) string { return engine + ".hold-1M-" + iv }

// uringAgainstEpoll claims how uring compares with epoll holding 1M with a
// keepalive every 60 s.
func uringAgainstEpoll(metric, expect string, tolerance float64, claim string) harness.Check {
	return harness.Check{Metric: metric, A: hold1M("uring", "1m0s"), B: hold1M("epoll", "1m0s"), Expect: expect, Tolerance: tolerance, Claim: claim}
}

func main() {
	harness.Main(harness.KeepaliveAtMillion(harness.Experiment{
		Number: 13,
		Title:  "epoll or io_uring?",
		Question: "Past the 20,000-fd cap the epoll engine needs one thread per fd table: 51 loop threads at 1M, and every keepalive " +
			"wakes one of them. io_uring rings keep their sockets in registered-file tables, up to RLIMIT_NOFILE per ring, so one " +
			"process with one thread per CPU can drive 51 rings. Does that make a message cheaper at a million, and what does it cost?",
		Hypothesis: "Stated before the run. The uring engine holds 1M in one process on 2 loop threads with about a hundred ordinary " +
			"fds (epoll: 51 loop threads, and the million sockets as fds in 51 private tables); it ramps to 1M at least as fast " +
			"(an accept puts the socket straight into a ring's table: no SCM_RIGHTS hop); it costs more kernel memory per " +
			"connection (each holds an armed multishot receive, a few hundred bytes) and about the same user memory; it spends " +
			"less server CPU and fewer system calls per echo at 20k and at 1M (one eventfd wake-up serves every ring of a thread, " +
			"and one io_uring_enter submits many sends), so it answers a higher keepalive rate in full at 1M; at 1k saturating " +
			"connections, where epoll already harvests many events per wake-up, the two are within 15%; a multishot receive costs " +
			"no more CPU per keepalive than a receive request armed again for each message.",
		Factor: "-engine epoll|uring, both sized for 1M (-max-conns 1000000: 51 fd tables with a thread each, or 51 rings on one " +
			"thread per CPU). Arms are ENGINE.WORKLOAD: echo-1k (saturating 16 B), keepalive-20k (1 s interval), and hold-1M-T " +
			"(1M connections with an unthrottled quiet ramp, then a keepalive every T = 60 s, 30 s, 15 s for 90 s). The uring " +
			"engine runs -uring-taskrun signal (the kernel interrupts the ring's thread to post completions); uring-defer " +
			"(IORING_SETUP_DEFER_TASKRUN: they wait for the thread's next io_uring_enter) and uring-single (-uring-recv single: a " +
			"receive request per message instead of one multishot request per connection) run the two small workloads only. The epoll and uring hold-1M arms run three times (the summary quotes their medians), the others once.",
		Metrics: slices.Concat(
			harness.Metrics("established", "conns", "server_ramp_s", "accept_rate", "server_threads", "server_fds",
				"server_user_bytes_per_conn", "server_bytes_per_conn", "kernel_bytes_per_conn"),
			harness.KeepaliveMetrics(),
			harness.Metrics("server_cpu_us_per_msg", "host_cpu_us_per_msg", "syscalls_per_msg", "server_ctxt_per_msg", "host_busy_cores",
				"rtt_p50_us", "rtt_p99_us", "rtt_p999_us", "timeouts", "unanswered_at_close", "mismatched")),
		Arms:       arms,
		Feeds:      []string{schema.FeedEnginesAtMillion},
		ArmTimeout: 12 * time.Minute,
		Checks: []harness.Check{
			uringAgainstEpoll("server_threads", "a<=b", 0, "io_uring holds 1M with fewer threads"),
			uringAgainstEpoll("server_ramp_s", "a<=b", 0.10, "io_uring fills 1M no slower (accepts straight into a ring's table)"),
			uringAgainstEpoll("kernel_bytes_per_conn", "a>=b", 0, "io_uring costs more kernel memory per connection (an armed multishot receive each)"),
			uringAgainstEpoll("server_user_bytes_per_conn", "a~b", 0.5, "user memory per connection is about the same"),
			{Metric: "server_cpu_us_per_msg", A: "uring.keepalive-20k", B: "epoll.keepalive-20k", Expect: "a<=b", Tolerance: 0.05,
				Claim: "at 20k keepalives a second, io_uring costs the server less CPU per echo"},
			uringAgainstEpoll("server_cpu_us_per_msg", "a<=b", 0.05, "at 1M, io_uring costs the server less CPU per echo"),
			uringAgainstEpoll("syscalls_per_msg", "a<=b", 0, "at 1M, io_uring makes fewer system calls per echo"),
			{Metric: "echo_share", A: hold1M("uring", "15s"), B: hold1M("epoll", "15s"), Expect: "a>=b", Tolerance: 0.02,
				Claim: "at 1M and the fastest keepalives, io_uring answers a larger share"},
			{Metric: "echo_per_sec", A: "uring.echo-1k", B: "epoll.echo-1k", Expect: "a~b", Tolerance: 0.15,
				Claim: "at 1k saturating connections the two engines echo within 15% of each other"},
			{Metric: "server_cpu_us_per_msg", A: "uring-defer.echo-1k", B: "uring.echo-1k", Expect: "a<=b", Tolerance: 0.05,
				Claim: "deferred task-run costs no more CPU per echo than signalled (no interrupt per batch of completions)"},
			{Metric: "server_cpu_us_per_msg", A: "uring.keepalive-20k", B: "uring-single.keepalive-20k", Expect: "a<=b", Tolerance: 0.05,
				Claim: "a multishot receive costs no more CPU per keepalive than a receive request armed per message"},
		},
		Figures: []harness.Figure{
			{Kind: "ratios", Baseline: "epoll", Y: []string{"server_ramp_s", "server_threads", "server_user_bytes_per_conn", "kernel_bytes_per_conn",
				"echo_share", "server_cpu_us_per_msg", "host_cpu_us_per_msg", "syscalls_per_msg", "server_ctxt_per_msg", "rtt_p99_us"}},
			{Kind: "bars", Metric: "echo_share"},
			{Kind: "bars", Metric: "server_cpu_us_per_msg"},
			{Kind: "bars", Metric: "host_cpu_us_per_msg"},
			{Kind: "bars", Metric: "rtt_p99_us"},
			{Kind: "timeline", Y: []string{"conns_server"}, Title: "Connections the server holds over time"},
		},
	}))
}
