package analysis

// Question 4 measured: the link-sweep experiment (keepalives over an
// emulated link, compared with the wire model) and the keepalive-cost one
// (what a million connections' keepalives cost in CPU).

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"c1m/numfmt"
	"c1m/schema"
)

// A point of a link sweep broke when the link no longer carried
// its keepalives: fewer than minEchoShare of those sent in the hold were
// answered, or their round trip's p99 passed maxRTTp99 (ten times the
// shaper's 100 ms queue). Drops are not the rule: the shapers count them
// over the whole run, and the ramp's SYN bursts overflow the queue at
// every load.
const (
	minEchoShare = 0.95
	maxRTTp99    = 1e6 // µs
)

// sweepPoint is one arm of the link sweep.
type sweepPoint struct {
	arm                         string
	conns                       float64
	echoShare, dropShare, rtt99 float64
	echoRate                    float64 // verified echoes a second in the hold
	hasRTT                      bool
}

func (p sweepPoint) broke() bool {
	return p.echoShare < minEchoShare || p.hasRTT && p.rtt99 > maxRTTp99
}

func (p sweepPoint) String() string {
	s := fmt.Sprintf("%s connections (echo share %.2f, drops %s over the run", numfmt.Number(p.conns), p.echoShare, formatShare(p.dropShare))
	if p.hasRTT {
		s += ", RTT p99 " + FormatQuantity(p.rtt99, "µs")
	}
	return s + ")"
}

func formatShare(v float64) string {
	if v == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.2g%%", v*100)
}

// sweepKey groups the link sweep's arms: one link, interval and message size.
type sweepKey struct {
	link, interval, payload float64
}

// measuredBreaks compares the link sweep's break points with the model:
// per sweep, the last point that carried its keepalives and the first that
// did not, against the connections the model says fill the link.
func measuredBreaks(exps []Experiment) []string {
	const what = "Measured over an emulated link"
	e := feeder(exps, schema.FeedLinkSweep)
	if e == nil {
		return []string{notMeasured(what, schema.FeedLinkSweep)}
	}
	sweeps := map[sweepKey][]sweepPoint{}
	for _, arm := range e.ArmNames() {
		get := func(name string) (float64, bool) {
			sp, ok := e.Metric(name, arm)
			return sp.Median, ok
		}
		link, ok1 := get("link_bits_per_sec")
		iv, ok2 := get("interval_s")
		conns, ok3 := get("conns_target")
		share, ok4 := get("echo_share")
		if !ok1 || !ok2 || !ok3 || !ok4 {
			continue
		}
		payload, ok := get("payload_bytes")
		if !ok {
			payload = KeepalivePayload
		}
		p := sweepPoint{arm: arm, conns: conns, echoShare: share}
		p.dropShare, _ = get("drop_share")
		p.echoRate, _ = get("echo_per_sec")
		p.rtt99, p.hasRTT = get("rtt_p99_us")
		k := sweepKey{link, iv, payload}
		sweeps[k] = append(sweeps[k], p)
	}
	if len(sweeps) == 0 {
		return []string{"Measured over an emulated link: results/" + filepath.Base(e.Dir) +
			"/summary.csv has no `conns_target` with `link_bits_per_sec`, `interval_s` and `echo_share`.", pointer(e, schema.FeedLinkSweep, what)}
	}
	keys := make([]sweepKey, 0, len(sweeps))
	for k := range sweeps {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b sweepKey) int {
		return cmp.Or(cmp.Compare(a.link, b.link), cmp.Compare(a.payload, b.payload), cmp.Compare(a.interval, b.interval))
	})
	out := []string{fmt.Sprintf("Experiment %d (measured over an emulated link): a point breaks when fewer than %.0f%% of the keepalives sent in its hold are answered, or their round trip's p99 passes %s. (Drops are counted over the whole run: the ramp's SYN bursts overflow the link's queue at every load.)",
		e.Meta.Number, minEchoShare*100, FormatQuantity(maxRTTp99, "µs"))}
	for _, k := range keys {
		points := sweeps[k]
		slices.SortFunc(points, func(a, b sweepPoint) int { return cmp.Compare(a.conns, b.conns) })
		interval := time.Duration(k.interval * float64(time.Second))
		x := BytesPerExchange(int(k.payload), DefaultPureACKs)
		model := math.Floor(x.MaxConns(k.link, interval))
		// The link's capacity in exchanges a second, by the model.
		capacity := k.link / 8 / float64(max(x.ToServer, x.ToClient))
		line := fmt.Sprintf("%s link, %s-byte keepalive every %s: ", FormatQuantity(k.link, "bit/s"), numfmt.Number(k.payload), IntervalText(interval))
		first := slices.IndexFunc(points, sweepPoint.broke)
		switch {
		case first < 0:
			line += fmt.Sprintf("carried every point up to %s; the model predicts the link fills at %s", points[len(points)-1], numfmt.Number(model))
			if model < points[len(points)-1].conns {
				line += " (below what was carried: the model is pessimistic here)"
			}
		case first == 0:
			line += fmt.Sprintf("broke already at the first point, %s; the model predicts %s", points[0], numfmt.Number(model))
		default:
			good, bad := points[first-1], points[first]
			line += fmt.Sprintf("carried %s, broke at %s; the model predicts %s, ", good, bad, numfmt.Number(model))
			switch {
			case model > good.conns && model <= bad.conns:
				line += "inside the measured bracket"
			case model <= good.conns:
				line += fmt.Sprintf("below the measured bracket (the link carried %.2f× the model)", good.conns/model)
			default:
				line += fmt.Sprintf("above the measured bracket (it broke at %.2f× the model)", bad.conns/model)
			}
		}
		if first >= 0 {
			// Saturated, the link carries its capacity: compare with the model's.
			most := slices.MaxFunc(points[first:], func(a, b sweepPoint) int { return cmp.Compare(a.echoRate, b.echoRate) })
			line += fmt.Sprintf("; saturated, it carried %s keepalives/s against the model's capacity of %s/s (%.1f%%)",
				numfmt.Number(math.Round(most.echoRate)), numfmt.Number(math.Round(capacity)), 100*most.echoRate/capacity)
		}
		out = append(out, line+".")
	}
	return append(out, pointer(e, schema.FeedLinkSweep, what))
}

// firstToRunOut answers from the keepalive-cost experiment what a million
// connections run out of first as keepalives get more frequent: per
// interval, the echoes a second asked for and answered, the CPU both ends
// used, and the packets and bytes the model puts on a wire for that rate.
func firstToRunOut(exps []Experiment) []string {
	const what = "What runs out first at a million connections, CPU, packets or bandwidth"
	e := feeder(exps, schema.FeedKeepaliveCost)
	if e == nil {
		return []string{notMeasured(what, schema.FeedKeepaliveCost)}
	}
	x := BytesPerExchange(KeepalivePayload, DefaultPureACKs)
	nic := NICs[0]
	nicPackets := nic.BitsPerSecond / 8 / float64(frameOnWire(0))
	var out []string
	cpuBound, unanswered, nicShare, maxBusy, measured := 0, 0, 0.0, 0.0, 0
	arms := e.ArmNames()
	for _, arm := range arms {
		iv, ok1 := e.Metric("interval_s", arm)
		offered, ok2 := e.Metric("offered_per_sec", arm)
		if !ok1 || !ok2 {
			continue
		}
		echo, ok3 := e.Metric("echo_per_sec", arm)
		if !ok3 {
			est, _ := e.Metric("established", arm)
			out = append(out, fmt.Sprintf("Experiment %d, keepalive every %s: the ramp never finished (%s connections established), so there is no steady state to report.",
				e.Meta.Number, IntervalText(time.Duration(iv.Median*float64(time.Second))), numfmt.Number(est.Median)))
			continue
		}
		measured++
		interval := time.Duration(iv.Median * float64(time.Second))
		var parts []string
		parts = append(parts, fmt.Sprintf("asked for %s keepalives/s, answered %s (%.0f%%)",
			numfmt.Number(offered.Median), numfmt.Number(echo.Median), 100*echo.Median/offered.Median))
		cpus := float64(e.Meta.Env.CPUs)
		srv, okS := e.Metric("server_cpu_cores", arm)
		cli, okC := e.Metric("client_cpu_cores", arm)
		host, okH := e.Metric("host_busy_cores", arm)
		saturated := false
		switch {
		case okH: // the whole machine: the kernel's loopback TCP and timers count too
			cpu := fmt.Sprintf("CPU: the machine busy %.2f of %d cores", host.Median, e.Meta.Env.CPUs)
			if okS && okC {
				cpu += fmt.Sprintf(" (server %.2f, client %.2f", srv.Median, cli.Median)
				if sirq, ok := e.Metric("host_softirq_cores", arm); ok {
					cpu += fmt.Sprintf(", softirqs %.2f", sirq.Median)
				}
				cpu += ")"
			}
			parts = append(parts, cpu)
			saturated = host.Median >= 0.9*cpus
			maxBusy = max(maxBusy, host.Median)
		case okS && okC:
			parts = append(parts, fmt.Sprintf("CPU: server %.2f + client %.2f of %d cores", srv.Median, cli.Median, e.Meta.Env.CPUs))
			saturated = srv.Median+cli.Median >= 0.85*cpus
			maxBusy = max(maxBusy, srv.Median+cli.Median)
		}
		if echo.Median < minEchoShare*offered.Median {
			unanswered++
			if saturated {
				cpuBound++
				parts[len(parts)-1] += " (saturated)"
			}
		}
		if us, ok := e.Metric("server_cpu_us_per_msg", arm); ok {
			parts = append(parts, fmt.Sprintf("%s server CPU per echo", FormatQuantity(us.Median, "µs")))
		}
		if segs, ok := e.Metric("tcp_segs_per_sec", arm); ok {
			parts = append(parts, fmt.Sprintf("%s TCP segments/s on loopback (both ends)", numfmt.Number(segs.Median)))
		}
		// What a wire would carry for the rate answered, busier direction.
		wireBits := echo.Median * float64(x.ToServer) * 8
		nicShare = max(nicShare, wireBits/nic.BitsPerSecond, echo.Median*float64(x.PacketsToServer)/nicPackets)
		parts = append(parts, fmt.Sprintf("on a wire that rate needs %s and %s packets/s (%.1f%% and %.1f%% of %s)",
			FormatQuantity(wireBits, "bit/s"), numfmt.Number(echo.Median*float64(x.PacketsToServer)),
			100*wireBits/nic.BitsPerSecond, 100*echo.Median*float64(x.PacketsToServer)/nicPackets, nic.Name))
		conns := offered.Median * iv.Median
		if est, ok := e.Metric("established", arm); ok {
			conns = est.Median
		}
		out = append(out, fmt.Sprintf("Experiment %d, keepalive every %s at %s connections: %s.", e.Meta.Number, IntervalText(interval),
			numfmt.Number(conns), strings.Join(parts, "; ")))
	}
	if measured == 0 {
		return append(out, fmt.Sprintf("%s: results/%s/summary.csv has no arm with `interval_s`, `offered_per_sec` and `echo_per_sec`.", what, filepath.Base(e.Dir)))
	}
	switch {
	case unanswered > 0 && cpuBound == unanswered:
		out = append(out, fmt.Sprintf("So on this machine the CPU runs out first: in %d of %d intervals the %d cores were saturated before the keepalives were all answered, while the packets and bytes of the answers would fill at most %.1f%% of a %s card.",
			cpuBound, measured, e.Meta.Env.CPUs, 100*nicShare, nic.Name))
	case unanswered > 0:
		out = append(out, fmt.Sprintf("In %d of %d intervals keepalives went unanswered, but the CPU was saturated in only %d of them: there the measured CPU does not explain the limit (look at the arm's samples and server log).",
			unanswered, measured, cpuBound))
	default:
		out = append(out, fmt.Sprintf("Nothing ran out on this machine in these intervals: the CPU was at most %.2f of %d cores busy, and the answers would fill at most %.1f%% of a %s card.",
			maxBusy, e.Meta.Env.CPUs, 100*nicShare, nic.Name))
	}
	return append(out, pointer(e, schema.FeedKeepaliveCost, what))
}
