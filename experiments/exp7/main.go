// Experiment 7: keepalives over an emulated network card.
package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"c1m/harness"
	"c1m/netns"
	"c1m/schema"
)

// A sweep is one link and one keepalive: the connection counts climb
// through the wire model's prediction of where the link fills.
type sweep struct {
	rateBits float64
	interval time.Duration
	payload  int
	conns    []int
}

func sweeps(s harness.Scale) []sweep {
	if s.Quick {
		return []sweep{{10e6, time.Second, 11, []int{1_000, 10_000}}}
	}
	return []sweep{
		// The model predicts 6,544 connections for 11-byte keepalives every second on 10 Mbit/s,
		{10e6, time.Second, 11, []int{2_000, 4_000, 6_000, 8_000, 10_000}},
		// 13,089 every 2 s,
		{10e6, 2 * time.Second, 11, []int{4_000, 8_000, 12_000, 16_000, 20_000}},
		// and 10,382 for 1 KiB messages every second on 100 Mbit/s.
		{100e6, time.Second, 1024, []int{3_000, 6_000, 9_000, 12_000, 15_000}},
	}
}

func main() {
	if err := netns.Check(); err != nil {
		fmt.Fprintf(os.Stderr, "exp-7: skipped: %v\n", err)
		return
	}
	harness.Main(harness.Experiment{
		Number: 7,
		Title:  "Keepalives over an emulated network card",
		Question: "When keepalive traffic fills a link, where do round trips and losses break, and does the wire model " +
			"(analysis/wire.go) predict the connection count?",
		Hypothesis: "Each sweep holds until the busier direction's wire bytes reach the link rate, at the model's connection count " +
			"within 15%; past it the shaper's queue fills, packets drop, round trips jump to the queue's 100 ms and beyond, and echoes fall behind.",
		Factor: "connections, in sweeps over link rate × keepalive interval × message size; server and client in two network namespaces " +
			"joined by a veth pair whose both directions tc tbf shapes to the link rate, charging each packet its Ethernet wire bytes " +
			"(FCS, preamble, inter-frame gap, 64-byte minimum frame)",
		Metrics: append(harness.Metrics("established", "echo_per_sec", "rtt_p50_us", "rtt_p99_us", "rtt_p999_us", "timeouts", "mismatched", "server_cpu_cores"),
			harness.Metric{Name: "conns_target", Help: "connections the arm opens (the swept factor)"},
			harness.Metric{Name: "link_bits_per_sec", Unit: "bit/s", Help: "the emulated link's rate, each direction"},
			harness.Metric{Name: "interval_s", Unit: "s", Help: "keepalive period"},
			harness.Metric{Name: "payload_bytes", Unit: "B", Help: "keepalive message size"},
			harness.Metric{Name: "echo_share", Better: "higher", Help: "echo_per_sec ÷ (established ÷ interval): 1 means every keepalive was answered"},
			harness.Metric{Name: "to_server_packets", Help: "packets the client's end sent (tc)"},
			harness.Metric{Name: "to_server_drops", Better: "lower", Help: "packets the client's end dropped: its shaper's queue was full (tc)"},
			harness.Metric{Name: "to_client_packets", Help: "packets the server's end sent (tc)"},
			harness.Metric{Name: "to_client_drops", Better: "lower", Help: "packets the server's end dropped (tc)"},
			harness.Metric{Name: "drop_share", Better: "lower", Help: "dropped ÷ offered packets, both directions"},
		),
		Arms: func(s harness.Scale) []harness.Arm {
			var arms []harness.Arm
			for _, sw := range sweeps(s) {
				for _, n := range sw.conns {
					arms = append(arms, arm(sw, n, s))
				}
			}
			return arms
		},
		Repeats: harness.Once,
		Feeds:   []string{schema.FeedLinkSweep},
		Derive: func(_ harness.Arm, m map[string]float64) {
			if m["established"] > 0 && m["interval_s"] > 0 {
				m["echo_share"] = m["echo_per_sec"] / (m["established"] / m["interval_s"])
			}
			drops := m["to_server_drops"] + m["to_client_drops"]
			if sent := m["to_server_packets"] + m["to_client_packets"] + drops; sent > 0 {
				m["drop_share"] = drops / sent
			}
		},
		ArmTimeout: 3 * time.Minute,
		Figures: []harness.Figure{
			{Kind: "bars", Metric: "rtt_p99_us"}, {Kind: "bars", Metric: "echo_share"}, {Kind: "bars", Metric: "drop_share"},
		},
	})
}

var (
	serverAddr = netip.MustParsePrefix("198.18.0.1/24")
	clientAddr = netip.MustParsePrefix("198.18.0.2/24")
)

func arm(sw sweep, n int, s harness.Scale) harness.Arm {
	link := &netns.Link{Name: "c1m7", ServerAddr: serverAddr, ClientAddr: clientAddr, RateBitsPerSec: sw.rateBits, QueueMs: 100}
	hold := []string{"20s", "3s"}[s.Pick(0, 1)]
	target := serverAddr.Addr().String() + ":9876"
	conns := strconv.Itoa(n)
	return harness.Arm{
		Name:        fmt.Sprintf("%gM-%s-%dB-%d", sw.rateBits/1e6, sw.interval, sw.payload, n),
		ServerNetns: link.ServerNS(), ClientNetns: link.ClientNS(),
		Server: []string{"-addr", target, "-ports", "4", "-max-conns", conns},
		Client: []string{"-server", target, "-ports", "4", "-src", clientAddr.Addr().String(), "-conns", conns,
			"-interval", sw.interval.String(), "-size", strconv.Itoa(sw.payload), "-hold", hold},
		Params: map[string]float64{"conns_target": float64(n), "link_bits_per_sec": sw.rateBits,
			"interval_s": sw.interval.Seconds(), "payload_bytes": float64(sw.payload)},
		Note: fmt.Sprintf("%s link, %d-byte keepalive every %s, %d connections", fmtRate(sw.rateBits), sw.payload, sw.interval, n),
		Setup: func(ctx context.Context) (func() (map[string]float64, error), error) {
			if err := link.Create(ctx); err != nil {
				return nil, err
			}
			return func() (map[string]float64, error) {
				defer link.Remove()
				up, down, err := link.Stats(context.Background())
				if err != nil {
					return nil, err
				}
				return map[string]float64{"to_server_packets": up.Packets, "to_server_drops": up.Drops,
					"to_client_packets": down.Packets, "to_client_drops": down.Drops}, link.Remove()
			}, nil
		},
	}
}

func fmtRate(bits float64) string { return strconv.FormatFloat(bits/1e6, 'f', -1, 64) + " Mbit/s" }
