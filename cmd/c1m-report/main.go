// Command c1m-report draws the figures of every experiment under -results
// and writes REPORT.md from them (make report), and rewrites the README's
// duration table from the same results.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

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
		analysis.DurationsEnd+") to rewrite from -results; \"\" leaves it alone")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if err := analysis.WriteReport(*results, *out); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "c1m-report: wrote %s and the figures under %s\n", *out, *results)
	if *readme == "" {
		return nil
	}
	if err := analysis.WriteREADMEDurations(*results, *readme); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "c1m-report: rewrote the duration table of %s\n", *readme)
	return nil
}
