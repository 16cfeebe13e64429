// Experiment 11: does a message cost more when a million sockets are open?
package main

import (
	"flag"
	"slices"
	"strconv"
	"time"

	"c1m/harness"
)

// The message rate every arm offers: connections ÷ keepalive interval. At
// 1M the machine saturated at ~16,600 echoes/s in experiment 8, so 10,000/s
// is answered in full at every N and leaves the cost per echo to measure.
const (
	fullRate  = 10_000.0
	quickRate = 2_000.0
)

// clientProcsAt1M is what the client splits 1M connections over under
// RLIMIT_NOFILE 20,000 here (experiment 8's client ran 51).
const clientProcsAt1M = "51"

// family is one line of the curve: how the server and the client are
// sized at a given N. The server flags are a plain list, so another engine
// is one more entry.
type family struct {
	name   string
	server func(n string) []string
	client []string // flags added to the workload's
	note   string
	full   []int // N at full scale (nil: every N)
}

// families are the lines of the curve; uring adds the io_uring engine's
// (flag -uring: the committed run was made without it).
func families(uring bool) []family {
	fams := []family{
		{name: "sized", server: func(n string) []string { return []string{"-max-conns", n, "-ports", "20"} },
			note: "server sized to N (fd tables, so loops, grow with N: 2 at 20k, 51 at 1M); client processes as RLIMIT_NOFILE requires"},
		{name: "for1m", server: func(string) []string { return []string{"-max-conns", "1000000", "-ports", "20"} },
			client: []string{"-procs", clientProcsAt1M},
			note:   "both sides sized for 1M at every N: 51 server loops, 51 client processes; only the open sockets change"},
		// Which side's threads cost: the server sized for 1M, the client as at N.
		{name: "srv1m", server: func(string) []string { return []string{"-max-conns", "1000000", "-ports", "20"} },
			note: "server sized for 1M (51 loops), client processes as RLIMIT_NOFILE requires", full: []int{20_000, 200_000}},
	}
	if uring {
		fams = append(fams, family{name: "uring", server: func(string) []string { return []string{"-engine", "uring", "-max-conns", "1000000", "-ports", "20"} },
			client: []string{"-procs", clientProcsAt1M},
			note:   "the io_uring engine (one process, few threads) sized for 1M; client as for1m"})
	}
	return fams
}

func arms(s harness.Scale, uring bool) []harness.Arm {
	ns := []int{20_000, 100_000, 200_000, 500_000, 1_000_000}
	rate, minHold := fullRate, 20*time.Second
	connectRate := "6000" // as experiment 8: below the rate the server accepts, so keepalives never wait in accept queues
	if s.Quick {
		ns, rate, minHold, connectRate = []int{1_000, 3_000}, quickRate, 3*time.Second, "0"
	}
	// N outside, families inside: the arms compared at one N run close in time.
	var out []harness.Arm
	fams := families(uring)
	for i, n := range ns {
		for _, f := range fams {
			if !s.Quick && f.full != nil && !slices.Contains(f.full, n) || s.Quick && f.full != nil && i > 0 {
				continue
			}
			interval := time.Duration(float64(n) / rate * float64(time.Second))
			hold := max(2*interval, minHold) // every connection sends at least twice in the hold
			conns := strconv.Itoa(n)
			out = append(out, harness.Arm{Name: f.name + "." + harness.CountName(n), ClientNice: 10,
				Server: f.server(conns),
				Client: append([]string{"-conns", conns, "-ports", "20", "-interval", interval.String(), "-hold", hold.String(),
					"-quiet-ramp", "-rate", connectRate, "-reconnect"}, f.client...),
				Params: map[string]float64{"conns_target": float64(n), "interval_s": interval.Seconds(), "rate_target": rate},
				Note:   f.note})
		}
	}
	return out
}

// sameAt1MAsAt20k claims metric is at 1M what it is at 20k, within
// tolerance, with both sides sized for 1M (family for1m).
func sameAt1MAsAt20k(metric string, tolerance float64, claim string) harness.Check {
	return harness.Check{Metric: metric, A: "for1m.1M", B: "for1m.20k", Expect: "a~b", Tolerance: tolerance, Claim: claim}
}

// costsAt1MAsAt20k claims a message's CPU (metric) costs who at 1M what it
// costs at 20k, within 25%.
func costsAt1MAsAt20k(metric, who string) harness.Check {
	return sameAt1MAsAt20k(metric, 0.25, "with the threads fixed, a message at 1M costs "+who+" what it costs at 20k (within 25%)")
}

// perEcho are the costs the curve figures and table give against N.
var perEcho = []string{"server_cpu_us_per_msg", "client_cpu_us_per_msg", "host_cpu_us_per_msg", "host_softirq_us_per_msg", "rest_cpu_us_per_msg"}

func main() {
	var uring bool
	harness.Main(harness.Experiment{
		Number: 11,
		Title:  "Does a message cost more when a million sockets are open?",
		Question: "At one fixed message rate, does an echo cost the server, the client and the machine more CPU, context switches " +
			"or TCP segments when more connections are open (N = 20k to 1M)? And how much of a rise in server CPU per echo with N " +
			"comes from the open sockets, and how much from the thread counts that -max-conns (server loops, one per fd table) and RLIMIT_NOFILE (client processes) set?",
		Hypothesis: "Stated before the run: the open sockets barely matter; the thread counts do. With both sides sized for 1M at " +
			"every N (family for1m: 51 server loops, 51 client processes), server, client and whole-machine CPU per echo and " +
			"context switches per echo stay within 25% from 20k to 1M, and TCP segments per echo within 10% (the TCP work of a " +
			"message does not depend on how many other sockets exist). Sized to N (family sized), the cost rises with N as loops " +
			"and processes are added: at 20k, 2 loops cost the server less per echo than 51, because a loop that serves 5,000 " +
			"echoes a second harvests several per wake-up while one of 51 loops wakes (a context switch, an epoll_wait) for " +
			"nearly every message. The client's process count does not change the server's cost (srv1m against for1m).",
		Factor: "N, the open connections: 20k, 100k, 200k, 500k, 1M, at one message rate (10,000 echoes/s: the keepalive interval " +
			"is N ÷ 10,000/s) with a quiet ramp at 6,000 connects/s and a hold of at least two intervals (20 s at least). Arms are " +
			"FAMILY.N; the family says how the server and client are sized: sized (to N), for1m (both for 1M), srv1m (server for " +
			"1M, client to N; at 20k and 200k only), and, with the flag -uring, uring (the io_uring engine; the reference run leaves " +
			"it out: experiment 13 compares the engines). sized.1M and for1m.1M are " +
			"the same configuration run twice: their difference is the noise. One repeat.",
		Metrics: slices.Concat(
			harness.Metrics("established", "conns"),
			[]harness.Metric{{Name: "conns_target", Help: "connections the arm opens (the factor, N)"}},
			harness.KeepaliveMetrics(),
			harness.Metrics("server_threads", "client_threads", "server_cpu_us_per_msg", "server_user_us_per_msg", "server_sys_us_per_msg",
				"client_cpu_us_per_msg", "client_user_us_per_msg", "client_sys_us_per_msg",
				"host_cpu_us_per_msg", "host_user_us_per_msg", "host_sys_us_per_msg", "host_softirq_us_per_msg"),
			[]harness.Metric{{Name: "rest_cpu_us_per_msg", Unit: "µs", Better: "lower", Help: "host_cpu_us_per_msg − server − client: " +
				"softirqs on otherwise idle CPUs, kernel threads, the harness's sampling, and any other process on the machine"}},
			harness.Metrics("server_ctxt_per_msg", "client_ctxt_per_msg", "host_ctxt_per_msg", "tcp_segs_per_msg", "syscalls_per_msg",
				"host_busy_cores", "rtt_p50_us", "rtt_p99_us", "timeouts", "mismatched")),
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&uring, "uring", false, "add the uring family: the io_uring engine sized for 1M, the client as for1m")
		},
		Arms:    func(s harness.Scale) []harness.Arm { return arms(s, uring) },
		Repeats: harness.Once,
		Derive: func(arm harness.Arm, m map[string]float64) {
			// What the server and client trees do not account for: softirqs on
			// idle CPUs, kernel threads, the harness, and anything else running.
			if host, ok := m["host_cpu_us_per_msg"]; ok {
				if srv, ok := m["server_cpu_us_per_msg"]; ok {
					if cli, ok := m["client_cpu_us_per_msg"]; ok {
						m["rest_cpu_us_per_msg"] = host - srv - cli
					}
				}
			}
			harness.DeriveEchoShare(arm, m)
		},
		// As experiment 8: a deep accept queue, TCP memory for a million
		// keepalive connections, and no TIME_WAIT, so the next arm need
		// not wait a minute for the last one's closed sockets.
		Sysctls:    harness.MillionSysctls(),
		ArmTimeout: 15 * time.Minute,
		Checks: []harness.Check{
			{Metric: "echo_share", A: "for1m.1M", B: "for1m.20k", Expect: "a>=b", Tolerance: 0.02,
				Claim: "the rate is answered in full at 1M as at 20k, so the costs compare like with like"},
			costsAt1MAsAt20k("server_cpu_us_per_msg", "the server"),
			costsAt1MAsAt20k("client_cpu_us_per_msg", "the client"),
			costsAt1MAsAt20k("host_cpu_us_per_msg", "the whole machine"),
			sameAt1MAsAt20k("server_ctxt_per_msg", 0.25, "with the threads fixed, the server switches context as often per message at 1M as at 20k (within 25%)"),
			sameAt1MAsAt20k("tcp_segs_per_msg", 0.10, "TCP sends as many segments per message at 1M as at 20k (within 10%)"),
			{Metric: "server_cpu_us_per_msg", A: "for1m.20k", B: "sized.20k", Expect: "a>=b", Tolerance: 0,
				Claim: "the thread count costs: at 20k, 51 server loops spend more CPU per message than the 2 a sized server runs"},
			{Metric: "server_cpu_us_per_msg", A: "srv1m.20k", B: "for1m.20k", Expect: "a~b", Tolerance: 0.15,
				Claim: "the client's process count does not change the server's cost per message (2 against 51 client processes at 20k)"},
			{Metric: "host_cpu_us_per_msg", A: "sized.1M", B: "for1m.1M", Expect: "a~b", Tolerance: 0.10,
				Claim: "the same configuration run twice at 1M agrees within 10% (the noise floor for the other checks)"},
		},
		Figures: []harness.Figure{
			{Kind: "curve", X: "conns_target", Y: perEcho, Title: "CPU per echo against open connections, at a fixed message rate"},
			{Kind: "curve", X: "conns_target", Y: []string{"server_user_us_per_msg", "server_sys_us_per_msg", "client_user_us_per_msg", "client_sys_us_per_msg"},
				Title: "User and system CPU per echo against open connections"},
			{Kind: "curve", X: "conns_target", Y: []string{"server_ctxt_per_msg", "client_ctxt_per_msg", "host_ctxt_per_msg", "tcp_segs_per_msg"},
				Title: "Context switches and TCP segments per echo against open connections"},
		},
	})
}
