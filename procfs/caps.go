package procfs

import (
	"fmt"
	"strconv"
	"strings"
)

// CapSysResource is the capability bit (CAP_SYS_RESOURCE) that lets a
// process raise its hard RLIMIT_NOFILE, up to fs.nr_open.
const CapSysResource = 24

// CapEff returns the effective capability set of a process, the CapEff line
// of /proc/PID/status (a hex mask: bit n is capability n).
func (fs FS) CapEff(pid int) (uint64, error) {
	text, err := readText(fs.pidPath(pid, "status"))
	if err != nil {
		return 0, err
	}
	return parseCapEff(text)
}

// parseCapEff reads the hex mask of the "CapEff:" line; parseKeyValues skips
// it, since it reads decimal values.
func parseCapEff(text string) (uint64, error) {
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, "CapEff:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(rest), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("procfs: status CapEff %q: %w", strings.TrimSpace(rest), err)
			}
			return mask, nil
		}
	}
	return 0, fmt.Errorf("procfs: status has no CapEff line (kernel without capabilities?)")
}
