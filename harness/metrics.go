package harness

// The harness derives the same metrics for every run; an experiment names
// the ones it reports in its Metrics. Row 0 is the machine before the
// server starts, row 1 the idle server, the last row after the client ended.

// StandardMetrics describes every metric deriveMetrics can yield.
var StandardMetrics = map[string]Metric{
	"conns":                           metric("conns", "", "higher", "peak connections the server held"),
	"established":                     metric("established", "", "higher", "connections the client established"),
	"connect_rate":                    metric("connect_rate", "conn/s", "higher", "established ÷ ramp time"),
	"server_ramp_s":                   metric("server_ramp_s", "s", "lower", "from the client's start until the server held 99.9% of the connections the client established (its /stats, sampled each second)"),
	"accept_rate":                     metric("accept_rate", "conn/s", "higher", "established ÷ server_ramp_s: how fast the server took what the client opened"),
	"kernel_bytes_per_conn":           metric("kernel_bytes_per_conn", "B", "lower", "slab growth ÷ connections at the peak (both ends: client and server socket on this machine)"),
	"server_user_bytes_per_conn":      metric("server_user_bytes_per_conn", "B", "lower", "server PSS growth from idle ÷ connections at the peak"),
	"interval_s":                      metric("interval_s", "s", "", "keepalive period of every connection (the arm's Params)"),
	"offered_per_sec":                 metric("offered_per_sec", "msg/s", "", "keepalives a second the connections ask for: established ÷ interval (DeriveEchoShare)"),
	"echo_share":                      metric("echo_share", "", "higher", "echo_per_sec ÷ offered_per_sec: 1 means every keepalive was answered (DeriveEchoShare)"),
	"server_user_bytes_per_conn_hold": metric("server_user_bytes_per_conn_hold", "B", "lower", "server PSS growth from idle ÷ connections at the hold's last sample: what a connection costs once its keepalives have been read (buffers a server allocates on first data show here, not at the peak)"),
	"server_bytes_per_conn":           metric("server_bytes_per_conn", "B", "lower", "server PSS at the peak ÷ connections, runtimes included (all processes)"),
	"client_bytes_per_conn":           metric("client_bytes_per_conn", "B", "lower", "client PSS ÷ connections at the peak (runtime included)"),
	"rtt_p50_us":                      metric("rtt_p50_us", "µs", "lower", "echo round trip once every connection was open, median"),
	"rtt_p99_us":                      metric("rtt_p99_us", "µs", "lower", "echo round trip once every connection was open, 99th percentile"),
	"rtt_p999_us":                     metric("rtt_p999_us", "µs", "lower", "echo round trip once every connection was open, 99.9th percentile"),
	"connect_p50_us":                  metric("connect_p50_us", "µs", "lower", "connect time, median"),
	"connect_p99_us":                  metric("connect_p99_us", "µs", "lower", "connect time, 99th percentile"),
	"echo_per_sec":                    metric("echo_per_sec", "msg/s", "higher", "verified echoes per second of the hold (messages sent once every connection was open)"),
	"mismatched":                      metric("mismatched", "", "lower", "echoes with a wrong byte"),
	"timeouts":                        metric("timeouts", "", "lower", "echoes later than the client's -timeout"),
	"unanswered_at_close":             metric("unanswered_at_close", "", "lower", "keepalives still unanswered when the client closed, after waiting -timeout for them at the end of the hold"),
	"server_cpu_us_per_conn":          metric("server_cpu_us_per_conn", "µs", "lower", "server CPU during the ramp ÷ connections"),
	"server_cpu_us_per_msg":           metric("server_cpu_us_per_msg", "µs", "lower", "server CPU after the ramp ÷ messages it echoed"),
	"syscalls_per_msg":                metric("syscalls_per_msg", "", "lower", "server system calls on the I/O path after the ramp ÷ messages (the server's own count: epoll_wait, accept4, read and write; io_uring_enter and eventfd reads for the uring engine)"),
	"server_fds":                      metric("server_fds", "", "lower", "open fds in the server's shared fd table (/proc/PID/fd) at the end of the hold; the fdtables strategy holds its connections in private tables beside it"),
	"client_cpu_s":                    metric("client_cpu_s", "s", "lower", "client CPU time, whole run"),
	"dispatch_p50_us":                 metric("dispatch_p50_us", "µs", "lower", "accept → registered in a worker, median (server's own histogram)"),
	"dispatch_p99_us":                 metric("dispatch_p99_us", "µs", "lower", "accept → registered in a worker, 99th percentile"),
	"server_cpu_cores":                metric("server_cpu_cores", "cores", "lower", "server CPU seconds per second after the ramp"),
	"client_cpu_cores":                metric("client_cpu_cores", "cores", "lower", "client CPU seconds per second after the ramp"),
	"host_busy_cores":                 metric("host_busy_cores", "cores", "lower", "whole machine's busy CPU per second during the hold (server, client, softirqs, everything); the machine's core count is the ceiling"),
	"host_softirq_cores":              metric("host_softirq_cores", "cores", "lower", "part of host_busy_cores spent in softirqs (loopback TCP receive, timers)"),
	"client_cpu_us_per_msg":           metric("client_cpu_us_per_msg", "µs", "lower", "client CPU after the ramp ÷ messages the server echoed"),
	"server_user_us_per_msg":          metric("server_user_us_per_msg", "µs", "lower", "part of server_cpu_us_per_msg in user space"),
	"server_sys_us_per_msg":           metric("server_sys_us_per_msg", "µs", "lower", "part of server_cpu_us_per_msg in the kernel (system calls, and the TCP work they do)"),
	"client_user_us_per_msg":          metric("client_user_us_per_msg", "µs", "lower", "part of client_cpu_us_per_msg in user space"),
	"client_sys_us_per_msg":           metric("client_sys_us_per_msg", "µs", "lower", "part of client_cpu_us_per_msg in the kernel"),
	"host_cpu_us_per_msg":             metric("host_cpu_us_per_msg", "µs", "lower", "whole machine's busy CPU during the hold ÷ messages the server echoed (server, client, softirqs, the harness, everything)"),
	"host_user_us_per_msg":            metric("host_user_us_per_msg", "µs", "lower", "part of host_cpu_us_per_msg in user space (user + nice)"),
	"host_sys_us_per_msg":             metric("host_sys_us_per_msg", "µs", "lower", "part of host_cpu_us_per_msg in the kernel on behalf of a process (system time)"),
	"host_softirq_us_per_msg":         metric("host_softirq_us_per_msg", "µs", "lower", "part of host_cpu_us_per_msg in softirqs (loopback TCP receive, timers) charged to no process"),
	"server_ctxt_per_msg":             metric("server_ctxt_per_msg", "", "lower", "context switches (voluntary + involuntary) of every server thread during the hold ÷ messages echoed"),
	"client_ctxt_per_msg":             metric("client_ctxt_per_msg", "", "lower", "context switches of every client thread (all its processes) during the hold ÷ messages echoed"),
	"host_ctxt_per_msg":               metric("host_ctxt_per_msg", "", "lower", "the whole machine's context switches (/proc/stat ctxt) during the hold ÷ messages echoed"),
	"tcp_segs_per_msg":                metric("tcp_segs_per_msg", "", "lower", "TCP segments sent during the hold, in the server's network namespace (on loopback: both ends) ÷ messages echoed"),
	"server_threads":                  metric("server_threads", "", "lower", "threads of the server (all its processes) at the end of the hold"),
	"client_threads":                  metric("client_threads", "", "lower", "threads of the load client (all its processes) at the end of the hold"),
	"tcp_segs_per_sec":                metric("tcp_segs_per_sec", "seg/s", "lower", "TCP segments sent per second after the ramp, in the server's network namespace (on loopback: both ends)"),
	"tcp_retrans_segs":                metric("tcp_retrans_segs", "", "lower", "TCP segments retransmitted during the run (server's namespace)"),
	"tcp_memory_pressures":            metric("tcp_memory_pressures", "", "lower", "times TCP entered memory pressure (tcp_mem) during the run"),
	"listen_overflows":                metric("listen_overflows", "", "lower", "connections dropped because an accept queue was full during the run"),
	"tcp_tw_at_peak":                  metric("tcp_tw_at_peak", "", "lower", "sockets in TIME_WAIT when the server held the most connections"),
	"predicted_capacity":              metric("predicted_capacity", "", "higher", "connections the client's spread plan predicted would fit"),
	"connect_failures":                metric("connect_failures", "", "lower", "connects that failed, all causes"),
	"eaddrnotavail":                   metric("eaddrnotavail", "", "lower", "connects that failed with EADDRNOTAVAIL (no free ephemeral port for the address pair)"),
}

func metric(name, unit, better, help string) Metric {
	return Metric{Name: name, Unit: unit, Better: better, Help: help}
}

// KeepaliveMetrics are a keepalive workload's standard metrics, in the
// order the experiments report them: the interval (the arm's Params), the
// keepalives a second asked for and answered, and their ratio
// (DeriveEchoShare).
func KeepaliveMetrics() []Metric {
	return Metrics("interval_s", "offered_per_sec", "echo_per_sec", "echo_share")
}

// Metrics returns the standard metrics of the given names, in order.
func Metrics(names ...string) []Metric {
	out := make([]Metric, 0, len(names))
	for _, n := range names {
		m, ok := StandardMetrics[n]
		if !ok {
			panic("harness: no standard metric " + n)
		}
		out = append(out, m)
	}
	return out
}

// annotate adds per-sample bytes per connection (for memory-vs-N curves).
func annotate(rows []Sample) {
	if len(rows) < 2 {
		return
	}
	base, idle := rows[0], rows[1]
	for _, r := range rows[1:] {
		n := r["conns_server"]
		if n < 100 { // too few to divide by: noise
			continue
		}
		if _, ok := r["slab_bytes"]; ok {
			r["kernel_bytes_per_conn"] = (r["slab_bytes"] - base["slab_bytes"]) / n
		}
		if _, ok := r["server_pss"]; ok {
			r["server_user_bytes_per_conn"] = (r["server_pss"] - idle["server_pss"]) / n
		}
	}
}

// deriveMetrics derives a run's metrics from its samples and its client's
// result.
func deriveMetrics(rows []Sample, res clientResult) map[string]float64 {
	m := clientMetrics(res)
	if len(rows) < 3 {
		return m
	}
	runGrowth(m, rows[0], rows[len(rows)-1])
	annotate(rows)
	peak, rampEnd := 1, -1
	for i, r := range rows {
		if r["conns_server"] > rows[peak]["conns_server"] {
			peak = i
		}
	}
	conns := rows[peak]["conns_server"]
	m["conns"] = conns
	if tw, ok := rows[peak]["tcp_tw"]; ok {
		m["tcp_tw_at_peak"] = tw
	}
	if conns <= 0 {
		return m
	}
	for i := 1; i < len(rows); i++ {
		if rows[i]["conns_server"] >= 0.99*conns {
			rampEnd = i
			break
		}
	}
	peakMemory(m, rows[peak], conns)
	if v, ok := rows[len(rows)-2]["srv_dispatch_p50_us"]; ok { // the last sample with the client running
		m["dispatch_p50_us"] = v
		m["dispatch_p99_us"] = rows[len(rows)-2]["srv_dispatch_p99_us"]
	}
	m["server_cpu_us_per_conn"] = (rows[rampEnd]["server_cpu_s"] - rows[1]["server_cpu_s"]) / conns * 1e6
	serverRamp(m, rows, res.Established)
	// The hold: from the ramp's end to the last sample that still had every
	// connection open (the client's close and exit come after; its CPU
	// column falls as its processes end).
	holdEnd := rampEnd
	for i := rampEnd + 1; i < len(rows) && clientRunning(rows[rampEnd], rows[i-1], rows[i]); i++ {
		if rows[i]["conns_server"] >= 0.99*conns {
			holdEnd = i
		}
	}
	if v, ok := rows[holdEnd]["server_user_bytes_per_conn"]; ok {
		m["server_user_bytes_per_conn_hold"] = v
	}
	if holdEnd > rampEnd {
		holdMetrics(m, rows[rampEnd], rows[holdEnd], res)
	}
	return m
}

// clientMetrics are what the client's result alone gives.
func clientMetrics(res clientResult) map[string]float64 {
	m := map[string]float64{
		"established": res.Established, "mismatched": res.Mismatched, "timeouts": res.Timeouts, "unanswered_at_close": res.InFlightClose,
		"connect_p50_us": res.ConnectUs.P50, "connect_p99_us": res.ConnectUs.P99, "client_cpu_s": res.CPUSeconds,
	}
	if res.RttHoldUs.N > 0 { // no echo, no round trip: left empty, not 0
		m["rtt_p50_us"], m["rtt_p99_us"], m["rtt_p999_us"] = res.RttHoldUs.P50, res.RttHoldUs.P99, res.RttHoldUs.P999
	}
	if res.RampSeconds > 0 {
		m["connect_rate"] = res.Established / res.RampSeconds
	}
	if res.Predicted > 0 {
		m["predicted_capacity"] = res.Predicted
	}
	m["connect_failures"], m["eaddrnotavail"] = 0, res.Failed["EADDRNOTAVAIL"]
	for _, n := range res.Failed {
		m["connect_failures"] += n
	}
	// No hold (the ramp never finished): no steady state, left empty.
	if res.HoldSeconds > 0 && res.RttHoldUs.N > 0 {
		m["echo_per_sec"] = res.RttHoldUs.N / res.HoldSeconds
	}
	return m
}

// runGrowth sets the kernel counters' growth over the whole run, from the
// first sample to the last.
func runGrowth(m map[string]float64, first, end Sample) {
	for col, name := range map[string]string{"tcp_retrans_segs": "tcp_retrans_segs", "tcp_memory_pressures": "tcp_memory_pressures",
		"tcp_listen_overflows": "listen_overflows"} {
		if a, ok := first[col]; ok {
			if b, ok := end[col]; ok {
				m[name] = b - a
			}
		}
	}
}

// peakMemory sets the memory per connection at the peak sample, which
// annotate has given its per-connection columns.
func peakMemory(m map[string]float64, peak Sample, conns float64) {
	if v, ok := peak["kernel_bytes_per_conn"]; ok {
		m["kernel_bytes_per_conn"] = v
	}
	if v, ok := peak["server_user_bytes_per_conn"]; ok {
		m["server_user_bytes_per_conn"] = v
	}
	if pss := peak["server_pss"]; pss > 0 {
		m["server_bytes_per_conn"] = pss / conns
	}
	if pss := peak["client_pss"]; pss > 0 {
		m["client_bytes_per_conn"] = pss / conns
	}
}

// holdMetrics sets what the hold cost, from its first sample a (the
// ramp's end) to its last b: CPU and segments a second, per message, and
// the threads and fds at its end.
// clientRunning says whether the client was still whole at sample cur: its
// counters present and not fallen since prev. A client that leaves its
// sockets' close to the kernel (io_uring) exits while the server still holds
// every connection; a sample after that must not end the hold, or the
// client's CPU would count as falling to zero. Runs whose samples carry no
// client counters (from the start of the hold on) are not judged by them.
func clientRunning(start, prev, cur Sample) bool {
	if _, sampled := start["client_cpu_s"]; !sampled {
		return true
	}
	cpu, ok := cur["client_cpu_s"]
	return ok && cpu >= prev["client_cpu_s"] && cur["client_ctxt"] >= prev["client_ctxt"] && cur["client_threads"] >= prev["client_threads"]
}

func holdMetrics(m map[string]float64, a, b Sample, res clientResult) {
	if dt := b["t_s"] - a["t_s"]; dt > 0 {
		m["server_cpu_cores"] = (b["server_cpu_s"] - a["server_cpu_s"]) / dt
		m["client_cpu_cores"] = (b["client_cpu_s"] - a["client_cpu_s"]) / dt
		for col, name := range map[string]string{"tcp_out_segs": "tcp_segs_per_sec", "host_busy_s": "host_busy_cores", "host_softirq_s": "host_softirq_cores"} {
			if _, ok := a[col]; ok {
				m[name] = (b[col] - a[col]) / dt
			}
		}
	}
	if res.Echoed > 0 {
		msgs := (b["srv_bytes_out"] - a["srv_bytes_out"]) / (res.BytesReceived / res.Echoed)
		if msgs > 0 {
			m["client_cpu_us_per_msg"] = (b["client_cpu_s"] - a["client_cpu_s"]) / msgs * 1e6
			m["server_cpu_us_per_msg"] = (b["server_cpu_s"] - a["server_cpu_s"]) / msgs * 1e6
			calls := (b["srv_reads"] + b["srv_writes"] + b["srv_epoll_waits"]) - (a["srv_reads"] + a["srv_writes"] + a["srv_epoll_waits"])
			if _, ok := a["srv_syscalls"]; ok {
				calls = b["srv_syscalls"] - a["srv_syscalls"] // the server's own count, right for either engine
			}
			m["syscalls_per_msg"] = calls / msgs
			perMsg(m, a, b, msgs)
		}
	}
	for _, side := range []string{"server", "client"} {
		if v, ok := b[side+"_threads"]; ok {
			m[side+"_threads"] = v
		}
	}
	if v, ok := b["server_fds"]; ok {
		m["server_fds"] = v
	}
}

// serverRamp sets server_ramp_s and accept_rate: the client starts just
// after row 1 (the idle server); the ramp ends at the first sample whose
// server held 99.9% of what the client established. A sample's time is
// when the server's /stats answered (t_stats_s) where recorded: under a
// ramp that answer can lag the sample's start by seconds.
func serverRamp(m map[string]float64, rows []Sample, established float64) {
	if established <= 0 || len(rows) < 3 {
		return
	}
	at := func(r Sample) float64 {
		if t, ok := r["t_stats_s"]; ok {
			return t
		}
		return r["t_s"]
	}
	for _, r := range rows[2:] {
		if r["conns_server"] >= 0.999*established {
			if d := at(r) - at(rows[1]); d > 0 {
				m["server_ramp_s"] = d
				m["accept_rate"] = established / d
			}
			return
		}
	}
}

// perMsgColumns are the cumulative sample columns divided by the hold's
// messages: metric name → column and scale (1e6: seconds to µs).
var perMsgColumns = map[string]struct {
	col   string
	scale float64
}{
	"server_user_us_per_msg":  {"server_user_s", 1e6},
	"server_sys_us_per_msg":   {"server_sys_s", 1e6},
	"client_user_us_per_msg":  {"client_user_s", 1e6},
	"client_sys_us_per_msg":   {"client_sys_s", 1e6},
	"host_cpu_us_per_msg":     {"host_busy_s", 1e6},
	"host_user_us_per_msg":    {"host_user_s", 1e6},
	"host_sys_us_per_msg":     {"host_sys_s", 1e6},
	"host_softirq_us_per_msg": {"host_softirq_s", 1e6},
	"server_ctxt_per_msg":     {"server_ctxt", 1},
	"client_ctxt_per_msg":     {"client_ctxt", 1},
	"host_ctxt_per_msg":       {"host_ctxt", 1},
	"tcp_segs_per_msg":        {"tcp_out_segs", 1},
}

// perMsg sets each per-message metric whose column both ends of the hold
// (rows a and b) have: its growth over the hold ÷ msgs.
func perMsg(m map[string]float64, a, b Sample, msgs float64) {
	for name, c := range perMsgColumns {
		va, okA := a[c.col]
		vb, okB := b[c.col]
		if okA && okB {
			m[name] = (vb - va) / msgs * c.scale
		}
	}
}
