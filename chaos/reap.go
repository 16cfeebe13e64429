package chaos

// Peers vanish at scale: connections from a network namespace whose link
// is then cut (no FIN, no RST reaches the server) while connections on the
// server's loopback keep their keepalives going. Each arm lets the server
// notice the vanished peers one way (-idle-timeout, or TCP keepalive
// alone) and measures how long it took, whether the server's connection
// count and memory came back to the live connections' baseline, and
// whether every live connection was answered throughout. The result is
// reap.json.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"c1m/client"
	"c1m/core"
	"c1m/netns"
	"c1m/procfs"
	"c1m/procgroup"
	"c1m/schema"
	"c1m/statshttp"
)

// ReapName is the run's name for -only.
const ReapName = "vanish-scale"

// The link the vanishing clients live behind: the server's namespace and
// theirs, in the benchmarking range. The server's namespace is new, so its
// ports are free.
var (
	reapLink = netns.Link{Name: "c1mreap", ServerAddr: netip.MustParsePrefix("198.18.200.1/24"),
		ClientAddr: netip.MustParsePrefix("198.18.200.2/24")}
	reapPort      = 9876
	reapStatsAddr = "127.0.0.1:9100"
)

// reapSysctls are raised for the run: the veth's receive path queues on
// the per-CPU backlog, whose default 1,000 drops a ramp's SYNs (each
// drop a 1-15 s retransmission: 100,000 connections took 45-81 s to open
// on AMD EPYC, and the idle arm's early connections were reaped before
// the cut).
var reapSysctls = map[string]string{"net.core.netdev_max_backlog": "65536"}

// reapPoll is how often the server's count is read after the cut.
const reapPoll = 250 * time.Millisecond

// ReapScaleFor returns the full or quick scale; vanish > 0 overrides the
// vanishing connections' count (ports follow it).
func ReapScaleFor(quick bool, vanish int) schema.ReapScale {
	// The idle timeout must outlast the ramp plus one keepalive interval,
	// or early connections would be reaped before the cut (ramps of
	// 100,000 took 45-81 s before reapSysctls, on AMD EPYC).
	sc := schema.ReapScale{Vanish: 100_000, Live: 5000, LiveInterval: time.Second, VanishInterval: 5 * time.Second,
		IdleTimeout: 90 * time.Second, KeepAlive: 30 * time.Second, RampLimit: 3 * time.Minute, Settle: 30 * time.Second}
	if quick {
		sc = schema.ReapScale{Vanish: 2000, Live: 200, LiveInterval: time.Second, VanishInterval: time.Second,
			IdleTimeout: 4 * time.Second, KeepAlive: 2 * time.Second, RampLimit: time.Minute, Settle: 20 * time.Second}
	}
	if vanish > 0 {
		sc.Vanish = vanish
	}
	// One client address: about 28,000 ephemeral ports per server port,
	// and the kernel's search for a free one (__inet_hash_connect) walks
	// the ports taken. At 20,000 connections a server port (5 ports for
	// 100,000) connect() spent 64% of the CPU in __inet_check_established
	// and the ramp fell to ~270 connections/s, outlasting the idle timeout
	// (AMD EPYC, perf record -a -g); at most 5,000 a port keeps it short.
	sc.Ports = min(sc.Vanish/5_000+1, 20)
	return sc
}

// reapArm is one arm's plan: its server flags and its bound from the cut.
type reapArm struct {
	name   string // file-name safe: engine-way
	engine string // "": the server's default
	flags  []string
	bound  time.Duration
}

// reapArms are both ways on each engine (armEngines).
func reapArms(sc schema.ReapScale, cfg Config) []reapArm {
	var arms []reapArm
	for _, e := range armEngines(cfg) {
		for _, way := range reapWays(sc) {
			if e != "" {
				way.name, way.engine = e+"-"+way.name, e
				way.flags = append([]string{"-engine", e}, way.flags...)
			}
			arms = append(arms, way)
		}
	}
	return arms
}

// reapWays are the two ways of noticing vanished peers, with their bounds.
func reapWays(sc schema.ReapScale) []reapArm {
	tick := sc.IdleTimeout / 8 // idlewheel.TicksPerTimeout
	// Keepalive drops a peer KeepAliveProbes unanswered probes after its
	// first, which comes KeepAlive after the last packet.
	kaDeath := sc.KeepAlive + core.KeepAliveProbes*core.KeepAliveInterval(sc.KeepAlive)
	return []reapArm{
		{name: "idle-timeout", flags: []string{"-idle-timeout", sc.IdleTimeout.String()}, bound: sc.IdleTimeout + tick + 2*reapPoll},
		// Plus one probe interval: the kernel's keepalive timer has slack
		// (measured at 5,000: the last went 2 s after kaDeath from the cut).
		{name: "tcp-keepalive", flags: []string{"-tcp-keepalive", sc.KeepAlive.String()}, bound: kaDeath + core.KeepAliveInterval(sc.KeepAlive) + 2*reapPoll},
	}
}

func reapRule(sc schema.ReapScale) string {
	return fmt.Sprintf("after the link of %d connections is cut, the server closes every one of them within the arm's bound from the cut "+
		"(-idle-timeout: the timeout plus one tick; -tcp-keepalive: its idle time plus %d probes and one more probe interval; each plus two reads of /stats), "+
		"its connection count comes back to the %d live connections and its RSS to within max(8 MiB, 10%%) of the most it held with the live connections alone (read each second for %.0f s), "+
		"and every live connection is answered throughout (no echo lost, late or mismatched, none dropped)",
		sc.Vanish, core.KeepAliveProbes, sc.Live, baselineWindow.Seconds())
}

// reap is one run's state.
type reap struct {
	cfg   Config
	sc    schema.ReapScale
	fs    procfs.FS
	res   *schema.ReapResult
	link  netns.Link
	stats *http.Client // dials inside the server's namespace
}

func (r *reap) logf(format string, a ...any) {
	fmt.Fprintf(r.cfg.Log, "c1m-chaos: vanish-scale: "+format+"\n", a...)
}

// RunReap runs both arms and writes reap.json. An error is a run that
// could not be set up; arms that ran and failed are in the result.
func RunReap(ctx context.Context, cfg Config) (res schema.ReapResult, err error) {
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if err := netns.Check(); err != nil {
		return res, fmt.Errorf("vanish-scale: %w", err)
	}
	sc := ReapScaleFor(cfg.Quick, cfg.ReapConns)
	r := &reap{cfg: cfg, sc: sc, fs: procfs.New("/"), res: &res, link: reapLink}
	r.stats = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return netns.DialContext(ctx, r.link.ServerNS(), network, addr)
		}}}
	res = schema.ReapResult{Start: time.Now().UTC().Format(time.RFC3339), Quick: cfg.Quick, Scale: sc, ServerFlags: cfg.Server,
		Rule: reapRule(sc), Cut: "blackhole qdisc on both ends of the veth pair: every packet dropped, both links up"}
	res.Env = machine(r.fs, r.logf)
	if err := os.MkdirAll(cfg.Results, 0o755); err != nil {
		return res, fmt.Errorf("results directory: %w", err)
	}
	if _, _, err := core.RaiseNofile(); err != nil {
		return res, err
	}
	restore, err := raiseSysctls(r.fs, reapSysctls, "vanish-scale run", &res.Notes)
	if err != nil {
		return res, err
	}
	defer func() {
		if rerr := restore(); rerr != nil && err == nil {
			err = fmt.Errorf("restoring sysctls: %w", rerr)
		}
	}()
	for _, arm := range reapArms(sc, cfg) {
		if ctx.Err() != nil {
			break
		}
		a, err := r.runArm(ctx, arm)
		if err != nil && ctx.Err() != nil {
			break // interrupted: the arm's own failure is the interrupt
		}
		if err != nil {
			// Recorded, and the other arms still run: an arm that could
			// not be measured fails the run without losing the others.
			r.logf("arm %s: %v", arm.name, err)
			a = schema.ReapArm{Name: arm.name, Engine: arm.engine, Failures: []string{err.Error()}}
		}
		res.Arms = append(res.Arms, a)
		for _, f := range a.Failures {
			res.Failures = append(res.Failures, arm.name+": "+f)
		}
	}
	res.End = time.Now().UTC().Format(time.RFC3339)
	if ctx.Err() != nil {
		res.Failures = append(res.Failures, "interrupted: partial results")
	}
	res.Pass = len(res.Failures) == 0 && len(res.Arms) == len(reapArms(sc, cfg))
	return res, schema.WriteReap(cfg.Results, res)
}

// runArm builds the link, runs the server and both client sets on it, cuts
// the link and measures; everything it started is stopped and the
// namespaces removed on every path.
func (r *reap) runArm(ctx context.Context, arm reapArm) (a schema.ReapArm, err error) {
	a = schema.ReapArm{Name: arm.name, BoundS: arm.bound.Seconds(), Resolution: reapPoll.Seconds()}
	if err := r.link.Create(ctx); err != nil {
		return a, err
	}
	defer r.link.Remove()
	srv, pid, err := r.startServer(arm, &a)
	if err != nil {
		return a, err
	}
	defer srv.Stop(time.Minute)
	liveJSON := filepath.Join(r.cfg.Results, "reap-"+arm.name+"-live.json")
	live, err := r.startClient(r.link.ServerNS(), "reap-"+arm.name+"-live.log", r.liveFlags(liveJSON))
	if err != nil {
		return a, err
	}
	defer live.Stop(30 * time.Second)
	if err := r.waitConns(ctx, int64(r.sc.Live)); err != nil || ctx.Err() != nil {
		return a, err
	}
	r.sampleBaseline(ctx, pid, &a)
	vanish, err := r.startClient(r.link.ClientNS(), "reap-"+arm.name+"-vanish.log", r.vanishFlags())
	if err != nil {
		return a, err
	}
	defer vanish.Stop(5 * time.Second) // its closes go nowhere: the link is cut
	t0 := time.Now()
	if err := r.waitConns(ctx, int64(r.sc.Live+r.sc.Vanish)); err != nil || ctx.Err() != nil {
		return a, err
	}
	a.RampS = time.Since(t0).Seconds()
	sleep(ctx, r.sc.VanishInterval+time.Second) // each has sent its one keepalive and had it echoed
	a.ConnsPeak, a.RSSPeak, a.TCPInusePeak = r.sample(pid)
	r.logf("%s: %d live and %d vanishing connections held (ramp %.1f s); cutting the link", arm.name, r.sc.Live, r.sc.Vanish, a.RampS)
	if err := r.cutAndWatch(ctx, arm, pid, &a); err != nil {
		return a, err
	}
	live.Stop(30 * time.Second)
	r.readLive(liveJSON, &a)
	r.judge(&a)
	return a, nil
}

// startServer starts c1m-server in the server's namespace with the arm's flags.
func (r *reap) startServer(arm reapArm, a *schema.ReapArm) (*procgroup.Group, int, error) {
	// A quarter of headroom: a uring server's rings fill unevenly in a
	// herd, and one whose table is full resets what its multishot accept
	// took past the table's end (ENFILE; core/uring armAccepts). Planned for 106,000, 5 of 105,000 were reset so on AMD
	// EPYC. That limit is the engine's, not this run's subject: reaping.
	maxConns := (r.sc.Live + r.sc.Vanish) * 5 / 4
	flags := []string{"-addr", "0.0.0.0:" + strconv.Itoa(reapPort), "-ports", strconv.Itoa(r.sc.Ports),
		"-max-conns", strconv.Itoa(maxConns), "-stats-addr", reapStatsAddr, "-stats-interval", "0"}
	flags = append(append(flags, arm.flags...), r.cfg.Server...)
	a.ServerFlags = flags
	argv := netns.Command(r.link.ServerNS(), append([]string{filepath.Join(r.cfg.Bin, "c1m-server")}, flags...)...)
	g, cmd, err := startServerArgv(argv, filepath.Join(r.cfg.Results, "reap-"+arm.name+"-server.log"), statsURL(reapStatsAddr), r.stats, 30*time.Second)
	if err != nil {
		return nil, 0, err
	}
	if snap, err := statshttp.Fetch(r.stats, statsURL(reapStatsAddr)); err == nil {
		a.Engine = snap.Engine
	}
	return g, cmd.Process.Pid, nil
}

// liveFlags: the live connections, on the server's loopback, a keepalive
// every LiveInterval until stopped (the hold is only an upper bound).
func (r *reap) liveFlags(jsonPath string) []string {
	return []string{"-engine", client.EngineEpoll, "-server", "127.0.0.1:" + strconv.Itoa(reapPort), "-conns", strconv.Itoa(r.sc.Live),
		"-interval", r.sc.LiveInterval.String(), "-hold", "1h", "-json", jsonPath}
}

// vanishFlags: the vanishing connections, from the client's namespace, one
// keepalive each within VanishInterval of opening, then silence.
func (r *reap) vanishFlags() []string {
	return []string{"-engine", client.EngineEpoll, "-server", netip.AddrPortFrom(r.link.ServerAddr.Addr(), uint16(reapPort)).String(), "-ports", strconv.Itoa(r.sc.Ports),
		"-src", r.link.ClientAddr.Addr().String(), "-conns", strconv.Itoa(r.sc.Vanish), "-interval", r.sc.VanishInterval.String(),
		"-keepalives", "1", "-hold", "1h", "-timeout", "1h",
		// Connects paced: one source address through a veth whose
		// backlog (net.core.netdev_max_backlog) drops an unpaced herd's
		// SYNs, and each drop costs a 1-15 s retransmission, so a
		// 100,000 ramp outlasted the idle timeout.
		"-inflight", "1000"}
}

// startClient runs bin/c1m-client inside namespace ns.
func (r *reap) startClient(ns, logName string, flags []string) (*procgroup.Group, error) {
	argv := netns.Command(ns, append([]string{filepath.Join(r.cfg.Bin, "c1m-client")}, flags...)...)
	g := procgroup.New(1)
	if err := g.StartLogged(exec.Command(argv[0], argv[1:]...), filepath.Join(r.cfg.Results, logName)); err != nil {
		return nil, fmt.Errorf("client: %w (run make build first)", err)
	}
	return g, nil
}

// waitConns waits until the server holds n connections, or the ramp limit.
func (r *reap) waitConns(ctx context.Context, n int64) error {
	var last int64 = -1
	for deadline := time.Now().Add(r.sc.RampLimit); ctx.Err() == nil; sleep(ctx, reapPoll) {
		snap, err := statshttp.Fetch(r.stats, statsURL(reapStatsAddr))
		if err == nil {
			last = snap.Conns
			if snap.CloseReasons["idle"] > 0 {
				return fmt.Errorf("the server reaped %d idle connections before the cut (holding %d of %d): the ramp outlasted -idle-timeout %v; "+
					"give the idle arm a longer timeout or a faster ramp", snap.CloseReasons["idle"], last, n, r.sc.IdleTimeout)
			}
		}
		if last == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server holds %d connections, not %d, after %v", last, n, r.sc.RampLimit)
		}
	}
	return nil
}

// conns is the server's connection count, -1 if it does not answer.
func (r *reap) conns() int64 {
	snap, err := statshttp.Fetch(r.stats, statsURL(reapStatsAddr))
	if err != nil {
		return -1
	}
	return snap.Conns
}

// sample reads the server's connections, RSS and its namespace's TCP sockets.
func (r *reap) sample(pid int) (conns int64, rss uint64, inuse int64) {
	m, _ := r.fs.ProcMem(pid)
	ss, _ := r.fs.SockstatOf(pid)
	return r.conns(), m.Rss, int64(ss.TCPInUse)
}

// baselineWindow is how long the live connections alone are watched before
// the vanishing ones come. The server's memory moves with its live load
// alone: a uring server's provided-buffer pools grow on ENOBUFS and are
// trimmed every 2 s, and swung 18.0-23.6 MB with only the 5,000 live
// connections (AMD EPYC), so one sample may catch a trough and the
// vanished peers would be charged for the live load's own swing.
const baselineWindow = 10 * time.Second

// sampleBaseline reads the server with the live connections alone once a
// second over baselineWindow: the baseline RSS is the highest it held; the
// range it moved in is noted with the run.
func (r *reap) sampleBaseline(ctx context.Context, pid int, a *schema.ReapArm) {
	a.ConnsBaseline, a.RSSBaseline, a.TCPInuseBaseline = r.sample(pid)
	low := a.RSSBaseline
	for end := time.Now().Add(baselineWindow); time.Now().Before(end) && ctx.Err() == nil; {
		sleep(ctx, time.Second)
		_, rss, _ := r.sample(pid)
		a.RSSBaseline, low = max(a.RSSBaseline, rss), min(low, rss)
	}
	r.res.Notes = append(r.res.Notes, fmt.Sprintf("%s: with the %d live connections alone the server's RSS moved between %.1f and %.1f MiB over %.0f s; the baseline is the highest",
		a.Name, r.sc.Live, mib(low), mib(a.RSSBaseline), baselineWindow.Seconds()))
}

// cutAndWatch cuts the link and reads the server's count until every
// vanished connection is gone (or well past the bound), then lets memory
// settle.
func (r *reap) cutAndWatch(ctx context.Context, arm reapArm, pid int, a *schema.ReapArm) error {
	before, err := statshttp.Fetch(r.stats, statsURL(reapStatsAddr))
	if err != nil {
		return fmt.Errorf("server stats before the cut: %w", err)
	}
	if err := r.link.Cut(ctx); err != nil {
		return err
	}
	cut, live := time.Now(), int64(r.sc.Live)
	// Counted from once the cut is in place: a delayed ACK or a neighbour
	// probe may still cross while tc installs it.
	rx0, err := r.link.ServerRxPackets(ctx)
	if err != nil {
		return err
	}
	for limit := cut.Add(2*arm.bound + 10*time.Second); time.Now().Before(limit) && ctx.Err() == nil; sleep(ctx, reapPoll) {
		n := r.conns()
		if n >= 0 && n < a.ConnsPeak && a.FirstReapS == 0 {
			a.FirstReapS = time.Since(cut).Seconds()
		}
		if n == live {
			a.AllReapedS = time.Since(cut).Seconds()
			break
		}
	}
	if rx1, err := r.link.ServerRxPackets(ctx); err == nil {
		a.ServerRxAfterCut = rx1 - rx0
	}
	if after, err := statshttp.Fetch(r.stats, statsURL(reapStatsAddr)); err == nil {
		a.CloseReasons = map[string]uint64{}
		for k, v := range after.CloseReasons {
			if d := v - before.CloseReasons[k]; d > 0 {
				a.CloseReasons[k] = d
			}
		}
	}
	r.logf("%s: all %d vanished connections closed %.1f s after the cut (first %.1f s; bound %.1f s); close reasons %v",
		arm.name, r.sc.Vanish, a.AllReapedS, a.FirstReapS, a.BoundS, a.CloseReasons)
	for settle := time.Now().Add(r.sc.Settle); ctx.Err() == nil; sleep(ctx, time.Second) {
		a.ConnsEnd, a.RSSEnd, a.TCPInuseEnd = r.sample(pid)
		if rssWithin(a.RSSEnd, a.RSSBaseline) || time.Now().After(settle) {
			break
		}
	}
	return nil
}

// readLive takes the live connections' counts from their client's result.
func (r *reap) readLive(path string, a *schema.ReapArm) {
	b, err := os.ReadFile(path)
	var res client.Result
	if err == nil {
		err = json.Unmarshal(b, &res)
	}
	if err != nil {
		a.Failures = append(a.Failures, fmt.Sprintf("the live client's result: %v", err))
		return
	}
	a.LiveSent, a.LiveEchoed, a.LiveTimeouts, a.LiveMismatched = res.Sent, res.Echoed, res.Timeouts, res.Mismatched
	a.LiveInFlight = res.InFlightAtClose
	a.LiveDropped, a.LiveOpenAtEnd = sumMap(res.Dropped), res.OpenAtEnd
}

// judge names what failed in the arm.
func (r *reap) judge(a *schema.ReapArm) {
	fail := func(format string, args ...any) { a.Failures = append(a.Failures, fmt.Sprintf(format, args...)) }
	switch {
	case a.AllReapedS == 0:
		fail("the server still held vanished connections %.0f s after the cut", 2*a.BoundS+10)
	case a.AllReapedS > a.BoundS:
		fail("the last vanished connection went %.1f s after the cut, past the bound of %.1f s", a.AllReapedS, a.BoundS)
	}
	if a.ServerRxAfterCut > 0 {
		fail("the server's end received %d packets after the cut", a.ServerRxAfterCut)
	}
	if a.ConnsEnd != a.ConnsBaseline {
		fail("the server ended with %d connections, %d before the vanishing ones came", a.ConnsEnd, a.ConnsBaseline)
	}
	if !rssWithin(a.RSSEnd, a.RSSBaseline) {
		fail("server RSS %.1f MiB after settling, at most %.1f MiB with the live connections alone", mib(a.RSSEnd), mib(a.RSSBaseline))
	}
	live := int64(r.sc.Live)
	if a.LiveOpenAtEnd != live || a.LiveDropped > 0 || a.LiveTimeouts > 0 || a.LiveMismatched > 0 ||
		a.LiveEchoed+a.LiveInFlight != a.LiveSent || a.LiveSent == 0 {
		fail("live connections: %d of %d open at the end, %d dropped, %d of %d echoes back (%d in flight at the close), %d late, %d mismatched",
			a.LiveOpenAtEnd, live, a.LiveDropped, a.LiveEchoed, a.LiveSent, a.LiveInFlight, a.LiveTimeouts, a.LiveMismatched)
	}
	a.Pass = len(a.Failures) == 0
}
