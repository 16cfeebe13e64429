package procfs

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// Sysctl reads a sysctl by its dotted name ("net.ipv4.ip_local_port_range"
// is /proc/sys/net/ipv4/ip_local_port_range). A name holding '/' is taken as
// the path below /proc/sys, for components that contain dots
// ("net/ipv4/conf/eth0.1/rp_filter"). The value is trimmed and its runs of
// tabs and spaces are turned into single spaces: "32768 60999".
func (fs FS) Sysctl(name string) (string, error) {
	b, err := os.ReadFile(fs.sysctlPath(name))
	if err != nil {
		return "", sysctlError("read", name, "", err)
	}
	return normaliseSysctl(string(b)), nil
}

// SetSysctl writes a sysctl. The file must exist (it is never created, so a
// misspelt name fails here too, also under a fake root).
func (fs FS) SetSysctl(name, value string) error {
	f, err := os.OpenFile(fs.sysctlPath(name), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return sysctlError("set", name, value, err)
	}
	_, err = f.WriteString(value)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return sysctlError("set", name, value, err)
	}
	return nil
}

func (fs FS) sysctlPath(name string) string {
	if !strings.Contains(name, "/") {
		name = strings.ReplaceAll(name, ".", "/")
	}
	return fs.path("proc", "sys", name)
}

func normaliseSysctl(value string) string {
	return strings.Join(strings.Fields(value), " ")
}

// sysctlError names the sysctl and says what to do about the usual causes.
func sysctlError(op, name, value string, err error) error {
	var fix string
	switch {
	case errors.Is(err, os.ErrPermission):
		fix = "need root: run as root or skip tuning"
	case errors.Is(err, os.ErrNotExist):
		fix = "not on this kernel (module not loaded, or misspelt?)"
	case errors.Is(err, syscall.EROFS):
		fix = "/proc/sys is read-only (in a container?): skip tuning"
	case errors.Is(err, syscall.EINVAL):
		fix = "the kernel rejected the value (out of range?)"
	default:
		fix = "failed"
	}
	if op == "set" {
		name = fmt.Sprintf("%s=%q", name, value)
	}
	return fmt.Errorf("procfs: %s sysctl %s: %s: %w", op, name, fix, err)
}

// SysctlGuard remembers the sysctls Apply changed so Restore can put the old
// values back. It is safe for concurrent use (e.g. Restore from a signal
// handler and from a deferred call).
type SysctlGuard struct {
	fs      FS
	mu      sync.Mutex
	changes []sysctlChange // in the order they were applied
	skipped []string
}

type sysctlChange struct {
	name, old, new string
	restored       bool
}

// Apply sets each sysctl of settings (name → value), in name order, after
// recording its old value. Sysctls already at the value (compared after
// normalising spaces) are left alone and listed by Skipped. If a write fails,
// Apply restores what it had changed and returns the error, so nothing is
// left half-tuned.
func (fs FS) Apply(settings map[string]string) (*SysctlGuard, error) {
	g := &SysctlGuard{fs: fs}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		value := normaliseSysctl(settings[name])
		old, err := fs.Sysctl(name)
		if err == nil && old == value {
			g.skipped = append(g.skipped, name)
			continue
		}
		if err == nil {
			err = fs.SetSysctl(name, value)
		}
		if err != nil {
			return nil, errors.Join(err, g.Restore())
		}
		g.changes = append(g.changes, sysctlChange{name: name, old: old, new: value})
	}
	return g, nil
}

// Restore writes the old values back, last change first. Calling it again
// only retries the sysctls whose restore failed, so it is safe to call twice.
func (g *SysctlGuard) Restore() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for i := len(g.changes) - 1; i >= 0; i-- {
		c := &g.changes[i]
		if c.restored {
			continue
		}
		if err := g.fs.SetSysctl(c.name, c.old); err != nil {
			errs = append(errs, err)
			continue
		}
		c.restored = true
	}
	return errors.Join(errs...)
}

// Changed returns the sysctls Apply changed, name → {old, new} (for the
// experiment's meta.json, or to save and undo later with SetSysctl).
func (g *SysctlGuard) Changed() map[string][2]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	changed := make(map[string][2]string, len(g.changes))
	for _, c := range g.changes {
		changed[c.name] = [2]string{c.old, c.new}
	}
	return changed
}

// Skipped returns the sysctls Apply left alone because they already had the
// requested value.
func (g *SysctlGuard) Skipped() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.skipped)
}
