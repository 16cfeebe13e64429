package analysis

// The robustness section of the report: the hostile-client suite
// (results/chaos, written by cmd/c1m-chaos) and the soaks (results/soak
// on epoll and results/soak-uring, written by cmd/c1m-soak). None of these
// directories has a meta.json, so Load leaves them to this file.

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"c1m/measured"
	"c1m/numfmt"
	"c1m/schema"
)

type robustnessView struct {
	ChaosRan    bool
	ChaosSuites []chaosSuiteView // one per engine that ran
	ChaosRules  []string
	ChaosNotes  []string

	StormRan        bool
	StormProvenance []provenanceView // one per storm file
	StormSetup      string
	StormVerdict    string
	Storm           table
	StormNotes      []string
	StormFigures    []figureView

	ReapRan        bool
	ReapProvenance provenanceView
	ReapSetup      string
	ReapVerdict    string
	Reap           table
	ReapNotes      []string

	Soaks []soakView // one per engine that ran, in schema.SoakEngines' order

	Summary table    // the summary's table: a row per check and engine (robustsum.go)
	failed  []string // its failed rows, "check (engine)"
}

// soakView is one soak's part of the section.
type soakView struct {
	Engine, Dir    string // Dir: results/soak or results/soak-ENGINE, from the report
	Provenance     provenanceView
	Setup, Verdict string
	Table          table
	Figures        []figureView
}

// newRobustnessView reads resultsDir/chaos and the soaks' directories; a
// missing directory is a section saying it has not run, not an error.
func newRobustnessView(resultsDir, outDir string, stale *staleness) (robustnessView, error) {
	var v robustnessView
	if err := v.addChaos(filepath.Join(resultsDir, "chaos"), stale); err != nil {
		return v, err
	}
	if err := v.addStorm(filepath.Join(resultsDir, "chaos"), outDir, stale); err != nil {
		return v, err
	}
	if err := v.addReap(filepath.Join(resultsDir, "chaos"), stale); err != nil {
		return v, err
	}
	for _, engine := range schema.SoakEngines {
		if err := v.addSoak(resultsDir, schema.SoakDir(engine), outDir, stale); err != nil {
			return v, err
		}
	}
	return v, nil
}

// readRun reads a result from dir with read; a result that is not there
// has not run yet (ran false), which is no error.
func readRun[T any](read func(dir string) (T, error), dir string) (res T, ran bool, err error) {
	res, err = read(dir)
	if errors.Is(err, os.ErrNotExist) {
		return res, false, nil
	}
	return res, err == nil, err
}

// chaosSuiteView is the suite's run on one engine: its setup, verdict
// and a row per scenario.
type chaosSuiteView struct {
	Provenance     provenanceView
	Setup, Verdict string
	Table          table
}

// addChaos renders the suite's runs (chaos.json, chaos-uring.json), a
// table each under its engine's name; rules once (their union), notes
// under their engine's name when more than one ran.
func (v *robustnessView) addChaos(dir string, stale *staleness) error {
	reps, ran, err := readRun(schema.ReadChaosReports, dir)
	if !ran {
		return err
	}
	v.ChaosRan = true
	rules := map[string]string{}
	for _, rep := range reps {
		suite, notes := chaosSuite(rep)
		file, _ := schema.ChaosFiles(rep.Engine)
		if suite.Provenance, err = stale.describeFile("chaos on "+rep.EngineName(), measured.Chaos, filepath.Join(dir, file), rep.Start, "make chaos"); err != nil {
			return err
		}
		v.ChaosSuites = append(v.ChaosSuites, suite)
		v.chaosRow(rep)
		for _, note := range notes {
			if len(reps) > 1 {
				note = rep.EngineName() + ": " + note
			}
			v.ChaosNotes = append(v.ChaosNotes, note)
		}
		for k, r := range rep.Rules {
			if _, ok := rules[k]; !ok {
				rules[k] = r
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(rules)) {
		v.ChaosRules = append(v.ChaosRules, "**"+k+"**: "+rules[k])
	}
	return nil
}

// chaosSuite renders one engine's run, and its scenarios' notes.
func chaosSuite(rep schema.ChaosReport[schema.PopulationTotals]) (v chaosSuiteView, notes []string) {
	scale := "full"
	if rep.Quick {
		scale = "quick"
	}
	v.Setup = fmt.Sprintf("**%s engine.** Scale %s, %s to %s: a population of %d keepalive connections (one echo each every %v, every byte verified) on `c1m-server %s`, quiet at %.2f cores; each scenario alone for %v, then all at once with half the connections each.",
		rep.EngineName(), scale, orDash(rep.Start), orDash(rep.End), rep.Scale.Population, rep.Scale.Interval, strings.Join(rep.ServerFlags, " "), rep.QuietCores, rep.Scale.Hold)
	v.Verdict = fmt.Sprintf("**%d of %d scenarios passed.**", scenariosPassed(rep.Scenarios), len(rep.Scenarios))
	if len(rep.Failed) > 0 {
		v.Verdict += " Failed: " + strings.Join(rep.Failed, ", ") + "."
	}
	if p := rep.Population; p != nil {
		v.Verdict += fmt.Sprintf(" Over the whole run the population sent %s echoes, got %s back verified, %s mismatched, %s unanswered at the close, %s connections dropped.",
			numfmt.Number(float64(p.Sent)), numfmt.Number(float64(p.Echoed)), numfmt.Number(float64(p.Mismatched)),
			numfmt.Number(float64(p.InFlightAtClose)), numfmt.Number(float64(sumValues(p.Dropped))))
	}
	v.Table = scenarioTable(rep.Scenarios)
	for _, o := range rep.Scenarios {
		for _, note := range o.Notes {
			if name, rest, ok := strings.Cut(note, ": "); ok && name == o.Name {
				note = rest // a scenario's own note, already under its name
			}
			notes = append(notes, "`"+o.Name+"`: "+note)
		}
	}
	return v, notes
}

// scenariosPassed counts the scenarios that passed.
func scenariosPassed(outcomes []schema.ScenarioOutcome) int {
	n := 0
	for _, o := range outcomes {
		if o.Pass {
			n++
		}
	}
	return n
}

// scenarioTable is a row per scenario; the server's connections after
// settling get a column when the run counted them.
func scenarioTable(outcomes []schema.ScenarioOutcome) (t table) {
	t.Header = []string{"scenario", "verdict", "population echoes sent / verified", "lost", "mismatched", "timeouts",
		"attacker conns (ok)", "attacker errors", "server fds before → peak → after", "server RSS before → peak → after", "server CPU"}
	withConns := slices.ContainsFunc(outcomes, func(o schema.ScenarioOutcome) bool { return o.ConnsAfter != nil })
	if withConns {
		t.Header = append(t.Header, "server conns after")
	}
	n := func(x int64) string { return numfmt.Number(float64(x)) }
	for _, o := range outcomes {
		verdict := "pass"
		if !o.Pass {
			verdict = "**FAIL**: " + strings.Join(o.Failures, "; ")
		}
		cpu := FormatQuantity(o.CPUSeconds, "s")
		if o.HoldCPUPerSec > 0 {
			cpu += fmt.Sprintf(" (%.2f cores while held)", o.HoldCPUPerSec)
		}
		row := []string{"`" + o.Name + "`", verdict, n(o.Sent) + " / " + n(o.Verified), n(o.Lost), n(o.Mismatched), n(o.Timeouts),
			fmt.Sprintf("%s (%s)", n(o.Attempted), n(o.AttackerOK)), orDash(schema.FormatErrors(o.AttackerErrors)),
			fmt.Sprintf("%d → %d → %d", o.FDsBefore, o.FDsPeak, o.FDsAfter),
			fmt.Sprintf("%s → %s → %s", FormatQuantity(float64(o.RSSBefore), "B"), FormatQuantity(float64(o.RSSPeak), "B"), FormatQuantity(float64(o.RSSAfter), "B")),
			cpu}
		if withConns {
			row = append(row, "–")
			if o.ConnsAfter != nil {
				row[len(row)-1] = n(*o.ConnsAfter)
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// soakEngineNote says what the soak's fd count means on its engine.
var soakEngineNote = map[string]string{
	"epoll": "The server ran the epoll engine in prefork processes (`-strategy prefork`: one fd table each, so the fds summed over its process tree count its sockets).",
	"uring": "The server ran the uring engine: its sockets live in the rings' registered-file tables, not in the fd table, so its fds stay at the idle count while it holds connections and catch leaked listeners, rings and eventfds; `/stats` conns is what must come back to 0.",
}

// addSoak renders the soak in resultsDir/name, when it ran.
func (v *robustnessView) addSoak(resultsDir, name, outDir string, stale *staleness) error {
	dir := filepath.Join(resultsDir, name)
	s, ran, err := readRun(schema.ReadSoakSummary, dir)
	if !ran {
		return err
	}
	sv := soakView{Engine: s.EngineName(), Dir: link(outDir, dir)}
	if sv.Provenance, err = stale.describeFile(name, measured.Soak, filepath.Join(dir, schema.SoakSummaryFile), s.Start, "make soak"); err != nil {
		return err
	}
	sv.Setup = fmt.Sprintf("%s to %s (%s in all): %s connections from `c1m-client -churn %s` (closing and reopening that many idle connections per second once all were open), a keepalive on each every %s; sampled every few seconds.",
		orDash(s.Start), orDash(s.End), FormatQuantity(s.DurationS, "s"), numfmt.Number(float64(s.Conns)), strconv.FormatFloat(s.ChurnPerS, 'g', -1, 64), FormatQuantity(s.IntervalS, "s"))
	if note := soakEngineNote[sv.Engine]; note != "" {
		sv.Setup = note + " " + sv.Setup
	}
	sv.Verdict = "**Passed.** Rule: " + s.Rule + "."
	if !s.Pass {
		sv.Verdict = "**Failed**: " + strings.Join(s.Failures, "; ") + ". Rule: " + s.Rule + "."
	}
	sv.Table = soakTable(s)
	v.soakRow(s)
	sv.Figures, err = samplesFigure(dir, schema.SoakSamplesFile, outDir, func(samples *Samples, dir string) (FigureFile, error) {
		return soakFigure(samples, dir, s)
	})
	v.Soaks = append(v.Soaks, sv)
	return err
}

// soakTable is a soak's numbers; the connections after the close only
// where the soak recorded them.
func soakTable(s schema.SoakSummary) table {
	pct := func(x float64) string { return fmt.Sprintf("%+.1f%%", 100*x) }
	n := func(x int64) string { return numfmt.Number(float64(x)) }
	t := table{Header: []string{"what", "value"}}
	t.Rows = [][]string{
		{"peak connections on the server", numfmt.Number(s.PeakConns)},
		{"connections churned (closed and reopened)", n(s.Churned)},
		{"server fds idle → after the close", fmt.Sprintf("%d → %d", s.IdleFDs, s.FinalFDs)},
	}
	if c := s.FinalConns; c != nil {
		after := n(*c)
		if *c < 0 {
			after = "no answer"
		}
		t.Rows = append(t.Rows, []string{"server connections after the close (/stats conns)", after})
	}
	t.Rows = append(t.Rows, [][]string{
		{"server RSS, last quarter of the hold vs the second", pct(s.RSSDrift)},
		{"slab, last quarter of the hold vs the second", pct(s.SlabDrift)},
		{"echoes sent / verified", n(s.Sent) + " / " + n(s.Echoed)},
		{"mismatched / unanswered at close / timeouts", fmt.Sprintf("%s / %s / %s", n(s.Mismatched), n(s.InFlightAtClose), n(s.Timeouts))},
		{"connections dropped by the server", n(s.Dropped)},
	}...)
	return t
}

// samplesFigure draws a figure of the samples in dir/file, when there are any.
func samplesFigure(dir, file, outDir string, draw func(*Samples, string) (FigureFile, error)) ([]figureView, error) {
	samples, err := readSamples(filepath.Join(dir, file))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ff, err := draw(samples, dir)
	if err != nil || ff.Base == "" {
		return nil, err
	}
	return figureViews([]FigureFile{ff}, outDir), nil
}

// sampleLine is column col of s over t_s in the i-th colour; nil when the
// column has no points.
func sampleLine(s *Samples, col string, i int) (*plotter.Line, error) {
	pts := samplePoints(s, "t_s", col, false)
	if len(pts) == 0 {
		return nil, nil
	}
	line, err := plotter.NewLine(pts)
	if err != nil {
		return nil, err
	}
	line.Color, line.Width = plotutil.Color(i), vg.Points(1.5)
	return line, nil
}

// addSampleLine draws column col of s on p in the i-th colour and dashes,
// under label in p's legend; a column without points draws nothing.
func addSampleLine(p *plot.Plot, s *Samples, col string, i int, label string) error {
	line, err := sampleLine(s, col, i)
	if err != nil || line == nil {
		return err
	}
	line.Dashes = plotutil.Dashes(i)
	p.Add(line)
	p.Legend.Add(label, line)
	return nil
}

// soakFigure draws the server's fds and RSS, the kernel's slab and the
// connections over the soak sum, one panel each; its caption names what
// the soak's rule checked after the close.
func soakFigure(s *Samples, dir string, sum schema.SoakSummary) (FigureFile, error) {
	var panels []*plot.Plot
	for i, col := range []struct{ name, label string }{
		{"server_fds", "server fds"}, {"server_rss", "server RSS (B)"}, {"slab_bytes", "Slab (B)"}, {"conns", "connections"},
	} {
		p := newPlot("t (s)", col.label)
		line, err := sampleLine(s, col.name, i)
		if err != nil {
			return FigureFile{}, fmt.Errorf("soak figure: %w", err)
		}
		if line == nil {
			continue
		}
		p.Add(line)
		p.Y.Min = math.Min(p.Y.Min, 0)
		panels = append(panels, p)
	}
	after := "the server's fds must be back to the idle count"
	if sum.FinalConns != nil { // a soak whose rule checks the connections too
		after = "the server's connections must be back to 0 and its fds to the idle count"
	}
	if len(panels) == 0 {
		return FigureFile{}, nil // samples without a column to draw: no figure
	}
	caption := "Sampled every few seconds: the ramp, the hold with churn, and the close at the end, after which " + after + "."
	if sum.EngineName() == "uring" {
		caption += " On uring the fds stay at the idle count throughout: the sockets are in the rings' registered-file tables."
	}
	ff := FigureFile{Base: filepath.Join(dir, "fig-soak"), Title: "Soak on " + sum.EngineName() + ": server fds, RSS, slab and connections over time", Caption: caption}
	return ff, savePanels(ff.Base, panels)
}

func sumValues(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// addStorm renders the reconnect storms (results/chaos/storm-ENGINE.json
// and .csv, one column and one line per engine; or an older run's
// storm.json and storm.csv alone).
func (v *robustnessView) addStorm(dir, outDir string, stale *staleness) error {
	storms, ran, err := readRun(schema.ReadStorms, dir)
	if !ran {
		return err
	}
	v.StormRan = true
	for _, st := range storms {
		file, _ := schema.StormFiles(st.Engine)
		p, err := stale.describeFile(strings.TrimSpace("storm "+st.Engine), measured.Chaos, filepath.Join(dir, file), st.Start, "make chaos")
		if err != nil {
			return err
		}
		if len(storms) > 1 {
			p = p.labelled(st.Engine)
		}
		v.StormProvenance = append(v.StormProvenance, p)
	}
	st := storms[0]
	scale := "full"
	if st.Quick {
		scale = "quick"
	}
	v.StormSetup = fmt.Sprintf("Scale %s, %s to %s: `c1m-server %s` held %s keepalive connections of the real client (`%s`, every echo verified), "+
		"all open and verified after %s; then the server was SIGKILLed and started again at once on the same ports. "+
		"Times count from the SIGKILL, read from the client's progress every ~%s.",
		scale, orDash(st.Start), orDash(storms[len(storms)-1].End), strings.Join(st.ServerFlags, " "), numfmt.Number(float64(st.Scale.Conns)), st.Client,
		FormatQuantity(st.RampS, "s"), FormatQuantity(st.Resolution, "s"))
	if len(storms) > 1 || st.Engine != "" {
		v.StormSetup = strings.Replace(v.StormSetup, "`c1m-server "+strings.Join(st.ServerFlags, " ")+"`", "the server on each engine in turn (its flags below)", 1)
		v.StormSetup = strings.Replace(v.StormSetup, "all open and verified after "+FormatQuantity(st.RampS, "s")+"; ", "", 1)
	}
	if st.Stop != nil {
		v.StormSetup += " Once all were back, the restarted server was sent SIGTERM (a graceful stop; the client kept its -reconnect) and timed to its exit."
	}
	if st.Polls != nil {
		v.StormSetup += fmt.Sprintf(" Its /stats was fetched every %s with a %s timeout throughout, from the first ramp to the exit.",
			FormatQuantity(st.Polls.IntervalS, "s"), FormatQuantity(st.Polls.TimeoutS, "s"))
	}
	var verdicts []string
	v.Storm.Header = []string{"what"}
	for _, st := range storms {
		verdicts = append(verdicts, stormVerdict(st))
		v.stormRow(st)
		v.Storm.Header = append(v.Storm.Header, orValue(st.Engine))
		for _, note := range st.Notes {
			if len(storms) > 1 {
				note = st.Engine + ": " + note
			}
			v.StormNotes = append(v.StormNotes, note)
		}
	}
	v.StormVerdict = strings.Join(verdicts, " ")
	v.Storm.Rows = stormRows(storms)
	v.StormFigures, err = stormFigures(dir, outDir, storms)
	return err
}

// orValue names a storm's column: its engine, or "value" for a run before engines.
func orValue(engine string) string {
	if engine == "" {
		return "value"
	}
	return engine
}

// stormVerdict is one storm's verdict, under its engine's name.
func stormVerdict(st schema.StormResult) string {
	prefix := ""
	if st.Engine != "" {
		prefix = st.Engine + ": "
	}
	if !st.Pass {
		return "**" + prefix + "Failed**: " + strings.Join(st.Failures, "; ") + ". Rule: " + st.Rule + "."
	}
	return fmt.Sprintf("**%sPassed: all %s connections back, each with an echo verified on its new socket, %s after the kill.** Rule: %s.",
		prefix, numfmt.Number(float64(st.Scale.Conns)), FormatQuantity(st.AllBackS, "s"), st.Rule)
}

// stormRows are the storm table's rows, a cell per storm; the graceful
// stop's and the /stats polls' rows only when a storm has them.
func stormRows(storms []schema.StormResult) [][]string {
	n := func(x int64) string { return numfmt.Number(float64(x)) }
	sec := func(x float64) string { return FormatQuantity(x, "s") }
	us := func(x int64) string { return FormatQuantity(float64(x)/1e6, "s") }
	// reached is a time from the kill, or the bound when it was never
	// reached (the result's 0).
	reached := func(x float64, st schema.StormResult) string {
		if x <= 0 {
			return "not within " + sec(st.Scale.Bound.Seconds())
		}
		return sec(x)
	}
	withEngines := len(storms) > 1 || storms[0].Engine != ""
	row := func(what string, cell func(st schema.StormResult) string) []string {
		r := []string{what}
		for _, st := range storms {
			r = append(r, cell(st))
		}
		return r
	}
	var rows [][]string
	if withEngines {
		rows = append(rows, row("server flags", func(st schema.StormResult) string { return "`" + strings.Join(st.ServerFlags, " ") + "`" }),
			row("first ramp: all open and verified", func(st schema.StormResult) string { return sec(st.RampS) }))
	}
	rows = append(rows,
		row("connections held, then the server SIGKILLed", func(st schema.StormResult) string { return n(int64(st.Scale.Conns)) }),
		row("**time until all were back and verified**", func(st schema.StormResult) string { return "**" + reached(st.AllBackS, st) + "**" }),
		row("time until all were open again (client) / held by the new server", func(st schema.StormResult) string {
			return reached(st.AllOpenS, st) + " / " + reached(st.ServerConnsS, st)
		}),
		restartRow(storms, row),
		row("one connection's downtime, loss to verified echo: p50 / p99 / max", func(st schema.StormResult) string {
			return us(st.Downtime.P50) + " / " + us(st.Downtime.P99) + " / " + us(st.Downtime.Max)
		}),
		row("reconnect attempts (connects started until all were back)", func(st schema.StormResult) string { return n(st.Attempts) }),
		row("connect failures meanwhile", func(st schema.StormResult) string { return orDash(schema.FormatErrors(st.FailedBy)) }),
		row("connection losses seen", func(st schema.StormResult) string {
			return n(st.Dropped) + " (" + schema.FormatErrors(st.DroppedBy) + ")"
		}),
		row("lost for good / mismatched echoes / echo timeouts", func(st schema.StormResult) string {
			return n(st.Lost) + " / " + n(st.Mismatched) + " / " + n(st.Timeouts)
		}),
		row("listen queue overflows / drops, SYN retransmits", func(st schema.StormResult) string {
			return numfmt.Number(st.ListenOverflows) + " / " + numfmt.Number(st.ListenDrops) + " / " + numfmt.Number(st.SynRetrans)
		}),
		row("TIME_WAIT sockets before → peak (tcp_max_tw_buckets)", func(st schema.StormResult) string {
			return fmt.Sprintf("%s → %s (%s)", n(int64(st.TimeWaitBefore)), n(int64(st.TimeWaitPeak)), orDash(st.TWBuckets))
		}))
	if slices.ContainsFunc(storms, func(st schema.StormResult) bool { return st.Stop != nil }) {
		rows = append(rows, stopRows(storms, row)...)
	}
	if slices.ContainsFunc(storms, func(st schema.StormResult) bool { return st.Polls != nil }) {
		rows = append(rows, pollRows(row)...)
	}
	return rows
}

// restartRow is when the killed server was gone and the new one up; with
// when its ports were free again, where the storms measured it.
func restartRow(storms []schema.StormResult, row func(string, func(schema.StormResult) string) []string) []string {
	sec := func(x float64) string { return FormatQuantity(x, "s") }
	if !slices.ContainsFunc(storms, func(st schema.StormResult) bool { return st.PortsFreeS > 0 }) {
		return row("killed server reaped / new server answering", func(st schema.StormResult) string { return sec(st.ExitS) + " / " + sec(st.RestartS) })
	}
	return row("killed server reaped / its ports free again / new server answering", func(st schema.StormResult) string {
		return sec(st.ExitS) + " / " + sec(st.PortsFreeS) + " / " + sec(st.RestartS)
	})
}

// stopRows are the graceful stop's rows.
func stopRows(storms []schema.StormResult, row func(string, func(schema.StormResult) string) []string) [][]string {
	n := func(x int64) string { return numfmt.Number(float64(x)) }
	stop := func(cell func(s *schema.StormStop) string) func(schema.StormResult) string {
		return func(st schema.StormResult) string {
			if st.Stop == nil {
				return "—"
			}
			return cell(st.Stop)
		}
	}
	return [][]string{
		row("**graceful stop: SIGTERM to exit (exit code)**", stop(func(s *schema.StormStop) string {
			if s.ExitS == 0 {
				return fmt.Sprintf("**not within %s**", FormatQuantity(s.Bound, "s"))
			}
			return fmt.Sprintf("**%s (%d)**", FormatQuantity(s.ExitS, "s"), s.ExitCode)
		})),
		row("the client saw every connection closed, from SIGTERM (±1 s)", stop(func(s *schema.StormStop) string {
			if s.AllClosedS == 0 {
				return "not all"
			}
			return FormatQuantity(s.AllClosedS, "s")
		})),
		row("connections at SIGTERM: closed cleanly (EOF) / reset, as the client saw them", stop(func(s *schema.StormStop) string {
			return fmt.Sprintf("%s: %s / %s", n(s.ConnsAtSignal), n(s.ClosedEOF), n(s.ClosedReset))
		})),
		row("the client's reconnects meanwhile: opened again / refused", stop(func(s *schema.StormStop) string {
			return n(s.Reestablished) + " / " + orDash(schema.FormatErrors(s.RetriesFailed))
		})),
		row("the server's log after SIGTERM", stop(func(s *schema.StormStop) string {
			if len(s.ServerLog) == 0 {
				return "—"
			}
			return "`" + strings.Join(s.ServerLog, "` `") + "`"
		})),
	}
}

// pollRows are the /stats polls' rows: the verdict, and each phase's longest answer.
func pollRows(row func(string, func(schema.StormResult) string) []string) [][]string {
	ms := func(x float64) string { return fmt.Sprintf("%.0f ms", x) }
	return [][]string{
		row("**/stats answered within its timeout throughout**", func(st schema.StormResult) string {
			if st.Polls == nil {
				return "—"
			}
			slow, all := st.Polls.Slowest()
			var failed []string
			for _, ph := range st.Polls.Phases {
				if !ph.Excused && ph.Failed > 0 {
					failed = append(failed, fmt.Sprintf("%d of %d in %s", ph.Failed, ph.Polls, ph.Name))
				}
			}
			if all {
				return fmt.Sprintf("**yes**, longest %s in phase %s", ms(slow.MaxMs), slow.Name)
			}
			return fmt.Sprintf("**no**: %s failed; longest answer %s in phase %s", strings.Join(failed, ", "), ms(slow.MaxMs), slow.Name)
		}),
		row("/stats polls, longest answer per phase (failed)", func(st schema.StormResult) string {
			if st.Polls == nil {
				return "—"
			}
			var parts []string
			for _, ph := range st.Polls.Phases {
				if ph.Excused {
					parts = append(parts, ph.Name+": no server")
					continue
				}
				parts = append(parts, fmt.Sprintf("%s: %d, %s (%d)", ph.Name, ph.Polls, ms(ph.MaxMs), ph.Failed))
			}
			return strings.Join(parts, "; ")
		}),
	}
}

// stormFigures draws the way back: an older run's figure of its one
// storm, or one line per engine.
func stormFigures(dir, outDir string, storms []schema.StormResult) ([]figureView, error) {
	if len(storms) == 1 && storms[0].Engine == "" {
		return samplesFigure(dir, schema.StormSamplesFile, outDir, stormFigure)
	}
	var engines []string
	var samples []*Samples
	for _, st := range storms {
		_, file := schema.StormFiles(st.Engine)
		s, err := readSamples(filepath.Join(dir, file))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		engines, samples = append(engines, st.Engine), append(samples, s)
	}
	if len(samples) == 0 {
		return nil, nil
	}
	ff, err := stormEnginesFigure(dir, engines, samples)
	if err != nil {
		return nil, err
	}
	return figureViews([]FigureFile{ff}, outDir), nil
}

// stormEnginesFigure draws, per engine, the connections open and verified
// again after the kill; below, the connects in flight.
func stormEnginesFigure(dir string, engines []string, samples []*Samples) (FigureFile, error) {
	top := newPlot("seconds after the SIGKILL", "open and verified again")
	bottom := newPlot("seconds after the SIGKILL", "connects in flight")
	for i, s := range samples {
		for _, panel := range []struct {
			p   *plot.Plot
			col string
		}{{top, "open_verified"}, {bottom, "connecting"}} {
			if err := addSampleLine(panel.p, s, panel.col, i, engines[i]); err != nil {
				return FigureFile{}, fmt.Errorf("storm figure: %w", err)
			}
		}
	}
	for _, p := range []*plot.Plot{top, bottom} {
		p.Legend.Top, p.Legend.Left = false, false
		p.X.Min, p.Y.Min = 0, 0
	}
	ff := FigureFile{Base: filepath.Join(dir, "fig-storm"), Title: "Reconnect storm: connections coming back after the server's SIGKILL",
		Caption: "Sampled every 250 ms from the kill, a line per server engine: the client's connections with an echo verified on their new socket (its progress, about once a second); below, its connects in progress."}
	return ff, savePanels(ff.Base, []*plot.Plot{top, bottom})
}

// stormFigure draws the way back after the kill: connections open, open
// and verified again, and held by the server; below, connects in flight.
func stormFigure(s *Samples, dir string) (FigureFile, error) {
	top := newPlot("seconds after the SIGKILL", "connections")
	for i, col := range []struct{ name, label string }{
		{"open", "open (client)"}, {"open_verified", "open and verified again"}, {"server_conns", "held by the server"},
	} {
		if err := addSampleLine(top, s, col.name, i, col.label); err != nil {
			return FigureFile{}, fmt.Errorf("storm figure: %w", err)
		}
	}
	top.Legend.Top, top.Legend.Left = false, false
	top.X.Min, top.Y.Min = 0, 0
	bottom := newPlot("seconds after the SIGKILL", "connects in flight")
	line, err := sampleLine(s, "connecting", 3)
	if err != nil {
		return FigureFile{}, fmt.Errorf("storm figure: %w", err)
	}
	if line != nil {
		bottom.Add(line)
		bottom.X.Min, bottom.Y.Min = 0, 0
	}
	ff := FigureFile{Base: filepath.Join(dir, "fig-storm"), Title: "Reconnect storm: connections coming back after the server's SIGKILL",
		Caption: "Sampled every 250 ms from the kill: the client's open connections and those with an echo verified on their new socket (its progress, about once a second), and the restarted server's count; below, the client's connects in progress."}
	return ff, savePanels(ff.Base, []*plot.Plot{top, bottom})
}

// addReap renders "peers vanish at scale" (results/chaos/reap.json): one
// column per arm.
func (v *robustnessView) addReap(dir string, stale *staleness) error {
	rp, ran, err := readRun(schema.ReadReap, dir)
	if !ran {
		return err
	}
	v.ReapRan = true
	if v.ReapProvenance, err = stale.describeFile("vanish-scale", measured.Chaos, filepath.Join(dir, schema.ReapFile), rp.Start, "make chaos CHAOS_FLAGS='-only vanish-scale'"); err != nil {
		return err
	}
	scale := "full"
	if rp.Quick {
		scale = "quick"
	}
	sc := rp.Scale
	n := func(x int64) string { return numfmt.Number(float64(x)) }
	sec := func(x float64) string { return FormatQuantity(x, "s") }
	b := func(x uint64) string { return FormatQuantity(float64(x), "B") }
	v.ReapSetup = fmt.Sprintf("Scale %s, %s to %s (extra server flags `%s`): %s connections from a network namespace (one keepalive each within %v of opening, then silence) "+
		"and %s live ones on the server's loopback (a keepalive every %v, every echo verified); then the namespace's link was cut (%s). "+
		"Times count from the cut; the server's count was read every %v.",
		scale, orDash(rp.Start), orDash(rp.End), strings.Join(rp.ServerFlags, " "), n(int64(sc.Vanish)), sc.VanishInterval,
		n(int64(sc.Live)), sc.LiveInterval, rp.Cut, reapPollOf(rp))
	if rp.Pass {
		v.ReapVerdict = "**Passed.** Rule: " + rp.Rule + "."
	} else {
		v.ReapVerdict = "**Failed**: " + strings.Join(rp.Failures, "; ") + ". Rule: " + rp.Rule + "."
	}
	v.Reap.Header = []string{"what"}
	rows := [][]string{{"engine"}, {"server flags"}, {"**all vanished connections closed after the cut**"}, {"bound"}, {"first closed after the cut"},
		{"close reasons"}, {"packets reaching the server after the cut"}, {"server connections: live only → peak → end"},
		{"server RSS: live only → peak → end"}, {"TCP sockets in the server's namespace: live only → peak → end"},
		{"live echoes sent / verified (in flight at the close), late, mismatched; dropped"}, {"verdict"}}
	for _, a := range rp.Arms {
		v.Reap.Header = append(v.Reap.Header, a.Name)
		v.reapRow(rp, a)
		verdict := "pass"
		if !a.Pass {
			verdict = "**FAIL**: " + strings.Join(a.Failures, "; ")
		}
		reaped := "not within " + sec(reapWatchS(a))
		if a.AllReapedS > 0 {
			reaped = "**" + sec(a.AllReapedS) + "**"
		}
		cells := []string{orDash(a.Engine), "`" + strings.Join(a.ServerFlags, " ") + "`", reaped, sec(a.BoundS), sec(a.FirstReapS),
			orDash(schema.FormatErrors(uint64Counts(a.CloseReasons))), n(int64(a.ServerRxAfterCut)),
			fmt.Sprintf("%s → %s → %s", n(a.ConnsBaseline), n(a.ConnsPeak), n(a.ConnsEnd)),
			fmt.Sprintf("%s → %s → %s", b(a.RSSBaseline), b(a.RSSPeak), b(a.RSSEnd)),
			fmt.Sprintf("%s → %s → %s", n(a.TCPInuseBaseline), n(a.TCPInusePeak), n(a.TCPInuseEnd)),
			fmt.Sprintf("%s / %s (%s), %s, %s; %s", n(a.LiveSent), n(a.LiveEchoed), n(a.LiveInFlight), n(a.LiveTimeouts), n(a.LiveMismatched), n(a.LiveDropped)), verdict}
		for i := range rows {
			rows[i] = append(rows[i], cells[i])
		}
	}
	v.Reap.Rows = rows
	v.ReapNotes = rp.Notes
	return nil
}

// reapWatchS is how long after the cut c1m-chaos watched an arm's
// vanished connections before giving up (chaos/reap.go: twice the bound
// and 10 s).
func reapWatchS(a schema.ReapArm) float64 { return 2*a.BoundS + 10 }

// reapPollOf is the resolution the arms were read at.
func reapPollOf(rp schema.ReapResult) string {
	if len(rp.Arms) == 0 {
		return "—"
	}
	return FormatQuantity(rp.Arms[0].Resolution, "s")
}

// uint64Counts converts counts for schema.FormatErrors.
func uint64Counts(m map[string]uint64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, x := range m {
		out[k] = int64(x)
	}
	return out
}
