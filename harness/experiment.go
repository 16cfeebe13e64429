// Package harness runs c1m experiments: it starts the server and the client
// as child processes with each arm's flags, samples kernel and process
// memory while they run, tears everything down on every path, and writes
// results/exp-N/ (meta.json, summary.csv, samples and client results) for
// the analysis package. An experiment is one small main that fills in an
// Experiment and calls Main.
package harness

import (
	"context"
	"flag"
	"strconv"
	"strings"
	"time"

	"c1m/limits"
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
	// Feeds names the blocks of the report's summary the experiment
	// answers (schema.FeedCapacity, ...); the arms they read declare a Role.
	Feeds []string
	// Arms lists the arms at a scale; they run interleaved, Repeats times.
	Arms    func(s Scale) []Arm
	Repeats func(s Scale) int
	// Sysctls are applied (root only) before the first arm and restored at exit.
	Sysctls map[string]string
	// ArmTimeout bounds one arm's run (0: 10 minutes).
	ArmTimeout time.Duration
	// Derive, when set, adds the experiment's own metrics to a run's
	// metrics (the standard ones and the arm's Params are already in m).
	Derive func(arm Arm, m map[string]float64)
	// Flags, when set, adds the experiment's own command-line flags; they
	// are parsed before Arms is called, so Arms may read them.
	Flags func(fs *flag.FlagSet)
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

// Once is an Experiment's Repeats for arms that run once at every scale
// (an arm that takes minutes; one that needs more says so in Arm.Repeats).
func Once(Scale) int { return 1 }

// FullRepeats is an Experiment's Repeats for arms that run n times at full
// scale (the reference run's medians) and once at quick scale.
func FullRepeats(n int) func(Scale) int {
	return func(s Scale) int { return s.Pick(n, 1) }
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
	// Params are the arm's settings of the factor as numbers (e.g.
	// link_bits_per_sec): summary.csv columns, so the analysis can plot
	// and group by them.
	Params map[string]float64
	// Role is what the arm stands for in the summary blocks the
	// experiment feeds (a server, an engine, a workload).
	Role Role
	// Repeats, when more than the experiment's Repeats, is how often this
	// arm runs (a headline number's arm runs three times, its neighbours
	// once); the extra repeats come after the interleaved rounds.
	Repeats int
	// ServerNetns and ClientNetns run the server and the client inside
	// these network namespaces ("": the harness's own). Setup creates them.
	ServerNetns, ClientNetns string
	// Setup, when set, prepares the arm's environment (e.g. an emulated
	// link) before the server starts. Its finish runs on every path out of
	// the arm: it returns the environment's own counters (summary.csv
	// columns) and undoes the setup.
	Setup func(ctx context.Context) (finish func() (map[string]float64, error), err error)
}

// Metric, Check, Figure and Role are meta.json's own types (see package
// schema): a metric names a summary.csv column; a check is a claim the
// analysis evaluates on two arms' medians; a figure is a plot the analysis
// draws; a role is what an arm stands for in the report's summary.
type (
	Metric = schema.Metric
	Check  = schema.Check
	Figure = schema.Figure
	Role   = schema.Role
)

// CountName names a connection count for arm names: 1M, 20k, 300.
func CountName(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// MillionSysctls are what a million loopback connections need on this
// machine: deep accept queues, TCP memory past the default limit that a
// million keepalive connections exceed, no TIME_WAIT, so an arm need not
// wait a minute for the last one's closed sockets (what is measured is
// held connections, not closed ones), and a per-CPU input backlog deep
// enough for a million closes at once (limits.BacklogTarget says why
// 65,536: at the default 1,000 the storm's own FINs and ACKs are dropped and
// wait a retransmission timeout each).
func MillionSysctls() map[string]string {
	return map[string]string{"net.core.somaxconn": "65535", "net.ipv4.tcp_max_syn_backlog": "65535",
		"net.ipv4.tcp_mem": "1500000 2000000 3000000", "net.ipv4.tcp_max_tw_buckets": "0",
		"net.core.netdev_max_backlog": strconv.Itoa(limits.BacklogTarget)}
}

// KeepaliveAtMillion is e with what every experiment holding a million
// keepalive connections sets alike (it overrides e's own): each arm once
// (one takes minutes; a headline arm that needs more says so in
// Arm.Repeats), the share of keepalives answered derived (DeriveEchoShare)
// and MillionSysctls.
func KeepaliveAtMillion(e Experiment) Experiment {
	e.Repeats, e.Derive, e.Sysctls = Once, DeriveEchoShare, MillionSysctls()
	return e
}

// DeriveEchoShare adds, for keepalive arms (Params interval_s), the
// keepalives a second asked for (offered_per_sec) and the share of them
// answered (echo_share). Use it as, or in, an Experiment's Derive.
func DeriveEchoShare(_ Arm, m map[string]float64) {
	if iv := m["interval_s"]; iv > 0 && m["established"] > 0 {
		m["offered_per_sec"] = m["established"] / iv
		if echo, ok := m["echo_per_sec"]; ok {
			m["echo_share"] = echo / m["offered_per_sec"]
		}
	}
}

// DesignEngine is the engine, on both sides, of an arm that names none:
// experiments 1-14 were designed and measured on the epoll server and the
// epoll client, and their factors (dispatch, triggers, workers, strategies)
// are epoll's. The binaries' own default is io_uring where the kernel
// allows it (experiment 15); an arm that wants it says -engine uring.
const DesignEngine = "epoll"

// WithEngine returns flags (a c1m-server's or a c1m-client's) with
// -engine DesignEngine in front unless they name an engine already.
func WithEngine(flags []string) []string {
	if NamesEngine(flags) {
		return flags
	}
	return append([]string{"-engine", DesignEngine}, flags...)
}

// NamesEngine says whether flags set -engine, in any of Go's spellings.
func NamesEngine(flags []string) bool {
	for _, f := range flags {
		if f == "-engine" || f == "--engine" || strings.HasPrefix(f, "-engine=") || strings.HasPrefix(f, "--engine=") {
			return true
		}
	}
	return false
}
