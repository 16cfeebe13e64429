// Package provenance says what produced a result: the commit of the code a
// run built, whether that code was committed (a reference run) or not, and
// the machine it ran on (processor, kernel, calibration). The report reads
// the same definitions back to mark a result stale once that code changes.
package provenance

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"c1m/calibrate"
	"c1m/procfs"
	"c1m/schema"
)

// NotMeasured are the paths whose changes cannot change what a run
// measures: the results, the report and its generator, the documents and
// CI. Every other tracked file is code a run builds or runs (the engines,
// the client, the harness, the experiments, the Makefile, go.mod), so a
// commit that touches one of them makes older results stale.
var NotMeasured = []string{"results", "REPORT.md", "README.md", "analysis", "cmd/c1m-report", ".ci", ".gitignore"}

// NotMeasuredGlobs are the tests and their data: they check the code, they
// are not built into what a run executes.
var NotMeasuredGlobs = []string{"**/*_test.go", "**/testdata/**"}

// pathspec is "everything but NotMeasured", as git pathspec arguments.
func pathspec() []string {
	spec := []string{"--", "."}
	for _, p := range NotMeasured {
		spec = append(spec, ":(exclude)"+p)
	}
	for _, g := range NotMeasuredGlobs {
		spec = append(spec, ":(exclude,glob)"+g)
	}
	return spec
}

// Code is the commit of the measured code in the repository at dir.
type Code struct {
	// Commit is the newest commit that changed measured code (12 hex
	// digits): checking it out rebuilds exactly what ran, as long as Dirty
	// is false. Results committed after it do not move it.
	Commit string
	// Head is the commit checked out when the run started.
	Head string
	// Dirty says the measured code differed from Commit (edited, staged or
	// untracked Go files): the run is not a reference run.
	Dirty bool
}

// String is "abc123def456" or "abc123def456-dirty".
func (c Code) String() string {
	if c.Dirty {
		return c.Commit + "-dirty"
	}
	return c.Commit
}

// Of finds the measured code's commit in the git work tree at dir ("" for
// the current directory).
func Of(dir string) (Code, error) {
	head, err := git(dir, "rev-parse", "--short=12", "HEAD")
	if err != nil {
		return Code{}, err
	}
	commit, err := git(dir, append([]string{"log", "-1", "--format=%h", "--abbrev=12"}, pathspec()...)...)
	if err != nil {
		return Code{}, err
	}
	status, err := git(dir, append([]string{"status", "--porcelain", "--untracked-files=all"}, pathspec()...)...)
	if err != nil {
		return Code{}, err
	}
	return Code{Commit: commit, Head: head, Dirty: status != ""}, nil
}

// ChangedSince lists the measured files that changed between commit and
// HEAD in the work tree at dir: empty when a result made at commit still
// measures today's code. A commit git does not know is an error.
func ChangedSince(dir, commit string) ([]string, error) {
	commit = strings.TrimSuffix(commit, "-dirty")
	if commit == "" {
		return nil, errors.New("no commit recorded")
	}
	out, err := git(dir, append([]string{"diff", "--name-only", commit, "HEAD"}, pathspec()...)...)
	if err != nil {
		return nil, err
	}
	if out == "" {
		return nil, nil
	}
	return strings.Split(out, "\n"), nil
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args[:1], " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// RecordedSysctls are the settings that bear on connection counts, saved with every result.
var RecordedSysctls = []string{
	"fs.file-max", "fs.nr_open", "kernel.pid_max", "kernel.threads-max",
	"net.core.somaxconn", "net.core.netdev_max_backlog", "net.core.rmem_default", "net.core.wmem_default",
	"net.ipv4.ip_local_port_range", "net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_mem", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
	"net.ipv4.tcp_max_orphans", "net.ipv4.tcp_max_tw_buckets", "net.ipv4.tcp_tw_reuse",
	"net.netfilter.nf_conntrack_max",
}

// Machine describes this machine and the code in the current directory:
// processor, kernel, memory, the recorded sysctls, RLIMIT_NOFILE and the
// code's commit. It does not calibrate (see Calibrate). A commit that
// cannot be found is recorded as "unknown" and makes the run not a
// reference run.
func Machine(fs procfs.FS) schema.Env {
	e := schema.Env{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Sysctls: map[string]string{},
		Rlimits: map[string]uint64{}, Root: os.Geteuid() == 0}
	if b, err := os.ReadFile(filepath.Join(fs.Root, "proc/sys/kernel/osrelease")); err == nil {
		e.Kernel = strings.TrimSpace(string(b))
	}
	e.CPUModel, _ = fs.CPUModel() // not every architecture names its model
	if mi, err := fs.Meminfo(); err == nil {
		e.MemBytes = mi["MemTotal"]
	}
	for _, name := range RecordedSysctls {
		if v, err := fs.Sysctl(name); err == nil {
			e.Sysctls[name] = v
		}
	}
	if lim, err := fs.Limits(os.Getpid()); err == nil {
		if l, ok := lim["Max open files"]; ok {
			e.Rlimits["nofile_soft"], e.Rlimits["nofile_hard"] = l.Soft, l.Hard
		}
	}
	code, err := Of("")
	if err != nil {
		e.GitCommit, e.Dirty = "unknown", true
		return e
	}
	e.GitCommit, e.GitHead, e.Dirty = code.String(), code.Head, code.Dirty
	return e
}

// Calibrate measures the machine into e (see package calibrate) and
// returns the failure, if any, for the caller to note.
func Calibrate(e *schema.Env) error {
	c, err := calibrate.Measure(calibrate.DefaultBudget)
	if err != nil {
		return fmt.Errorf("the machine's calibration failed: %w", err)
	}
	e.Calibration = c
	return nil
}
