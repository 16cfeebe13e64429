package analysis

import (
	"bytes"
	_ "embed"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"c1m/spread"
)

//go:embed report.tmpl
var reportSource string

var reportTemplate = template.Must(template.New("report.tmpl").Parse(reportSource))

// WriteReport loads resultsDir, draws every experiment's figures and the
// wire model's (into resultsDir/model), and writes the report to outPath.
func WriteReport(resultsDir, outPath string) error {
	exps, err := Load(resultsDir)
	if err != nil {
		return err
	}
	outDir := filepath.Dir(outPath)
	v := reportView{Results: link(outDir, resultsDir), CheckRule: CheckRule}
	for i := range exps {
		figs, skipped, err := WriteFigures(&exps[i])
		if err != nil {
			return err
		}
		v.Experiments = append(v.Experiments, newExperimentView(&exps[i], figs, skipped, outDir))
	}
	modelFigs, err := WriteModelFigures(filepath.Join(resultsDir, "model"))
	if err != nil {
		return err
	}
	v.ModelFigures = figureViews(modelFigs, outDir)
	if v.Q1, v.LimitsTable, err = limitsAnswer(resultsDir); err != nil {
		return err
	}
	v.Q1 = append(v.Q1, answerLimits(exps)...)
	v.Q2 = answerPerConn(exps, "kernel_bytes_per_conn", "Kernel memory")
	v.Q2 = append(v.Q2, slabBreakdowns(exps)...)
	v.Q3 = answerPerConn(exps, "server_user_bytes_per_conn", "Server user-space memory")
	v.Q4, v.ModelTable = answerKeepalives(exps)
	v.Million = answerMillion(exps)
	v.Peers1M = peersAtMillion(exps, v.Experiments)
	v.Env = newEnvView(exps)
	if v.Robustness, err = newRobustnessView(resultsDir, outDir); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, v); err != nil {
		return fmt.Errorf("report template: %w", err)
	}
	if err := os.WriteFile(outPath, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}

type reportView struct {
	Results        string
	CheckRule      string
	Q1, Q2, Q3, Q4 []string // markdown list items
	Million        []string // at 1,000,000 connections: fill time and keepalive rate (million.go)
	LimitsTable    table    // results/limits (limits.go)
	ModelTable     table
	ModelFigures   []figureView
	Experiments    []experimentView
	Peers1M        peersView // the core and its peers at 1M, side by side (peers1m.go)
	Env            envView
	Robustness     robustnessView // results/chaos and results/soak (chaos.go)
}

type experimentView struct {
	Heading, Question, Hypothesis, Factor, Setup string
	Arms, Metrics, Clients                       table
	Figures                                      []figureView
	SkippedFigures, Checks, Notes                []string
	Ratios                                       []ratioView // see ratios.go
	Curves                                       []ratioView // see curve.go
}

type figureView struct{ Kind, Title, PNG, SVG, Caption string }

type envView struct{ Machine, Settings, Runs table }

// table is a markdown table; an empty one renders as nothing.
type table struct {
	Header []string
	Rows   [][]string
}

// Markdown renders the table, escaping pipes in cells.
func (t table) Markdown() string {
	if len(t.Rows) == 0 {
		return ""
	}
	var b strings.Builder
	line := func(cells []string) {
		for _, c := range cells {
			b.WriteString("| " + strings.ReplaceAll(strings.ReplaceAll(c, "|", `\|`), "\n", " ") + " ")
		}
		b.WriteString("|\n")
	}
	line(t.Header)
	line(slices.Repeat([]string{"---"}, len(t.Header)))
	for _, r := range t.Rows {
		line(r)
	}
	return b.String()
}

func newExperimentView(e *Experiment, figs []FigureFile, skipped []string, outDir string) experimentView {
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
	v.Arms.Header = []string{"arm", "server flags", "client flags", "note"}
	for _, a := range m.Arms {
		v.Arms.Rows = append(v.Arms.Rows, []string{"`" + a.Name + "`", flags(a.ServerFlags), flags(a.ClientFlags), a.Note})
	}
	for _, r := range e.EvaluateChecks() {
		v.Checks = append(v.Checks, checkSentence(e, r))
	}
	return v
}

func rootText(root bool) string {
	if root {
		return "as root"
	}
	return "not root"
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func flags(f []string) string {
	if len(f) == 0 {
		return "–"
	}
	return "`" + strings.Join(f, " ") + "`"
}

func heading(e *Experiment) string {
	if e.Meta.Number > 0 {
		return fmt.Sprintf("Experiment %d: %s", e.Meta.Number, e.Meta.Title)
	}
	return e.Meta.ID + ": " + e.Meta.Title
}

// anchor is the id GitHub gives a heading.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func link(fromDir, path string) string {
	rel, err := filepath.Rel(fromDir, path)
	if err != nil {
		rel = path
	}
	return filepath.ToSlash(rel)
}

func figureViews(figs []FigureFile, outDir string) []figureView {
	var out []figureView
	for _, f := range figs {
		out = append(out, figureView{Kind: f.Kind, Title: f.Title, PNG: link(outDir, f.Base+".png"), SVG: link(outDir, f.Base+".svg"), Caption: f.Caption})
	}
	return out
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
		m := e.MetricInfo(name)
		label := name
		if u := unitOf(e, name); u != "" || m.Better != "" {
			label += " (" + strings.Join(nonEmpty(u, betterText(m.Better)), ", ") + ")"
		}
		row := []string{label}
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

// newEnvView describes the machine (from the summary's environment), the
// settings with any experiment that ran with a different value, and every
// experiment's run.
func newEnvView(exps []Experiment) envView {
	var v envView
	env, id, ok := envOf(exps)
	if !ok {
		return v
	}
	v.Machine = table{Header: []string{"", "from " + id}, Rows: [][]string{
		{"kernel", orDash(env.Kernel)},
		{"CPU", fmt.Sprintf("%s × %d", orDash(env.CPUModel), env.CPUs)},
		{"memory", FormatQuantity(float64(env.MemBytes), "B")},
		{"Go", orDash(env.GoVersion)},
	}}
	settings := map[string]string{}
	for k, val := range env.Sysctls {
		settings[k] = val
	}
	for k, val := range env.Rlimits {
		settings["rlimit "+k] = strconv.FormatUint(val, 10)
	}
	v.Settings.Header = []string{"setting", "value", "differs in"}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		var differs []string
		for _, e := range exps {
			other, ok := e.Meta.Env.Sysctls[k]
			if r, isRlimit := strings.CutPrefix(k, "rlimit "); isRlimit {
				n, has := e.Meta.Env.Rlimits[r]
				other, ok = strconv.FormatUint(n, 10), has
			}
			if ok && other != settings[k] {
				differs = append(differs, fmt.Sprintf("%s: %s", e.Meta.ID, formatSysctl(other)))
			}
		}
		v.Settings.Rows = append(v.Settings.Rows, []string{k, formatSysctl(settings[k]), strings.Join(differs, "; ")})
	}
	v.Runs.Header = []string{"experiment", "scale", "repeats", "start", "end", "commit", "Go", "root"}
	for _, e := range exps {
		m := e.Meta
		v.Runs.Rows = append(v.Runs.Rows, []string{m.ID, orDash(m.Scale), strconv.Itoa(m.Repeats), orDash(m.Start), orDash(m.End),
			orDash(m.Env.GitCommit), orDash(m.Env.GoVersion), strconv.FormatBool(m.Env.Root)})
	}
	return v
}
