package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"c1m/chaos"
	"c1m/measured"
	"c1m/schema"
)

// step is one program of the notebook and the result files it writes.
type step struct {
	name    string
	program string // the Go program the step measures with (package measured)
	argv    []string
	files   []string // relative to the results root
}

// steps is the whole notebook, in the order it runs: the OS limits, every
// experiment, the hostile suite, the reconnect storm and the vanishing
// peers on each engine, and the soak on each engine, at the scales of the
// committed reference runs.
func steps(results, bin string, experiments []int) []step {
	var out []step
	out = append(out, step{name: "limits", program: measured.Limits, argv: []string{filepath.Join(bin, "c1m-limits"), "-save", filepath.Join(results, "limits")},
		files: []string{"limits/limits.json"}})
	for _, n := range experiments {
		out = append(out, step{name: fmt.Sprintf("exp-%d", n), program: measured.Experiment(n),
			argv:  []string{"go", "run", fmt.Sprintf("./experiments/exp%d", n), "-scale", "full", "-results", results},
			files: []string{fmt.Sprintf("exp-%d/meta.json", n)}})
	}
	chaosRun := func(flags ...string) []string {
		return append([]string{"go", "run", "./cmd/c1m-chaos", "-bin", bin, "-results", filepath.Join(results, "chaos")}, flags...)
	}
	var hostile []string
	for _, s := range chaos.Scenarios() {
		hostile = append(hostile, s.Name)
	}
	out = append(out,
		step{name: "chaos", program: measured.Chaos, argv: chaosRun("-only", strings.Join(append(hostile, "together"), ",")),
			files: []string{"chaos/chaos.json", "chaos/chaos-uring.json"}},
		step{name: "storm", program: measured.Chaos, argv: chaosRun("-only", chaos.StormName, "-storm-conns", "1000000"),
			files: []string{"chaos/storm-epoll.json", "chaos/storm-uring.json"}},
		step{name: "vanish-scale", program: measured.Chaos, argv: chaosRun("-only", chaos.ReapName, "-vanish-conns", "100000"),
			files: []string{"chaos/reap.json"}})
	for _, engine := range []string{"epoll", "uring"} {
		dir := "soak"
		if engine != "epoll" {
			dir += "-" + engine
		}
		out = append(out, step{name: dir, program: measured.Soak, argv: []string{"go", "run", "./cmd/c1m-soak", "-engine", engine, "-duration", "5m",
			"-bin", bin, "-results", filepath.Join(results, dir)}, files: []string{dir + "/summary.json"}})
	}
	return out
}

// recorded is what every result file says about its run: when, at which
// scale, and on what machine and code.
type recorded struct {
	Start string          `json:"start"`
	End   string          `json:"end"`
	Time  string          `json:"time"`  // limits.json: when it was computed
	Scale json.RawMessage `json:"scale"` // experiments: "full" or "quick" (chaos: its sizes)
	Quick bool            `json:"quick"` // chaos results
	Env   schema.Env      `json:"env"`
}

func (r recorded) took() time.Duration {
	start, err1 := time.Parse(time.RFC3339, r.Start)
	end, err2 := time.Parse(time.RFC3339, r.End)
	if err1 != nil || err2 != nil || !end.After(start) {
		return 0
	}
	return end.Sub(start)
}

// committed is what a step's committed results say: how long the run took
// (0: unknown) and whether they are a reference run, on here's processor,
// of the code the step measures as it is checked out (recorded at an older
// commit, none of it changed since), that need not run again.
type committed struct {
	took  time.Duration
	fresh bool
	why   string // why the step runs again, when it is not fresh
}

func (s step) committed(results string, here checkout) committed {
	c := committed{fresh: true}
	for _, f := range s.files {
		b, err := os.ReadFile(filepath.Join(results, f))
		var r recorded
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		switch {
		case err != nil:
			c.fresh, c.why = false, fmt.Sprintf("no committed %s", f)
			continue
		case r.Quick || string(r.Scale) == `"quick"`:
			c.fresh, c.why = false, f+" is a quick run"
		case !r.Env.Reference():
			c.fresh, c.why = false, f+" is not a reference run (no clean commit recorded)"
		case r.Env.CPUModel != here.cpu:
			c.fresh, c.why = false, fmt.Sprintf("%s ran on %s, this machine is %s", f, orNone(r.Env.CPUModel), here.cpu)
		case r.Env.Commit() != here.commit:
			if why := changedSince(s.program, r.Env.Commit(), here); why != "" {
				c.fresh, c.why = false, f+" "+why
			}
		}
		c.took += r.took()
	}
	return c
}

// changedSince says why results of program made at commit no longer
// measure the code checked out ("" when they still do).
func changedSince(program, commit string, here checkout) string {
	files, err := here.changedFor(program, commit)
	switch {
	case err != nil:
		return fmt.Sprintf("measured %s, which cannot be compared with the code at %s: %v", commit, here.commit, err)
	case len(files) > 0:
		return fmt.Sprintf("measured %s; %d file(s) of its code changed since (e.g. %s)", commit, len(files), files[0])
	}
	return ""
}

// minutes is d to the minute, without the trailing "0s": "2h40m", "3m".
func minutes(d time.Duration) string {
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

func orNone(s string) string {
	if s == "" {
		return "(not recorded)"
	}
	return s
}
