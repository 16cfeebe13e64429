package client

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"c1m/procfs"
)

// maxSources bounds a -src expansion (a /8 is 16M addresses; a million
// connections never need more than a few hundred sources).
const maxSources = 1 << 16

// ParseSources expands -src: a range "127.0.0.2-127.0.0.254", a CIDR
// "127.1.0.0/24" (network and broadcast left out), or a comma-separated
// list mixing both and single addresses.
func ParseSources(spec string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		addrs, err := parseSourcePart(part)
		if err != nil {
			return nil, fmt.Errorf("-src %q: %w", part, err)
		}
		out = append(out, addrs...)
		if len(out) > maxSources {
			return nil, fmt.Errorf("-src %q expands to more than %d addresses: give a smaller range", spec, maxSources)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-src %q names no address", spec)
	}
	return out, nil
}

func parseSourcePart(part string) ([]netip.Addr, error) {
	if lo, hi, ok := strings.Cut(part, "-"); ok {
		a, err := netip.ParseAddr(strings.TrimSpace(lo))
		if err != nil {
			return nil, err
		}
		b, err := netip.ParseAddr(strings.TrimSpace(hi))
		if err != nil {
			return nil, err
		}
		if a.BitLen() != b.BitLen() || b.Less(a) {
			return nil, fmt.Errorf("range end %s is before its start %s or of another family", b, a)
		}
		var out []netip.Addr
		for x := a; ; x = x.Next() {
			out = append(out, x)
			if x == b || len(out) > maxSources {
				return out, nil
			}
		}
	}
	if strings.Contains(part, "/") {
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, err
		}
		p = p.Masked()
		if p.Addr().BitLen()-p.Bits() > 16 {
			return nil, fmt.Errorf("prefix /%d is too large: use /%d or longer", p.Bits(), p.Addr().BitLen()-16)
		}
		var out []netip.Addr
		for x := p.Addr(); p.Contains(x); x = x.Next() {
			out = append(out, x)
			if !x.Next().IsValid() {
				break
			}
		}
		if len(out) > 2 { // leave out the network and broadcast addresses
			out = out[1 : len(out)-1]
		}
		return out, nil
	}
	a, err := netip.ParseAddr(part)
	if err != nil {
		return nil, err
	}
	return []netip.Addr{a}, nil
}

// PortRange is the kernel's ephemeral range, less reserved ports.
type PortRange struct {
	Lo, Hi   int
	Reserved int // ports inside [Lo, Hi] listed in ip_local_reserved_ports
}

// Size is how many ports connect() can pick from for one 4-tuple prefix.
func (r PortRange) Size() int { return r.Hi - r.Lo + 1 - r.Reserved }

// ParsePortRange reads "32768 60999" (net.ipv4.ip_local_port_range).
func ParsePortRange(s string) (PortRange, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return PortRange{}, fmt.Errorf("ip_local_port_range %q: want two numbers", s)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || hi < lo {
		return PortRange{}, fmt.Errorf("ip_local_port_range %q: want two ports lo <= hi", s)
	}
	return PortRange{Lo: lo, Hi: hi}, nil
}

// CountReserved counts the ports of a reserved list ("8080,9000-9010")
// that fall inside r, each once even if entries overlap.
func (r PortRange) CountReserved(list string) (int, error) {
	spans, err := procfs.ParsePortList(list)
	if err != nil {
		return 0, fmt.Errorf("ip_local_reserved_ports: %w", err)
	}
	// Each port once: the kernel's own list is disjoint, an override
	// (Config.ReservedPorts) may not be, and Size must not go negative.
	n := 0
	seen := make([]bool, max(r.Hi-r.Lo+1, 0))
	for _, sp := range spans {
		for p := max(sp.Lo, r.Lo); p <= min(sp.Hi, r.Hi); p++ {
			if !seen[p-r.Lo] {
				seen[p-r.Lo] = true
				n++
			}
		}
	}
	return n, nil
}

// Spread is the plan of which source address and server port each
// connection uses: connection i goes to source i % S and port (i / S) % K,
// so every (source, port) pair carries an even share.
type Spread struct {
	Sources []netip.Addr
	Server  netip.Addr
	Ports   []uint16
	Range   PortRange
}

// Capacity is the most connections the spread can open: each (source,
// server ip:port) pair has Range.Size() ephemeral ports, no more.
func (s Spread) Capacity() int { return len(s.Sources) * len(s.Ports) * s.Range.Size() }

// PerPair is how many connections the busiest (source, port) pair carries for n.
func (s Spread) PerPair(n int) int {
	pairs := len(s.Sources) * len(s.Ports)
	return (n + pairs - 1) / pairs
}

// Check refuses a plan of n connections that cannot fit, naming the limit and the fix.
func (s Spread) Check(n int) error {
	if per := s.PerPair(n); per > s.Range.Size() {
		need := (n + s.Range.Size()*len(s.Ports) - 1) / (s.Range.Size() * len(s.Ports))
		return fmt.Errorf("%d connections over %d source address(es) × %d server port(s) need %d per pair, "+
			"but the ephemeral port range %d-%d gives each pair only %d: "+
			"add source addresses (-src, at least %d) or server ports (-ports), or widen net.ipv4.ip_local_port_range",
			n, len(s.Sources), len(s.Ports), per, s.Range.Lo, s.Range.Hi, s.Range.Size(), need)
	}
	return nil
}

// Target returns the source and server port of connection i.
func (s Spread) Target(i int) (netip.Addr, uint16) {
	src, port := s.TargetIndex(i)
	return s.Sources[src], s.Ports[port]
}

// TargetIndex returns connection i's source and server port as indices
// into Sources and Ports.
func (s Spread) TargetIndex(i int) (src, port int) {
	S := len(s.Sources)
	return i % S, (i / S) % len(s.Ports)
}
