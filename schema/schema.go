// Package schema is the format of what results/ holds: an experiment's
// meta.json (written by the harness), the chaos suite's, the reconnect
// storm's and the soak's result files (chaos.go, written by package chaos),
// all read by the analysis. One definition for both sides.
package schema

import (
	"fmt"
	"strings"
)

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
	// Feeds names the blocks of the report's summary this experiment
	// answers (the Feed constants): the analysis finds an experiment by what
	// it declares here, not by its number.
	Feeds []string `json:"feeds,omitempty"`
	Env   Env      `json:"env"`
	Start string   `json:"start"`
	End   string   `json:"end"`
	// Runs is how long each run (an arm's repeat) took, wall time from
	// waiting for the previous run's sockets to the last sample: the next
	// run of the experiment shows it as the expected time.
	Runs []RunTime `json:"runs,omitempty"`
	// ServerProblems are what the servers' logs said went wrong: the last
	// such line of each run that has one.
	ServerProblems []ServerProblem `json:"server_problems,omitempty"`
	Notes          []string        `json:"notes"`
}

// RunTime is one run's wall time.
type RunTime struct {
	Arm     string  `json:"arm"`
	Rep     int     `json:"rep"`
	Seconds float64 `json:"seconds"`
}

// The blocks of the report's summary an experiment can feed (Meta.Feeds).
const (
	// FeedCapacity: the connections each arm reached and the kernel and
	// user memory a connection cost there; the summary also quotes this
	// experiment's environment (limits, sysctls).
	FeedCapacity = "capacity"
	// FeedPortExhaustion: per arm, the connections established against the
	// client's plan, EADDRNOTAVAIL failures and TIME_WAIT at the peak.
	FeedPortExhaustion = "port-exhaustion"
	// FeedLinkSweep: connection counts swept over emulated links (the arms'
	// Params link_bits_per_sec, interval_s, conns_target and optionally
	// payload_bytes) against the wire model's prediction.
	FeedLinkSweep = "link-sweep"
	// FeedKeepaliveCost: at a million connections, per keepalive interval
	// (Params interval_s), what runs out first: CPU, packets or bandwidth.
	FeedKeepaliveCost = "keepalive-cost"
	// FeedEnginesAtMillion: per engine (Role.Engine), the time to fill a
	// million connections and the highest keepalive rate answered in full,
	// from its WorkloadHold arms.
	FeedEnginesAtMillion = "engines-at-million"
	// FeedPeersAtMillion: the servers (Role.Server) side by side at a
	// million connections, from a WorkloadIdle and a WorkloadKeepalive arm each.
	FeedPeersAtMillion = "peers-at-million"
)

// ServerProblem is the last line of one run's server log that reported a
// problem (an error, a failure, an exit, a kill).
type ServerProblem struct {
	Arm  string `json:"arm"`
	Rep  int    `json:"rep"`
	Line string `json:"line"`
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
	Params map[string]float64 `json:"params,omitempty"`
	// Role is what the arm stands for in the summary the experiment feeds.
	Role        Role   `json:"role,omitzero"`
	ServerNetns string `json:"server_netns,omitempty"`
	ClientNetns string `json:"client_netns,omitempty"`
	// Repeats, when more than the experiment's, is how often this arm
	// runs: the arms a headline number comes from run three times.
	Repeats int `json:"repeats,omitempty"`
}

// Role is what an arm stands for in the report's summary, declared by its
// experiment so that the analysis does not read it from the arm's name.
type Role struct {
	// Server is the server the arm runs, as the summary names it (core,
	// gnet, nbio, netgo): FeedPeersAtMillion has a row per server.
	Server string `json:"server,omitempty"`
	// Engine is the core server's event engine (epoll, uring):
	// FeedEnginesAtMillion has a line per engine.
	Engine string `json:"engine,omitempty"`
	// Workload is what the arm measures for the summary: a Workload constant.
	Workload string `json:"workload,omitempty"`
}

// Workloads an arm's Role can declare: what the summary reads the arm for.
const (
	WorkloadHold      = "hold"      // a million held, a keepalive every interval_s: the fill time, the rate answered
	WorkloadIdle      = "idle"      // held with rare keepalives: the memory and the time to hold them
	WorkloadKeepalive = "keepalive" // held with frequent keepalives: the CPU per keepalive, the round trips
)

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

// Env is the machine a result was measured on, and the code.
type Env struct {
	Kernel    string `json:"kernel"`
	CPUModel  string `json:"cpu_model"`
	CPUs      int    `json:"cpus"`
	MemBytes  uint64 `json:"mem_bytes"`
	GoVersion string `json:"go_version"`
	// GitCommit is the commit of the measured code (package provenance),
	// with "-dirty" when the code differed from it: not a reference run.
	GitCommit string `json:"git_commit"`
	// GitHead is the commit checked out when the run started (results
	// committed after GitCommit move it, not GitCommit).
	GitHead string `json:"git_head,omitempty"`
	// Dirty: the measured code was not committed, so the run is not a
	// reference run (older results say so only in GitCommit's suffix).
	Dirty   bool              `json:"dirty,omitempty"`
	Sysctls map[string]string `json:"sysctls"`
	Rlimits map[string]uint64 `json:"rlimits"`
	Root    bool              `json:"root"`
	// Calibration is what the machine charged for the basic operations when
	// the run began (package calibrate); zero in results that predate it.
	Calibration Calibration `json:"calibration,omitzero"`
}

// Machine is the processor, the kernel and the calibration in one line:
// "AMD EPYC × 2 CPUs, Linux 6.18.44; system call 1.1 µs, ...".
func (e Env) Machine() string {
	model, kernel := e.CPUModel, e.Kernel
	if model == "" {
		model = "processor not recorded"
	}
	if kernel == "" {
		kernel = "not recorded"
	}
	return fmt.Sprintf("%s × %d CPUs, Linux %s; %s", model, e.CPUs, kernel, e.Calibration)
}

// Calibration is a short measurement of the machine under a run: what one
// system call, one context switch and one loopback echo cost, so that a
// reader can tell a slower processor from a slower engine. Medians over
// batches (loopback: over single round trips).
type Calibration struct {
	// SyscallNs: one getppid(2), a system call no vDSO serves.
	SyscallNs float64 `json:"syscall_ns"`
	// CtxSwitchNs: half of PipeRTTPinnedNs, one switch from a thread to
	// another of the same process (as perf bench sched pipe -T counts it).
	CtxSwitchNs float64 `json:"ctx_switch_ns"`
	// PipeRTTPinnedNs: a byte there and back over two pipes between two
	// threads pinned to the same CPU, so every hand-over is a switch.
	PipeRTTPinnedNs float64 `json:"pipe_rtt_pinned_ns"`
	// PipeRTTUnpinnedNs: the same round trip with the threads where the
	// scheduler puts them (usually two CPUs: a wake-up across CPUs).
	PipeRTTUnpinnedNs float64 `json:"pipe_rtt_unpinned_ns"`
	// ProcSwitchNs: half of PipeRTTProcsPinnedNs, one switch from a process
	// to another (perf bench sched pipe's default, which uses processes):
	// the address space changes too. 0 when not measured.
	ProcSwitchNs float64 `json:"proc_switch_ns,omitempty"`
	// PipeRTTProcsPinnedNs: the pinned round trip with the echo in another
	// process (cat(1)), as between a server and its load client.
	PipeRTTProcsPinnedNs float64 `json:"pipe_rtt_procs_pinned_ns,omitempty"`
	// LoopbackRTTUs: a 16-byte echo over a loopback TCP connection between
	// two threads, write to the whole echo read back.
	LoopbackRTTUs float64 `json:"loopback_rtt_us"`
	// LoopbackRoundTrips: how many echoes LoopbackRTTUs is the median of.
	LoopbackRoundTrips int `json:"loopback_round_trips"`
	// TookMs: how long the whole measurement took.
	TookMs float64 `json:"took_ms"`
}

// Measured reports whether c holds a measurement (results older than the
// calibration have none).
func (c Calibration) Measured() bool { return c.SyscallNs > 0 }

// String is the calibration in one phrase, for the report, the harness's
// log and c1m-limits: "system call 1.1 µs, context switch 4.3 µs (...)".
func (c Calibration) String() string {
	if !c.Measured() {
		return "calibration not measured"
	}
	switches := micros(c.CtxSwitchNs/1e3) + " between threads"
	if c.ProcSwitchNs > 0 {
		switches += ", " + micros(c.ProcSwitchNs/1e3) + " between processes"
	}
	return fmt.Sprintf("system call %s, context switch %s (half a pipe round trip on one CPU; unpinned threads' round trip %s), loopback echo round trip %s",
		micros(c.SyscallNs/1e3), switches, micros(c.PipeRTTUnpinnedNs/1e3), micros(c.LoopbackRTTUs))
}

// micros formats a time in µs to about two significant digits.
func micros(us float64) string {
	switch {
	case us < 1:
		return fmt.Sprintf("%.2f µs", us)
	case us < 10:
		return fmt.Sprintf("%.1f µs", us)
	}
	return fmt.Sprintf("%.0f µs", us)
}

// Reference says whether the result was made from committed code, so that
// the commit it names rebuilds what ran.
func (e Env) Reference() bool {
	return e.GitCommit != "" && e.GitCommit != "unknown" && !e.Dirty && !strings.HasSuffix(e.GitCommit, "-dirty")
}

// Commit is the recorded commit without the "-dirty" suffix.
func (e Env) Commit() string { return strings.TrimSuffix(e.GitCommit, "-dirty") }
