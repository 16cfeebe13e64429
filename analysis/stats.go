package analysis

import (
	"fmt"
	"math"

	"c1m/spread"
)

// Spread is one metric of one arm over its repeats (package spread's).
type Spread = spread.Spread

// Metric returns the spread of a summary metric over an arm's repeats
// (false when no run of the arm measured it).
func (e *Experiment) Metric(metric, arm string) (Spread, bool) {
	var values []float64
	for _, r := range e.Runs {
		if v, ok := r.Values[metric]; ok && r.Arm == arm {
			values = append(values, v)
		}
	}
	return spread.Of(values)
}

// Verdict is the outcome of a check.
type Verdict string

const (
	Supported    Verdict = "supported"
	NotSupported Verdict = "not supported"
	Inconclusive Verdict = "inconclusive"
	NotMeasured  Verdict = "not measured"
	BadCheck     Verdict = "invalid check"
)

// CheckRule states how checks are decided; the report prints it.
const CheckRule = "A check compares the medians over repeats. `a>=b` holds when median(a) ≥ median(b)×(1−tolerance); " +
	"`a<=b` when median(a) ≤ median(b)×(1+tolerance); `a~b` when |median(a)/median(b) − 1| ≤ tolerance. " +
	"A claim that holds is **supported**. One that fails while both arms have at least two runs and their min–max ranges overlap " +
	"is **inconclusive** (the runs disagree among themselves by more than the claim misses by); otherwise it is **not supported**."

// CheckResult is a check evaluated on the data.
type CheckResult struct {
	Check
	SpreadA, SpreadB Spread // the metric over arm A's and arm B's repeats
	Verdict          Verdict
	Problem          string // why a check could not be evaluated
}

// EvaluateChecks evaluates every check of meta.json.
func (e *Experiment) EvaluateChecks() []CheckResult {
	var out []CheckResult
	for _, c := range e.Meta.Checks {
		a, okA := e.Metric(c.Metric, c.A)
		b, okB := e.Metric(c.Metric, c.B)
		r := EvaluateCheck(c, a, b)
		switch {
		case !okA && !okB:
			r.Verdict, r.Problem = NotMeasured, fmt.Sprintf("no run of %s or %s measured %s", c.A, c.B, c.Metric)
		case !okA:
			r.Verdict, r.Problem = NotMeasured, fmt.Sprintf("no run of %s measured %s", c.A, c.Metric)
		case !okB:
			r.Verdict, r.Problem = NotMeasured, fmt.Sprintf("no run of %s measured %s", c.B, c.Metric)
		}
		out = append(out, r)
	}
	return out
}

// EvaluateCheck decides c on the spreads of arm A and arm B (see CheckRule).
func EvaluateCheck(c Check, a, b Spread) CheckResult {
	r := CheckResult{Check: c, SpreadA: a, SpreadB: b}
	var holds bool
	switch c.Expect {
	case "a>=b":
		holds = a.Median >= b.Median*(1-c.Tolerance)
	case "a<=b":
		holds = a.Median <= b.Median*(1+c.Tolerance)
	case "a~b":
		if b.Median == 0 {
			holds = a.Median == 0
		} else {
			holds = math.Abs(a.Median/b.Median-1) <= c.Tolerance
		}
	default:
		r.Verdict, r.Problem = BadCheck, fmt.Sprintf("expect %q is not one of a>=b, a<=b, a~b", c.Expect)
		return r
	}
	switch {
	case holds:
		r.Verdict = Supported
	case a.N >= 2 && b.N >= 2 && a.Overlaps(b):
		r.Verdict = Inconclusive
	default:
		r.Verdict = NotSupported
	}
	return r
}
