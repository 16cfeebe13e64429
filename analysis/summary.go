package analysis

// The report's summary: the original write-up's four questions, answered
// from the wire model and from the experiments that declare they feed a
// block of it (meta.json "feeds"), or "not measured yet".

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"c1m/numfmt"
	"c1m/schema"
	"c1m/spread"
)

// feeder is the first experiment that declares it feeds the summary block
// feed (a schema.Feed constant), nil when none does.
func feeder(exps []Experiment, feed string) *Experiment {
	for i := range exps {
		if slices.Contains(exps[i].Meta.Feeds, feed) {
			return &exps[i]
		}
	}
	return nil
}

func notMeasured(what, feed string) string {
	return fmt.Sprintf("%s: not measured yet (no experiment in the results declares that it feeds %q).", what, feed)
}

// pointer names the section of e, the experiment that feeds the summary
// block feed, and tallies its check verdicts.
func pointer(e *Experiment, feed, what string) string {
	if e == nil {
		return notMeasured(what, feed)
	}
	h := heading(e)
	s := fmt.Sprintf("%s: see [%s](#%s)", what, h, anchor(h))
	counts := map[Verdict]int{}
	for _, r := range e.EvaluateChecks() {
		counts[r.Verdict]++
	}
	var parts []string
	for _, v := range []Verdict{Supported, NotSupported, Inconclusive, NotMeasured, BadCheck} {
		if counts[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[v], v))
		}
	}
	if len(parts) > 0 {
		s += "; its checks: " + strings.Join(parts, ", ")
	}
	return s + "."
}

// peakConns is the connections an arm held: the client's established
// count per repeat, else the peak of conns_server in the samples.
func peakConns(e *Experiment, arm string) (Spread, bool) {
	var values []float64
	for _, c := range clientResults(e, arm) {
		values = append(values, c.Established)
	}
	if len(values) == 0 {
		for _, rep := range repsOf(e.Samples, arm) {
			if col := e.Samples[RunID{arm, rep}].Column("conns_server"); col != nil {
				values = append(values, slices.MaxFunc(col, cmp.Compare[float64])) // NaN orders first
			}
		}
	}
	return spread.Of(values)
}

// envOf is the environment the summary quotes: the capacity experiment's,
// else the first experiment's.
func envOf(exps []Experiment) (Env, string, bool) {
	if e := feeder(exps, schema.FeedCapacity); e != nil {
		return e.Meta.Env, e.Meta.ID, true
	}
	if len(exps) > 0 {
		return exps[0].Meta.Env, exps[0].Meta.ID, true
	}
	return Env{}, "", false
}

// answerLimits answers question 1 from the recorded rlimits and sysctls,
// the capacity experiment's reach and the port-exhaustion experiment.
func answerLimits(exps []Experiment) []string {
	env, id, ok := envOf(exps)
	if !ok {
		return []string{notMeasured("The limits of this machine", schema.FeedCapacity)}
	}
	var out []string
	if soft, okS := env.Rlimits["nofile_soft"]; okS {
		line := fmt.Sprintf("Open files per process (RLIMIT_NOFILE, from %s's meta.json): soft %s, hard %s", id,
			numfmt.Number(float64(soft)), numfmt.Number(float64(env.Rlimits["nofile_hard"])))
		out = append(out, line+"; run "+rootText(env.Root)+". Every socket is a file descriptor, so no single process holds more connections than its hard limit.")
	}
	var limits []string
	for _, k := range []string{"fs.nr_open", "fs.file-max", "net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_mem"} {
		if v, ok := env.Sysctls[k]; ok {
			limits = append(limits, fmt.Sprintf("%s = %s", k, formatSysctl(v)))
		}
	}
	if len(limits) > 0 {
		out = append(out, fmt.Sprintf("Kernel settings as %s ran (its meta.json; `make limits` above read its own): %s.", id, strings.Join(limits, "; ")))
	}
	if lo, hi, ok := portRange(env.Sysctls["net.ipv4.ip_local_port_range"]); ok {
		out = append(out, fmt.Sprintf("Ephemeral ports: net.ipv4.ip_local_port_range = %d–%d, so one source address holds at most %s connections to one server ip:port; more source addresses or server ports multiply that.",
			lo, hi, numfmt.Number(float64(hi-lo+1))))
	}
	if e := feeder(exps, schema.FeedCapacity); e != nil {
		for _, arm := range e.ArmNames() {
			if n, ok := peakConns(e, arm); ok {
				out = append(out, fmt.Sprintf("Reached in experiment %d, arm `%s`: %s connections.", e.Meta.Number, arm, FormatSpread(n, "", e.Meta.Repeats)))
			}
		}
	} else {
		out = append(out, notMeasured("The connection count reached", schema.FeedCapacity))
	}
	ports := feeder(exps, schema.FeedPortExhaustion)
	out = append(out, originalFailure(ports)...)
	return append(out, pointer(ports, schema.FeedPortExhaustion, "Where the original client stops (EADDRNOTAVAIL) and how to get past it"))
}

// portRange parses net.ipv4.ip_local_port_range ("32768 60999").
func portRange(v string) (lo, hi int, ok bool) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	return lo, hi, err1 == nil && err2 == nil
}

// originalFailure quotes the port-exhaustion experiment e (nil: nothing),
// arm by arm: connections reached against the client's plan, the
// EADDRNOTAVAIL failures, and TIME_WAIT sockets at the peak (the original
// blamed TIME_WAIT).
func originalFailure(e *Experiment) []string {
	if e == nil {
		return nil
	}
	var out []string
	for _, arm := range e.ArmNames() {
		est, ok := e.Metric("established", arm)
		if !ok {
			continue
		}
		line := fmt.Sprintf("Experiment %d, arm `%s`: %s connections established", e.Meta.Number, arm, FormatSpread(est, "", e.Meta.Repeats))
		if p, ok := e.Metric("predicted_capacity", arm); ok {
			line += fmt.Sprintf(" (the client's plan: room for %s)", numfmt.Number(p.Median))
		}
		if f, ok := e.Metric("eaddrnotavail", arm); ok {
			line += fmt.Sprintf("; %s connects failed with EADDRNOTAVAIL", FormatSpread(f, "", e.Meta.Repeats))
		}
		if tw, ok := e.Metric("tcp_tw_at_peak", arm); ok {
			line += fmt.Sprintf("; %s sockets in TIME_WAIT at the peak", FormatSpread(tw, "", e.Meta.Repeats))
		}
		out = append(out, line+".")
	}
	return out
}

// formatSysctl groups the digits of a single-number sysctl ("4096" →
// "4,096") and separates the fields of the others with spaces.
func formatSysctl(v string) string {
	f := strings.Fields(v)
	if len(f) == 1 {
		if n, err := strconv.ParseFloat(f[0], 64); err == nil {
			return numfmt.Number(n)
		}
	}
	return strings.Join(f, " ")
}

// answerPerConn answers questions 2 and 3: a per-connection metric of the
// capacity experiment, per arm, at the connections the arm reached.
func answerPerConn(exps []Experiment, metric, what string) []string {
	e := feeder(exps, schema.FeedCapacity)
	if e == nil {
		return []string{notMeasured(what+" per connection", schema.FeedCapacity)}
	}
	unit := unitOf(e, metric)
	var out []string
	for _, arm := range e.ArmNames() {
		sp, ok := e.Metric(metric, arm)
		if !ok {
			continue
		}
		line := fmt.Sprintf("%s per connection, arm `%s`: **%s**", what, arm, FormatSpread(sp, unit, e.Meta.Repeats))
		if n, ok := peakConns(e, arm); ok {
			line += " at " + FormatSpread(n, "", e.Meta.Repeats) + " connections"
		}
		out = append(out, line+".")
	}
	if len(out) == 0 {
		return []string{fmt.Sprintf("%s per connection: not measured yet: results/%s has no `%s` values (run `make exp-%d`).",
			what, filepath.Base(e.Dir), metric, e.Meta.Number)}
	}
	if help := e.MetricInfo(metric).Help; help != "" {
		out = append(out, fmt.Sprintf("`%s`: %s.", metric, strings.TrimSuffix(help, ".")))
	}
	return out
}

// slabCache is one slab cache's growth per connection.
type slabCache struct {
	name  string
	bytes float64
}

// slabCaches splits an arm's kernel memory by slab cache (first repeat):
// each cache's growth from the run's first sample to the peak, divided by
// the connections then, largest first; with the connections
// and the repeat it read.
func slabCaches(e *Experiment, arm string) (caches []slabCache, conns float64, rep int) {
	s, rep := e.FirstSamples(arm)
	if s == nil {
		return nil, 0, 0
	}
	col := s.Column("conns_server")
	if col == nil {
		col = s.Column("conns_client")
	}
	// At the peak, the first sample holding the most connections, as the
	// run's kernel_bytes_per_conn: a later one can hold what the close
	// queued (a holder that never reads keeps every client's FIN).
	last := -1
	for i, v := range col {
		if v > 0 && (last < 0 || v > col[last]) {
			last = i
		}
	}
	if last < 0 {
		return nil, 0, 0
	}
	for _, c := range s.Columns {
		name, ok := strings.CutPrefix(c, "slab_")
		name, ok2 := strings.CutSuffix(name, "_bytes")
		if !ok || !ok2 || name == "" {
			continue
		}
		v := s.Column(c)
		if per := (v[last] - v[0]) / col[last]; !math.IsNaN(per) {
			caches = append(caches, slabCache{name, per})
		}
	}
	slices.SortStableFunc(caches, func(a, b slabCache) int { return cmp.Compare(b.bytes, a.bytes) })
	return caches, col[last], rep
}

// slabText is "TCP 5,044 B, sock_inode_cache 1,772 B" for the caches of
// at least a byte per connection (below is noise), at most n of them
// (n < 0: all), and how many were left out.
func slabText(caches []slabCache, n int) (string, int) {
	var parts []string
	for _, c := range caches {
		if math.Abs(c.bytes) >= 1 && (n < 0 || len(parts) < n) {
			parts = append(parts, c.name+" "+FormatQuantity(c.bytes, "B"))
		}
	}
	return strings.Join(parts, ", "), len(caches) - len(parts)
}

// slabBreakdowns splits the capacity experiment's kernel memory by slab
// cache, per arm (slabCaches).
func slabBreakdowns(exps []Experiment) []string {
	e := feeder(exps, schema.FeedCapacity)
	if e == nil {
		return nil
	}
	var out []string
	for _, arm := range e.ArmNames() {
		caches, conns, rep := slabCaches(e, arm)
		if len(caches) == 0 {
			continue
		}
		total := 0.0
		for _, c := range caches {
			total += c.bytes
		}
		text, left := slabText(caches, -1)
		omitted := ""
		if left > 0 {
			omitted = fmt.Sprintf(" (and %d cache(s) under 1 B)", left)
		}
		out = append(out, fmt.Sprintf("Slab by cache, arm `%s` (repeat %d, growth since the run's first sample ÷ %s connections): %s; these caches%s sum to %s.",
			arm, rep, numfmt.Number(conns), text, omitted, FormatQuantity(total, "B")))
	}
	return out
}

// answerKeepalives answers question 4 with the wire model and, when they
// exist, the link-sweep and keepalive-cost experiments.
func answerKeepalives(exps []Experiment) ([]string, table) {
	x := BytesPerExchange(KeepalivePayload, DefaultPureACKs)
	const million = 1e6
	out := []string{"Wire model (computed by `analysis/wire.go`, not measured), one keepalive exchange of the original's message: " + x.String() +
		", headers, preamble and inter-frame gap included. A link is full duplex, so the busier direction (the server's receive side) must fit the card."}
	t := table{Header: []string{"keepalive every", "bandwidth at 1,000,000 conns", "packets/s at 1,000,000 conns", "smallest card that carries it"}}
	for _, n := range NICs {
		t.Header = append(t.Header, "connections that fill "+n.Name)
	}
	for _, iv := range KeepaliveIntervals {
		bps := x.BitsPerSecond(million, iv)
		fits := "none of " + NICs[len(NICs)-1].Name + " or less"
		for _, n := range NICs {
			if bps <= n.BitsPerSecond {
				fits = n.Name
				break
			}
		}
		row := []string{IntervalText(iv), FormatQuantity(bps, "bit/s"), numfmt.Number(x.PacketsPerSecond(million, iv)), fits}
		for _, n := range NICs {
			row = append(row, numfmt.Number(math.Floor(x.MaxConns(n.BitsPerSecond, iv))))
		}
		t.Rows = append(t.Rows, row)
	}
	out = append(out, measuredBreaks(exps)...)
	out = append(out, firstToRunOut(exps)...)
	return out, t
}
