package procfs

import (
	"fmt"
	"strconv"
	"strings"
)

// SoftnetDrops reads /proc/net/softnet_stat and returns the packets every
// CPU dropped since boot because its input backlog held
// net.core.netdev_max_backlog already. Loopback traffic goes through that
// backlog, so on this machine these are the client's and the server's own
// packets, dropped and sent again a retransmission timeout later.
func (fs FS) SoftnetDrops() (uint64, error) {
	text, err := readText(fs.path("proc", "net", "softnet_stat"))
	if err != nil {
		return 0, err
	}
	n, err := ParseSoftnetDrops(text)
	if err != nil {
		return 0, fmt.Errorf("procfs: /proc/net/softnet_stat: %w", err)
	}
	return n, nil
}

// ParseSoftnetDrops sums the second column (dropped, in hex) of
// softnet_stat's lines, one per CPU.
func ParseSoftnetDrops(text string) (uint64, error) {
	var sum uint64
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return 0, fmt.Errorf("line %q: want at least 2 columns", strings.TrimSpace(line))
		}
		n, err := strconv.ParseUint(f[1], 16, 64)
		if err != nil {
			return 0, fmt.Errorf("dropped column %q: %w", f[1], err)
		}
		sum += n
	}
	return sum, nil
}
