package netns

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// childEhash is the sysctl that sizes the established-socket hash table of
// the namespaces created after it is set (Linux 6.1+); 0 means they share
// the host's, which the kernel sized at boot from the machine's memory.
const childEhash = "/proc/sys/net/ipv4/tcp_child_ehash_entries"

// Loopback is a namespace of its own with only lo up: a server and a client
// both inside it talk over loopback as they would on the host, but with
// the namespace's own TCP tables and per-namespace sysctls.
type Loopback struct {
	Name string
	// EhashEntries sizes the namespace's table of established sockets (a
	// power of two; 0: share the host's). Each received segment looks its
	// socket up there, walking one bucket's chain.
	EhashEntries int
	// Sysctls are set inside the namespace once it exists: the
	// per-namespace ones (net.core.somaxconn, net.ipv4.tcp_max_syn_backlog,
	// net.ipv4.tcp_max_tw_buckets, ...) start from the kernel's defaults,
	// not from the host's values.
	Sysctls map[string]string
}

// Create makes the namespace. The host's tcp_child_ehash_entries is set only
// for the moment of creation and put back before Create returns.
func (n *Loopback) Create(ctx context.Context) error {
	return fresh(n.Remove, func() error { return n.build(ctx) })
}

// build creates the namespace, brings its loopback up and sets its sysctls.
func (n *Loopback) build(ctx context.Context) error {
	if err := n.add(ctx); err != nil {
		return err
	}
	if err := run(ctx, "ip", "-n", n.Name, "link", "set", "lo", "up"); err != nil {
		return err
	}
	keys := make([]string, 0, len(n.Sysctls))
	for k := range n.Sysctls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := run(ctx, Command(n.Name, "sysctl", "-qw", k+"="+n.Sysctls[k])...); err != nil {
			return err
		}
	}
	return nil
}

// add runs `ip netns add` with the host's child ehash size set for it.
func (n *Loopback) add(ctx context.Context) error {
	if n.EhashEntries == 0 {
		return run(ctx, "ip", "netns", "add", n.Name)
	}
	if n.EhashEntries&(n.EhashEntries-1) != 0 {
		return fmt.Errorf("netns %s: ehash entries %d: must be a power of two", n.Name, n.EhashEntries)
	}
	old, err := os.ReadFile(childEhash)
	if err != nil {
		return fmt.Errorf("netns %s: %w (a per-namespace established hash needs Linux 6.1+)", n.Name, err)
	}
	if err := os.WriteFile(childEhash, []byte(strconv.Itoa(n.EhashEntries)), 0o644); err != nil {
		return fmt.Errorf("netns %s: set %s: %w", n.Name, childEhash, err)
	}
	addErr := run(ctx, "ip", "netns", "add", n.Name)
	if err := os.WriteFile(childEhash, []byte(strings.TrimSpace(string(old))), 0o644); err != nil && addErr == nil {
		return fmt.Errorf("netns %s: restore %s: %w", n.Name, childEhash, err)
	}
	return addErr
}

// Ehash is the size of the namespace's established hash as the kernel
// reports it (negative: the host's, shared).
func (n *Loopback) Ehash(ctx context.Context) (int, error) {
	out, err := output(ctx, Command(n.Name, "sysctl", "-n", "net.ipv4.tcp_ehash_entries")...)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

// Remove deletes the namespace; safe when it is not there.
func (n *Loopback) Remove() error {
	if !Exists(n.Name) {
		return nil
	}
	return run(context.Background(), "ip", "netns", "del", n.Name)
}
