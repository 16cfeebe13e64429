package procfs

import (
	"fmt"
	"strings"
)

// CPUModel is the processor's name from /proc/cpuinfo ("model name" of the
// first CPU listed; machines of one cloud kind come with different ones).
func (fs FS) CPUModel() (string, error) {
	text, err := readText(fs.path("proc", "cpuinfo"))
	if err != nil {
		return "", err
	}
	return parseCPUModel(text)
}

func parseCPUModel(text string) (string, error) {
	for line := range strings.Lines(text) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("procfs: no \"model name\" line in cpuinfo")
}
