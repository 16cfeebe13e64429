package analysis

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
)

//go:embed report.tmpl
var reportSource string

var reportTemplate = template.Must(template.New("report.tmpl").Parse(reportSource))

// Options are WriteReportWith's choices beyond the directories.
type Options struct {
	// RepoRoot is in the git work tree whose history says whether a result
	// is stale; "" is the parent of the results directory (or, when that
	// is in none, the current directory).
	RepoRoot string
	// Changed, when set, replaces asking git in RepoRoot (tests).
	Changed ChangedFunc
}

// WriteReport is WriteReportWith the default options.
func WriteReport(resultsDir, outPath string) error {
	return WriteReportWith(resultsDir, outPath, Options{})
}

// WriteReportWith loads resultsDir, draws every experiment's figures and
// the wire model's (into resultsDir/model), and writes the report to
// outPath, marking the sections whose code changed since they ran.
func WriteReportWith(resultsDir, outPath string, opt Options) error {
	exps, err := Load(resultsDir)
	if err != nil {
		return err
	}
	changed := opt.Changed
	if changed == nil {
		root := opt.RepoRoot
		if root == "" {
			root = repoRootOf(resultsDir)
		}
		changed = gitChanges(root)
	}
	stale := newStaleness(changed)
	outDir := filepath.Dir(outPath)
	v := reportView{Results: link(outDir, resultsDir), CheckRule: CheckRule}
	for i := range exps {
		figs, skipped, err := WriteFigures(&exps[i])
		if err != nil {
			return err
		}
		v.Experiments = append(v.Experiments, newExperimentView(&exps[i], figs, skipped, outDir, stale))
	}
	modelFigs, err := WriteModelFigures(filepath.Join(resultsDir, "model"))
	if err != nil {
		return err
	}
	v.ModelFigures = figureViews(modelFigs, outDir)
	if v.Q1, v.LimitsTable, v.LimitsProvenance, err = limitsAnswer(resultsDir, stale); err != nil {
		return err
	}
	v.Q1 = append(v.Q1, answerLimits(exps)...)
	v.Q2 = answerPerConn(exps, "kernel_bytes_per_conn", "Kernel memory")
	v.Q2 = append(v.Q2, slabBreakdowns(exps)...)
	v.Q3 = answerPerConn(exps, "server_user_bytes_per_conn", "Server user-space memory")
	v.Q4, v.ModelTable = answerKeepalives(exps)
	v.Million = answerMillion(exps)
	v.Peers1M = peersAtMillion(exps, v.Experiments)
	v.Answer = answerParagraph(resultsDir, exps)
	v.Q1Sum.Table, v.Q1Sum.Notes = q1Table(resultsDir, exps)
	v.Q2Sum.Table, v.Q2Sum.Notes = q2Table(exps)
	v.Q3Sum.Table, v.Q3Sum.Notes = q3Table(exps)
	v.Q4Sum.Table, v.Q4Sum.Notes = q4Table(exps)
	v.MillionSum.Table, v.MillionSum.Notes = millionTable(exps)
	v.Details = detailLinks()
	if v.Robustness, err = newRobustnessView(resultsDir, outDir, stale); err != nil {
		return err
	}
	if r := v.Robustness.sentence(); r != "" {
		v.Answer += " " + r
	}
	v.Staleness = stale.summaryLine()
	v.Env = newEnvView(exps, stale.envs)
	v.Processors = mixedProcessors(stale.envs)
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
	// The summary (answer.go): the answer, a table per question and one
	// at a million, and links to the details.
	Answer                                 string
	Q1Sum, Q2Sum, Q3Sum, Q4Sum, MillionSum summaryBlock
	Details                                string

	Results          string
	CheckRule        string
	Q1, Q2, Q3, Q4   []string // markdown list items
	Million          []string // at 1,000,000 connections: fill time and keepalive rate (million.go)
	LimitsTable      table    // results/limits (limits.go)
	LimitsProvenance provenanceView
	Staleness        string // how many sections are stale (provenance.go)
	ModelTable       table
	ModelFigures     []figureView
	Experiments      []experimentView
	Peers1M          peersView // the core and its peers at 1M, side by side (peers1m.go)
	Env              envView
	Processors       string         // which experiments ran on which processor, when they differ
	Robustness       robustnessView // results/chaos, results/soak and results/soak-uring (chaos.go)
}

// summaryBlock is a compact table of the summary and the notes under it.
type summaryBlock struct {
	Table table
	Notes []string
}

type figureView struct{ Kind, Title, PNG, SVG, Caption string }

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
