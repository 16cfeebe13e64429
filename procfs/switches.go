package procfs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Switches are context switches: voluntary (the task blocked, e.g. in
// epoll_wait) and involuntary (it was preempted).
type Switches struct {
	Voluntary, Involuntary uint64
}

// Total is both kinds together.
func (s Switches) Total() uint64 { return s.Voluntary + s.Involuntary }

// ProcSwitches sums the context switches of every thread of a process, from
// /proc/PID/task/*/status: /proc/PID/status counts the main thread alone.
// It also returns how many threads it read. A thread that exits while it is
// read is skipped (its switches leave the sum).
func (fs FS) ProcSwitches(pid int) (sum Switches, threads int, err error) {
	dir := fs.pidPath(pid, "task")
	d, err := os.Open(dir)
	if err != nil {
		return Switches{}, 0, fmt.Errorf("procfs: %w", err)
	}
	tids, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return Switches{}, 0, fmt.Errorf("procfs: %w", err)
	}
	for _, tid := range tids {
		text, err := readText(fs.pidPath(pid, "task", tid, "status"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return Switches{}, 0, err
		}
		s, err := parseSwitches(text)
		if err != nil {
			return Switches{}, 0, fmt.Errorf("procfs: task %s of %d: %w", tid, pid, err)
		}
		sum.Voluntary += s.Voluntary
		sum.Involuntary += s.Involuntary
		threads++
	}
	if threads == 0 {
		return Switches{}, 0, fmt.Errorf("procfs: no thread of %d left: %w", pid, os.ErrNotExist)
	}
	return sum, threads, nil
}

// parseSwitches reads voluntary_ctxt_switches and nonvoluntary_ctxt_switches
// from a status file; both must be there.
func parseSwitches(text string) (Switches, error) {
	var s Switches
	var vol, invol bool
	for line := range strings.Lines(text) {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *uint64
		switch key {
		case "voluntary_ctxt_switches":
			dst, vol = &s.Voluntary, true
		case "nonvoluntary_ctxt_switches":
			dst, invol = &s.Involuntary, true
		default:
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return Switches{}, fmt.Errorf("status: %s: %w", key, err)
		}
		*dst = n
	}
	if !vol || !invol {
		return Switches{}, errors.New("status: no voluntary_ctxt_switches and nonvoluntary_ctxt_switches lines (kernel without them?)")
	}
	return s, nil
}
