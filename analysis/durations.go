package analysis

// The README's duration table: how long each step of a full reproduction
// took in its committed run, on which processor, and how much memory and
// how many connections it needed. From the committed results only, so
// that the README's numbers move when the results do.

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"c1m/numfmt"
	"c1m/schema"
)

// Step is one step of a full reproduction (an experiment, the chaos suite,
// the soak, ...) as its committed results ran it.
type Step struct {
	Name    string // "exp-1", "chaos", "vanish-scale", "soak", "limits"
	Command string // how to run it: "make exp-1"
	Runs    string // what ran: "2 arms × 1 repeat", "suite and storm on epoll, uring"
	Quick   bool   // the committed run was a quick one (SCALE=quick)
	Date    string // the day it started (YYYY-MM-DD); "" not recorded
	// Wall is the committed run's wall time: end minus start, summed over
	// the result files of a step that writes several; 0 when not recorded.
	Wall time.Duration
	// Processors are the processor models the run recorded ("MODEL × CPUs"),
	// in the order met; none when it recorded none.
	Processors []string
	// Conns is the most connections the step held (0: not recorded).
	Conns float64
	// PeakMemBytes is the largest sum, in one sample, of the kernel's slab,
	// the TCP socket buffers and the server's and client's proportional set
	// sizes (0: not sampled; experiments only).
	PeakMemBytes float64
	// MemTotalBytes is the machine's memory (0: not recorded).
	MemTotalBytes float64
}

// CommittedSteps reads resultsDir and returns the steps of a full
// reproduction that have results, in the order make reproduce runs them:
// the experiments by number, the chaos suite with its reconnect storms,
// the vanish-scale run, the soak on both engines, the limits. A step
// without results is left out.
func CommittedSteps(resultsDir string) ([]Step, error) {
	exps, err := Load(resultsDir)
	if err != nil {
		return nil, err
	}
	var steps []Step
	for i := range exps {
		steps = append(steps, experimentStep(&exps[i]))
	}
	for _, read := range []func(string) (Step, bool, error){chaosStep, reapStep, soakStep, limitsStep} {
		s, ran, err := read(resultsDir)
		if err != nil {
			return nil, err
		}
		if ran {
			steps = append(steps, s)
		}
	}
	return steps, nil
}

// runsOf says what an experiment ran: "2 arms × 3 repeats", or, where
// some arms repeated more than the experiment's Repeats (Arm.Repeats, as
// the harness runs them), "17 arms, 29 runs".
func runsOf(m Meta) string {
	arms, runs := plural(len(m.Arms), "arm"), 0
	for _, a := range m.Arms {
		runs += max(a.Repeats, m.Repeats)
	}
	if runs != len(m.Arms)*m.Repeats {
		return arms + ", " + plural(runs, "run")
	}
	return arms + " × " + plural(m.Repeats, "repeat")
}

// experimentStep is one experiment's committed run.
func experimentStep(e *Experiment) Step {
	m := e.Meta
	s := Step{Name: m.ID, Command: "make " + m.ID, Quick: m.Scale == "quick",
		Runs: runsOf(m), MemTotalBytes: float64(m.Env.MemBytes)}
	s.addSpan(m.Start, m.End)
	s.addProcessor(m.Env)
	for _, smp := range e.Samples { // maxima: the order does not matter
		s.Conns = math.Max(s.Conns, columnMax(smp.Column("conns_server")))
		s.PeakMemBytes = math.Max(s.PeakMemBytes, peakMemory(smp))
	}
	return s
}

// memoryColumns add up to what a run held in memory: kernel objects,
// socket buffers (their headers are in the slab too, so the sum errs a
// little high) and the two processes' pages, shared pages split between
// their sharers.
var memoryColumns = []string{"slab_bytes", "tcp_mem_bytes", "server_pss", "client_pss"}

// peakMemory is the largest sum of memoryColumns in one sample (0 when the
// samples have no slab column); a missing or empty cell counts as 0.
func peakMemory(s *Samples) float64 {
	if !slices.Contains(s.Columns, "slab_bytes") {
		return 0
	}
	peak := 0.0
	for i := range s.Rows {
		sum := 0.0
		for _, c := range memoryColumns {
			if j := slices.Index(s.Columns, c); j >= 0 && !math.IsNaN(s.Rows[i][j]) {
				sum += s.Rows[i][j]
			}
		}
		peak = math.Max(peak, sum)
	}
	return peak
}

func columnMax(col []float64) float64 {
	m := 0.0
	for _, v := range col {
		if !math.IsNaN(v) {
			m = math.Max(m, v)
		}
	}
	return m
}

// chaosStep is make chaos: the hostile-client suite and the reconnect
// storm, on each engine that has results.
func chaosStep(resultsDir string) (Step, bool, error) {
	dir := filepath.Join(resultsDir, "chaos")
	s := Step{Name: "chaos", Command: "make chaos"}
	suites, suiteRan, err := readRun(schema.ReadChaosReports, dir)
	if err != nil {
		return s, false, err
	}
	storms, stormRan, err := readRun(schema.ReadStorms, dir)
	if err != nil {
		return s, false, err
	}
	var engines, stormEngines []string
	for _, r := range suites {
		s.addSpan(r.Start, r.End)
		s.Quick = s.Quick || r.Quick
		engines = append(engines, r.EngineName())
		s.Conns = math.Max(s.Conns, float64(r.Scale.Population))
	}
	for _, r := range storms {
		s.addSpan(r.Start, r.End)
		s.Quick = s.Quick || r.Quick
		stormEngines = append(stormEngines, orValue(r.Engine))
		s.Conns = math.Max(s.Conns, float64(r.Scale.Conns))
	}
	var runs []string
	if suiteRan {
		runs = append(runs, "hostile-client suite on "+strings.Join(engines, ", "))
	}
	if stormRan {
		runs = append(runs, "reconnect storm on "+strings.Join(stormEngines, ", "))
	}
	s.Runs = strings.Join(runs, "; ")
	for _, f := range chaosFiles() {
		if err := s.addRecordedProcessor(filepath.Join(dir, f)); err != nil {
			return s, false, err
		}
	}
	return s, suiteRan || stormRan, nil
}

// chaosFiles are the chaos suite's result files, one per engine
// (schema.ChaosFiles): where its processor is recorded.
func chaosFiles() []string {
	var files []string
	for _, e := range schema.StormEngines {
		f, _ := schema.ChaosFiles(e)
		files = append(files, f)
	}
	return files
}

// reapStep is the vanish-scale run (make chaos CHAOS_FLAGS='-only
// vanish-scale', root): peers that vanish at scale.
func reapStep(resultsDir string) (Step, bool, error) {
	dir := filepath.Join(resultsDir, "chaos")
	s := Step{Name: "vanish-scale", Command: "make chaos CHAOS_FLAGS='-only vanish-scale'"}
	r, ran, err := readRun(schema.ReadReap, dir)
	if !ran {
		return s, false, err
	}
	s.addSpan(r.Start, r.End)
	s.Quick = r.Quick
	s.Conns = float64(r.Scale.Vanish + r.Scale.Live)
	names := make([]string, len(r.Arms))
	for i, a := range r.Arms {
		names[i] = a.Name
	}
	s.Runs = plural(len(r.Arms), "arm") + ": " + strings.Join(names, ", ")
	// Where the run recorded no processor, its live clients' results did.
	clients, err := filepath.Glob(filepath.Join(dir, "reap-*-live.json"))
	if err != nil {
		return s, false, err
	}
	for _, path := range append([]string{filepath.Join(dir, schema.ReapFile)}, clients...) {
		if err := s.addRecordedProcessor(path); err != nil {
			return s, false, err
		}
	}
	return s, true, nil
}

// soakStep is make soak: the soak on each engine that has results.
func soakStep(resultsDir string) (Step, bool, error) {
	s := Step{Name: "soak", Command: "make soak"}
	var engines []string
	for _, engine := range schema.SoakEngines {
		dir := filepath.Join(resultsDir, schema.SoakDir(engine))
		sum, ran, err := readRun(schema.ReadSoakSummary, dir)
		if err != nil {
			return s, false, err
		}
		if !ran {
			continue
		}
		engines = append(engines, sum.EngineName())
		s.addSpan(sum.Start, sum.End)
		s.Conns = math.Max(s.Conns, float64(sum.Conns))
		for _, f := range []string{schema.SoakSummaryFile, "client.json"} {
			if err := s.addRecordedProcessor(filepath.Join(dir, f)); err != nil {
				return s, false, err
			}
		}
	}
	s.Runs = "on " + strings.Join(engines, ", ")
	return s, len(engines) > 0, nil
}

// limitsStep is make limits: it records when it ran, not for how long (it
// takes seconds).
func limitsStep(resultsDir string) (Step, bool, error) {
	path := filepath.Join(resultsDir, "limits", "limits.json")
	s := Step{Name: "limits", Command: "make limits", Runs: "the OS limits for 1,000,000 connections"}
	var f struct {
		Time     string `json:"time"`
		CPUModel string `json:"cpu_model"`
	}
	if err := readJSON(path, &f); errors.Is(err, os.ErrNotExist) {
		return s, false, nil
	} else if err != nil {
		return s, false, err
	}
	s.Date = day(f.Time)
	if f.CPUModel != "" {
		s.Processors = []string{f.CPUModel}
	}
	return s, true, nil
}

// addSpan adds the wall time from start to end (RFC 3339) and takes the
// day of the earliest start; an unreadable time adds nothing.
func (s *Step) addSpan(start, end string) {
	t0, err0 := time.Parse(time.RFC3339, start)
	t1, err1 := time.Parse(time.RFC3339, end)
	if err0 != nil || err1 != nil || t1.Before(t0) {
		return
	}
	s.Wall += t1.Sub(t0)
	if d := day(start); s.Date == "" || d < s.Date {
		s.Date = d
	}
}

func day(rfc3339 string) string {
	t, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}

// addProcessor adds env's processor, once.
func (s *Step) addProcessor(env schema.Env) {
	if env.CPUModel == "" {
		return
	}
	p := env.CPUModel
	if env.CPUs > 0 {
		p = fmt.Sprintf("%s × %d", env.CPUModel, env.CPUs)
	}
	if !slices.Contains(s.Processors, p) {
		s.Processors = append(s.Processors, p)
	}
}

// addRecordedProcessor adds the processor a result file records in its
// env, or in its population's (the chaos suite's keepalive client): a
// file that is not there adds nothing.
func (s *Step) addRecordedProcessor(path string) error {
	var f struct {
		Env        *schema.Env `json:"env"`
		Population *struct {
			Env *schema.Env `json:"env"`
		} `json:"population"`
	}
	if err := readJSON(path, &f); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	switch {
	case f.Env != nil && f.Env.CPUModel != "":
		s.addProcessor(*f.Env)
	case f.Population != nil && f.Population.Env != nil:
		s.addProcessor(*f.Population.Env)
	}
	return nil
}

// The markers around the README's generated duration table: everything
// between them is rewritten by make report, nothing outside.
const (
	DurationsBegin = "<!-- durations:begin -->"
	DurationsEnd   = "<!-- durations:end -->"
)

// DurationsMarkdown renders the steps as the README's table, with their
// total, then what a million connections needed and where the numbers
// come from.
func DurationsMarkdown(steps []Step) string {
	t := table{Header: []string{"step", "what ran", "connections at most", "peak memory", "wall time", "processor", "run on"}}
	var total time.Duration
	quick := false
	for _, s := range steps {
		total += s.Wall
		runs := orDash(s.Runs)
		if s.Quick {
			runs += " (quick)"
			quick = true
		}
		t.Rows = append(t.Rows, []string{"`" + s.Command + "`", runs, countText(s.Conns), bytesText(s.PeakMemBytes),
			wallText(s.Wall), processorText(s.Processors), orDash(s.Date)})
	}
	t.Rows = append(t.Rows, []string{"**total**", "", "", "", "**" + wallText(total) + "**", "", ""})
	var b strings.Builder
	b.WriteString(t.Markdown())
	b.WriteString("\nWall time is each committed run's end minus its start (chaos and soak: summed over their result files;" +
		" `make limits` records when it ran, not for how long: seconds). Peak memory is the largest sum, in one sample of the" +
		" run, of the kernel's slab, the TCP socket buffers (`tcp_mem`) and the server's and client's proportional set size" +
		" (PSS); socket buffers' headers are in the slab too, so it errs a little high.")
	if quick {
		b.WriteString(" A step marked (quick) has only a quick run committed: its time says nothing of a full run.")
	}
	b.WriteString("\n")
	if line := millionMemoryLine(steps); line != "" {
		b.WriteString("\n" + line + "\n")
	}
	return b.String()
}

// millionMemoryLine says how much memory the experiments that held a
// million connections peaked at: the RAM a reproduction needs.
func millionMemoryLine(steps []Step) string {
	var lo, hi *Step
	for i := range steps {
		s := &steps[i]
		if s.Conns < 1e6 || s.PeakMemBytes == 0 {
			continue
		}
		if lo == nil || s.PeakMemBytes < lo.PeakMemBytes {
			lo = s
		}
		if hi == nil || s.PeakMemBytes > hi.PeakMemBytes {
			hi = s
		}
	}
	if lo == nil {
		return ""
	}
	line := fmt.Sprintf("At 1,000,000 connections the experiments peaked between %s (%s) and %s (%s) of memory",
		bytesText(lo.PeakMemBytes), lo.Name, bytesText(hi.PeakMemBytes), hi.Name)
	if lo == hi {
		line = fmt.Sprintf("At 1,000,000 connections %s peaked at %s of memory", lo.Name, bytesText(lo.PeakMemBytes))
	}
	if hi.MemTotalBytes > 0 {
		line += fmt.Sprintf(", on a machine of %s", bytesText(hi.MemTotalBytes))
	}
	return line + "."
}

func countText(n float64) string {
	if n == 0 {
		return "–"
	}
	return numfmt.Number(n)
}

// bytesText writes memory in GiB from 1 GiB on, so that the table's
// memory reads in one unit where it matters.
func bytesText(b float64) string {
	switch {
	case b == 0:
		return "–"
	case b >= 1<<30:
		return numfmt.Number(b/(1<<30)) + " GiB"
	}
	return FormatQuantity(b, "B")
}

// wallText writes a wall time for people: "45 s", "3.5 min", "2 h 05 min".
func wallText(d time.Duration) string {
	switch {
	case d <= 0:
		return "not recorded"
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%.1f min", d.Minutes())
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
}

func processorText(p []string) string {
	if len(p) == 0 {
		return "not recorded"
	}
	return strings.Join(p, " and ")
}

// ReplaceMarked replaces what lies between the lines begin and end of doc
// with content, keeping the markers and everything outside them.
func ReplaceMarked(doc, begin, end, content string) (string, error) {
	if strings.Count(doc, begin) != 1 || strings.Count(doc, end) != 1 {
		return "", fmt.Errorf("want the markers %s and %s once each (found %d and %d): put them, each on a line of its own, around the generated part",
			begin, end, strings.Count(doc, begin), strings.Count(doc, end))
	}
	i, j := strings.Index(doc, begin)+len(begin), strings.Index(doc, end)
	if j < i {
		return "", fmt.Errorf("%s comes before %s: swap them", end, begin)
	}
	if content != "" && !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	return doc[:i] + "\n" + content + doc[j:], nil
}

// WriteREADMEDurations rewrites the duration table between the markers of
// the README at path from the committed results in resultsDir.
func WriteREADMEDurations(resultsDir, path string) error {
	steps, err := CommittedSteps(resultsDir)
	if err != nil {
		return err
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the README for its duration table (-readme \"\" skips it): %w", err)
	}
	out, err := ReplaceMarked(string(doc), DurationsBegin, DurationsEnd, DurationsMarkdown(steps))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if out == string(doc) {
		return nil
	}
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
