// Command c1m-soak holds many connections with churn for a bounded time
// and checks that nothing leaks (package chaos, RunSoak): bin/c1m-server
// on -engine (epoll, or uring) holds -conns keepalive connections from
// bin/c1m-client, -churn of which close and reconnect every second; every
// few seconds it samples the server's fds and RSS, the kernel's slab and
// the connections. It passes when, after the client closes, the server's
// /stats counts no connection and its fds are back to their idle count,
// RSS and slab are stable over the hold, and no echo was lost or
// corrupted. Writes results/soak/ (epoll) or results/soak-uring/
// {samples.csv,summary.json,client.json,*.log}.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"c1m/chaos"
	"c1m/client"
	"c1m/cmd/internal/lab"
	"c1m/schema"
)

func main() {
	var o chaos.SoakOptions
	fs := flag.NewFlagSet("c1m-soak", flag.ExitOnError)
	fs.StringVar(&o.Engine, "engine", client.EngineEpoll, "the server's engine: epoll (prefork, so the process tree's fds are its sockets) or uring")
	fs.IntVar(&o.Conns, "conns", 100_000, "connections held")
	fs.Float64Var(&o.Churn, "churn", 200, "connections closed and reopened per second once all are open")
	fs.DurationVar(&o.Duration, "duration", 10*time.Minute, "how long to hold (and churn) once every connection is open")
	fs.DurationVar(&o.Interval, "interval", 10*time.Second, "keepalive period per connection")
	fs.DurationVar(&o.Every, "sample", 5*time.Second, "sampling period")
	fs.StringVar(&o.Results, "results", "", "results directory (default results/soak for epoll, results/soak-ENGINE otherwise)")
	fs.StringVar(&o.Bin, "bin", "bin", "directory of c1m-server and c1m-client (make build)")
	fs.Parse(os.Args[1:])
	if o.Results == "" {
		o.Results = filepath.Join("results", schema.SoakDir(o.Engine))
	}
	var sum schema.SoakSummary
	lab.Run("c1m-soak", o.Results, func(ctx context.Context, dir string) (err error) {
		staged := o
		staged.Results = dir
		sum, err = chaos.RunSoak(ctx, staged)
		return err
	})
	if !sum.Pass {
		fmt.Fprintf(os.Stderr, "c1m-soak: FAILED: %s\n", strings.Join(sum.Failures, "; "))
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "c1m-soak: passed; results in %s\n", o.Results)
}
