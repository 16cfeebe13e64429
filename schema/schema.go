// Package schema is the format of results/<experiment>/meta.json: written
// by the harness, read by the analysis. One definition for both sides.
package schema

// Meta is meta.json: what an experiment asked, how it ran, and where.
type Meta struct {
	ID         string   `json:"id"`
	Number     int      `json:"number"`
	Title      string   `json:"title"`
	Question   string   `json:"question"`
	Hypothesis string   `json:"hypothesis"`
	Factor     string   `json:"factor"`
	Metrics    []Metric `json:"metrics"`
	Arms       []Arm    `json:"arms"`
	Repeats    int      `json:"repeats"`
	Scale      string   `json:"scale"` // "full" or "quick"
	Checks     []Check  `json:"checks"`
	Figures    []Figure `json:"figures"`
	Env        Env      `json:"env"`
	Start      string   `json:"start"`
	End        string   `json:"end"`
	Notes      []string `json:"notes"`
}

// Metric is a number each run yields: a summary.csv column.
type Metric struct {
	Name   string `json:"name"`
	Unit   string `json:"unit"`
	Better string `json:"better"` // "lower" or "higher"
	Help   string `json:"help"`
}

// Arm is one setting of the experiment's factor, as it ran.
type Arm struct {
	Name        string   `json:"name"`
	ServerBin   string   `json:"server_bin,omitempty"`
	ServerFlags []string `json:"server_flags"`
	ClientFlags []string `json:"client_flags"`
	Note        string   `json:"note,omitempty"`
	ClientNice  int      `json:"client_nice,omitempty"`
	// Params are the arm's factor settings as numbers (also summary.csv columns).
	Params      map[string]float64 `json:"params,omitempty"`
	ServerNetns string             `json:"server_netns,omitempty"`
	ClientNetns string             `json:"client_netns,omitempty"`
}

// Check is a claim comparing arm A with arm B on one metric's medians:
// "a>=b", "a<=b" or "a~b" within Tolerance.
type Check struct {
	Metric    string  `json:"metric"`
	A         string  `json:"a"`
	B         string  `json:"b"`
	Expect    string  `json:"expect"`
	Tolerance float64 `json:"tolerance"`
	Claim     string  `json:"claim"`
}

// Figure is a plot the experiment asks the analysis for.
type Figure struct {
	Kind   string   `json:"kind"` // "series", "bars", "timeline", "ratios" (tables and a figure: see Baseline) or "curve" (summary metrics Y against X, a line per arm family)
	X      string   `json:"x,omitempty"`
	Y      []string `json:"y,omitempty"`
	Stack  []string `json:"stack,omitempty"`
	Metric string   `json:"metric,omitempty"` // of a "bars" figure
	Title  string   `json:"title,omitempty"`
	// Baseline of a "ratios" figure: the implementation the others are
	// divided by, where arms are named IMPLEMENTATION.WORKLOAD.
	Baseline string `json:"baseline,omitempty"`
}

// Env is the machine an experiment ran on.
type Env struct {
	Kernel    string            `json:"kernel"`
	CPUModel  string            `json:"cpu_model"`
	CPUs      int               `json:"cpus"`
	MemBytes  uint64            `json:"mem_bytes"`
	GoVersion string            `json:"go_version"`
	GitCommit string            `json:"git_commit"`
	Sysctls   map[string]string `json:"sysctls"`
	Rlimits   map[string]uint64 `json:"rlimits"`
	Root      bool              `json:"root"`
}
