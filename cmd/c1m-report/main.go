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
	flag.Parse()
	if err := analysis.WriteReport(*results, *out); err != nil {
		fmt.Fprintln(os.Stderr, "c1m-report:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "c1m-report: wrote %s and the figures under %s\n", *out, *results)
}
