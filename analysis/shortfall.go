package analysis

// Why an arm of the servers at a million fell short: how far it got, what
// its client's result says about how the run ended, and the last problem
// its server's log reported.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"c1m/numfmt"
)

// shortfall says, for an arm that did not hold every connection (or has no
// result), how far it got and what stopped it, from its client's result and
// its server's recorded problem; "" when it held them all.
func shortfall(e *Experiment, arm string) string {
	want := target(e, arm)
	c, measured := e.Metric("conns", arm)
	if measured && c.Median >= heldInFull*want {
		return ""
	}
	s := fmt.Sprintf("**%s** ", arm)
	if measured {
		s += fmt.Sprintf("held at most %s of %s connections", numfmt.Number(c.Median), numfmt.Number(want))
	} else {
		s += "has no result (the run ended before or during it)"
	}
	var why []string
	if r, ok := readClientEnd(filepath.Join(e.Dir, "client-"+arm+"-r1.json")); ok {
		why = append(why, r.sentence())
	}
	if line := e.ServerProblem(arm, 1); line != "" {
		why = append(why, "its server log ends with `"+quotable(line)+"`")
	}
	if len(why) == 0 {
		return s + "; no client result or server complaint says why."
	}
	return s + ": " + strings.Join(why, "; ") + "."
}

// clientEnd is what the client's result says about how its run ended.
type clientEnd struct {
	Ended       string             `json:"ended"`
	Established float64            `json:"established"`
	RampSeconds float64            `json:"ramp_seconds"`
	HoldSeconds float64            `json:"hold_seconds"`
	WallSeconds float64            `json:"wall_seconds"`
	Failed      map[string]float64 `json:"failed"`
}

func readClientEnd(path string) (clientEnd, bool) {
	var r clientEnd
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &r) != nil {
		return r, false
	}
	return r, true
}

func (r clientEnd) sentence() string {
	var s string
	switch {
	case r.Ended == "interrupted" && r.HoldSeconds == 0:
		s = fmt.Sprintf("the arm's time limit stopped the client %s after its start, its ramp unfinished at %s established",
			FormatQuantity(r.WallSeconds, "s"), numfmt.Number(r.Established))
	case r.Ended == "interrupted":
		s = fmt.Sprintf("the client was stopped %s after its start, %s established", FormatQuantity(r.WallSeconds, "s"), numfmt.Number(r.Established))
	default:
		s = fmt.Sprintf("the client ended with %q, %s established", r.Ended, numfmt.Number(r.Established))
	}
	var fails []string
	for errno, n := range r.Failed {
		if n > 0 {
			fails = append(fails, fmt.Sprintf("%s %s", errno, numfmt.Number(n)))
		}
	}
	if len(fails) > 0 {
		slices.Sort(fails)
		s += " (failed connects: " + strings.Join(fails, ", ") + ")"
	}
	return s
}

// quotable shortens a log line to stay on one screen and keeps it inside
// its markdown code span.
func quotable(line string) string {
	const most = 200
	if len(line) > most {
		line = line[:most] + "…"
	}
	return strings.ReplaceAll(line, "`", "'")
}
