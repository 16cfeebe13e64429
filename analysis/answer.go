package analysis

// The summary a systems engineer reads first: one paragraph answering the
// repository's question, then a compact table per question and one for a
// million connections, every number read from the results of the
// experiments that declare they feed that block (meta.json "feeds", arm
// "role"). The long lists behind each table are the questions' own
// sections, after the experiments (summary.go, keepalive.go, million.go,
// peers1m.go).

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"c1m/numfmt"
	"c1m/schema"
	"c1m/spread"
)

// pooled is the spread of metric over every run of arms: the repeats of
// several arms of one configuration, taken together.
func pooled(e *Experiment, metric string, arms []string) (Spread, bool) {
	var values []float64
	for _, r := range e.Runs {
		if v, ok := r.Values[metric]; ok && !math.IsNaN(v) && slices.Contains(arms, r.Arm) {
			values = append(values, v)
		}
	}
	return spread.Of(values)
}

// formatPooled is "median [min–max] (n=N)", n always shown.
func formatPooled(s Spread, unit string) string {
	return FormatSpread(s, unit, -1)
}

// keepaliveArm is one interval of the keepalive-cost experiment.
type keepaliveArm struct {
	arm                        string
	interval                   time.Duration
	offered, echoed            Spread
	busy                       Spread // host_busy_cores, or server + client
	busyOK, saturated, inFull  bool
	serverUs                   Spread
	serverUsOK                 bool
	wireBits, nicShare, conns  float64
	cpus                       int
	packetsPerSec, packetShare float64
}

// keepaliveArms reads the keepalive-cost experiment's intervals (those
// whose hold was measured), slowest first as the experiment lists them.
func keepaliveArms(e *Experiment) []keepaliveArm {
	x := BytesPerExchange(KeepalivePayload, DefaultPureACKs)
	nic := NICs[0]
	nicPackets := nic.BitsPerSecond / 8 / float64(frameOnWire(0))
	var out []keepaliveArm
	for _, arm := range e.ArmNames() {
		iv, ok1 := e.Metric("interval_s", arm)
		offered, ok2 := e.Metric("offered_per_sec", arm)
		echo, ok3 := e.Metric("echo_per_sec", arm)
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		k := keepaliveArm{arm: arm, interval: time.Duration(iv.Median * float64(time.Second)), offered: offered, echoed: echo,
			cpus: e.Meta.Env.CPUs, conns: offered.Median * iv.Median}
		if est, ok := e.Metric("established", arm); ok {
			k.conns = est.Median
		}
		if host, ok := e.Metric("host_busy_cores", arm); ok {
			k.busy, k.busyOK = host, true
			k.saturated = host.Median >= 0.9*float64(k.cpus)
		}
		k.serverUs, k.serverUsOK = e.Metric("server_cpu_us_per_msg", arm)
		timeouts, _ := e.Metric("timeouts", arm)
		mismatched, _ := e.Metric("mismatched", arm)
		k.inFull = echo.Median >= answeredInFull*offered.Median && timeouts.Median == 0 && mismatched.Median == 0
		k.wireBits = echo.Median * float64(x.ToServer) * 8
		k.nicShare = k.wireBits / nic.BitsPerSecond
		k.packetsPerSec = echo.Median * float64(x.PacketsToServer)
		k.packetShare = k.packetsPerSec / nicPackets
		out = append(out, k)
	}
	return out
}

// q4Table is question 4's summary: per keepalive interval at a million,
// what was asked, answered, the CPU it took and what a wire would carry.
func q4Table(exps []Experiment) (table, []string) {
	e := feeder(exps, schema.FeedKeepaliveCost)
	if e == nil {
		return table{}, []string{notMeasured("The keepalives at a million connections", schema.FeedKeepaliveCost)}
	}
	arms := keepaliveArms(e)
	nic := NICs[0].Name
	t := table{Header: []string{"keepalive every", "connections", "asked / s", "answered / s", "machine CPU busy", "server CPU / echo",
		"a wire would carry (share of " + nic + ")"}}
	want := e.Meta.Repeats
	for _, k := range arms {
		busy := "–"
		if k.busyOK {
			busy = fmt.Sprintf("%s of %d cores", strings.TrimSuffix(FormatSpread(k.busy, "", want), " "), k.cpus)
			if k.saturated {
				busy = "**" + busy + "** (saturated)"
			}
		}
		cpu := "–"
		if k.serverUsOK {
			cpu = FormatSpread(k.serverUs, "µs", want)
		}
		t.Rows = append(t.Rows, []string{IntervalText(k.interval), numfmt.Number(k.conns), numfmt.Number(k.offered.Median),
			fmt.Sprintf("%s (%.0f%%)", FormatSpread(k.echoed, "", want), 100*k.echoed.Median/k.offered.Median), busy, cpu,
			fmt.Sprintf("%s, %s packets/s (%.1f%%, %.1f%%)", FormatQuantity(k.wireBits, "bit/s"), numfmt.Number(math.Round(k.packetsPerSec)),
				100*k.nicShare, 100*k.packetShare)})
	}
	h := heading(e)
	return t, []string{fmt.Sprintf("From [%s](#%s), medians over its repeats [min–max]. The wire column is the wire model (`analysis/wire.go`, "+
		"not measured) for the answered rate, the server's receive side. Over emulated links, the wire model against measured break points: "+
		"[question 4 in detail](#%s).", h, anchor(h), anchor(q4Heading))}
}

// Headings of the questions' own sections, after the experiments.
const (
	q1Heading      = "Question 1 in detail: the operating system's limits"
	q2Heading      = "Question 2 in detail: kernel memory per connection"
	q3Heading      = "Question 3 in detail: application memory per connection"
	q4Heading      = "Question 4 in detail: keepalives against the network card"
	millionHeading = "A million connections in detail: engines and peers"
)

// detailLinks is the summary's line of links to the detail sections.
func detailLinks() string {
	var links []string
	for _, h := range []string{q1Heading, q2Heading, q3Heading, q4Heading, millionHeading, "Robustness: hostile clients and a soak", "Environment"} {
		name, _, _ := strings.Cut(h, ":")
		links = append(links, fmt.Sprintf("[%s](#%s)", name, anchor(h)))
	}
	return "Details: " + strings.Join(links, " · ") + "."
}

// q1Table is question 1's summary: the limits that bind a million on this
// machine (from `make limits`) and how each was got past, then where the
// original client's single source address stops.
func q1Table(resultsDir string, exps []Experiment) (table, []string) {
	t := table{Header: []string{"limit", "here", "connections it allows", "how past it"}}
	var notes []string
	f, err := readLimits(resultsDir)
	if err == nil {
		for _, r := range f.Report.Rows {
			if !r.Binds {
				continue
			}
			allows := "– (" + r.Kind + ")"
			if r.Allows >= 0 {
				allows = numfmt.Number(float64(r.Allows))
			}
			t.Rows = append(t.Rows, []string{r.Name, r.Value, allows, r.Lift})
		}
		from := fmt.Sprintf("The limits are `make limits`'s (results/limits/limits.json, %s, kernel %s)", f.Time, f.Kernel)
		if len(f.Report.Summary) > 0 {
			from += ": " + f.Report.Summary[0]
		}
		notes = append(notes, strings.TrimSuffix(from, ".")+".")
	} else {
		notes = append(notes, "The limits that bind: not measured yet (run `make limits`).")
	}
	if row, ok := portsRow(exps); ok {
		t.Rows = append(t.Rows, row)
	}
	if e := feeder(exps, schema.FeedCapacity); e != nil {
		var reached []string
		for _, arm := range e.ArmNames() {
			if n, ok := peakConns(e, arm); ok {
				reached = append(reached, fmt.Sprintf("`%s` %s", arm, FormatSpread(n, "", e.Meta.Repeats)))
			}
		}
		if len(reached) > 0 {
			h := heading(e)
			notes = append(notes, fmt.Sprintf("Held in [%s](#%s): %s connections.", h, anchor(h), strings.Join(reached, ", ")))
		}
	}
	return t, append(notes, fmt.Sprintf("Every limit, bound or not, and the kernel settings: [question 1 in detail](#%s).", anchor(q1Heading)))
}

// portsRow is the ephemeral ports' row: what one source address allows
// toward one server address and port, and what the port-exhaustion
// experiment's first arm reached there.
func portsRow(exps []Experiment) ([]string, bool) {
	env, _, ok := envOf(exps)
	if !ok {
		return nil, false
	}
	lo, hi, ok := portRange(env.Sysctls["net.ipv4.ip_local_port_range"])
	if !ok {
		return nil, false
	}
	row := []string{"ephemeral ports, one source address to one server ip:port", fmt.Sprintf("%d–%d", lo, hi), numfmt.Number(float64(hi - lo + 1)),
		"more source addresses (127.0.0.2, …) or server ports: the client spreads over both"}
	if e := feeder(exps, schema.FeedPortExhaustion); e != nil {
		for _, arm := range e.ArmNames() {
			failed, ok1 := e.Metric("eaddrnotavail", arm)
			est, ok2 := e.Metric("established", arm)
			if ok1 && ok2 && failed.Median > 0 {
				h := heading(e)
				row[3] += fmt.Sprintf(" ([experiment %d](#%s): `%s` stopped at %s, its next connects failing with EADDRNOTAVAIL)",
					e.Meta.Number, anchor(h), arm, FormatSpread(est, "", e.Meta.Repeats))
				break
			}
		}
	}
	return row, true
}

// q2Table is question 2's summary: the capacity experiment's kernel memory
// per connection, arm by arm, with its largest slab caches.
func q2Table(exps []Experiment) (table, []string) {
	const metric = "kernel_bytes_per_conn"
	e := feeder(exps, schema.FeedCapacity)
	if e == nil {
		return table{}, []string{notMeasured("Kernel memory per connection", schema.FeedCapacity)}
	}
	t := table{Header: []string{"arm", "connections", "kernel memory / connection", "largest slab caches / connection"}}
	for _, arm := range e.ArmNames() {
		sp, ok := e.Metric(metric, arm)
		if !ok {
			continue
		}
		caches, _, _ := slabCaches(e, arm)
		text, _ := slabText(caches, 3)
		t.Rows = append(t.Rows, []string{"`" + arm + "`", conns(e, arm), "**" + FormatSpread(sp, unitOf(e, metric), e.Meta.Repeats) + "**", orDash(text)})
	}
	return t, perConnNotes(e, metric, q2Heading)
}

// q3Table is question 3's summary: the server's user-space memory per
// connection in the capacity experiment's arms and, at a million, per
// server of the peers experiment once every connection had read.
func q3Table(exps []Experiment) (table, []string) {
	const metric = "server_user_bytes_per_conn"
	e := feeder(exps, schema.FeedCapacity)
	if e == nil {
		return table{}, []string{notMeasured("Application memory per connection", schema.FeedCapacity)}
	}
	t := table{Header: []string{"server", "connections", "user-space memory / connection"}}
	for _, arm := range e.ArmNames() {
		if sp, ok := e.Metric(metric, arm); ok {
			t.Rows = append(t.Rows, []string{fmt.Sprintf("`%s` (experiment %d, once all were open)", arm, e.Meta.Number), conns(e, arm),
				FormatSpread(sp, unitOf(e, metric), e.Meta.Repeats)})
		}
	}
	if p := feeder(exps, schema.FeedPeersAtMillion); p != nil {
		for _, s := range peerServers(p) {
			if sp, ok := p.Metric(metric+"_hold", s.idle); ok && s.idle != "" {
				t.Rows = append(t.Rows, []string{fmt.Sprintf("%s (experiment %d, end of an idle hold)", s.server, p.Meta.Number), conns(p, s.idle),
					FormatSpread(sp, "B", p.Meta.Repeats)})
			}
		}
	}
	notes := perConnNotes(e, metric, q3Heading)
	if p := feeder(exps, schema.FeedPeersAtMillion); p != nil {
		h := heading(p)
		notes = append([]string{fmt.Sprintf("The servers at the end of an idle hold: [%s](#%s), `%s_hold` (every connection has read by then).", h, anchor(h), metric)}, notes...)
	}
	return t, notes
}

// conns is the connections an arm held, as a table cell.
func conns(e *Experiment, arm string) string {
	if n, ok := peakConns(e, arm); ok {
		return FormatSpread(n, "", e.Meta.Repeats)
	}
	return "–"
}

// perConnNotes say where a per-connection table came from, what its metric
// means (its declared help) and where the details are.
func perConnNotes(e *Experiment, metric, detail string) []string {
	h := heading(e)
	note := fmt.Sprintf("From [%s](#%s), medians over its repeats [min–max]", h, anchor(h))
	if help := e.MetricInfo(metric).Help; help != "" {
		note += "; `" + metric + "`: " + strings.TrimSuffix(help, ".")
	}
	return []string{note + fmt.Sprintf(". Details: [%s](#%s).", strings.SplitN(detail, ":", 2)[0], anchor(detail))}
}

// millionTable is the summary's table at a million connections: a row per
// engine of the engines-at-million experiment and per server of the
// peers-at-million one.
func millionTable(exps []Experiment) (table, []string) {
	t := table{Header: []string{"server", "time to fill 1,000,000", "fastest keepalive rate answered in full", "user memory / conn",
		"kernel memory / conn (both ends)", "server CPU / keepalive", "RTT p99 there"}}
	var notes []string
	if e := feeder(exps, schema.FeedEnginesAtMillion); e != nil {
		byEngine := holdArms(e)
		for _, engine := range slices.Sorted(maps.Keys(byEngine)) {
			t.Rows = append(t.Rows, engineRow(e, engine, byEngine[engine]))
		}
		h := heading(e)
		notes = append(notes, fmt.Sprintf("Engines: [%s](#%s), a row per engine its hold arms declare; the fill time and the memory are the median over every run of the engine's hold arms, which differ in keepalive interval; CPU and RTT are at the rate named.", h, anchor(h)))
	} else {
		notes = append(notes, notMeasured("The engines at a million", schema.FeedEnginesAtMillion))
	}
	if e := feeder(exps, schema.FeedPeersAtMillion); e != nil {
		for _, s := range peerServers(e) {
			t.Rows = append(t.Rows, peerSummaryRow(e, s))
		}
		h := heading(e)
		notes = append(notes, fmt.Sprintf("Peers: [%s](#%s), each server's idle arm (memory) and keepalive arm (rate, CPU, RTT); the fill time pools both.", h, anchor(h)))
	} else {
		notes = append(notes, notMeasured("The peers at a million", schema.FeedPeersAtMillion))
	}
	notes = append(notes, fmt.Sprintf("Fill time: the server's own count from the client's start; median [min–max] (n runs), not the fastest run. "+
		"The rate is the fastest tried whose median over repeats answered in full: ≥ %.0f%% of the keepalives asked for, no time-out, no mismatch. Kernel memory counts both ends of each loopback connection "+
		"(client and server sockets are on this machine). Details: [a million in detail](#%s).", 100*answeredInFull, anchor(millionHeading)))
	return t, notes
}

// engineRow is one engine's row: its hold arms pooled, the rate and its
// CPU and round trip at the fastest arm answered in full.
func engineRow(e *Experiment, engine string, arms []millionArm) []string {
	names := armNames(arms)
	cell := func(metric, unit string) string {
		if sp, ok := pooled(e, metric, names); ok {
			return formatPooled(sp, unit)
		}
		return "–"
	}
	row := []string{fmt.Sprintf("**%s** (experiment %d)", engine, e.Meta.Number), cell("server_ramp_s", "s"), "none of those tried",
		cell("server_user_bytes_per_conn", "B"), cell("kernel_bytes_per_conn", "B"), "–", "–"}
	best, next := bestInFull(arms)
	if best == nil {
		return row
	}
	row[2] = fmt.Sprintf("%s/s (every %s", numfmt.Number(best.offered), IntervalText(best.interval))
	if share, ok := e.Metric("echo_share", best.name); ok {
		row[2] += ", " + percentSpread(share, e.Meta.Repeats) + " answered"
	}
	row[2] += ")"
	if next != nil {
		row[2] += fmt.Sprintf("; at %s/s %.0f%%", numfmt.Number(next.offered), 100*next.share)
	} else {
		row[2] += ", the fastest tried"
	}
	row[5] = armCell(e, best.name, "server_cpu_us_per_msg", "µs")
	row[6] = armCell(e, best.name, "rtt_p99_us", "µs")
	return row
}

// peerSummaryRow is one server's row of the peers experiment.
func peerSummaryRow(e *Experiment, s peerArms) []string {
	fill := "–"
	if sp, ok := pooled(e, "server_ramp_s", nonEmpty(s.idle, s.keep)); ok {
		fill = formatPooled(sp, "s")
	}
	rate := "–"
	if offered, ok := e.Metric("offered_per_sec", s.keep); ok && s.keep != "" {
		share, _ := e.Metric("echo_share", s.keep)
		rate = fmt.Sprintf("%s/s, the one rate tried", numfmt.Number(offered.Median))
		if !inFull(e, s.keep) {
			rate = fmt.Sprintf("not %s/s, the one rate tried (%.1f%% answered)", numfmt.Number(offered.Median), 100*share.Median)
		}
	}
	user := armCell(e, s.idle, "server_user_bytes_per_conn_hold", "B")
	if user == "–" {
		user = armCell(e, s.idle, "server_user_bytes_per_conn", "B")
	}
	server := "**" + s.server + "** (experiment " + fmt.Sprint(e.Meta.Number) + ")"
	for _, arm := range nonEmpty(s.idle, s.keep) {
		if !reachedAll(e, arm) {
			server += " (short of the million: see its section)"
			break
		}
	}
	return []string{server, fill, rate, user, armCell(e, s.idle, "kernel_bytes_per_conn", "B"),
		armCell(e, s.keep, "server_cpu_us_per_msg", "µs"), armCell(e, s.keep, "rtt_p99_us", "µs")}
}

// armCell is an arm's metric, median over its repeats [min–max] ("–": not measured).
func armCell(e *Experiment, arm, metric, unit string) string {
	if arm == "" {
		return "–"
	}
	if sp, ok := e.Metric(metric, arm); ok {
		return FormatSpread(sp, unit, e.Meta.Repeats)
	}
	return "–"
}

// answerParagraph answers the repository's question in one paragraph,
// each clause from the results that feed it (left out when none does).
func answerParagraph(resultsDir string, exps []Experiment) string {
	capacity := feeder(exps, schema.FeedCapacity)
	if capacity == nil {
		return "**In short:** not measured yet: no experiment in the results declares that it feeds \"capacity\"."
	}
	held := 0.0
	for _, arm := range capacity.ArmNames() {
		if n, ok := peakConns(capacity, arm); ok {
			held = max(held, n.Median)
		}
	}
	s := fmt.Sprintf("**In short:** %s, one Linux server held %s concurrent TCP connections. It took ", machinesOf(exps), numfmt.Number(held))
	var clauses []string
	if c := limitsClause(resultsDir, capacity.Meta.Env); c != "" {
		clauses = append(clauses, "(1) "+c)
	}
	if c := kernelClause(capacity); c != "" {
		clauses = append(clauses, "(2) "+c)
	}
	if c := userClause(capacity, feeder(exps, schema.FeedPeersAtMillion)); c != "" {
		clauses = append(clauses, "(3) "+c)
	}
	if c := keepaliveClause(feeder(exps, schema.FeedKeepaliveCost)); c != "" {
		clauses = append(clauses, "(4) "+c)
	}
	s += strings.Join(clauses, "; ") + "."
	if c := fillClause(feeder(exps, schema.FeedEnginesAtMillion)); c != "" {
		s += " " + c
	}
	return s
}

// machinesOf names the processors of the experiments the paragraph
// quotes: "on this machine (…)" when they ran on one, "on these machines
// (…; …)" when not.
func machinesOf(exps []Experiment) string {
	var envs []namedEnv
	for _, feed := range []string{schema.FeedCapacity, schema.FeedPeersAtMillion, schema.FeedKeepaliveCost, schema.FeedEnginesAtMillion} {
		if e := feeder(exps, feed); e != nil && !slices.ContainsFunc(envs, func(n namedEnv) bool { return n.ID == e.Meta.ID }) {
			envs = append(envs, namedEnv{e.Meta.ID, e.Meta.Env})
		}
	}
	groups := processorsOf(envs)
	if len(groups) == 1 {
		return fmt.Sprintf("on this machine (%s CPUs, %s of memory)", groups[0].CPU, FormatQuantity(float64(envs[0].Env.MemBytes), "B"))
	}
	return "on these machines (" + processorsText(envs) + ")"
}

// limitsClause: the per-process file limit and the kernel settings that
// bind, from `make limits` (the capacity run's rlimit without it).
func limitsClause(resultsDir string, env Env) string {
	f, err := readLimits(resultsDir)
	if err != nil {
		if hard, ok := env.Rlimits["nofile_hard"]; ok {
			return fmt.Sprintf("getting around a per-process limit of %s open files (RLIMIT_NOFILE, hard)", numfmt.Number(float64(hard)))
		}
		return ""
	}
	var per, sysctls []string
	for _, r := range f.Report.Rows {
		_, way, around := strings.Cut(r.Lift, "way around: ")
		switch {
		case !r.Binds:
		case r.Kind == "per-process" && around && len(per) == 0:
			// The limit that cannot be lifted, only got around.
			per = append(per, fmt.Sprintf("getting around %s = %s (%s connections a process) with %s",
				r.Name, r.Value, numfmt.Number(float64(r.Allows)), way))
		case strings.HasPrefix(r.Lift, "sysctl "):
			sysctls = append(sysctls, r.Name)
		}
	}
	if len(sysctls) > 0 {
		per = append(per, fmt.Sprintf("raising %d kernel settings (%s)", len(sysctls), strings.Join(sysctls, ", ")))
	}
	return strings.Join(per, ", and ")
}

// kernelClause: the kernel memory per connection over the capacity arms.
func kernelClause(e *Experiment) string {
	lo, hi, ok := armRange(e, "kernel_bytes_per_conn", e.ArmNames())
	if !ok {
		return ""
	}
	million := numfmt.Number(lo * 1e6 / 1e9)
	if hi != lo {
		million += "–" + numfmt.Number(hi*1e6/1e9)
	}
	return fmt.Sprintf("%s of kernel memory per connection, counting both ends of each loopback connection (%s GB for the million)",
		rangeText(lo, hi, "B"), million)
}

// userClause: the server's own memory per connection, from the cheapest
// server to the dearest (the capacity arms and the peers at the end of
// their idle hold).
func userClause(capacity, peers *Experiment) string {
	type entry struct {
		who   string
		bytes float64
	}
	var got []entry
	for _, arm := range capacity.ArmNames() {
		if sp, ok := capacity.Metric("server_user_bytes_per_conn", arm); ok {
			got = append(got, entry{"`" + arm + "`", sp.Median})
		}
	}
	if peers != nil {
		for _, s := range peerServers(peers) {
			if sp, ok := peers.Metric("server_user_bytes_per_conn_hold", s.idle); ok && s.idle != "" {
				got = append(got, entry{s.server, sp.Median})
			}
		}
	}
	if len(got) == 0 {
		return ""
	}
	lo := slices.MinFunc(got, func(a, b entry) int { return cmpFloat(a.bytes, b.bytes) })
	hi := slices.MaxFunc(got, func(a, b entry) int { return cmpFloat(a.bytes, b.bytes) })
	if lo == hi {
		return fmt.Sprintf("%s of the server's own memory per connection (%s)", FormatQuantity(lo.bytes, "B"), lo.who)
	}
	return fmt.Sprintf("from %s (%s) to %s (%s) of the server's own memory per connection, depending on the server",
		FormatQuantity(lo.bytes, "B"), lo.who, FormatQuantity(hi.bytes, "B"), hi.who)
}

// keepaliveClause: the fastest keepalive rate answered in full at a
// million, what it cost, what a wire would carry, and what the next
// faster rate ran out of.
func keepaliveClause(e *Experiment) string {
	if e == nil {
		return ""
	}
	arms := keepaliveArms(e)
	slices.SortStableFunc(arms, func(a, b keepaliveArm) int { return cmpFloat(a.offered.Median, b.offered.Median) })
	best := -1
	for i, k := range arms {
		if k.inFull {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	k := arms[best]
	s := fmt.Sprintf("at one keepalive every %s per connection (%s/s), %.1f%% answered", IntervalText(k.interval), numfmt.Number(k.offered.Median),
		100*k.echoed.Median/k.offered.Median)
	if k.busyOK {
		s += fmt.Sprintf(" with %.2f of %d cores busy", k.busy.Median, k.cpus)
	}
	if k.serverUsOK {
		s += fmt.Sprintf(" and %s of server CPU each", FormatQuantity(k.serverUs.Median, "µs"))
	}
	s += fmt.Sprintf(", while a wire would carry them in %.1f%% of a %s card", 100*max(k.nicShare, k.packetShare), NICs[0].Name)
	if best+1 < len(arms) {
		n := arms[best+1]
		s += fmt.Sprintf("; at one every %s, %.0f%% were answered", IntervalText(n.interval), 100*n.echoed.Median/n.offered.Median)
		if n.saturated && max(n.nicShare, n.packetShare) < 1 {
			s += fmt.Sprintf(" with the %d cores saturated: the CPU runs out long before the network card", n.cpus)
		}
	}
	return s
}

// fillClause: how long the million took to fill, per engine, as the
// median over every run of the engine's hold arms.
func fillClause(e *Experiment) string {
	if e == nil {
		return ""
	}
	byEngine := holdArms(e)
	var parts []string
	for _, engine := range slices.Sorted(maps.Keys(byEngine)) {
		if sp, ok := pooled(e, "server_ramp_s", armNames(byEngine[engine])); ok {
			parts = append(parts, fmt.Sprintf("%s on %s", formatPooled(sp, "s"), engine))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "Filling the million took " + strings.Join(parts, " and ") + " (median [min–max] over every run of the engine's million-connection arms, not the fastest)."
}

// percentSpread is a share's spread in percent: "99.8% [99.5–100%] (n=2)",
// n shown when it differs from want.
func percentSpread(sp Spread, want int) string {
	pct := func(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) }
	s := pct(sp.Median) + "%"
	if sp.Min != sp.Max {
		s += " [" + pct(sp.Min) + "–" + pct(sp.Max) + "%]"
	}
	if sp.N != want {
		s += fmt.Sprintf(" (n=%d)", sp.N)
	}
	return s
}

// armRange is the lowest and highest of the arms' medians of metric.
func armRange(e *Experiment, metric string, arms []string) (lo, hi float64, ok bool) {
	for _, arm := range arms {
		sp, found := e.Metric(metric, arm)
		if !found {
			continue
		}
		if !ok {
			lo, hi, ok = sp.Median, sp.Median, true
		}
		lo, hi = min(lo, sp.Median), max(hi, sp.Median)
	}
	return lo, hi, ok
}

// rangeText is "8,200–8,420 B", in one display unit (one value when lo = hi).
func rangeText(lo, hi float64, unit string) string {
	if lo == hi {
		return FormatQuantity(lo, unit)
	}
	d := displayUnitFor(unit, hi)
	return d.format(lo) + "–" + d.format(hi) + d.suffix()
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
