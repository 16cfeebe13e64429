package analysis

// The summary's "At a million connections": how long 1M took to fill and
// the highest keepalive rate answered in full there, per engine, from the
// experiment that feeds "engines-at-million" (its arms declare the engine
// and the hold workload).

import (
	"fmt"
	"maps"
	"slices"
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
	name     string
	interval time.Duration
	offered  float64
	share    float64
	ramp     float64 // server_ramp_s; 0: not measured
	p99      float64 // rtt_p99_us; 0: not measured
	late     float64 // unanswered_at_close
	full     bool
}

// holdArms are the hold arms of e (the engines-at-million experiment) by
// the engine their role declares.
func holdArms(e *Experiment) map[string][]millionArm {
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
		a := millionArm{name: arm, interval: time.Duration(iv.Median * float64(time.Second)), offered: offered.Median}
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
		a.full = inFull(e, arm)
		byEngine[engine] = append(byEngine[engine], a)
	}
	for _, arms := range byEngine {
		sort.SliceStable(arms, func(i, j int) bool { return arms[i].offered < arms[j].offered })
	}
	return byEngine
}

// inFull says whether an arm answered its keepalives in full: at least
// answeredInFull of them (median over repeats), no time-out, no mismatch.
func inFull(e *Experiment, arm string) bool {
	share, ok := e.Metric("echo_share", arm)
	timeouts, _ := e.Metric("timeouts", arm)
	mismatched, _ := e.Metric("mismatched", arm)
	return ok && share.Median >= answeredInFull && timeouts.Median == 0 && mismatched.Median == 0
}

// bestInFull is the fastest of arms (sorted by offered rate) answered in
// full, nil when none was, and the next faster arm, nil when none.
func bestInFull(arms []millionArm) (best, next *millionArm) {
	for i := range arms {
		if arms[i].full {
			best, next = &arms[i], nil
		} else if best != nil && next == nil {
			next = &arms[i]
		}
	}
	return best, next
}

func answerMillion(exps []Experiment) []string {
	const what = "How long 1,000,000 connections take to fill, and the highest keepalive rate answered in full there"
	e := feeder(exps, schema.FeedEnginesAtMillion)
	if e == nil {
		return []string{notMeasured(what, schema.FeedEnginesAtMillion)}
	}
	byEngine := holdArms(e)
	if len(byEngine) == 0 {
		return []string{fmt.Sprintf("%s: experiment %d has no hold-1M arm with a measured hold.", what, e.Meta.Number)}
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(byEngine)) {
		out = append(out, millionLine(e, name, byEngine[name]))
	}
	h := heading(e)
	return append(out, fmt.Sprintf("From [%s](#%s): the server's own count (its /stats) from the client's start, "+
		"the client connecting as fast as it can; answered in full means ≥ %.0f%% of the keepalives asked for, no time-out, no mismatch.",
		h, anchor(h), 100*answeredInFull))
}

// millionLine says, for one engine, its fill time (the median over every
// run of its hold arms) and the fastest keepalive rate it answered in
// full, with what the next faster rate got.
func millionLine(e *Experiment, engine string, arms []millionArm) string {
	s := fmt.Sprintf("**%s**: ", engine)
	if fill, ok := pooled(e, "server_ramp_s", armNames(arms)); ok {
		s += fmt.Sprintf("1,000,000 connections held %s after the client started (median over its hold arms' runs)", formatPooled(fill, "s"))
	} else {
		s += "the server's fill time was not measured"
	}
	best, next := bestInFull(arms)
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
	if next != nil {
		return s + fmt.Sprintf("; at %s/s (every %s) it answered %.0f%%.", numfmt.Number(next.offered), IntervalText(next.interval), 100*next.share)
	}
	return s + " (the fastest tried)."
}

func armNames(arms []millionArm) []string {
	names := make([]string, len(arms))
	for i, a := range arms {
		names[i] = a.name
	}
	return names
}
