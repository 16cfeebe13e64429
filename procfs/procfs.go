// Package procfs reads the Linux /proc and /sys files the c1m experiments
// sample: kernel memory (meminfo, slabinfo, sockstat), per-process memory,
// CPU time and fd counts, resource limits and sysctls.
//
// Every reader works below a root directory so tests can build a fake tree in
// t.TempDir(); production uses "/". The text parsers work on strings, never on
// files, so they can be fuzzed. Errors wrap their cause, so
// errors.Is(err, os.ErrNotExist) tells a vanished process from a bad parse.
package procfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FS is a /proc and /sys tree below Root.
type FS struct {
	// Root is the directory holding proc/ and sys/; "/" on a real system.
	Root string
}

// New returns the tree below root; an empty root means the real system ("/").
func New(root string) FS {
	if root == "" {
		root = "/"
	}
	return FS{Root: root}
}

// pageSize converts the kernel's page counts (sockstat mem, slab pages) to
// bytes. A variable rather than a call so tests see the same value everywhere.
var pageSize = uint64(os.Getpagesize())

// path joins elements below the root, e.g. fs.path("proc", "meminfo").
func (fs FS) path(elem ...string) string {
	return filepath.Join(append([]string{fs.Root}, elem...)...)
}

// pidPath is fs.path("proc", PID, elem...).
func (fs FS) pidPath(pid int, elem ...string) string {
	return fs.path(append([]string{"proc", strconv.Itoa(pid)}, elem...)...)
}

// readText reads a whole file; /proc files report size 0, which
// os.ReadFile handles by reading to EOF.
func readText(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("procfs: %w", err)
	}
	return string(b), nil
}

// parseKeyValues parses the "Key:   N kB" format shared by /proc/meminfo,
// /proc/PID/status and /proc/PID/smaps_rollup. Values with the kB unit are
// converted to bytes; values without a unit (HugePages_Total: 0) are kept
// as they are. Lines of another shape (status's "Name: cat", the address
// line of smaps_rollup) are skipped.
func parseKeyValues(text string) map[string]uint64 {
	values := make(map[string]uint64)
	for line := range strings.Lines(text) {
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 || len(fields) > 2 {
			continue
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) == 2 {
			if fields[1] != "kB" || n > ^uint64(0)/1024 {
				continue
			}
			n *= 1024
		}
		values[strings.TrimSpace(key)] = n
	}
	return values
}
