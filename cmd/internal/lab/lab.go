// Package lab starts the commands that measure on this machine outside the
// experiment harness (c1m-chaos, c1m-soak) as the harness's experiments
// run: one at a time under the lab lock, until done or interrupted.
package lab

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"c1m/harness"
)

// Run takes the lab lock and runs f with a context that SIGINT or SIGTERM
// ends (f then writes what it has and returns). If the lock is taken or f
// fails, it prints the error under the command's name and exits 1.
func Run(name string, f func(ctx context.Context) error) {
	unlock, err := harness.LockLab()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	defer unlock()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := f(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
