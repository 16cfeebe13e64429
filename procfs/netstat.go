package procfs

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Counters are the network statistics of /proc/net/snmp and
// /proc/net/netstat (for the network namespace of the reading process),
// keyed "Group.Name": "Tcp.OutSegs", "TcpExt.ListenOverflows",
// "TcpExt.TCPMemoryPressures". They count events since boot; a rate is the
// difference of two readings.
type Counters map[string]float64

// NetCounters reads /proc/net/snmp and /proc/net/netstat into one map.
func (fs FS) NetCounters() (Counters, error) { return fs.netCounters(fs.path("proc", "net")) }

// NetCountersOf reads the counters of process pid's network namespace
// (/proc/PID/net), which may not be the reader's.
func (fs FS) NetCountersOf(pid int) (Counters, error) { return fs.netCounters(fs.pidPath(pid, "net")) }

func (fs FS) netCounters(dir string) (Counters, error) {
	out := Counters{}
	for _, name := range []string{"snmp", "netstat"} {
		text, err := readText(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		c, err := parseCounters(text)
		if err != nil {
			return nil, fmt.Errorf("procfs: /proc/net/%s: %w", name, err)
		}
		for k, v := range c {
			out[k] = v
		}
	}
	return out, nil
}

// parseCounters reads the kernel's pairs of lines, a header naming the
// fields and a line of values under the same "Group:" prefix:
//
//	Tcp: RtoAlgorithm RtoMin ... InSegs OutSegs
//	Tcp: 1 200 ... 123 456
func parseCounters(text string) (Counters, error) {
	out := Counters{}
	var header []string
	var group string
	for line := range strings.Lines(text) {
		g, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if header == nil || g != group {
			group, header = g, fields
			continue
		}
		if len(fields) != len(header) {
			return nil, fmt.Errorf("group %s: %d values under %d names", g, len(fields), len(header))
		}
		for i, f := range fields {
			v, err := strconv.ParseFloat(f, 64) // Tcp.MaxConn is -1
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", g, header[i], err)
			}
			out[g+"."+header[i]] = v
		}
		header = nil
	}
	if len(out) == 0 {
		return nil, errors.New("no counters")
	}
	return out, nil
}
