// Command c1m-chaos is the hostile-client suite (package chaos): on each
// server engine in turn (-engines) it starts bin/c1m-server, holds a
// population of verified keepalive connections on it, throws each kind of
// hostile client at it and then all at once; then it runs the reconnect
// storm on each engine (the server SIGKILLed under 200,000 connections
// and restarted, then stopped with SIGTERM, its /stats polled throughout),
// and writes results/chaos. It exits non-zero, naming them, when
// scenarios fail.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"c1m/chaos"
	"c1m/client"
	"c1m/cmd/internal/lab"
)

func main() {
	client.RunChildIfAsked() // the storm's client runs past one fd table in children of this process
	var cfg chaos.Config
	fs := flag.NewFlagSet("c1m-chaos", flag.ExitOnError)
	fs.BoolVar(&cfg.Quick, "quick", false, "a seconds-long run with fewer connections (CI)")
	fs.StringVar(&cfg.Results, "results", "results/chaos", "results directory")
	fs.StringVar(&cfg.Bin, "bin", "bin", "directory of c1m-server (make build)")
	only := fs.String("only", "", "comma-separated scenarios to run (default: all, then all together, then the storm); names: "+names())
	fs.IntVar(&cfg.StormConns, "storm-conns", 0, "connections of the reconnect storm (default: 200000, -quick 2000)")
	fs.IntVar(&cfg.ReapConns, "vanish-conns", 0, "vanishing connections of -only vanish-scale, the peers-vanish-at-scale run (default: 100000, -quick 2000); it runs only when named, as root")
	engines := fs.String("engines", "epoll,uring", "server engines the scenarios, the storm and vanish-scale run on, one after the other (each passed as -engine; ignored when -server-flags has -engine)")
	server := fs.String("server-flags", "", "extra c1m-server flags, space-separated (e.g. \"-trigger lt -dispatch reuseport\")")
	fs.Parse(os.Args[1:])
	cfg.Server = strings.Fields(*server)
	cfg.Engines = strings.Split(*engines, ",")
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	cfg.Log = os.Stderr
	var rep chaos.Report
	lab.Run("c1m-chaos", cfg.Results, func(ctx context.Context, dir string) (err error) {
		staged := cfg
		staged.Results = dir
		rep, err = chaos.Run(ctx, staged)
		return err
	})
	fmt.Fprintf(os.Stderr, "c1m-chaos: results in %s\n", cfg.Results)
	if !rep.Pass {
		fmt.Fprintf(os.Stderr, "c1m-chaos: FAILED: %s\n", strings.Join(rep.Failed, ", "))
		os.Exit(1)
	}
	for _, sr := range rep.Suites {
		fmt.Fprintf(os.Stderr, "c1m-chaos: %s: all %d scenarios passed\n", sr.Engine, len(sr.Scenarios))
	}
	if rp := rep.Reap; rp != nil {
		for _, a := range rp.Arms {
			fmt.Fprintf(os.Stderr, "c1m-chaos: vanish-scale %s: %d vanished connections closed %.1f s after the cut (bound %.1f s)\n", a.Name, rp.Scale.Vanish, a.AllReapedS, a.BoundS)
		}
	}
	for _, st := range rep.Storms {
		fmt.Fprintf(os.Stderr, "c1m-chaos: storm %s passed: all %d connections back and verified %.1f s after the kill", st.Engine, st.Scale.Conns, st.AllBackS)
		if s := st.Stop; s != nil {
			fmt.Fprintf(os.Stderr, "; graceful stop: exit %d %.1f s after SIGTERM", s.ExitCode, s.ExitS)
		}
		fmt.Fprintln(os.Stderr)
	}
}

func names() string {
	var n []string
	for _, s := range chaos.Scenarios() {
		n = append(n, s.Name)
	}
	return strings.Join(append(n, "together", chaos.StormName, chaos.ReapName+" (only when named)"), ", ")
}
