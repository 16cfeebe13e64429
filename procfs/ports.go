package procfs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PortSpan is an inclusive range of ports; a single port has Lo == Hi.
type PortSpan struct{ Lo, Hi int }

// Len is the number of ports in the span.
func (p PortSpan) Len() int { return p.Hi - p.Lo + 1 }

// PortRange returns net.ipv4.ip_local_port_range: the ephemeral ports a
// client draws from for each (source address, destination address:port).
func (fs FS) PortRange() (lo, hi int, err error) {
	value, err := fs.Sysctl("net.ipv4.ip_local_port_range")
	if err != nil {
		return 0, 0, err
	}
	fields := strings.Fields(value)
	if len(fields) != 2 {
		return 0, 0, fmt.Errorf("procfs: ip_local_port_range %q: want \"LO HI\"", value)
	}
	lo, err1 := parsePort(fields[0])
	hi, err2 := parsePort(fields[1])
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("procfs: ip_local_port_range %q: %w", value, err)
	}
	return lo, hi, nil
}

// ReservedPorts returns net.ipv4.ip_local_reserved_ports, ports the kernel
// never picks as ephemeral ports; nil when none are reserved.
func (fs FS) ReservedPorts() ([]PortSpan, error) {
	value, err := fs.Sysctl("net.ipv4.ip_local_reserved_ports")
	if err != nil {
		return nil, err
	}
	return ParsePortList(value)
}

// EphemeralPortCount is the number of ports in PortRange that are not
// reserved: the connections one source address can open to one server
// address and port.
func (fs FS) EphemeralPortCount() (int, error) {
	lo, hi, err := fs.PortRange()
	if err != nil {
		return 0, err
	}
	reserved, err := fs.ReservedPorts()
	if err != nil {
		return 0, err
	}
	count := hi - lo + 1
	for _, r := range reserved { // the kernel prints disjoint spans
		if overlap := (PortSpan{max(r.Lo, lo), min(r.Hi, hi)}); overlap.Lo <= overlap.Hi {
			count -= overlap.Len()
		}
	}
	return count, nil
}

// ParsePortList parses the kernel's port list format: "8080,9000-9010",
// possibly empty.
func ParsePortList(s string) ([]PortSpan, error) {
	var spans []PortSpan
	for item := range strings.SplitSeq(strings.TrimSpace(s), ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		loText, hiText, isSpan := strings.Cut(item, "-")
		if !isSpan {
			hiText = loText
		}
		lo, err1 := parsePort(loText)
		hi, err2 := parsePort(hiText)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("procfs: port list item %q: %w", item, err)
		}
		if lo > hi {
			return nil, fmt.Errorf("procfs: port list item %q: %d > %d", item, lo, hi)
		}
		spans = append(spans, PortSpan{lo, hi})
	}
	return spans, nil
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err == nil && (n < 0 || n > 65535) {
		err = fmt.Errorf("port %d out of range 0-65535", n)
	}
	return n, err
}

// ModuleLoaded reports whether a kernel module is loaded (listed in
// /proc/modules) or built in with a /sys/module entry. Dashes and
// underscores are the same in module names. To know whether connection
// tracking can cap connections, read the sysctls net.netfilter.nf_conntrack_max
// (present once conntrack is loaded) and nf_conntrack_count (connections it
// is tracking now).
func (fs FS) ModuleLoaded(name string) bool {
	name = strings.ReplaceAll(name, "-", "_")
	if text, err := readText(fs.path("proc", "modules")); err == nil {
		for line := range strings.Lines(text) {
			if first, _, _ := strings.Cut(line, " "); first == name {
				return true
			}
		}
	}
	_, err := os.Stat(fs.path("sys", "module", name))
	return err == nil
}
