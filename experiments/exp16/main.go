// Experiment 16: does the kernel's table of established sockets grow the cost of a keepalive?
package main

import (
	"context"
	"slices"
	"strconv"
	"time"

	"c1m/harness"
	"c1m/netns"
)

// ehashSizes are the factor: the established-socket hash's buckets. 0 is the
// host's own table, sized at boot from memory (262,144 here for 24 GiB);
// the other arms run server and client in a namespace of their own whose
// table has that many buckets.
var ehashSizes = []int{0, 1 << 21}

// nsSysctls are the million's per-namespace settings: a new namespace
// starts from the kernel's defaults, not from the host's raised values.
var nsSysctls = map[string]string{"net.core.somaxconn": "65535", "net.ipv4.tcp_max_syn_backlog": "65535", "net.ipv4.tcp_max_tw_buckets": "0"}

func tableName(buckets int) string {
	if buckets == 0 {
		return "host"
	}
	return "ehash-" + strconv.Itoa(buckets>>20) + "M" // 2M: 2,097,152 buckets
}

func arms(s harness.Scale) []harness.Arm {
	n := s.Pick(1_000_000, 6_000)
	ivs, hold := []time.Duration{60 * time.Second, 30 * time.Second}, 60*time.Second
	if s.Quick {
		ivs, hold = []time.Duration{2 * time.Second}, 4*time.Second
	}
	var out []harness.Arm
	for _, iv := range ivs {
		for _, buckets := range ehashSizes { // interleaved: the tables of an interval run back to back
			a := harness.Arm{
				Name:   tableName(buckets) + ".hold-" + harness.CountName(n) + "-" + iv.String(),
				Server: []string{"-engine", "uring", "-max-conns", strconv.Itoa(n), "-ports", "20"},
				Client: []string{"-engine", "uring", "-conns", strconv.Itoa(n), "-ports", "20", "-interval", iv.String(), "-hold", hold.String(), "-quiet-ramp", "-reconnect"},
				Params: map[string]float64{"interval_s": iv.Seconds(), "ehash_buckets": float64(buckets)},
				Note:   "a keepalive every " + iv.String() + "; established hash: " + tableName(buckets),
			}
			if buckets > 0 {
				ns := &netns.Loopback{Name: "c1m16", EhashEntries: buckets, Sysctls: nsSysctls}
				a.ServerNetns, a.ClientNetns = ns.Name, ns.Name
				a.Setup = func(ctx context.Context) (func() (map[string]float64, error), error) {
					if err := ns.Create(ctx); err != nil {
						return nil, err
					}
					return func() (map[string]float64, error) { return nil, ns.Remove() }, nil
				}
			}
			out = append(out, a)
		}
	}
	return out
}

func main() {
	harness.Main(harness.KeepaliveAtMillion(harness.Experiment{
		Number: 16,
		Title:  "Does the kernel's table of established sockets grow the cost of a keepalive?",
		Question: "Every TCP segment that arrives is matched to its socket in the kernel's established hash. On loopback a " +
			"million connections are two million sockets, both ends in the same table, which the kernel sized at boot " +
			"(262,144 buckets on this 24 GiB machine): chains of eight. A profile of a 1M hold put __inet_lookup_established " +
			"near the top of the whole machine's samples. How much of a keepalive's cost is that walk?",
		Hypothesis: "Stated before the run. With server and client in a namespace whose table has 2,097,152 buckets (chains " +
			"of about one), the whole machine's CPU per echo at 1M falls by at least 10%, the softirq part the most, and at a " +
			"keepalive every 30 s the share answered rises.",
		Factor: "The established hash's size: the host's own (shared with every namespace that does not ask for one) or " +
			"a namespace of its own made with net.ipv4.tcp_child_ehash_entries = 2,097,152, at 1M connections with a " +
			"keepalive every 60 s and every 30 s, held 60 s. Server and client both run io_uring (the pair experiment 15 measures cheapest). One repeat.",
		Metrics: slices.Concat(
			harness.Metrics("established", "server_ramp_s"),
			harness.KeepaliveMetrics(),
			harness.Metrics("host_cpu_us_per_msg", "host_softirq_us_per_msg", "server_cpu_us_per_msg", "client_cpu_us_per_msg",
				"host_busy_cores", "rtt_p50_us", "rtt_p99_us", "timeouts", "mismatched")),
		Arms:       arms,
		ArmTimeout: 12 * time.Minute,
		Checks: []harness.Check{
			{Metric: "host_cpu_us_per_msg", A: "ehash-2M.hold-1M-1m0s", B: "host.hold-1M-1m0s", Expect: "a<=b", Tolerance: -0.10,
				Claim: "a table of 2M buckets cuts the machine's CPU per echo at 1M by at least 10%"},
			{Metric: "echo_share", A: "ehash-2M.hold-1M-30s", B: "host.hold-1M-30s", Expect: "a>=b", Tolerance: 0,
				Claim: "at 30 s keepalives the bigger table answers a larger share"},
		},
		Figures: []harness.Figure{
			{Kind: "bars", Metric: "host_cpu_us_per_msg"},
			{Kind: "bars", Metric: "echo_share"},
			{Kind: "bars", Metric: "rtt_p99_us"},
		},
	}))
}
