// Package netns builds the emulated network card of experiment 7: two
// network namespaces joined by a veth pair, each direction shaped by tc's
// token bucket (tbf) to a link rate, with the bytes counted the way an
// Ethernet wire counts them (FCS, preamble and inter-frame gap added, the
// 64-byte minimum frame enforced), so the link carries what a real card of
// that rate would. It drives iproute2 (ip, tc) and needs root.
//
// Addresses must come from 198.18.0.0/15, the range reserved for
// benchmarking (RFC 2544): an emulated host never takes an address that
// could be someone's real network.
package netns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// benchmarking is 198.18.0.0/15 (RFC 2544), the only range this package hands out.
var benchmarking = netip.MustParsePrefix("198.18.0.0/15")

// Link is a point-to-point link between a server and a client namespace.
type Link struct {
	// Name prefixes everything created: namespaces Name-srv and Name-cli,
	// veth ends Name-s and Name-c. Keep it short (interface names ≤ 15 bytes).
	Name string
	// ServerAddr and ClientAddr are the two ends' addresses with their
	// prefix length, both inside 198.18.0.0/15 (e.g. 198.18.0.1/24).
	ServerAddr, ClientAddr netip.Prefix
	// RateBitsPerSec shapes each direction to this rate (0: unshaped).
	RateBitsPerSec float64
	// QueueMs is how long a packet may wait in the shaper's queue before
	// it is dropped (tbf latency): the card's transmit queue.
	QueueMs int
}

// Wire framing the shaper adds to each packet's length (the veth packet
// starts at the Ethernet header and has no FCS): FCS 4 + preamble and
// start-of-frame 8 + inter-frame gap 12 bytes; and the smallest frame, 64
// bytes, plus those 20. The same constants as analysis/wire.go's model.
const (
	wireOverhead = 4 + 8 + 12
	wireMinimum  = 64 + 8 + 12
)

// ServerNS and ClientNS are the namespaces' names (for `ip netns exec`).
func (l *Link) ServerNS() string { return l.Name + "-srv" }
func (l *Link) ClientNS() string { return l.Name + "-cli" }

func (l *Link) serverDev() string { return l.Name + "-s" }
func (l *Link) clientDev() string { return l.Name + "-c" }

// Check says whether links can be built here: root and iproute2.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root (run as root, or skip this experiment)")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: install iproute2 (apt-get install iproute2): %w", tool, err)
		}
	}
	return nil
}

func (l *Link) validate() error {
	if l.Name == "" || len(l.serverDev()) > 15 || strings.ContainsAny(l.Name, " /") {
		return fmt.Errorf("netns: link name %q: want a short name without spaces or slashes (≤ 13 bytes)", l.Name)
	}
	for _, p := range []netip.Prefix{l.ServerAddr, l.ClientAddr} {
		if !p.IsValid() || !p.Addr().Is4() || !benchmarking.Contains(p.Addr()) || p.Bits() < benchmarking.Bits() {
			return fmt.Errorf("netns: address %v: emulated hosts take IPv4 addresses inside %v (the benchmarking range), with a prefix of /15 or longer", p, benchmarking)
		}
	}
	if l.ServerAddr.Addr() == l.ClientAddr.Addr() {
		return fmt.Errorf("netns: server and client both have %v", l.ServerAddr.Addr())
	}
	return nil
}

// Create builds the link: removes leftovers of the same name (an earlier
// run that was killed), creates both namespaces, the veth pair, the
// addresses and the shapers. On error it removes what it made.
func (l *Link) Create(ctx context.Context) error {
	if err := l.validate(); err != nil {
		return err
	}
	return fresh(l.Remove, func() error { return l.build(ctx) })
}

// fresh runs build on a clean slate: namespaces must be possible here
// (Check), leftovers of the same names from an earlier run that was killed
// are removed first (errors there mean nothing was there), and what build
// made is removed again when it fails.
func fresh(remove func() error, build func() error) error {
	if err := Check(); err != nil {
		return err
	}
	remove()
	if err := build(); err != nil {
		remove()
		return err
	}
	return nil
}

// build creates both namespaces, the veth pair, the addresses and the
// shapers.
func (l *Link) build(ctx context.Context) error {
	srv, cli := l.ServerNS(), l.ClientNS()
	steps := [][]string{
		{"ip", "netns", "add", srv},
		{"ip", "netns", "add", cli},
		{"ip", "link", "add", l.serverDev(), "netns", srv, "type", "veth", "peer", "name", l.clientDev(), "netns", cli},
		{"ip", "-n", srv, "addr", "add", l.ServerAddr.String(), "dev", l.serverDev()},
		{"ip", "-n", cli, "addr", "add", l.ClientAddr.String(), "dev", l.clientDev()},
		{"ip", "-n", srv, "link", "set", "lo", "up"},
		{"ip", "-n", cli, "link", "set", "lo", "up"},
		{"ip", "-n", srv, "link", "set", l.serverDev(), "up"},
		{"ip", "-n", cli, "link", "set", l.clientDev(), "up"},
	}
	if l.RateBitsPerSec > 0 {
		steps = append(steps, l.shaper(srv, l.serverDev()), l.shaper(cli, l.clientDev()))
	}
	for _, argv := range steps {
		if err := run(ctx, argv...); err != nil {
			return err
		}
	}
	return nil
}

// shaper is the tc command limiting dev's transmit side to the link rate.
// The size table (stab) makes tbf charge each packet its bytes on an
// Ethernet wire. The bucket holds 2 ms at the rate (at least two full
// frames): a wire sends at line rate and never faster, so the bucket is
// kept small.
func (l *Link) shaper(ns, dev string) []string {
	rate := int64(l.RateBitsPerSec)
	burst := max(rate/8/500, 2*1538)
	queue := l.QueueMs
	if queue <= 0 {
		queue = 100
	}
	return []string{"tc", "-n", ns, "qdisc", "add", "dev", dev, "root",
		"stab", "overhead", strconv.Itoa(wireOverhead), "mpu", strconv.Itoa(wireMinimum), "linklayer", "ethernet",
		"tbf", "rate", strconv.FormatInt(rate, 10) + "bit", "burst", strconv.FormatInt(burst, 10), "latency", strconv.Itoa(queue) + "ms"}
}

// Remove deletes both namespaces (the veth pair goes with them). It is
// safe to call on a link that is partly or not at all there.
func (l *Link) Remove() error {
	var errs []error
	for _, ns := range []string{l.ServerNS(), l.ClientNS()} {
		if !Exists(ns) {
			continue
		}
		if err := run(context.Background(), "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Exists says whether the named namespace exists (as `ip netns` sees it).
func Exists(ns string) bool {
	_, err := os.Stat("/run/netns/" + ns)
	return err == nil
}

// Command returns argv run inside namespace ns. `ip netns exec` executes
// the program in place, so the pid a caller gets is the program's.
func Command(ns string, argv ...string) []string {
	if ns == "" {
		return argv
	}
	return append([]string{"ip", "netns", "exec", ns}, argv...)
}

// Shaper counters of one direction, from tc's statistics.
type DirectionStats struct {
	Bytes, Packets, Drops, Overlimits float64
}

// Stats reads the shapers' counters: ToClient is what the server's end
// sent, ToServer what the client's end sent.
func (l *Link) Stats(ctx context.Context) (toServer, toClient DirectionStats, err error) {
	if toClient, err = qdiscStats(ctx, l.ServerNS(), l.serverDev()); err != nil {
		return
	}
	toServer, err = qdiscStats(ctx, l.ClientNS(), l.clientDev())
	return
}

func qdiscStats(ctx context.Context, ns, dev string) (DirectionStats, error) {
	out, err := output(ctx, "tc", "-n", ns, "-s", "-j", "qdisc", "show", "dev", dev)
	if err != nil {
		return DirectionStats{}, err
	}
	return parseQdiscStats(out)
}

// parseQdiscStats reads the root qdisc of `tc -s -j qdisc show dev X`.
func parseQdiscStats(out []byte) (DirectionStats, error) {
	var qdiscs []struct {
		Kind       string  `json:"kind"`
		Root       bool    `json:"root"`
		Bytes      float64 `json:"bytes"`
		Packets    float64 `json:"packets"`
		Drops      float64 `json:"drops"`
		Overlimits float64 `json:"overlimits"`
	}
	if err := json.Unmarshal(out, &qdiscs); err != nil {
		return DirectionStats{}, fmt.Errorf("netns: tc statistics: %w", err)
	}
	for _, q := range qdiscs {
		if q.Root {
			return DirectionStats{Bytes: q.Bytes, Packets: q.Packets, Drops: q.Drops, Overlimits: q.Overlimits}, nil
		}
	}
	return DirectionStats{}, errors.New("netns: tc statistics: no root qdisc")
}

// DialContext connects from inside namespace ns (the harness reaches a
// server's /stats this way). The socket is made on a thread that entered
// ns and is thrown away after: a socket stays in the namespace it was made
// in, whatever thread uses it later.
func DialContext(ctx context.Context, ns, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := inNamespace(ns, func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// inNamespace runs fn on a fresh thread that entered namespace ns.
func inNamespace(ns string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		// Never unlocked: the goroutine's end destroys the thread, so no
		// other goroutine runs in ns by accident.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			done <- fmt.Errorf("netns %s: %w", ns, err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("netns %s: setns: %w", ns, err)
			return
		}
		done <- fn()
	}()
	return <-done
}

func run(ctx context.Context, argv ...string) error {
	_, err := output(ctx, argv...)
	return err
}

func output(ctx context.Context, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("netns: %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Cut makes the link lose every packet, both ways, while both ends stay
// up: a peer that vanished without a FIN or RST, a cable pulled in the
// middle. Each end's transmit side gets the blackhole qdisc (built into
// every kernel, unlike netem's loss), which drops what it is given and
// tells the sender it went; no interface event tells either kernel. The
// link must be unshaped (a shaper is the root qdisc already).
func (l *Link) Cut(ctx context.Context) error {
	for _, end := range [][2]string{{l.ServerNS(), l.serverDev()}, {l.ClientNS(), l.clientDev()}} {
		if err := run(ctx, "tc", "-n", end[0], "qdisc", "add", "dev", end[1], "root", "blackhole"); err != nil {
			return fmt.Errorf("netns: cutting %s: %w", end[1], err)
		}
	}
	return nil
}

// ServerRxPackets is how many packets the server's end has received.
func (l *Link) ServerRxPackets(ctx context.Context) (uint64, error) {
	out, err := output(ctx, "ip", "-n", l.ServerNS(), "-j", "-s", "link", "show", "dev", l.serverDev())
	if err != nil {
		return 0, err
	}
	return parseRxPackets(out)
}

// parseRxPackets reads the received packets of `ip -j -s link show dev X`.
func parseRxPackets(out []byte) (uint64, error) {
	var links []struct {
		Stats struct {
			Rx struct {
				Packets uint64 `json:"packets"`
			} `json:"rx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		return 0, fmt.Errorf("netns: link statistics %q: %v", out, err)
	}
	return links[0].Stats.Rx.Packets, nil
}
