package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"c1m/chaos"
	"c1m/schema"
)

// step is one program of the notebook and the result files it writes.
type step struct {
	name  string
	argv  []string
	files []string // relative to the results root
}

// steps is the whole notebook, in the order it runs: the OS limits, every
// experiment, the hostile suite, the reconnect storm and the vanishing
// peers on each engine, and the soak on each engine, at the scales of the
// committed reference runs.
func steps(results, bin string, experiments []int) []step {
	var out []step
	out = append(out, step{name: "limits", argv: []string{filepath.Join(bin, "c1m-limits"), "-save", filepath.Join(results, "limits")},
		files: []string{"limits/limits.json"}})
	for _, n := range experiments {
		out = append(out, step{name: fmt.Sprintf("exp-%d", n),
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
		step{name: "chaos", argv: chaosRun("-only", strings.Join(append(hostile, "together"), ",")),
			files: []string{"chaos/chaos.json", "chaos/chaos-uring.json"}},
		step{name: "storm", argv: chaosRun("-only", chaos.StormName, "-storm-conns", "1000000"),
			files: []string{"chaos/storm-epoll.json", "chaos/storm-uring.json"}},
		step{name: "vanish-scale", argv: chaosRun("-only", chaos.ReapName, "-vanish-conns", "100000"),
			files: []string{"chaos/reap.json"}})
	for _, engine := range []string{"epoll", "uring"} {
		dir := "soak"
		if engine != "epoll" {
			dir += "-" + engine
		}
		out = append(out, step{name: dir, argv: []string{"go", "run", "./cmd/c1m-soak", "-engine", engine, "-duration", "5m",
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
// (0: unknown) and whether they are a reference run of code (at commit, on
// a processor named cpu) that need not run again.
type committed struct {
	took  time.Duration
	fresh bool
	why   string // why the step runs again, when it is not fresh
}

func (s step) committed(results, commit, cpu string) committed {
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
		case r.Env.Commit() != commit:
			c.fresh, c.why = false, fmt.Sprintf("%s measured %s, the code is at %s", f, orNone(r.Env.Commit()), commit)
		case r.Env.CPUModel != cpu:
			c.fresh, c.why = false, fmt.Sprintf("%s ran on %s, this machine is %s", f, orNone(r.Env.CPUModel), cpu)
		}
		c.took += r.took()
	}
	return c
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
