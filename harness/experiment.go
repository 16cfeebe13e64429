// Package harness runs c1m experiments: it starts the server and the client
// as child processes with each arm's flags, samples kernel and process
// memory while they run, tears everything down on every path, and writes
// results/exp-N/ (meta.json, summary.csv, samples and client results) for
// the analysis package. An experiment is one small main that fills in an
// Experiment and calls Main.
package harness

import "time"

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

// Metric names a number each run yields (a summary.csv column).
type Metric struct {
	Name   string `json:"name"`
	Unit   string `json:"unit"`
	Better string `json:"better"` // "lower" or "higher"
	Help   string `json:"help"`
}

// Check is a hypothesis the analysis evaluates on the medians: metric of
// arm A against arm B, expecting "a>=b", "a<=b" or "a~b" within Tolerance.
type Check struct {
	Metric    string  `json:"metric"`
	A         string  `json:"a"`
	B         string  `json:"b"`
	Expect    string  `json:"expect"`
	Tolerance float64 `json:"tolerance"`
	Claim     string  `json:"claim"`
}

// Figure asks the analysis for one plot (see the analysis package).
type Figure struct {
	Kind  string   `json:"kind"` // series, bars, timeline
	X     string   `json:"x,omitempty"`
	Y     []string `json:"y,omitempty"`
	Stack []string `json:"stack,omitempty"`
	// Metric is the summary metric of a "bars" figure.
	Metric string `json:"metric,omitempty"`
	Title  string `json:"title,omitempty"`
}
