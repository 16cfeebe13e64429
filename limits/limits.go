// Package limits lists every limit that caps concurrent TCP connections on a
// machine: the connections each allows for a target, whether it binds, and
// the command that lifts it. It ends with the largest count the machine can
// reach and the strategy the server and client will use to get there. Tune
// and Untune apply the sysctl lifts and put the old values back.
//
// Everything is read below a procfs.FS root, so tests build a fake tree.
// The client runs on the same machine (loopback), so every connection costs
// two sockets: two fds, two socket buffers, twice the kernel memory.
package limits

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"c1m/client"
	"c1m/core"
	"c1m/numfmt"
	"c1m/procfs"
)

// Kinds of limit: only KindCount limits enter the largest reachable count.
const (
	KindCount    = "count"       // caps the connections open at once
	KindProcess  = "per-process" // caps one process (one fd table); the strategy spreads past it
	KindRamp     = "ramp"        // caps a burst of connects, so the ramp rate, not the count
	KindData     = "data"        // caps the connections with data queued at the same moment
	KindTeardown = "teardown"    // caps closing connections, not open ones
	KindTracked  = "if tracked"  // caps the count only once a netfilter rule tracks connections
	KindUnknown  = "unknown"     // cannot be computed here (says why in its note)
)

// FDReserve is what one process keeps besides its connections (listeners,
// epoll, pipes, the Go runtime's own), as the client plans its processes.
const FDReserve = 128

// RampTarget is what Tune sets the accept and SYN queues to (the server's
// default -backlog).
const RampTarget = 65535

// BacklogTarget is what Tune sets net.core.netdev_max_backlog to: the
// packets one CPU may hold received but not yet processed. Loopback
// traffic goes through it, and a close storm of a million connections
// makes ~4 packets each (FIN, ACK, FIN, ACK) at a few hundred thousand a
// second per CPU; when the kernel defers that work to ksoftirqd, which must
// then wait for a CPU held by busy event loops for tens of milliseconds,
// the default 1,000 overflows (about 4 million drops were counted in one
// 1M run), and every dropped packet waits a retransmission timeout (200
// ms, doubling: a dashboard's /stats request sees seconds). 65,536 covers
// over 100 ms of deferral at that rate and costs memory only while full
// (~1 KiB a small skb: at most ~64 MiB per CPU, for moments).
const BacklogTarget = 65536

// SkbTruesize is the assumed memory a socket with a small message queued
// holds: one skb. ss -m showed rmem_alloc 843 B for the 11-byte keepalive on
// this machine's loopback; tcp_mem charges it as a whole page.
const SkbTruesize = 843

// SlabCaches are the caches whose object sizes estimate a socket's kernel
// memory when experiment 1 has not measured it.
var SlabCaches = []string{"TCP", "sock_inode_cache", "dentry", "filp", "eventpoll_epi"}

// Config is the plan the limits are checked against.
type Config struct {
	Conns   int    // target connections
	Server  string // first server ip:port (c1m-client -server)
	Src     string // client source addresses (c1m-client -src)
	Ports   int    // server ports (-ports of both)
	Workers int    // server workers, 0: one per CPU
	Results string // experiment 1's summary.csv; missing: fall back to slab object sizes
	Pid     int    // whose RLIMIT_NOFILE and capabilities are read; 0: this process
}

// DefaultConfig is a million connections spread as experiment 1 spreads them.
func DefaultConfig() Config {
	c := client.DefaultConfig()
	return Config{Conns: 1_000_000, Server: c.Server, Src: c.Src, Ports: 20, Results: "results/exp-1/summary.csv"}
}

// Setting is a sysctl value Tune applies.
type Setting struct {
	Sysctl string `json:"sysctl"`
	Value  string `json:"value"`
}

// Row is one limit.
type Row struct {
	Name   string   `json:"name"`
	Value  string   `json:"value"`
	Allows int64    `json:"allows"` // connections it allows (per process for KindProcess); -1 for KindRamp
	Kind   string   `json:"kind"`
	Binds  bool     `json:"binds"` // Allows < target (KindRamp: below RampTarget)
	Lift   string   `json:"lift"`  // the command that lifts it, or "cannot be lifted: ..." and the way around
	Note   string   `json:"note,omitempty"`
	Tune   *Setting `json:"tune,omitempty"` // what Tune sets; nil when nothing to apply
}

// Report is the table and its conclusion.
type Report struct {
	Target       int       `json:"target"`
	Rows         []Row     `json:"rows"`
	MaxConns     int64     `json:"max_conns"`   // the largest count this machine can reach: min over KindCount rows
	BoundBy      string    `json:"bound_by"`    // the KindCount row giving MaxConns
	BindsFirst   string    `json:"binds_first"` // the binding row a growing count meets first
	PerProcess   string    `json:"per_process"` // the per-process cap the strategy gets past
	Server       core.Plan `json:"server_plan"`
	ServerErr    string    `json:"server_plan_error,omitempty"`
	ClientProcs  int       `json:"client_procs"`
	ClientLoops  int       `json:"client_loops"`
	Spread       int64     `json:"spread_capacity"`
	MemorySource string    `json:"memory_source"`
	Summary      []string  `json:"summary"`
}

// Tuning is what Tune should apply: sysctl → value.
func (r Report) Tuning() map[string]string {
	settings := map[string]string{}
	for _, row := range r.Rows {
		if row.Tune != nil {
			settings[row.Tune.Sysctl] = row.Tune.Value
		}
	}
	return settings
}

// Compute reads the limits below fs and checks them against cfg.
func Compute(fs procfs.FS, cfg Config) (Report, error) {
	if cfg.Conns < 1 {
		return Report{}, fmt.Errorf("-conns %d: want a target of at least 1", cfg.Conns)
	}
	if cfg.Pid == 0 {
		cfg.Pid = os.Getpid()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	c := &computer{fs: fs, cfg: cfg, target: int64(cfg.Conns), rep: Report{Target: cfg.Conns}}
	steps := []func() error{
		c.nofile, c.nrOpen, c.fileMax, c.ports,
		func() error { return c.phase(KindRamp) },
		c.tcpMem, c.conntrack,
		func() error { return c.phase(KindTeardown) },
		c.netdevBacklog,
		c.processes, c.memory,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return Report{}, err
		}
	}
	c.plan()
	c.conclude()
	return c.rep, nil
}

type computer struct {
	fs     procfs.FS
	cfg    Config
	target int64
	rep    Report

	hard     uint64 // RLIMIT_NOFILE hard
	canRaise bool   // CAP_SYS_RESOURCE
}

func (c *computer) add(r Row) { c.rep.Rows = append(c.rep.Rows, r) }

// addSysctl adds r, the row of the sysctl named r.Name: it binds when it
// allows fewer connections than the target, and is lifted by raising the
// sysctl to value.
func (c *computer) addSysctl(r Row, value int64) {
	r.Binds = r.Allows < c.target
	r.liftBy(r.Name, value)
	c.add(r)
}

// perProcess is the connections one fd table of n fds holds.
func perProcess(n uint64) int64 { return max(int64(min(n, 1<<62))-FDReserve, 0) }

func (c *computer) sysctlInt(name string) (int64, error) {
	v, err := c.fs.Sysctl(name)
	if err != nil {
		return 0, fmt.Errorf("limits: %w", err)
	}
	n, err := strconv.ParseInt(strings.Fields(v + " x")[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("limits: sysctl %s = %q: %w", name, v, err)
	}
	return n, nil
}

func (c *computer) nofile() error {
	lims, err := c.fs.Limits(c.cfg.Pid)
	if err != nil {
		return fmt.Errorf("limits: RLIMIT_NOFILE of pid %d: %w", c.cfg.Pid, err)
	}
	l, ok := lims["Max open files"]
	if !ok {
		return fmt.Errorf("limits: /proc/%d/limits has no \"Max open files\" row", c.cfg.Pid)
	}
	c.hard = l.Hard
	caps, err := c.fs.CapEff(c.cfg.Pid)
	if err != nil {
		return fmt.Errorf("limits: capabilities of pid %d: %w", c.cfg.Pid, err)
	}
	c.canRaise = caps&(1<<procfs.CapSysResource) != 0

	soft := Row{Name: "RLIMIT_NOFILE soft", Value: limitText(l.Soft), Allows: perProcess(l.Soft), Kind: KindProcess,
		Note: fmt.Sprintf("one process's fd table; %d fds kept for listeners, epoll and the runtime", FDReserve)}
	soft.Binds = soft.Allows < c.target
	if l.Soft < l.Hard {
		soft.Lift = fmt.Sprintf("none needed: c1m-server and c1m-client raise it to the hard limit at start (by hand: ulimit -n %s)", limitText(l.Hard))
	} else {
		soft.Lift = "already at the hard limit: see RLIMIT_NOFILE hard"
	}
	c.add(soft)

	hard := Row{Name: "RLIMIT_NOFILE hard", Value: limitText(l.Hard), Allows: perProcess(l.Hard), Kind: KindProcess}
	hard.Binds = hard.Allows < c.target
	want := c.target + FDReserve
	switch {
	case !hard.Binds:
		hard.Lift = "not needed"
	case c.canRaise:
		hard.Lift = fmt.Sprintf("prlimit --nofile=%d:%d --pid <server pid> (or ulimit -Hn %d in the shell that starts it; at most fs.nr_open)", want, want, want)
		hard.Note = "this process has CAP_SYS_RESOURCE (CapEff bit 24), so it may raise the hard limit"
	default:
		hard.Lift = "cannot be lifted: no CAP_SYS_RESOURCE (CapEff bit 24 clear); way around: several fd tables (server -strategy fdtables, or prefork) and several client processes (automatic)"
		hard.Note = fmt.Sprintf("raising a hard limit needs CAP_SYS_RESOURCE, which this process lacks (CapEff %016x), root or not", caps)
	}
	c.add(hard)
	return nil
}

func (c *computer) nrOpen() error {
	n, err := c.sysctlInt("fs.nr_open")
	if err != nil {
		return err
	}
	r := Row{Name: "fs.nr_open", Value: group(n), Allows: perProcess(uint64(n)), Kind: KindProcess,
		Note: "the ceiling of any process's RLIMIT_NOFILE; matters only where the hard limit can be raised"}
	c.addSysctl(r, roundUp(c.target+FDReserve, 1024))
	return nil
}

func (c *computer) fileMax() error {
	n, err := c.sysctlInt("fs.file-max")
	if err != nil {
		return err
	}
	inUse := int64(0)
	if nr, err := c.fs.Sysctl("fs.file-nr"); err == nil { // "allocated unused max"
		inUse, _ = strconv.ParseInt(strings.Fields(nr + " 0")[0], 10, 64)
	}
	r := Row{Name: "fs.file-max", Value: group(n), Allows: max(n-inUse, 0) / 2, Kind: KindCount,
		Note: fmt.Sprintf("2 open files per connection: the server's and the client's socket both count on loopback; %s in use now", group(inUse))}
	c.addSysctl(r, roundUp(2*c.target+inUse+65536, 1024))
	return nil
}

// clientConfig is the client's plan for this target, the ephemeral ports
// read below the fake root and the fd limit given, not this process's.
func (c *computer) clientConfig(nofile uint64) (client.Config, error) {
	rng, err := c.fs.Sysctl("net.ipv4.ip_local_port_range")
	if err != nil {
		return client.Config{}, fmt.Errorf("limits: %w", err)
	}
	reserved, err := c.fs.Sysctl("net.ipv4.ip_local_reserved_ports")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return client.Config{}, fmt.Errorf("limits: %w", err)
	}
	cc := client.DefaultConfig()
	cc.Server, cc.Src, cc.Ports, cc.Conns, cc.Force = c.cfg.Server, c.cfg.Src, c.cfg.Ports, c.cfg.Conns, true
	// An empty override means "read /proc"; a blank one is an empty list.
	cc.PortRange, cc.ReservedPorts, cc.Nofile = rng, reserved+" ", max(nofile, 1)
	return cc, nil
}

func (c *computer) ports() error {
	cc, err := c.clientConfig(c.hard)
	if err != nil {
		return err
	}
	jobs, sp, err := client.Plan(cc)
	if err != nil {
		return fmt.Errorf("limits: the client's plan: %w", err)
	}
	c.rep.ClientProcs, c.rep.ClientLoops = len(jobs), jobs[0].Loops
	c.rep.Spread = int64(sp.Capacity())
	r := Row{Name: "net.ipv4.ip_local_port_range", Value: fmt.Sprintf("%d-%d", sp.Range.Lo, sp.Range.Hi),
		Allows: c.rep.Spread, Kind: KindCount,
		Note: fmt.Sprintf("%s usable ephemeral ports × %s source address(es) (-src %s) × %d server port(s)",
			group(int64(sp.Range.Size())), group(int64(len(sp.Sources))), c.cfg.Src, len(sp.Ports))}
	if sp.Range.Reserved > 0 {
		r.Note += fmt.Sprintf("; %d reserved ports left out", sp.Range.Reserved)
	}
	r.Binds = r.Allows < c.target
	r.Lift = "not needed"
	if r.Binds {
		r.Lift = "sysctl -w net.ipv4.ip_local_port_range='1024 65535', or spread wider: " + sp.Check(c.cfg.Conns).Error()
		if sp.Range.Lo > 1024 || sp.Range.Hi < 65535 {
			r.Tune = &Setting{"net.ipv4.ip_local_port_range", "1024 65535"}
		}
	}
	c.add(r)
	return nil
}

// phaseLimits cap a phase of a run, not the open count: the ramp (accept
// and SYN queues) and the tear-down (orphans, TIME_WAIT).
var phaseLimits = []struct{ name, kind, note string }{
	{"net.core.somaxconn", KindRamp, "caps each listener's accept queue (the server asks for -backlog 65535): past it SYNs are dropped and retried a second later, which slows the ramp; it caps no count"},
	{"net.ipv4.tcp_max_syn_backlog", KindRamp, "caps half-open connections per listener: past it SYN cookies answer, which slows the ramp; it caps no count"},
	{"net.ipv4.tcp_max_orphans", KindTeardown, "caps sockets closed by their process but not yet finished (FIN_WAIT, LAST_ACK): past it the kernel resets them (\"too many orphaned sockets\"), so closing every connection at once resets some; open connections are not capped"},
	{"net.ipv4.tcp_max_tw_buckets", KindTeardown, "caps TIME_WAIT sockets: past it closed sockets skip TIME_WAIT (\"time wait bucket table overflow\"); while they wait, their 4-tuples cannot be reused, so a reconnect storm over a full spread meets EADDRNOTAVAIL"},
}

// phase adds the rows of phaseLimits of one kind.
func (c *computer) phase(kind string) error {
	for _, s := range phaseLimits {
		if s.kind != kind {
			continue
		}
		n, err := c.sysctlInt(s.name)
		if err != nil {
			return err
		}
		r := Row{Name: s.name, Value: group(n), Allows: n, Kind: kind, Binds: n < c.target, Note: s.note, Lift: "not needed"}
		switch {
		case kind == KindRamp:
			r.Allows, r.Binds = -1, n < RampTarget
			r.liftBy(s.name, RampTarget)
		case r.Binds:
			r.Lift = fmt.Sprintf("sysctl -w %s=%d (or close in batches)", s.name, roundUp(c.target, 1024))
		}
		c.add(r)
	}
	return nil
}

// netdevBacklog is the per-CPU input backlog loopback packets queue in,
// with the drops it has caused since boot (softnet_stat's second column).
func (c *computer) netdevBacklog() error {
	const name = "net.core.netdev_max_backlog"
	n, err := c.sysctlInt(name)
	if err != nil {
		return err
	}
	r := Row{Name: name, Value: group(n), Allows: -1, Kind: KindTeardown, Binds: n < BacklogTarget,
		Note: "packets one CPU may hold received and not yet processed; loopback traffic queues there, and a close storm " +
			"of many connections at once (a client's exit, a server's stop) overflows it: dropped FINs and ACKs, and the " +
			"/stats requests among them, wait a retransmission timeout (200 ms, doubling), so closing takes longer and the server " +
			"looks silent for seconds; it caps no count"}
	if drops, err := c.fs.SoftnetDrops(); err == nil {
		r.Value += fmt.Sprintf(" (%s dropped since boot)", group(int64(min(drops, 1<<62))))
	} else {
		r.Note += "; drops since boot unknown: " + err.Error()
	}
	r.liftBy(name, BacklogTarget)
	c.add(r)
	return nil
}

func (c *computer) tcpMem() error {
	v, err := c.fs.Sysctl("net.ipv4.tcp_mem")
	if err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	f := strings.Fields(v)
	var pages [3]int64
	for i := range pages {
		if len(f) != 3 {
			err = errors.New("want three page counts")
			break
		}
		if pages[i], err = strconv.ParseInt(f[i], 10, 64); err != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("limits: sysctl net.ipv4.tcp_mem = %q: %w", v, err)
	}
	page := int64(os.Getpagesize())
	perSocket := (SkbTruesize + page - 1) / page // charged in whole pages
	perConn := 2 * perSocket
	r := Row{Name: "net.ipv4.tcp_mem", Value: v, Allows: pages[2] / perConn, Kind: KindData,
		Note: fmt.Sprintf("max %s pages for all TCP buffers; assumes a connection with data in flight holds about one skb "+
			"(truesize ~%d B for the 11-byte keepalive, ss -m) on each of its 2 sockets, charged as %d page(s) each; idle "+
			"connections charge nothing, so it caps the connections with data queued at once (an estimate: nothing is measured here); "+
			"experiment 1 found the default max binds at ~1M keepalive connections on this machine (drops, then echo time-outs)",
			group(pages[2]), SkbTruesize, perSocket)}
	r.Binds = r.Allows < c.target
	r.Lift = "not needed"
	if r.Binds {
		// Every connection's two sockets with data at once, and half again:
		// experiment 1's 1500000 2000000 3000000 for a million.
		hi := c.target * perConn * 3 / 2
		if m, err := c.fs.Meminfo(); err == nil && m["MemTotal"] > 0 {
			hi = min(hi, int64(m["MemTotal"])/page)
		}
		val := fmt.Sprintf("%d %d %d", max(hi/2, pages[0]), max(hi*2/3, pages[1]), max(hi, pages[2]))
		r.Lift = fmt.Sprintf("sysctl -w net.ipv4.tcp_mem='%s'", val)
		r.Tune = &Setting{"net.ipv4.tcp_mem", val}
	}
	c.add(r)
	return nil
}

func (c *computer) conntrack() error {
	if !c.fs.ModuleLoaded("nf_conntrack") {
		return nil
	}
	n, err := c.sysctlInt("net.netfilter.nf_conntrack_max")
	if errors.Is(err, os.ErrNotExist) {
		return nil // loaded but not in this network namespace
	}
	if err != nil {
		return err
	}
	tracked, err := c.sysctlInt("net.netfilter.nf_conntrack_count")
	if err != nil {
		return err
	}
	r := Row{Name: "net.netfilter.nf_conntrack_max", Value: group(n), Allows: n, Kind: KindCount, Binds: n < c.target,
		Note: fmt.Sprintf("one entry per tracked connection, new ones dropped past it (\"table full\"); %s tracked now", group(tracked))}
	if tracked == 0 {
		// Nothing tracked while this host has connections: no rule hooks conntrack here.
		r.Kind = KindTracked
		r.Note += ": no netfilter rule tracks connections in this namespace, so it binds only once one does (e.g. -m conntrack, ct state)"
	}
	if r.liftBy("net.netfilter.nf_conntrack_max", roundUp(c.target+65536, 1024)) {
		r.Lift += " (or exempt the test: iptables -t raw -I OUTPUT -o lo -j NOTRACK)"
	}
	c.add(r)
	return nil
}

func (c *computer) processes() error {
	per := perProcess(c.hard)
	if per < 1 {
		return fmt.Errorf("limits: RLIMIT_NOFILE hard %d leaves no fds for connections: raise it (ulimit -Hn)", c.hard)
	}
	// Both ends are here: every connection takes a server fd and a client fd.
	need := (2*c.target + per - 1) / per
	note := fmt.Sprintf("%s processes or fd-table threads needed (%s fds ÷ %s per table), each with a few runtime threads more",
		group(need), group(2*c.target), group(per))
	for _, name := range []string{"kernel.pid_max", "kernel.threads-max"} {
		n, err := c.sysctlInt(name)
		if err != nil {
			return err
		}
		r := Row{Name: name, Value: group(n), Allows: n * per / 2, Kind: KindCount, Note: note, Lift: "not needed"}
		r.Binds = r.Allows < c.target
		if r.Binds {
			r.Lift = fmt.Sprintf("sysctl -w %s=%d", name, roundUp(4*need+n, 1024))
		}
		c.add(r)
	}
	return nil
}

func (c *computer) memory() error {
	m, err := c.fs.Meminfo()
	if err != nil {
		return fmt.Errorf("limits: %w", err)
	}
	avail, ok := m["MemAvailable"]
	if !ok {
		return errors.New("limits: /proc/meminfo has no MemAvailable (kernel older than 3.14)")
	}
	value := fmt.Sprintf("%.1f GiB", float64(avail)/(1<<30))
	per, source, err := bytesPerConn(c.fs, c.cfg.Results)
	if err != nil {
		// The rest of the table still stands; say what is missing.
		c.rep.MemorySource = err.Error()
		c.add(Row{Name: "MemAvailable", Value: value, Allows: -1, Kind: KindUnknown, Note: err.Error(), Lift: "-"})
		return nil
	}
	c.rep.MemorySource = source
	r := Row{Name: "MemAvailable", Value: value, Allows: int64(float64(avail) / per),
		Kind: KindCount, Note: fmt.Sprintf("%s B of kernel memory per connection: %s; user memory comes on top", group(int64(per)), source)}
	r.Binds = r.Allows < c.target
	r.Lift = "cannot be lifted here: add memory, or run the client on another machine (half the sockets)"
	if !r.Binds {
		r.Lift = "not needed"
	}
	c.add(r)
	return nil
}

// plan is the strategy the server and the client will use for the target.
func (c *computer) plan() {
	srv := core.DefaultConfig()
	srv.Ports, srv.Workers, srv.MaxConns = max(c.cfg.Ports, 1), c.cfg.Workers, c.cfg.Conns
	// The server raises its soft limit to the hard one before planning.
	p, err := core.PlanCapacity(srv, c.hard)
	c.rep.Server = p
	if err != nil {
		c.rep.ServerErr = err.Error()
	}
}

// conclude finds the tightest count and writes the summary.
func (c *computer) conclude() {
	r := &c.rep
	r.MaxConns = -1
	for _, row := range r.Rows {
		if row.Kind == KindCount && (r.MaxConns < 0 || row.Allows < r.MaxConns) {
			r.MaxConns, r.BoundBy = row.Allows, row.Name
		}
	}
	var procCaps []Row
	for _, row := range r.Rows {
		if row.Kind == KindProcess {
			procCaps = append(procCaps, row)
		}
	}
	// The soft limit is raised at start, so the tightest per-process cap is the
	// smaller of the hard limit and nr_open.
	procCaps = slices.DeleteFunc(procCaps, func(row Row) bool { return row.Name == "RLIMIT_NOFILE soft" })
	first := slices.MinFunc(procCaps, func(a, b Row) int { return int(a.Allows - b.Allows) })
	r.PerProcess = fmt.Sprintf("%s %s (%s connections per fd table)", first.Name, first.Value, group(first.Allows))

	reach := fmt.Sprintf("Largest connection count this machine can reach: %s (bound by %s).", group(r.MaxConns), r.BoundBy)
	if r.MaxConns >= c.target {
		reach = fmt.Sprintf("Largest connection count this machine can reach: %s (bound by %s): the target %s fits.",
			group(r.MaxConns), r.BoundBy, group(c.target))
	}
	r.Summary = append(r.Summary, reach)
	// Binding limits in the order a growing count meets them (the soft
	// RLIMIT_NOFILE is raised at start, so the hard one stands for both);
	// ramp and tear-down limits cap no open count and come after.
	binding := slices.DeleteFunc(slices.Clone(r.Rows), func(row Row) bool {
		return !row.Binds || row.Name == "RLIMIT_NOFILE soft"
	})
	phase := func(row Row) int {
		return map[string]int{KindRamp: 1, KindTeardown: 2}[row.Kind]
	}
	slices.SortStableFunc(binding, func(a, b Row) int {
		return cmp.Or(cmp.Compare(phase(a), phase(b)), cmp.Compare(a.Allows, b.Allows))
	})
	var order []string
	for _, row := range binding {
		switch row.Kind {
		case KindRamp:
			order = append(order, fmt.Sprintf("%s %s (slows the ramp)", row.Name, row.Value))
		case KindTeardown:
			if row.Allows < 0 {
				order = append(order, fmt.Sprintf("%s %s (drops packets while closing at once)", row.Name, row.Value))
			} else {
				order = append(order, fmt.Sprintf("%s at %s (closing at once)", row.Name, group(row.Allows)))
			}
		default:
			order = append(order, fmt.Sprintf("%s at %s (%s)", row.Name, group(row.Allows), row.Kind))
		}
	}
	if len(order) > 0 {
		r.BindsFirst = binding[0].Name
		r.Summary = append(r.Summary, "Binds first, for "+group(c.target)+": "+strings.Join(order, ", then ")+".")
	}
	if first.Allows < c.target {
		r.Summary = append(r.Summary, fmt.Sprintf("Per-process cap: %s; %s.", r.PerProcess, first.Lift))
	}
	if r.ServerErr != "" {
		r.Summary = append(r.Summary, "Server: no plan: "+r.ServerErr)
	} else {
		r.Summary = append(r.Summary, fmt.Sprintf("Server: %s (c1m-server -max-conns %d -ports %d).", r.Server, c.target, max(c.cfg.Ports, 1)))
	}
	r.Summary = append(r.Summary, fmt.Sprintf("Client: %d process(es) × %d loop(s) of at most %s connections, over a spread for %s (c1m-client -conns %d -ports %d -src %s).",
		r.ClientProcs, r.ClientLoops, group(perProcess(c.hard)), group(r.Spread), c.target, max(c.cfg.Ports, 1), c.cfg.Src))
	for _, row := range r.Rows {
		if row.Binds && (row.Kind == KindData || row.Kind == KindRamp || row.Tune != nil && row.Kind == KindTeardown) {
			r.Summary = append(r.Summary, fmt.Sprintf("Before the run: %s (%s); make tune lifts it.", row.Lift, row.Kind))
		}
	}
}

// liftBy sets the lift of r, when it binds, to setting sysctl name to value,
// which Tune will apply; it reports whether it did.
func (r *Row) liftBy(name string, value int64) bool {
	r.Lift = "not needed"
	if !r.Binds {
		return false
	}
	v := strconv.FormatInt(value, 10)
	r.Lift = fmt.Sprintf("sysctl -w %s=%s", name, v)
	r.Tune = &Setting{name, v}
	return true
}

func limitText(n uint64) string {
	if n == procfs.Unlimited {
		return "unlimited"
	}
	return group(int64(min(n, 1<<62)))
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// group writes n with thousands separators.
func group(n int64) string { return numfmt.Number(float64(n)) }
