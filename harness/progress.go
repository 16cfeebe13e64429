package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"c1m/schema"
)

// progress tells whoever watches a long run where it is: which run of how
// many, the arm, its phase, and elapsed against expected time, the
// expectation taken from the committed run of the same experiment.
type progress struct {
	logf     func(string, ...any)
	start    time.Time
	runs     int
	expected expectation
	// the run under way
	run      int
	arm      Arm
	rep      int
	runStart time.Time
	phase    string
	lastLine time.Time
}

// expectation is what the committed run took: per run and in all.
type expectation struct {
	total time.Duration
	byRun map[string]time.Duration // runKey(arm, rep)
	each  time.Duration            // the committed total over its runs, when runs were not timed
}

func runKey(arm string, rep int) string { return arm + "#" + strconv.Itoa(rep) }

// expectFrom reads the committed meta.json in dir (a missing or unreadable
// one: no expectation). Only a run at the same scale counts.
func expectFrom(dir, scale string) expectation {
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return expectation{}
	}
	var m schema.Meta
	if json.Unmarshal(b, &m) != nil || m.Scale != scale {
		return expectation{}
	}
	x := expectation{byRun: map[string]time.Duration{}}
	start, err1 := time.Parse(time.RFC3339, m.Start)
	end, err2 := time.Parse(time.RFC3339, m.End)
	if err1 == nil && err2 == nil && end.After(start) {
		x.total = end.Sub(start)
		if n := len(m.Arms) * max(m.Repeats, 1); n > 0 {
			x.each = x.total / time.Duration(n)
		}
	}
	for _, r := range m.Runs {
		x.byRun[runKey(r.Arm, r.Rep)] = time.Duration(r.Seconds * float64(time.Second))
	}
	return x
}

func (x expectation) ofRun(arm string, rep int) time.Duration {
	if d, ok := x.byRun[runKey(arm, rep)]; ok {
		return d
	}
	return x.each
}

// The phases of a run, as the progress line names them.
const (
	phaseQuiet    = "waiting for the last run's sockets to close"
	phaseStart    = "starting the server"
	phaseRamp     = "ramp"
	phaseHold     = "hold"
	phaseLoad     = "load"
	phaseTeardown = "teardown"
)

// progressEvery is how often a line is printed while the phase stays the same.
const progressEvery = 10 * time.Second

func (p *progress) begin(run int, arm Arm, rep int) {
	p.run, p.arm, p.rep, p.runStart, p.phase = run, arm, rep, time.Now(), ""
}

// at reports the phase, printing a line when it changes or progressEvery
// has passed; detail says what the sample shows.
func (p *progress) at(phase, detail string) {
	now := time.Now()
	if phase == p.phase && now.Sub(p.lastLine) < progressEvery {
		return
	}
	p.phase, p.lastLine = phase, now
	line := fmt.Sprintf("run %d/%d, arm %s rep %d: %s, %s", p.run, p.runs, p.arm.Name, p.rep, phase, p.elapsed(now))
	if detail != "" {
		line += "; " + detail
	}
	p.logf("%s", line)
}

// elapsed is "run 1m10s of ~2m05s, experiment 6m of ~15m, done ~06:02 UTC".
func (p *progress) elapsed(now time.Time) string {
	s := "run " + roundDur(now.Sub(p.runStart))
	if d := p.expected.ofRun(p.arm.Name, p.rep); d > 0 {
		s += " of ~" + roundDur(d)
	}
	s += ", experiment " + roundDur(now.Sub(p.start))
	if p.expected.total > 0 {
		s += " of ~" + roundDur(p.expected.total)
		if left := p.expected.total - now.Sub(p.start); left > 0 {
			s += ", done ~" + now.Add(left).UTC().Format("15:04") + " UTC"
		}
	} else {
		s += " (no committed run to compare with)"
	}
	return s
}

func roundDur(d time.Duration) string { return d.Round(time.Second).String() }

// phaseOf names the phase of a sample: ramp until the server holds the
// client's -conns (99%), hold after; load when the target is not known.
func phaseOf(conns, target float64) string {
	switch {
	case target <= 0:
		return phaseLoad
	case conns < 0.99*target:
		return phaseRamp
	}
	return phaseHold
}

// connsTarget is the -conns of client flags (0: not given).
func connsTarget(flags []string) float64 {
	for i, f := range flags {
		var v string
		switch {
		case (f == "-conns" || f == "--conns") && i+1 < len(flags):
			v = flags[i+1]
		case len(f) > 7 && f[:7] == "-conns=":
			v = f[7:]
		case len(f) > 8 && f[:8] == "--conns=":
			v = f[8:]
		default:
			continue
		}
		n, err := strconv.ParseFloat(v, 64)
		if err == nil {
			return n
		}
	}
	return 0
}
