package procfs

import (
	"errors"
	"fmt"
	"os"
)

// Meminfo returns /proc/meminfo keyed as in the file ("MemFree", "Slab",
// "SUnreclaim", ...). Values given in kB are returned in bytes; unitless
// values (the HugePages_* counts) are returned as they are.
func (fs FS) Meminfo() (map[string]uint64, error) {
	text, err := readText(fs.path("proc", "meminfo"))
	if err != nil {
		return nil, err
	}
	return parseMeminfo(text)
}

func parseMeminfo(text string) (map[string]uint64, error) {
	values := parseKeyValues(text)
	if len(values) == 0 {
		return nil, errors.New("procfs: meminfo: no \"Key: value\" lines")
	}
	return values, nil
}

// ProcMem is the memory of one process in bytes.
type ProcMem struct {
	Rss, Pss                   uint64
	PssAnon, PssFile           uint64
	SharedClean, SharedDirty   uint64
	PrivateClean, PrivateDirty uint64
	Anonymous                  uint64 // RssAnon when FromStatus
	Swap                       uint64
	// FromStatus is true when smaps_rollup could not be read and the values
	// come from /proc/PID/status: only Rss, Anonymous and Swap are set, the
	// Pss, Shared and Private fields are zero.
	FromStatus bool
}

// ProcMem reads /proc/PID/smaps_rollup (kernel 4.14+, needs ptrace read
// access to the process) and falls back to /proc/PID/status when that file is
// missing or not permitted. A process that has exited gives an error
// satisfying errors.Is(err, os.ErrNotExist).
func (fs FS) ProcMem(pid int) (ProcMem, error) {
	text, err := readText(fs.pidPath(pid, "smaps_rollup"))
	if err == nil {
		return parseSmapsRollup(text), nil
	}
	if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, os.ErrPermission) {
		return ProcMem{}, err
	}
	status, statusErr := readText(fs.pidPath(pid, "status"))
	if statusErr != nil {
		return ProcMem{}, fmt.Errorf("%w (smaps_rollup: %v)", statusErr, err)
	}
	return parseStatusMem(status), nil
}

func parseSmapsRollup(text string) ProcMem {
	v := parseKeyValues(text)
	return ProcMem{
		Rss: v["Rss"], Pss: v["Pss"],
		PssAnon: v["Pss_Anon"], PssFile: v["Pss_File"],
		SharedClean: v["Shared_Clean"], SharedDirty: v["Shared_Dirty"],
		PrivateClean: v["Private_Clean"], PrivateDirty: v["Private_Dirty"],
		Anonymous: v["Anonymous"],
		Swap:      v["Swap"],
	}
}

func parseStatusMem(text string) ProcMem {
	v := parseKeyValues(text)
	return ProcMem{Rss: v["VmRSS"], Anonymous: v["RssAnon"], Swap: v["VmSwap"], FromStatus: true}
}
