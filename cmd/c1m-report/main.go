// Command c1m-report draws the figures of every experiment under -results
// and writes REPORT.md from them (make report).
package main

import (
	"flag"
	"fmt"
	"os"

	"c1m/analysis"
)

func main() {
	results := flag.String("results", "results", "results directory (one subdirectory with a meta.json per experiment)")
	out := flag.String("out", "REPORT.md", "report to write")
	repo := flag.String("repo", "", "git work tree whose history marks stale results (default: the parent of -results)")
	flag.Parse()
	if err := analysis.WriteReportWith(*results, *out, analysis.Options{RepoRoot: *repo}); err != nil {
		fmt.Fprintln(os.Stderr, "c1m-report:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "c1m-report: wrote %s and the figures under %s\n", *out, *results)
}
