package procfs

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of the times in /proc/PID/stat. The kernel reports them
// in USER_HZ, which is 100 on every Linux architecture the project targets,
// whatever CONFIG_HZ the kernel was built with.
const userHZ = 100

// ProcCPU returns the user and system CPU time of a process, all its threads
// included, from fields 14 and 15 of /proc/PID/stat.
func (fs FS) ProcCPU(pid int) (user, system time.Duration, err error) {
	text, err := readText(fs.pidPath(pid, "stat"))
	if err != nil {
		return 0, 0, err
	}
	return parseStatCPU(text)
}

// parseStatCPU reads utime and stime from a stat line. The command name
// (field 2) is in parentheses and may itself hold spaces and ')', so fields
// are counted from the last ')'.
func parseStatCPU(text string) (user, system time.Duration, err error) {
	end := strings.LastIndexByte(text, ')')
	if end < 0 {
		return 0, 0, errors.New("procfs: stat: no ')' after the command name")
	}
	fields := strings.Fields(text[end+1:]) // fields[0] is field 3, the state
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, 0, fmt.Errorf("procfs: stat: %d fields after the command name, want at least %d", len(fields), stime+1)
	}
	var ticks [2]uint64
	for i, f := range []string{fields[utime], fields[stime]} {
		if ticks[i], err = strconv.ParseUint(f, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("procfs: stat: %w", err)
		}
	}
	return ticksToDuration(ticks[0]), ticksToDuration(ticks[1]), nil
}

func ticksToDuration(ticks uint64) time.Duration {
	const perTick = time.Second / userHZ
	if ticks > math.MaxInt64/uint64(perTick) {
		return math.MaxInt64
	}
	return time.Duration(ticks) * perTick
}

// FDCount returns the number of open file descriptors of a process: the
// entries of /proc/PID/fd, which is the fd table of its main thread.
func (fs FS) FDCount(pid int) (int, error) {
	return countEntries(fs.pidPath(pid, "fd"))
}

// TaskFDCount counts /proc/PID/task/TID/fd: the fds of one thread, which
// differ from FDCount's when the thread unshared its fd table
// (unshare(CLONE_FILES)).
func (fs FS) TaskFDCount(pid, tid int) (int, error) {
	return countEntries(fs.pidPath(pid, "task", strconv.Itoa(tid), "fd"))
}

// countEntries counts a directory without sorting or stat-ing its entries,
// which matters at 20,000 fds.
func countEntries(dir string) (int, error) {
	d, err := os.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("procfs: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return 0, fmt.Errorf("procfs: %w", err)
	}
	return len(names), nil
}

// Children returns the pids of the direct children of a process, read from
// /proc/PID/task/*/children (every thread lists the children it forked;
// needs CONFIG_PROC_CHILDREN, which common distribution kernels set).
func (fs FS) Children(pid int) ([]int, error) {
	files, err := filepath.Glob(fs.pidPath(pid, "task", "*", "children"))
	if err != nil {
		return nil, fmt.Errorf("procfs: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("procfs: children of %d: %w (process gone, or kernel without CONFIG_PROC_CHILDREN)", pid, os.ErrNotExist)
	}
	var children []int
	for _, file := range files {
		text, err := readText(file)
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited since the glob
		}
		if err != nil {
			return nil, err
		}
		for _, f := range strings.Fields(text) {
			child, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("procfs: %s: %w", file, err)
			}
			children = append(children, child)
		}
	}
	return children, nil
}

// Descendants returns every process below pid (children, grandchildren, ...),
// not pid itself, parents before their children. Use it to sum memory over a
// process tree. A process may exit while it is listed; reading it then fails
// with os.ErrNotExist, which a sampler should skip.
func (fs FS) Descendants(pid int) ([]int, error) {
	var found []int
	seen := map[int]bool{pid: true} // pids can be reused; never loop
	queue := []int{pid}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		children, err := fs.Children(parent)
		if err != nil && (parent == pid || !errors.Is(err, os.ErrNotExist)) {
			return nil, err
		}
		for _, c := range children {
			if !seen[c] {
				seen[c] = true
				found = append(found, c)
				queue = append(queue, c)
			}
		}
	}
	return found, nil
}

// Unlimited is the value of a limit shown as "unlimited".
const Unlimited uint64 = math.MaxUint64

// Limit is one resource limit of a process.
type Limit struct {
	Soft, Hard uint64 // Unlimited when "unlimited"
	Unit       string // "files", "bytes", ...; empty for the priority limits
}

// Limits returns /proc/PID/limits keyed by the limit's name as in the file:
// "Max open files" is RLIMIT_NOFILE, "Max processes" RLIMIT_NPROC.
func (fs FS) Limits(pid int) (map[string]Limit, error) {
	text, err := readText(fs.pidPath(pid, "limits"))
	if err != nil {
		return nil, err
	}
	return parseLimits(text)
}

// parseLimits reads the table under the "Limit  Soft Limit  Hard Limit  Units"
// header. Names hold spaces and the unit may be missing, so each row is read
// from its end: [unit], hard, soft, then the name.
func parseLimits(text string) (map[string]Limit, error) {
	limits := make(map[string]Limit)
	for line := range strings.Lines(text) {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] == "Limit" {
			continue
		}
		var l Limit
		if _, err := parseLimitValue(fields[len(fields)-1]); err != nil {
			l.Unit, fields = fields[len(fields)-1], fields[:len(fields)-1]
		}
		n := len(fields)
		if n < 3 {
			return nil, fmt.Errorf("procfs: limits line %q: want name, soft, hard", strings.TrimSpace(line))
		}
		var err1, err2 error
		l.Soft, err1 = parseLimitValue(fields[n-2])
		l.Hard, err2 = parseLimitValue(fields[n-1])
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("procfs: limits line %q: %w", strings.TrimSpace(line), err)
		}
		limits[strings.Join(fields[:n-2], " ")] = l
	}
	if len(limits) == 0 {
		return nil, errors.New("procfs: limits: no rows")
	}
	return limits, nil
}

func parseLimitValue(s string) (uint64, error) {
	if s == "unlimited" {
		return Unlimited, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// HostCPU is the machine's CPU time since boot, all CPUs summed, from the
// first line of /proc/stat.
type HostCPU struct {
	Busy    time.Duration // everything but idle and iowait
	User    time.Duration // part of Busy: user and nice
	System  time.Duration // part of Busy: system calls and kernel threads
	Softirq time.Duration // part of Busy: softirqs, where loopback TCP runs when no process pays for it
	// Ctxt is the machine's context switches since boot (the "ctxt" line);
	// 0 when the file has none.
	Ctxt uint64
}

// HostCPU reads the machine's CPU time.
func (fs FS) HostCPU() (HostCPU, error) {
	text, err := readText(fs.path("proc", "stat"))
	if err != nil {
		return HostCPU{}, err
	}
	return parseHostCPU(text)
}

// parseHostCPU reads the "cpu" line (user nice system idle iowait irq
// softirq steal guest guest_nice, in USER_HZ) and the "ctxt" line. Guest
// time is already in user and nice, so it is not added again.
func parseHostCPU(text string) (HostCPU, error) {
	line, _, _ := strings.Cut(text, "\n")
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return HostCPU{}, errors.New("procfs: stat: first line is not \"cpu\" with at least 7 times")
	}
	var ticks [8]uint64 // user nice system idle iowait irq softirq steal
	for i := range ticks {
		if i+1 >= len(fields) {
			break
		}
		v, err := strconv.ParseUint(fields[i+1], 10, 64)
		if err != nil {
			return HostCPU{}, fmt.Errorf("procfs: stat: cpu time %d: %w", i+1, err)
		}
		ticks[i] = v
	}
	var busy uint64
	for i, v := range ticks {
		if i != 3 && i != 4 { // idle, iowait
			if busy > math.MaxUint64-v { // absurd input: saturate, do not wrap
				busy = math.MaxUint64
			} else {
				busy += v
			}
		}
	}
	cpu := HostCPU{Busy: ticksToDuration(busy), System: ticksToDuration(ticks[2]), Softirq: ticksToDuration(ticks[6])}
	if ticks[0] <= math.MaxUint64-ticks[1] {
		cpu.User = ticksToDuration(ticks[0] + ticks[1])
	}
	ctxt, err := parseCtxt(text)
	if err != nil {
		return HostCPU{}, err
	}
	cpu.Ctxt = ctxt
	return cpu, nil
}

// parseCtxt reads the "ctxt N" line of /proc/stat (0 when there is none).
func parseCtxt(text string) (uint64, error) {
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, "ctxt "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(rest), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("procfs: stat: ctxt: %w", err)
			}
			return n, nil
		}
	}
	return 0, nil
}
