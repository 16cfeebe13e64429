// Command c1m-reproduce runs the whole notebook on this machine, one step
// after the other: c1m-limits, every experiment at full scale, the chaos
// suite, the reconnect storm and the vanishing peers, and the soak on each
// engine. It prints the plan with the time each step took when it was last
// committed and an overall ETA, skips steps whose committed results are
// already reference runs, on this processor, of the code they measure as
// it is checked out (package measured; -all redoes them), and commits
// nothing: read `git status` and commit the results yourself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"c1m/measured"
	"c1m/procfs"
	"c1m/provenance"
)

func main() {
	results := flag.String("results", "results", "results root (the committed results)")
	bin := flag.String("bin", "bin", "directory of the c1m binaries (make build)")
	all := flag.Bool("all", false, "run every step, also those whose committed results are reference runs of this code on this processor")
	only := flag.String("only", "", "comma-separated step names to run (default: every step); -list names them")
	list := flag.Bool("list", false, "print the plan and exit")
	allowDirty := flag.Bool("allow-dirty", false, "run although the measured code has uncommitted changes (the results are then not reference runs)")
	flag.Parse()
	if err := run(*results, *bin, *all, *only, *list, *allowDirty); err != nil {
		fmt.Fprintf(os.Stderr, "c1m-reproduce: %v\n", err)
		os.Exit(1)
	}
}

func run(results, bin string, all bool, only string, list, allowDirty bool) error {
	code, err := provenance.Of("")
	if err != nil {
		return fmt.Errorf("finding the code's commit (run from the repository, with git installed): %w", err)
	}
	if code.Dirty && !allowDirty && !list {
		return fmt.Errorf("the measured code has uncommitted changes (git status): commit or stash them so the results name the code that ran, or pass -allow-dirty")
	}
	cpu, _ := procfs.New("/").CPUModel()
	here := checkout{commit: code.Commit, cpu: cpu, changedFor: measured.New(".").ChangedFor}
	plan, err := choose(steps(results, bin, experimentNumbers()), results, here, all, only)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "c1m-reproduce: code %s on %s; %d of %d steps to run, expected %s\n", code, cpu, countRuns(plan), len(plan), expectedText(plan, 0))
	for _, p := range plan {
		fmt.Fprintf(os.Stderr, "  %-13s %-6s %s\n", p.name, p.expected(), p.reason)
	}
	if list {
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return execute(ctx, plan)
}

// planned is a step with what the committed results say about it.
type planned struct {
	step
	committed
	run    bool
	reason string
}

func (p planned) expected() string {
	if p.took == 0 {
		return "?"
	}
	return "~" + minutes(p.took)
}

// checkout is the code and machine a plan is for: the measured code's
// commit, the processor, and which files a step's program measures that
// changed since an older commit (measured.Repo.ChangedFor).
type checkout struct {
	commit, cpu string
	changedFor  func(program, commit string) ([]string, error)
}

func choose(all []step, results string, here checkout, every bool, only string) ([]planned, error) {
	var names []string
	if only != "" {
		names = strings.Split(only, ",")
		for _, n := range names {
			if !slices.ContainsFunc(all, func(s step) bool { return s.name == n }) {
				return nil, fmt.Errorf("-only %s: no such step (c1m-reproduce -list names them)", n)
			}
		}
	}
	var plan []planned
	for _, s := range all {
		p := planned{step: s, committed: s.committed(results, here)}
		switch {
		case names != nil && !slices.Contains(names, s.name):
			p.reason = "skipped: not in -only"
		case p.fresh && !every:
			p.reason = "skipped: already a reference run, on this processor, of the code it measures"
		default:
			p.run, p.reason = true, "runs: "+p.why
			if p.fresh {
				p.reason = "runs again (-all)"
			}
		}
		plan = append(plan, p)
	}
	return plan, nil
}

func countRuns(plan []planned) (n int) {
	for _, p := range plan {
		if p.run {
			n++
		}
	}
	return n
}

// expectedText is the time the steps to run from index from took when
// last committed: "~3h40m (2 steps never timed)".
func expectedText(plan []planned, from int) string {
	var total time.Duration
	unknown, runs := 0, 0
	for _, p := range plan[from:] {
		if !p.run {
			continue
		}
		runs++
		if p.took == 0 {
			unknown++
		}
		total += p.took
	}
	if runs == 0 {
		return "nothing: every step's committed results are a reference run of the code it measures"
	}
	s := "~" + minutes(total)
	if unknown > 0 {
		s += fmt.Sprintf(" (+ %d step(s) never timed)", unknown)
	}
	return s
}

// execute runs the planned steps in order; a failed step is reported and
// the next one runs (each leaves the committed results as they were unless
// it completed). An interrupt stops the running step and the notebook.
func execute(ctx context.Context, plan []planned) error {
	start := time.Now()
	var failed []string
	for i, p := range plan {
		if !p.run {
			continue
		}
		if ctx.Err() != nil {
			return errors.New("interrupted: the remaining steps did not run")
		}
		left := expectedText(plan, i)
		fmt.Fprintf(os.Stderr, "c1m-reproduce: step %s (expected %s); %s elapsed, %s left\n", p.name, p.expected(), time.Since(start).Round(time.Second), left)
		t0 := time.Now()
		if err := runStep(ctx, p.argv); err != nil {
			failed = append(failed, p.name)
			fmt.Fprintf(os.Stderr, "c1m-reproduce: step %s FAILED after %s: %v\n", p.name, time.Since(t0).Round(time.Second), err)
			continue
		}
		fmt.Fprintf(os.Stderr, "c1m-reproduce: step %s done in %s\n", p.name, time.Since(t0).Round(time.Second))
	}
	fmt.Fprintf(os.Stderr, "c1m-reproduce: finished in %s; nothing is committed: make report, then git status\n", time.Since(start).Round(time.Second))
	if len(failed) > 0 {
		return fmt.Errorf("%d step(s) failed: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

// runStep runs one program with this process's output; an interrupt is
// passed on to it (it cleans up and exits) rather than killing it.
func runStep(ctx context.Context, argv []string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // our signal handler forwards; the terminal's goes to us alone
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		// To the step's whole process group: `go run` leaves the signal to
		// the program it runs, which cleans up and exits.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		return <-done
	}
}

// experimentNumbers are the experiments/expN directories, in order.
func experimentNumbers() []int {
	dirs, _ := filepath.Glob("experiments/exp*")
	var out []int
	for _, d := range dirs {
		if n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "exp")); err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
