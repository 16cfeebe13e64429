package analysis

// The summary's "At 1,000,000 connections": the core and its peers side by
// side at a million, from the experiment that feeds "peers-at-million" (its
// arms declare their server and workload). An arm that did not reach the
// million keeps its row, and a line says what stopped it (shortfall.go).

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"c1m/numfmt"
	"c1m/schema"
)

// heldInFull is the share of the client's connections the server must
// hold for an arm to count as having reached them all.
const heldInFull = 0.99

// peersView is the summary's table of the servers at a million, the lines
// under it, and the experiment's figure of ratios to the core.
type peersView struct {
	Table  table
	Lines  []string
	Figure *figureView
}

// peerArms are one server's idle and keepalive arms ("" when absent).
type peerArms struct {
	server, idle, keep string
}

func peersAtMillion(exps []Experiment, views []experimentView) peersView {
	const what = "The core, gnet, nbio and Go's net side by side at 1,000,000 connections"
	e := feeder(exps, schema.FeedPeersAtMillion)
	if e == nil {
		return peersView{Lines: []string{notMeasured(what, schema.FeedPeersAtMillion)}}
	}
	servers := peerServers(e)
	if len(servers) == 0 {
		return peersView{Lines: []string{fmt.Sprintf("%s: experiment %d has no idle or keepalive arm.", what, e.Meta.Number)}}
	}
	var v peersView
	idleIv, keepIv := intervalOf(e, servers, false), intervalOf(e, servers, true)
	both := "(" + idleIv + " / " + keepIv + ")"
	v.Table.Header = []string{"server", "held " + both, "time to hold all", "user memory / conn: filled → end of hold", "kernel memory / conn (both ends of each loopback connection)",
		"server CPU / keepalive", "machine CPU / keepalive", "answered " + both, "RTT p50 / p99 / p999 (" + keepIv + ")", "mismatched / timed out"}
	for _, s := range servers {
		v.Table.Rows = append(v.Table.Rows, peerRow(e, s))
	}
	h := heading(e)
	v.Lines = append(v.Lines, fmt.Sprintf("From [%s](#%s), %s: memory from the idle "+
		"arms (a keepalive every %s), CPU and round trips from the keepalive arms (every %s); the time to hold all is the median over "+
		"both arms' runs [min–max] (n runs), not the faster. Kernel memory is the slab growth ÷ connections, and counts both ends of each "+
		"loopback connection: the client's sockets are on this machine too. User memory is the growth of the PSS "+
		"of every server process from the idle server, per connection: once all are open (the experiment's "+
		"`server_user_bytes_per_conn`; the ramp is quiet, so no keepalive has been read yet) and at the hold's last sample "+
		"(`server_user_bytes_per_conn_hold`), when "+
		"every connection has read some (buffers a server keeps per connection are touched by then). Server CPU is every "+
		"process of the server; machine CPU is everything on this machine (the client included), both per keepalive answered "+
		"during the hold.", h, anchor(h), plural(e.Meta.Repeats, "repeat"), idleIv, keepIv))
	for _, c := range []struct{ metric, label string }{
		{"server_user_bytes_per_conn_hold", "user memory per idle connection at the end of the hold"},
		{"server_cpu_us_per_msg", "server CPU per keepalive"},
	} {
		if line := cheapest(e, servers, c.metric, c.label); line != "" {
			v.Lines = append(v.Lines, line)
		}
	}
	for _, s := range servers {
		for _, arm := range []string{s.idle, s.keep} {
			if arm != "" {
				if line := shortfall(e, arm); line != "" {
					v.Lines = append(v.Lines, line)
				}
			}
		}
	}
	v.Figure = ratiosFigure(views, h)
	return v
}

// intervalOf is the keepalive period of the idle (or keepalive) arms, as text.
func intervalOf(e *Experiment, servers []peerArms, keep bool) string {
	for _, s := range servers {
		arm := s.idle
		if keep {
			arm = s.keep
		}
		if iv, ok := e.Metric("interval_s", arm); ok && arm != "" {
			return IntervalText(time.Duration(iv.Median * float64(time.Second)))
		}
	}
	return "–"
}

// peerServers lists the servers of e in arm order, each with the first
// arm its role declares idle and the first it declares keepalive.
func peerServers(e *Experiment) []peerArms {
	var out []peerArms
	for _, arm := range e.ArmNames() {
		role := e.ArmRole(arm)
		if role.Server == "" {
			continue
		}
		i := slices.IndexFunc(out, func(p peerArms) bool { return p.server == role.Server })
		if i < 0 {
			out = append(out, peerArms{server: role.Server})
			i = len(out) - 1
		}
		switch {
		case role.Workload == schema.WorkloadIdle && out[i].idle == "":
			out[i].idle = arm
		case role.Workload == schema.WorkloadKeepalive && out[i].keep == "":
			out[i].keep = arm
		}
	}
	return slices.DeleteFunc(out, func(p peerArms) bool { return p.idle == "" && p.keep == "" })
}

func peerRow(e *Experiment, s peerArms) []string {
	cell := func(arm, metric, unit string) string {
		if arm == "" {
			return "–"
		}
		sp, ok := e.Metric(metric, arm)
		if !ok {
			return "–"
		}
		return FormatQuantity(sp.Median, unit)
	}
	held := func(arm string) string {
		c := cell(arm, "conns", "")
		if arm != "" && c != "–" && !reachedAll(e, arm) {
			c += " (short)"
		}
		return c
	}
	share := func(arm string) string {
		if sp, ok := e.Metric("echo_share", arm); ok && arm != "" {
			return strconv.FormatFloat(100*sp.Median, 'f', 1, 64) + "%"
		}
		return "–"
	}
	errs := func(metric string) string {
		total, any := 0.0, false
		for _, arm := range []string{s.idle, s.keep} {
			if sp, ok := e.Metric(metric, arm); ok && arm != "" {
				total, any = total+sp.Median, true
			}
		}
		if !any {
			return "–"
		}
		return numfmt.Number(total)
	}
	ramp := "–"
	if sp, ok := pooled(e, "server_ramp_s", nonEmpty(s.idle, s.keep)); ok {
		ramp = formatPooled(sp, "s") // both arms fill the same server: their median, not the faster
	}
	return []string{"**" + s.server + "**",
		held(s.idle) + " / " + held(s.keep),
		ramp,
		cell(s.idle, "server_user_bytes_per_conn", "B") + " → " + cell(s.idle, "server_user_bytes_per_conn_hold", "B"),
		cell(s.idle, "kernel_bytes_per_conn", "B"),
		cell(s.keep, "server_cpu_us_per_msg", "µs"),
		cell(s.keep, "host_cpu_us_per_msg", "µs"),
		share(s.idle) + " / " + share(s.keep),
		cell(s.keep, "rtt_p50_us", "µs") + " / " + cell(s.keep, "rtt_p99_us", "µs") + " / " + cell(s.keep, "rtt_p999_us", "µs"),
		errs("mismatched") + " / " + errs("timeouts"),
	}
}

// target is the connections an arm's client was asked for (its -conns).
func target(e *Experiment, arm string) float64 {
	for _, a := range e.Meta.Arms {
		if a.Name != arm {
			continue
		}
		if i := slices.Index(a.ClientFlags, "-conns"); i >= 0 && i+1 < len(a.ClientFlags) {
			if n, err := strconv.ParseFloat(a.ClientFlags[i+1], 64); err == nil {
				return n
			}
		}
	}
	return 1e6
}

// reachedAll says whether the server held (nearly) every connection asked for.
func reachedAll(e *Experiment, arm string) bool {
	c, ok := e.Metric("conns", arm)
	return ok && c.Median >= heldInFull*target(e, arm)
}

// cheapest names the server with the lowest metric among those that held
// every connection, and how far the next one is.
func cheapest(e *Experiment, servers []peerArms, metric, label string) string {
	type entry struct {
		server string
		value  float64
	}
	var got []entry
	for _, s := range servers {
		arm := s.keep
		if metric == "server_user_bytes_per_conn_hold" {
			arm = s.idle
		}
		if arm == "" || !reachedAll(e, arm) {
			continue
		}
		if sp, ok := e.Metric(metric, arm); ok && sp.Median > 0 {
			got = append(got, entry{s.server, sp.Median})
		}
	}
	if len(got) == 0 {
		return ""
	}
	slices.SortStableFunc(got, func(a, b entry) int { return cmp.Compare(a.value, b.value) })
	unit := unitOf(e, metric)
	s := fmt.Sprintf("Cheapest in %s among the servers that held every connection: **%s** (%s)", label, got[0].server, FormatQuantity(got[0].value, unit))
	if len(got) > 1 {
		s += fmt.Sprintf("; next %s (%s, %s× as much)", got[1].server, FormatQuantity(got[1].value, unit), numfmt.Number(got[1].value/got[0].value))
	}
	return s + "."
}

// ratiosFigure is the first "ratios" figure of the section with heading.
func ratiosFigure(views []experimentView, heading string) *figureView {
	for _, v := range views {
		if v.Heading != heading {
			continue
		}
		for i := range v.Figures {
			if v.Figures[i].Kind == "ratios" {
				return &v.Figures[i]
			}
		}
	}
	return nil
}
