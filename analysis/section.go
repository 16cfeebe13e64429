package analysis

// An experiment's section of the report: its setup, arms, metrics, load
// client numbers and check verdicts.

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"c1m/measured"
	"c1m/spread"
)

type experimentView struct {
	Heading, Question, Hypothesis, Factor, Setup string
	Provenance                                   provenanceView
	Arms, Metrics, Clients                       table
	Figures                                      []figureView
	SkippedFigures, Checks, Notes                []string
	Ratios                                       []ratioView // see ratios.go
	Curves                                       []ratioView // see curve.go
}

func newExperimentView(e *Experiment, figs []FigureFile, skipped []string, outDir string, stale *staleness) experimentView {
	m := e.Meta
	v := experimentView{
		Heading:        heading(e),
		Question:       m.Question,
		Hypothesis:     m.Hypothesis,
		Factor:         m.Factor,
		Figures:        figureViews(figs, outDir),
		SkippedFigures: skipped,
		Notes:          m.Notes,
		Metrics:        metricsTable(e),
		Clients:        clientTable(e),
		Ratios:         ratioTables(e),
		Curves:         curveTables(e),
	}
	v.Setup = fmt.Sprintf("%d arm(s), interleaved, %d repeat(s) each, scale %s; ran %s to %s at commit %s (%s, kernel %s, %s).",
		len(m.Arms), m.Repeats, orDash(m.Scale), orDash(m.Start), orDash(m.End), orDash(m.Env.GitCommit),
		orDash(m.Env.GoVersion), orDash(m.Env.Kernel), rootText(m.Env.Root))
	v.Provenance = stale.describe(m.ID, measured.Experiment(m.Number), &m.Env, m.Start, "make "+m.ID)
	v.Arms.Header = []string{"arm", "server flags", "client flags", "note"}
	for _, a := range m.Arms {
		v.Arms.Rows = append(v.Arms.Rows, []string{"`" + a.Name + "`", flags(a.ServerFlags), flags(a.ClientFlags), a.Note})
	}
	for _, r := range e.EvaluateChecks() {
		v.Checks = append(v.Checks, checkSentence(e, r))
	}
	return v
}

func flags(f []string) string {
	if len(f) == 0 {
		return "–"
	}
	return "`" + strings.Join(f, " ") + "`"
}

// metricsTable has a row per metric (declared ones first, then any other
// summary column) and a column per arm: median [min–max].
func metricsTable(e *Experiment) table {
	var names []string
	for _, m := range e.Meta.Metrics {
		names = append(names, m.Name)
	}
	var extra []string
	for _, r := range e.Runs {
		for k := range r.Values {
			if !slices.Contains(names, k) && !slices.Contains(extra, k) {
				extra = append(extra, k)
			}
		}
	}
	slices.Sort(extra)
	names = append(names, extra...)
	t := table{Header: append([]string{"metric"}, quoteAll(e.ArmNames())...)}
	for _, name := range names {
		row := []string{metricLabel(e, name)}
		for _, arm := range e.ArmNames() {
			if sp, ok := e.Metric(name, arm); ok {
				row = append(row, FormatSpread(sp, unitOf(e, name), e.Meta.Repeats))
			} else {
				row = append(row, "not measured")
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// metricLabel names a metric's row: its name and which way is better.
// No unit: every cell carries its own, scaled to its size (a `_us` metric
// of 3,100 µs reads "3.10 ms"), so a unit in the label would contradict it.
func metricLabel(e *Experiment, name string) string {
	if b := e.MetricInfo(name).Better; b != "" {
		return name + " (" + betterText(b) + ")"
	}
	return name
}

func betterText(b string) string {
	if b == "" {
		return ""
	}
	return b + " is better"
}

func nonEmpty(s ...string) []string {
	return slices.DeleteFunc(s, func(x string) bool { return x == "" })
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "`" + n + "`"
	}
	return out
}

// clientFields are the columns of the load-client table. A percentile of
// an empty histogram (n = 0) is NaN: not measured.
var clientFields = []struct {
	name, unit string
	get        func(*ClientResult) float64
}{
	{"established", "", func(c *ClientResult) float64 { return c.Established }},
	{"ramp", "s", func(c *ClientResult) float64 { return c.RampSeconds }},
	{"connect p50", "µs", func(c *ClientResult) float64 { return c.ConnectUs.at(c.ConnectUs.P50) }},
	{"connect p99", "µs", func(c *ClientResult) float64 { return c.ConnectUs.at(c.ConnectUs.P99) }},
	{"RTT p50", "µs", func(c *ClientResult) float64 { return c.RttUs.at(c.RttUs.P50) }},
	{"RTT p90", "µs", func(c *ClientResult) float64 { return c.RttUs.at(c.RttUs.P90) }},
	{"RTT p99", "µs", func(c *ClientResult) float64 { return c.RttUs.at(c.RttUs.P99) }},
	{"RTT p99.9", "µs", func(c *ClientResult) float64 { return c.RttUs.at(c.RttUs.P999) }},
	{"RTT max", "µs", func(c *ClientResult) float64 { return c.RttUs.at(c.RttUs.Max) }},
	{"echoed", "", func(c *ClientResult) float64 { return c.Echoed }},
	{"timeouts", "", func(c *ClientResult) float64 { return c.Timeouts }},
	{"mismatched", "", func(c *ClientResult) float64 { return c.Mismatched }},
}

// at is v, or NaN when the histogram is empty.
func (p Percentiles) at(v float64) float64 {
	if p.N == 0 {
		return math.NaN()
	}
	return v
}

// clientTable has a row per arm with the load client's numbers, each the
// median over the arm's repeats.
func clientTable(e *Experiment) table {
	t := table{Header: []string{"arm", "runs"}}
	for _, f := range clientFields {
		t.Header = append(t.Header, f.name)
	}
	for _, arm := range e.ArmNames() {
		results := clientResults(e, arm)
		if len(results) == 0 {
			continue
		}
		row := []string{"`" + arm + "`", strconv.Itoa(len(results))}
		for _, f := range clientFields {
			var values []float64
			for _, r := range results {
				if v := f.get(r); !math.IsNaN(v) {
					values = append(values, v)
				}
			}
			if sp, ok := spread.Of(values); ok {
				row = append(row, FormatQuantity(sp.Median, f.unit))
			} else {
				row = append(row, "–")
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

func clientResults(e *Experiment, arm string) []*ClientResult {
	reps := repsOf(e.Clients, arm)
	out := make([]*ClientResult, len(reps))
	for i, rep := range reps {
		out[i] = e.Clients[RunID{arm, rep}]
	}
	return out
}

// checkSentence writes a check's verdict with the numbers behind it.
func checkSentence(e *Experiment, r CheckResult) string {
	claim := r.Claim
	if claim == "" {
		claim = fmt.Sprintf("%s of %s %s %s", r.Metric, r.A, r.Expect, r.B)
	}
	if r.Problem != "" {
		return fmt.Sprintf("**%s**: %s (%s).", r.Verdict, claim, r.Problem)
	}
	unit := unitOf(e, r.Metric)
	want := e.Meta.Repeats
	s := fmt.Sprintf("**%s**: %s. `%s` of `%s` is %s against %s for `%s`", r.Verdict, claim, r.Metric, r.A,
		FormatSpread(r.SpreadA, unit, want), FormatSpread(r.SpreadB, unit, want), r.B)
	if ratio := spread.RatioOfMedians(r.SpreadA, r.SpreadB); !math.IsNaN(ratio) {
		s += fmt.Sprintf(" (ratio of medians %s)", strconv.FormatFloat(ratio, 'f', 3, 64))
	}
	tol := strconv.FormatFloat(math.Abs(r.Tolerance)*100, 'f', -1, 64) + "%"
	// A negative tolerance asks for a margin: a<=b by 33% means at most 67% of b.
	below, above := " below ", " above "
	if r.Tolerance < 0 {
		below, above = above, below
	}
	switch r.Expect {
	case "a>=b":
		s += "; the claim needs at least " + FormatQuantity(r.SpreadB.Median*(1-r.Tolerance), unit)
		if r.Tolerance != 0 {
			s += " (" + tol + below + r.B + ")"
		}
	case "a<=b":
		s += "; the claim needs at most " + FormatQuantity(r.SpreadB.Median*(1+r.Tolerance), unit)
		if r.Tolerance != 0 {
			s += " (" + tol + above + r.B + ")"
		}
	case "a~b":
		s += "; the claim needs the two within " + tol + " of each other"
	}
	return s + "."
}
