package analysis

// The summary's "At a million connections": how long 1M took to fill and
// the highest keepalive rate answered in full there, per engine, from the
// experiment that feeds "engines-at-million" (its arms declare the engine
// and the hold workload).

import (
	"fmt"
	"sort"
	"time"

	"c1m/numfmt"
	"c1m/schema"
)

// answeredInFull is the share of asked-for keepalives an arm must answer,
// with no time-out and no mismatch, to count as answered in full.
const answeredInFull = 0.99

// millionArm is one hold arm of an engine at a million.
type millionArm struct {
	interval time.Duration
	offered  float64
	share    float64
	ramp     float64 // server_ramp_s; 0: not measured
	p99      float64 // rtt_p99_us; 0: not measured
	late     float64 // unanswered_at_close
	full     bool
}

func answerMillion(exps []Experiment) []string {
	const what = "How long 1,000,000 connections take to fill, and the highest keepalive rate answered in full there"
	e := feeder(exps, schema.FeedEnginesAtMillion)
	if e == nil {
		return []string{notMeasured(what, schema.FeedEnginesAtMillion)}
	}
	byEngine := map[string][]millionArm{}
	for _, arm := range e.ArmNames() {
		role := e.ArmRole(arm)
		engine := role.Engine
		if engine == "" || role.Workload != schema.WorkloadHold {
			continue
		}
		iv, ok1 := e.Metric("interval_s", arm)
		offered, ok2 := e.Metric("offered_per_sec", arm)
		if !ok1 || !ok2 {
			continue
		}
		a := millionArm{interval: time.Duration(iv.Median * float64(time.Second)), offered: offered.Median}
		if s, ok := e.Metric("echo_share", arm); ok {
			a.share = s.Median
		}
		if r, ok := e.Metric("server_ramp_s", arm); ok {
			a.ramp = r.Median
		}
		if p, ok := e.Metric("rtt_p99_us", arm); ok {
			a.p99 = p.Median
		}
		if l, ok := e.Metric("unanswered_at_close", arm); ok {
			a.late = l.Median
		}
		timeouts, _ := e.Metric("timeouts", arm)
		mismatched, _ := e.Metric("mismatched", arm)
		a.full = a.share >= answeredInFull && timeouts.Median == 0 && mismatched.Median == 0
		byEngine[engine] = append(byEngine[engine], a)
	}
	if len(byEngine) == 0 {
		return []string{fmt.Sprintf("%s: experiment %d has no hold-1M arm with a measured hold.", what, e.Meta.Number)}
	}
	engines := make([]string, 0, len(byEngine))
	for name := range byEngine {
		engines = append(engines, name)
	}
	sort.Strings(engines)
	var out []string
	for _, name := range engines {
		out = append(out, millionLine(name, byEngine[name]))
	}
	h := heading(e)
	return append(out, fmt.Sprintf("From [%s](#%s): the server's own count (its /stats) from the client's start, "+
		"the client connecting as fast as it can; answered in full means ≥ %.0f%% of the keepalives asked for, no time-out, no mismatch.",
		h, anchor(h), 100*answeredInFull))
}

// millionLine says, for one engine, its fastest fill and the fastest
// keepalive rate it answered in full, with what the next faster rate got.
func millionLine(engine string, arms []millionArm) string {
	sort.Slice(arms, func(i, j int) bool { return arms[i].offered < arms[j].offered })
	fill := 0.0
	for _, a := range arms {
		if a.ramp > 0 && (fill == 0 || a.ramp < fill) {
			fill = a.ramp
		}
	}
	s := fmt.Sprintf("**%s**: ", engine)
	if fill > 0 {
		s += fmt.Sprintf("1,000,000 connections held %s after the client started", FormatQuantity(fill, "s"))
	} else {
		s += "the server's fill time was not measured"
	}
	var best *millionArm
	for i := range arms {
		if arms[i].full {
			best = &arms[i]
		}
	}
	if best == nil {
		a := arms[0]
		return s + fmt.Sprintf("; no keepalive rate tried was answered in full: at the slowest, one every %s (%s/s), %.0f%% was answered.",
			IntervalText(a.interval), numfmt.Number(a.offered), 100*a.share)
	}
	s += fmt.Sprintf("; the highest keepalive rate answered in full: %s/s (one every %s per connection)", numfmt.Number(best.offered), IntervalText(best.interval))
	if best.p99 > 0 {
		s += fmt.Sprintf(", round trip p99 %s", FormatQuantity(best.p99/1e6, "s"))
	}
	if best.late > 0 {
		s += fmt.Sprintf(", yet %s keepalives were still unanswered when the client closed", numfmt.Number(best.late))
	}
	for _, a := range arms {
		if a.offered > best.offered {
			return s + fmt.Sprintf("; at %s/s (every %s) it answered %.0f%%.", numfmt.Number(a.offered), IntervalText(a.interval), 100*a.share)
		}
	}
	return s + " (the fastest tried)."
}
