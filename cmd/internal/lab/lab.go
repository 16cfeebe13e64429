// Package lab starts the commands that measure on this machine outside the
// experiment harness (c1m-chaos, c1m-soak) as the harness's experiments
// run: one at a time under the lab lock, until done or interrupted, into a
// staging directory that replaces the results only when the run completes.
package lab

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"c1m/harness"
)

// Run takes the lab lock and runs f with a context that SIGINT or SIGTERM
// ends (f then writes what it has and returns) and a staging directory to
// write into: results/../.staging/NAME for results NAME. When f completes
// (its verdict pass or fail) the files it wrote replace their namesakes in
// results, and others there stay (c1m-chaos's steps share a directory).
// When it is interrupted or fails, results are left as they were and the
// partial run stays in staging. If the lock is taken, f fails or the run
// was interrupted, it prints why under the command's name and exits 1.
func Run(name, results string, f func(ctx context.Context, dir string) error) {
	unlock, err := harness.LockLab()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err = staged(ctx, results, f)
	stop()
	unlock()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// staged runs f into a fresh staging directory and moves what it wrote
// into results once it completed.
func staged(ctx context.Context, results string, f func(ctx context.Context, dir string) error) error {
	staging := StagingFor(results)
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("clearing the staging directory: %w", err)
	}
	if err := os.MkdirAll(staging, 0o755); err != nil {
		return fmt.Errorf("staging directory: %w", err)
	}
	err := f(ctx, staging)
	switch {
	case err != nil:
		return fmt.Errorf("%w (%s left as it was; the partial run is in %s)", err, results, staging)
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted: %s left as it was; the partial run is in %s", results, staging)
	}
	return promote(staging, results)
}

// StagingFor is where a run whose results go to results writes until it
// completes: beside the experiments' staging directories.
func StagingFor(results string) string {
	clean := filepath.Clean(results)
	return filepath.Join(filepath.Dir(clean), harness.StagingDir, filepath.Base(clean))
}

// promote moves every file of staging into results, replacing namesakes,
// and removes staging.
func promote(staging, results string) error {
	entries, err := os.ReadDir(staging)
	if err != nil {
		return fmt.Errorf("reading the staged run: %w", err)
	}
	if err := os.MkdirAll(results, 0o755); err != nil {
		return fmt.Errorf("results directory: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := os.RemoveAll(filepath.Join(results, e.Name())); err != nil {
				return fmt.Errorf("replacing %s: %w", e.Name(), err)
			}
		}
		if err := os.Rename(filepath.Join(staging, e.Name()), filepath.Join(results, e.Name())); err != nil {
			return fmt.Errorf("moving %s into %s (the rest is still in %s): %w", e.Name(), results, staging, err)
		}
	}
	return os.Remove(staging)
}
