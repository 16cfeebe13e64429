// Command c1m-limits prints every limit that caps concurrent connections on
// this machine, what each allows, what binds and how to lift it; -tune
// applies the sysctl lifts (saving the old values first), -untune puts them back.
package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"c1m/calibrate"
	"c1m/cmd/internal/cli"
	"c1m/limits"
	"c1m/procfs"
	"c1m/provenance"
	"c1m/schema"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "c1m-limits:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := limits.DefaultConfig()
	fl := cli.FlagSet("c1m-limits", "Prints the limits on concurrent connections for -conns; -tune lifts the sysctls that bind (root),\n-untune restores the values -tune saved.")
	fl.IntVar(&cfg.Conns, "conns", cfg.Conns, "target connections")
	fl.StringVar(&cfg.Src, "src", cfg.Src, "client source addresses, as c1m-client -src")
	fl.IntVar(&cfg.Ports, "ports", cfg.Ports, "server ports, as -ports of c1m-server and c1m-client")
	fl.StringVar(&cfg.Server, "server", cfg.Server, "first server ip:port, as c1m-client -server")
	fl.IntVar(&cfg.Workers, "workers", cfg.Workers, "server workers (0: one per CPU)")
	fl.StringVar(&cfg.Results, "results", cfg.Results, "experiment 1's summary.csv, for the measured kernel memory per connection")
	root := fl.String("root", "/", "root of the proc and sys trees read (and written by -tune)")
	asJSON := fl.Bool("json", false, "print the report as JSON")
	budget := fl.Duration("calibrate", calibrate.DefaultBudget, "measure a system call, a context switch and a loopback echo for about this long, printed and saved with the report (0: not at all)")
	save := fl.String("save", "", "also write the report to DIR/limits.json (make limits: results/limits, which REPORT.md quotes)")
	tune := fl.Bool("tune", false, "apply the sysctl lifts that bind (root), saving the old values to -state first")
	untune := fl.Bool("untune", false, "restore the values saved in -state and remove it")
	again := fl.Bool("again", false, "-tune over an existing -state file, keeping the originals it holds")
	state := fl.String("state", limits.DefaultState, "state file of -tune and -untune")
	fl.Parse(os.Args[1:])
	fs := procfs.New(*root)
	if *tune || *untune {
		if err := limits.NeedRoot(fs, map[bool]string{true: "-tune", false: "-untune"}[*tune]); err != nil {
			return err
		}
	}

	if *untune {
		restored, err := limits.Untune(fs, *state)
		if err != nil {
			return err
		}
		for _, name := range slices.Sorted(maps.Keys(restored)) {
			fmt.Printf("restored %s = %s\n", name, restored[name])
		}
		return nil
	}
	rep, err := limits.Compute(fs, cfg)
	if err != nil {
		return err
	}
	if *tune {
		changed, err := limits.Tune(fs, rep.Tuning(), *state, *again)
		if err != nil {
			return err
		}
		if len(changed) == 0 {
			fmt.Println("nothing to tune: every sysctl lift is already applied")
			return nil
		}
		for _, name := range slices.Sorted(maps.Keys(changed)) {
			fmt.Printf("set %s = %s (was %s)\n", name, changed[name][1], changed[name][0])
		}
		fmt.Printf("old values saved in %s: make untune (c1m-limits -untune) puts them back\n", *state)
		return nil
	}
	machine := machineOf(fs, *budget)
	if *save != "" {
		if err := saveReport(*save, rep, machine); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if err := rep.WriteText(os.Stdout); err != nil {
		return err
	}
	_, err = fmt.Printf("\nMachine: %s.\n", machine.Machine())
	return err
}

// machineOf is the processor, kernel, code and calibration the limits were
// found with (the calibration skipped when budget is 0, or reported when it fails).
func machineOf(fs procfs.FS, budget time.Duration) schema.Env {
	env := provenance.Machine(fs)
	if budget > 0 {
		c, err := calibrate.Measure(budget)
		if err != nil {
			fmt.Fprintf(os.Stderr, "c1m-limits: the machine's calibration failed: %v\n", err)
		}
		env.Calibration = c
	}
	return env
}

// saved is results/limits/limits.json: the report, and when and where it was computed.
type saved struct {
	Time        string             `json:"time"`
	Kernel      string             `json:"kernel"`
	CPUModel    string             `json:"cpu_model,omitempty"`
	Calibration schema.Calibration `json:"calibration,omitzero"`
	Report      limits.Report      `json:"report"`
	// Env is the machine and the code (package provenance).
	Env schema.Env `json:"env"`
}

func saveReport(dir string, rep limits.Report, machine schema.Env) error {
	b, err := json.MarshalIndent(saved{Time: time.Now().UTC().Format(time.RFC3339), Kernel: machine.Kernel,
		CPUModel: machine.CPUModel, Calibration: machine.Calibration, Report: rep, Env: machine}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("-save: %w", err)
	}
	path := filepath.Join(dir, "limits.json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("-save: %w", err)
	}
	fmt.Fprintf(os.Stderr, "c1m-limits: saved in %s\n", path)
	return nil
}
