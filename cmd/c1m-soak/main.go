// Command c1m-soak holds many connections with churn for a bounded time
// and checks that nothing leaks (package chaos, RunSoak): bin/c1m-server
// holds -conns keepalive connections from bin/c1m-client, -churn of which
// close and reconnect every second; every few seconds it samples the
// server's fds and RSS, the kernel's slab and the connections. It passes
// when the server's fds return to their idle count after the client
// closes, RSS and slab are stable over the hold, and no echo was lost or
// corrupted. Writes results/soak/{samples.csv,summary.json,client.json,*.log}.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"c1m/chaos"
	"c1m/cmd/internal/lab"
	"c1m/schema"
)

func main() {
	var o chaos.SoakOptions
	fs := flag.NewFlagSet("c1m-soak", flag.ExitOnError)
	fs.IntVar(&o.Conns, "conns", 100_000, "connections held")
	fs.Float64Var(&o.Churn, "churn", 200, "connections closed and reopened per second once all are open")
	fs.DurationVar(&o.Duration, "duration", 10*time.Minute, "how long to hold (and churn) once every connection is open")
	fs.DurationVar(&o.Interval, "interval", 10*time.Second, "keepalive period per connection")
	fs.DurationVar(&o.Every, "sample", 5*time.Second, "sampling period")
	fs.StringVar(&o.Results, "results", "results/soak", "results directory")
	fs.StringVar(&o.Bin, "bin", "bin", "directory of c1m-server and c1m-client (make build)")
	fs.Parse(os.Args[1:])
	var sum schema.SoakSummary
	lab.Run("c1m-soak", func(ctx context.Context) (err error) {
		sum, err = chaos.RunSoak(ctx, o)
		return err
	})
	if !sum.Pass {
		fmt.Fprintf(os.Stderr, "c1m-soak: FAILED: %s\n", strings.Join(sum.Failures, "; "))
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "c1m-soak: passed; results in %s\n", o.Results)
}
