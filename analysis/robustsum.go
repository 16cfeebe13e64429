package analysis

// The summary's robustness table: a row per check and engine (hostile
// clients, the reconnect storm, vanished peers, the soak) with its verdict
// and the number that decided it, so that a failed check shows in the
// summary and not only in its section.

import (
	"fmt"
	"strings"

	"c1m/numfmt"
	"c1m/schema"
)

// robustRow adds a check's row to the summary table; a failed check's
// verdict names what failed.
func (v *robustnessView) robustRow(check, engine string, pass bool, failures []string, figure string) {
	if len(v.Summary.Header) == 0 {
		v.Summary.Header = []string{"check", "engine", "verdict", "what it measured"}
	}
	verdict := "pass"
	if !pass {
		verdict = "**FAIL**"
		if len(failures) > 0 {
			verdict += ": " + strings.Join(failures, "; ")
		}
	}
	v.Summary.Rows = append(v.Summary.Rows, []string{check, orDash(engine), verdict, figure})
	if !pass {
		v.failed = append(v.failed, check+" ("+orDash(engine)+")")
	}
}

// sentence closes the summary's answer: how many robustness checks
// passed, and which failed ("" when none ran).
func (v robustnessView) sentence() string {
	checks := len(v.Summary.Rows)
	if checks == 0 {
		return ""
	}
	s := fmt.Sprintf("Robustness (hostile clients, a reconnect storm, vanished peers, a churning soak, on each engine): %d of %d checks passed", checks-len(v.failed), checks)
	if len(v.failed) > 0 {
		s += "; **failed**: " + strings.Join(v.failed, ", ") + " (the robustness table below says why)"
	}
	return s + "."
}

// chaosRow summarises one engine's hostile-client suite.
func (v *robustnessView) chaosRow(rep schema.ChaosReport[schema.PopulationTotals]) {
	figure := fmt.Sprintf("%d of %d scenarios passed", scenariosPassed(rep.Scenarios), len(rep.Scenarios))
	if p := rep.Population; p != nil {
		figure += fmt.Sprintf("; the keepalive population: %s echoes verified, %s mismatched",
			numfmt.Number(float64(p.Echoed)), numfmt.Number(float64(p.Mismatched)))
	}
	failures := rep.Failed
	if len(failures) > 0 {
		failures = []string{"scenarios " + strings.Join(failures, ", ")}
	}
	v.robustRow("hostile clients", rep.EngineName(), rep.Pass, failures, figure)
}

// stormRow summarises one engine's reconnect storm.
func (v *robustnessView) stormRow(st schema.StormResult) {
	back := "not all back within " + FormatQuantity(st.Scale.Bound.Seconds(), "s")
	if st.AllBackS > 0 {
		back = "all back " + FormatQuantity(st.AllBackS, "s") + " after the kill"
	}
	v.robustRow(fmt.Sprintf("reconnect storm: SIGKILL and restart at %s connections", numfmt.Number(float64(st.Scale.Conns))),
		st.Engine, st.Pass, st.Failures, fmt.Sprintf("%s; %s lost", back, numfmt.Number(float64(st.Lost))))
}

// reapRow summarises one arm of peers vanishing at scale.
func (v *robustnessView) reapRow(rp schema.ReapResult, a schema.ReapArm) {
	closed := "not all closed within " + FormatQuantity(reapWatchS(a), "s")
	if a.AllReapedS > 0 {
		closed = "all closed " + FormatQuantity(a.AllReapedS, "s") + " after the cut"
	}
	b := func(x uint64) string { return FormatQuantity(float64(x), "B") }
	figure := fmt.Sprintf("%s (bound %s); server RSS %s with the live connections alone, %s after", closed, FormatQuantity(a.BoundS, "s"), b(a.RSSBaseline), b(a.RSSEnd))
	check := fmt.Sprintf("%s peers vanish, closed by %s", numfmt.Number(float64(rp.Scale.Vanish)), strings.TrimPrefix(a.Name, a.Engine+"-"))
	v.robustRow(check, a.Engine, a.Pass, a.Failures, figure)
}

// soakRow summarises one engine's soak.
func (v *robustnessView) soakRow(s schema.SoakSummary) {
	check := fmt.Sprintf("soak: %s connections, %s churned a second, %s", numfmt.Number(float64(s.Conns)),
		numfmt.Number(s.ChurnPerS), FormatQuantity(s.DurationS, "s"))
	figure := fmt.Sprintf("server fds %d idle, %d after; RSS drift %+.1f%%; %s mismatched, %s late",
		s.IdleFDs, s.FinalFDs, 100*s.RSSDrift, numfmt.Number(float64(s.Mismatched)), numfmt.Number(float64(s.Timeouts)))
	v.robustRow(check, s.EngineName(), s.Pass, s.Failures, figure)
}
