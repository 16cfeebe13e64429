// Command c1m-report draws the figures of every experiment under -results
// and writes REPORT.md from them (make report), and rewrites the README's
// duration table from the same results.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"c1m/analysis"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "c1m-report:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fl := flag.NewFlagSet("c1m-report", flag.ContinueOnError)
	fl.SetOutput(stderr)
	results := fl.String("results", "results", "results directory (one subdirectory with a meta.json per experiment)")
	out := fl.String("out", "REPORT.md", "report to write")
	readme := fl.String("readme", "README.md", "README whose duration table (between "+analysis.DurationsBegin+" and "+
		analysis.DurationsEnd+") to rewrite from -results, when -results is the results directory beside it; \"\" leaves it alone")
	repo := fl.String("repo", "", "git work tree whose history marks stale results (default: the one holding -results, else the current directory's)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if err := analysis.WriteReportWith(*results, *out, analysis.Options{RepoRoot: *repo}); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "c1m-report: wrote %s and the figures under %s\n", *out, *results)
	if *readme == "" {
		return nil
	}
	if committed := filepath.Join(filepath.Dir(*readme), "results"); !sameDir(*results, committed) {
		// A quick run's or CI's scratch results must not rewrite the
		// README, which describes the committed results beside it.
		fmt.Fprintf(stderr, "c1m-report: left the duration table of %s alone: it describes %s, not %s\n", *readme, committed, *results)
		return nil
	}
	if err := analysis.WriteREADMEDurations(*results, *readme); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "c1m-report: rewrote the duration table of %s\n", *readme)
	return nil
}

// sameDir says whether a and b name the same directory (after making both
// absolute and clean; symbolic links are not followed).
func sameDir(a, b string) bool {
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	return errA == nil && errB == nil && absA == absB
}
