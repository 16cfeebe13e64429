package procfs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sockstat holds the socket counts of /proc/net/sockstat (for the network
// namespace of the reading process).
type Sockstat struct {
	SocketsUsed uint64 // all sockets, any family
	TCPInUse    uint64 // TCP sockets not in TIME_WAIT (listening and established)
	TCPOrphan   uint64 // closed by the application, still held by the kernel
	TCPTimeWait uint64
	TCPAlloc    uint64 // allocated TCP sockets, including orphans
	TCPMemPages uint64 // pages of buffer memory charged to TCP (compare with net.ipv4.tcp_mem)
}

// TCPMemBytes is TCPMemPages in bytes.
func (s Sockstat) TCPMemBytes() uint64 { return s.TCPMemPages * pageSize }

// Sockstat parses /proc/net/sockstat.
func (fs FS) Sockstat() (Sockstat, error) { return fs.sockstat(fs.path("proc", "net", "sockstat")) }

// SockstatOf parses the sockstat of process pid's network namespace.
func (fs FS) SockstatOf(pid int) (Sockstat, error) {
	return fs.sockstat(fs.pidPath(pid, "net", "sockstat"))
}

func (fs FS) sockstat(path string) (Sockstat, error) {
	text, err := readText(path)
	if err != nil {
		return Sockstat{}, err
	}
	return parseSockstat(text)
}

// parseSockstat reads lines of "PROTO: key value key value ...".
func parseSockstat(text string) (Sockstat, error) {
	var s Sockstat
	fieldsOf := map[string]*uint64{
		"sockets used": &s.SocketsUsed,
		"TCP inuse":    &s.TCPInUse,
		"TCP orphan":   &s.TCPOrphan,
		"TCP tw":       &s.TCPTimeWait,
		"TCP alloc":    &s.TCPAlloc,
		"TCP mem":      &s.TCPMemPages,
	}
	found := false
	for line := range strings.Lines(text) {
		proto, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		pairs := strings.Fields(rest)
		for i := 0; i+1 < len(pairs); i += 2 {
			field, known := fieldsOf[proto+" "+pairs[i]]
			if !known {
				continue
			}
			n, err := strconv.ParseUint(pairs[i+1], 10, 64)
			if err != nil {
				return Sockstat{}, fmt.Errorf("procfs: sockstat %s %s: %w", proto, pairs[i], err)
			}
			*field, found = n, true
		}
	}
	if !found {
		return Sockstat{}, errors.New("procfs: sockstat: no sockets or TCP counts")
	}
	return s, nil
}
