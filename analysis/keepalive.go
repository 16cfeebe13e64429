package analysis

// Question 4 measured: experiment 7 (keepalives over an emulated link,
// compared with the wire model) and experiment 8 (what a million
// connections' keepalives cost in CPU).

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// A point of an experiment 7 sweep broke when the link no longer carried
// its keepalives: fewer than minEchoShare of them answered, or the
// shapers dropped more than maxDropShare of the packets.
const (
	minEchoShare = 0.95
	maxDropShare = 0.001
)

// sweepPoint is one arm of experiment 7.
type sweepPoint struct {
	arm                         string
	conns                       float64
	echoShare, dropShare, rtt99 float64
	hasRTT                      bool
}

func (p sweepPoint) broke() bool { return p.echoShare < minEchoShare || p.dropShare > maxDropShare }

func (p sweepPoint) String() string {
	s := fmt.Sprintf("%s connections (echo share %.2f, drops %s", FormatNumber(p.conns), p.echoShare, formatShare(p.dropShare))
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

// sweepKey groups experiment 7's arms: one link, interval and message size.
type sweepKey struct {
	link, interval, payload float64
}

// measuredBreaks compares experiment 7's break points with the model: per
// sweep, the last point that carried its keepalives and the first that
// did not, against the connections the model says fill the link.
func measuredBreaks(exps []Experiment) []string {
	e := findExperiment(exps, 7)
	if e == nil {
		return []string{notMeasured("Measured over an emulated link", 7)}
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
		p.rtt99, p.hasRTT = get("rtt_p99_us")
		k := sweepKey{link, iv, payload}
		sweeps[k] = append(sweeps[k], p)
	}
	if len(sweeps) == 0 {
		return []string{"Measured over an emulated link: results/" + filepath.Base(e.Dir) +
			"/summary.csv has no `conns_target` with `link_bits_per_sec`, `interval_s` and `echo_share`.", pointer(exps, 7, "Measured over an emulated link")}
	}
	keys := make([]sweepKey, 0, len(sweeps))
	for k := range sweeps {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b sweepKey) int {
		return cmp.Or(cmp.Compare(a.link, b.link), cmp.Compare(a.payload, b.payload), cmp.Compare(a.interval, b.interval))
	})
	out := []string{fmt.Sprintf("Experiment 7 (measured over an emulated link): a point breaks when fewer than %.0f%% of its keepalives are answered or the link drops more than %s of its packets.",
		minEchoShare*100, formatShare(maxDropShare))}
	for _, k := range keys {
		points := sweeps[k]
		slices.SortFunc(points, func(a, b sweepPoint) int { return cmp.Compare(a.conns, b.conns) })
		interval := time.Duration(k.interval * float64(time.Second))
		model := math.Floor(BytesPerExchange(int(k.payload), DefaultPureACKs).MaxConns(k.link, interval))
		line := fmt.Sprintf("%s link, %s-byte keepalive every %s: ", FormatQuantity(k.link, "bit/s"), FormatNumber(k.payload), IntervalText(interval))
		first := slices.IndexFunc(points, sweepPoint.broke)
		switch {
		case first < 0:
			line += fmt.Sprintf("carried every point up to %s; the model predicts the link fills at %s", points[len(points)-1], FormatNumber(model))
			if model < points[len(points)-1].conns {
				line += " (below what was carried: the model is pessimistic here)"
			}
		case first == 0:
			line += fmt.Sprintf("broke already at the first point, %s; the model predicts %s", points[0], FormatNumber(model))
		default:
			good, bad := points[first-1], points[first]
			line += fmt.Sprintf("carried %s, broke at %s; the model predicts %s, ", good, bad, FormatNumber(model))
			switch {
			case model > good.conns && model <= bad.conns:
				line += "inside the measured bracket"
			case model <= good.conns:
				line += fmt.Sprintf("below the measured bracket (the link carried %.2f× the model)", good.conns/model)
			default:
				line += fmt.Sprintf("above the measured bracket (it broke at %.2f× the model)", bad.conns/model)
			}
		}
		out = append(out, line+".")
	}
	return append(out, pointer(exps, 7, "Measured over an emulated link"))
}

// firstToRunOut answers from experiment 8 what a million connections run
// out of first as keepalives get more frequent: per interval, the echoes a
// second asked for and answered, the CPU both ends used, and the packets
// and bytes the model puts on a wire for that rate.
func firstToRunOut(exps []Experiment) []string {
	const what = "What runs out first at a million connections, CPU, packets or bandwidth"
	e := findExperiment(exps, 8)
	if e == nil {
		return []string{notMeasured(what, 8)}
	}
	x := BytesPerExchange(KeepalivePayload, DefaultPureACKs)
	nic := NICs[0]
	nicPackets := nic.BitsPerSecond / 8 / float64(frameOnWire(0))
	var out []string
	cpuBound, nicShare := 0, 0.0
	arms := e.ArmNames()
	for _, arm := range arms {
		iv, ok1 := e.Metric("interval_s", arm)
		offered, ok2 := e.Metric("offered_per_sec", arm)
		echo, ok3 := e.Metric("echo_per_sec", arm)
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		interval := time.Duration(iv.Median * float64(time.Second))
		var parts []string
		parts = append(parts, fmt.Sprintf("asked for %s keepalives/s, answered %s (%.0f%%)",
			FormatNumber(offered.Median), FormatNumber(echo.Median), 100*echo.Median/offered.Median))
		srv, okS := e.Metric("server_cpu_cores", arm)
		cli, okC := e.Metric("client_cpu_cores", arm)
		if okS && okC {
			parts = append(parts, fmt.Sprintf("CPU: server %.2f + client %.2f of %d cores", srv.Median, cli.Median, e.Meta.Env.CPUs))
			if echo.Median < minEchoShare*offered.Median && srv.Median+cli.Median >= 0.85*float64(e.Meta.Env.CPUs) {
				cpuBound++
				parts[len(parts)-1] += " (saturated)"
			}
		}
		if us, ok := e.Metric("server_cpu_us_per_msg", arm); ok {
			parts = append(parts, fmt.Sprintf("%s server CPU per echo", FormatQuantity(us.Median, "µs")))
		}
		if segs, ok := e.Metric("tcp_segs_per_sec", arm); ok {
			parts = append(parts, fmt.Sprintf("%s TCP segments/s on loopback (both ends)", FormatNumber(segs.Median)))
		}
		// What a wire would carry for the rate answered, busier direction.
		wireBits := echo.Median * float64(x.ToServer) * 8
		nicShare = max(nicShare, wireBits/nic.BitsPerSecond, echo.Median*float64(x.PacketsToServer)/nicPackets)
		parts = append(parts, fmt.Sprintf("on a wire that rate needs %s and %s packets/s (%.1f%% and %.1f%% of %s)",
			FormatQuantity(wireBits, "bit/s"), FormatNumber(echo.Median*float64(x.PacketsToServer)),
			100*wireBits/nic.BitsPerSecond, 100*echo.Median*float64(x.PacketsToServer)/nicPackets, nic.Name))
		out = append(out, fmt.Sprintf("Experiment 8, keepalive every %s at %s connections: %s.", IntervalText(interval),
			FormatNumber(offered.Median*iv.Median), strings.Join(parts, "; ")))
	}
	if len(out) == 0 {
		return []string{fmt.Sprintf("%s: results/%s/summary.csv has no `interval_s`, `offered_per_sec` and `echo_per_sec`.", what, filepath.Base(e.Dir))}
	}
	if cpuBound > 0 {
		out = append(out, fmt.Sprintf("So on this machine the CPU runs out first: in %d of %d intervals the two cores were saturated before the keepalives were all answered, while the packets and bytes of the answers would fill at most %.1f%% of a %s card.",
			cpuBound, len(out), 100*nicShare, nic.Name))
	}
	return append(out, pointer(exps, 8, what))
}
