// Package harness runs c1m experiments: it starts the server and the client
// as child processes with each arm's flags, samples kernel and process
// memory while they run, tears everything down on every path, and writes
// results/exp-N/ (meta.json, summary.csv, samples and client results) for
// the analysis package. An experiment is one small main that fills in an
// Experiment and calls Main.
package harness

import (
	"time"

	"c1m/schema"
)

// Experiment is one lab-notebook page: what is asked, the one factor that
// varies, the arms, and what is measured.
type Experiment struct {
	Number     int
	Title      string
	Question   string
	Hypothesis string
	Factor     string
	Metrics    []Metric
	Checks     []Check
	Figures    []Figure
	// Arms lists the arms at a scale; they run interleaved, Repeats times.
	Arms    func(s Scale) []Arm
	Repeats func(s Scale) int
	// Sysctls are applied (root only) before the first arm and restored at exit.
	Sysctls map[string]string
	// ArmTimeout bounds one arm's run (0: 10 minutes).
	ArmTimeout time.Duration
}

// Scale is how big a run is: "full" (minutes, the committed reference
// runs) or "quick" (seconds, what CI runs).
type Scale struct {
	Name  string
	Quick bool
}

// Pick returns full or quick by scale.
func (s Scale) Pick(full, quick int) int {
	if s.Quick {
		return quick
	}
	return full
}

// Arm is one setting of the factor.
type Arm struct {
	Name   string
	Server []string // flags for bin/c1m-server (or ServerBin)
	Client []string // flags for bin/c1m-client
	Note   string
	// ServerBin replaces bin/c1m-server (e.g. the bare holder), relative to the bin dir.
	ServerBin string
	// ClientNice runs the client at this nice level. On one machine the load
	// generator competes with the server under test for the same CPUs;
	// niced, it stands in for remote machines and leaves the server the CPU.
	ClientNice int
}

// Metric, Check and Figure are meta.json's own types (see package schema):
// a metric names a summary.csv column; a check is a claim the analysis
// evaluates on two arms' medians; a figure is a plot the analysis draws.
type (
	Metric = schema.Metric
	Check  = schema.Check
	Figure = schema.Figure
)
