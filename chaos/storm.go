package chaos

// The reconnect storm: a server holding N verified keepalive connections
// is SIGKILLed and started again on the same ports at once; every
// connection of the client (-reconnect: exponential back-off, full jitter)
// must come back and have an echo verified on its new socket within a
// bound. Then the restarted server gets SIGTERM and must exit 0
// (stormstop.go), and its /stats must have answered within a second
// throughout (statspoll.go). It runs once per engine; each result
// (storm-ENGINE.json, storm-ENGINE.csv) says how long all that took.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"c1m/client"
	"c1m/core"
	"c1m/limits"
	"c1m/procfs"
	"c1m/procgroup"
	"c1m/schema"
)

// StormName is the storm's name for -only.
const StormName = "storm"

// StormScaleFor returns the storm's full or quick scale; conns > 0
// overrides the connection count (ports follow it).
func StormScaleFor(quick bool, conns int) schema.StormScale {
	sc := schema.StormScale{Conns: 200_000, Ports: 20, Interval: 30 * time.Second, Bound: 5 * time.Minute, RampLimit: 5 * time.Minute,
		// As the million-connection experiments: a deep accept queue and
		// SYN backlog for the herd, and TCP memory for 200k sockets.
		// And the loopback backlog of the million experiments: at the
		// default 1,000, close storms drop packets (make limits counts
		// them), and each drop costs a retransmission timeout.
		Sysctls: map[string]string{"net.core.somaxconn": "65535", "net.ipv4.tcp_max_syn_backlog": "65535",
			"net.ipv4.tcp_mem": "1500000 2000000 3000000", "net.core.netdev_max_backlog": strconv.Itoa(limits.BacklogTarget)}}
	if quick {
		sc = schema.StormScale{Conns: 2000, Ports: 1, Interval: 2 * time.Second, Bound: time.Minute, RampLimit: time.Minute}
	}
	if conns > 0 {
		sc.Conns = conns
		sc.Ports = min(max(conns/10_000, 1), 20)
	}
	return sc
}

// storm is one run's state: one engine's.
type storm struct {
	cfg      Config
	sc       schema.StormScale
	fs       procfs.FS
	res      *schema.StormResult
	engine   string // the server's -engine ("": the one -server-flags names)
	addr     string // the server's first port
	statsURL string
	pop      *population
	noRetry  chan struct{} // closed: the population reconnects no more
	polls    *statsPoller
}

func (st *storm) logf(format string, a ...any) {
	name := "storm"
	if st.engine != "" {
		name += " " + st.engine
	}
	fmt.Fprintf(st.cfg.Log, "c1m-chaos: "+name+": "+format+"\n", a...)
}

func (st *storm) note(format string, a ...any) {
	st.res.Notes = append(st.res.Notes, fmt.Sprintf(format, a...))
}

// RunStorms runs the reconnect storm once per engine (armEngines), one
// after the other, and writes each one's result (schema.WriteStorm). An
// error is a run that could not be set up; a storm that ran and failed its
// check is a result with Pass false and the failures named.
func RunStorms(ctx context.Context, cfg Config) (out []schema.StormResult, err error) {
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if err := os.MkdirAll(cfg.Results, 0o755); err != nil {
		return nil, fmt.Errorf("results directory: %w", err)
	}
	if _, _, err := core.RaiseNofile(); err != nil {
		return nil, err
	}
	sc := StormScaleFor(cfg.Quick, cfg.StormConns)
	var notes []string
	restore, err := raiseSysctls(procfs.New("/"), sc.Sysctls, "storm", &notes)
	if err != nil {
		return nil, err
	}
	defer func() {
		if rerr := restore(); rerr != nil && err == nil {
			err = fmt.Errorf("restoring sysctls: %w", rerr)
		}
	}()
	for _, e := range armEngines(cfg) {
		if ctx.Err() != nil {
			break
		}
		res, err := runStorm(ctx, cfg, sc, e, notes)
		if err != nil {
			return out, fmt.Errorf("engine %q: %w", e, err)
		}
		out = append(out, res)
	}
	return out, nil
}

// runStorm runs one storm on engine and writes its result.
func runStorm(ctx context.Context, cfg Config, sc schema.StormScale, engine string, notes []string) (res schema.StormResult, err error) {
	st := &storm{cfg: cfg, sc: sc, fs: procfs.New("/"), res: &res, engine: engine}
	res = schema.StormResult{Start: time.Now().UTC().Format(time.RFC3339), Quick: cfg.Quick, Scale: sc, Rule: stormRule(sc),
		FailedBy: map[string]int64{}, DroppedBy: map[string]int64{}, Engine: engine, Notes: append([]string(nil), notes...)}
	res.TWBuckets, _ = st.fs.Sysctl("net.ipv4.tcp_max_tw_buckets")
	res.Env = machine(st.fs, st.logf)
	var rows [][]float64
	runErr := st.run(ctx, &rows)
	if st.polls != nil {
		res.Polls = st.polls.stop()
	}
	res.End = time.Now().UTC().Format(time.RFC3339)
	if runErr != nil && ctx.Err() == nil {
		return res, runErr
	}
	if ctx.Err() != nil {
		res.Failures = append(res.Failures, "interrupted: partial results")
	}
	st.judgePolls()
	res.Pass = len(res.Failures) == 0
	if werr := schema.WriteStorm(cfg.Results, res, rows); werr != nil {
		return res, werr
	}
	return res, nil
}

// raiseSysctls sets sysctls for a run called what (as root; otherwise
// notes say they were left as found) and returns what puts them back.
func raiseSysctls(fs procfs.FS, want map[string]string, what string, notes *[]string) (restore func() error, err error) {
	none := func() error { return nil }
	if len(want) == 0 {
		return none, nil
	}
	if os.Geteuid() != 0 {
		*notes = append(*notes, fmt.Sprintf("not root: sysctls left as found (wanted %v)", want))
		return none, nil
	}
	guard, err := fs.Apply(want)
	if err != nil {
		return nil, fmt.Errorf("raising sysctls for the %s: %w", what, err)
	}
	for k, v := range guard.Changed() {
		*notes = append(*notes, fmt.Sprintf("sysctl %s set to %q for the %s (was %q), restored after", k, v[1], what, v[0]))
	}
	return guard.Restore, nil
}

func stormRule(sc schema.StormScale) string {
	return fmt.Sprintf("every one of the %d connections open again with an echo verified on its new socket within %v of the SIGKILL; no echo mismatched", sc.Conns, sc.Bound)
}

// run starts the server and the population, kills and restarts the
// server, and measures the way back; rows get the samples after the kill.
func (st *storm) run(ctx context.Context, rows *[][]float64) error {
	first, firstPid, err := st.startFirst()
	if err != nil {
		return err
	}
	defer first.Stop(10 * time.Second)
	st.polls = startStatsPoller(st.statsURL, "ramp")
	st.startPopulation()
	defer st.pop.stop()
	if err := st.waitUp(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	st.logf("all %d open and verified after %.1f s; SIGKILL to server pid %d", st.sc.Conns, st.res.RampS, firstPid)

	p0 := st.pop.fresh(5 * time.Second)
	c0, _ := st.fs.NetCounters()
	if ss, err := st.fs.Sockstat(); err == nil {
		st.res.TimeWaitBefore = ss.TCPTimeWait
	}
	st.polls.phase("outage", nil) // no server until the restart answers
	st.polls.excusePhase()
	kill := time.Now()
	if err := killTree(st.fs, firstPid); err != nil {
		return err
	}
	stopSampling := st.sampler(kill, p0, c0)
	defer stopSampling()
	second, secondPid, err := st.restart(first, firstPid, kill)
	if err != nil {
		return err
	}
	defer second.Stop(3 * time.Minute) // closing 200k sockets takes a while
	st.polls.phase("reconnect", nil)

	pEnd := st.waitBack(ctx, kill, p0)
	*rows = stopSampling()
	if st.res.AllBackS == 0 {
		pEnd, _, _ = st.pop.progress()
	}
	st.tally(p0, pEnd, c0)
	if st.res.AllBackS > 0 && ctx.Err() == nil {
		st.gracefulStop(ctx, second, secondPid)
	}
	st.finish(p0)
	return nil
}

// startFirst starts the server the storm kills, on free ports.
func (st *storm) startFirst() (*procgroup.Group, int, error) {
	addr, stats, err := serverAddrs(st.sc.Ports)
	if err != nil {
		return nil, 0, err
	}
	st.addr, st.statsURL = addr, statsURL(stats)
	flags := []string{"-addr", addr, "-ports", strconv.Itoa(st.sc.Ports), "-max-conns", strconv.Itoa(st.sc.Conns),
		"-stats-addr", stats, "-stats-interval", "0"}
	if st.engine != "" {
		flags = append(flags, "-engine", st.engine)
	}
	st.res.ServerFlags = append(flags, st.cfg.Server...)
	g, cmd, err := st.startServer("server.log")
	if err != nil {
		return nil, 0, err
	}
	return g, cmd.Process.Pid, nil
}

// startServer starts c1m-server with the storm's flags and waits until it
// answers; its log is storm[-ENGINE]-NAME.
func (st *storm) startServer(logName string) (*procgroup.Group, *exec.Cmd, error) {
	return startServer(st.cfg.Bin, st.res.ServerFlags, st.logPath(logName), st.statsURL, 30*time.Second)
}

// logPath is where the server's log called name goes.
func (st *storm) logPath(name string) string {
	prefix := "storm-"
	if st.engine != "" {
		prefix += st.engine + "-"
	}
	return filepath.Join(st.cfg.Results, prefix+name)
}

// startPopulation starts the real client in this process (children of it
// past one fd table), quiet during its ramp, verifying every echo, and
// reconnecting what it loses.
func (st *storm) startPopulation() {
	sc := st.sc
	cc := client.DefaultConfig()
	// The client binary's default engine: io_uring where the kernel has
	// it. The epoll client's 51 processes spend ~30 µs of CPU an echo at
	// 1M against the uring client's ~20 (experiment 15): with them, 1M
	// keepalives every 30 s saturated 2 AMD EPYC CPUs, and the storm
	// measured the overload rather than the server's way back.
	cc.Engine, _ = client.ResolveEngine(client.Config{Engine: client.EngineAuto})
	cc.Server, cc.Ports, cc.Conns, cc.Interval = st.addr, sc.Ports, sc.Conns, sc.Interval
	cc.QuietRamp, cc.Reconnect = true, true
	st.noRetry = make(chan struct{})
	cc.StopReconnect = st.noRetry
	cc.Timeout = 10 * time.Second
	cc.Hold = sc.RampLimit + sc.Interval + sc.Bound + time.Minute // stopped long before: a bound, not a plan
	st.res.Client = fmt.Sprintf("-engine %s -conns %d -ports %d -interval %v -timeout %v -quiet-ramp -reconnect -inflight %d -connect-timeout %v",
		cc.Engine, cc.Conns, cc.Ports, cc.Interval, cc.Timeout, cc.InFlight, cc.ConnectTimeout)
	st.pop = startPopulation(cc)
}

// waitUp waits until every connection is open with a verified echo and
// the server holds them all (RampS), or ctx ends (no error).
func (st *storm) waitUp(ctx context.Context) error {
	sc, n := st.sc, int64(st.sc.Conns)
	t0 := time.Now()
	st.logf("%d connections to %s (+%d ports) at a keepalive every %v", sc.Conns, st.addr, sc.Ports-1, sc.Interval)
	for {
		p, _, _ := st.pop.progress()
		if p.Open == n && p.OpenVerified == n && st.serverConns() == n {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-st.pop.ended():
			_, err := st.pop.stop()
			return fmt.Errorf("the client ended before the storm: %v", err)
		default:
		}
		if time.Since(t0) > sc.RampLimit {
			return fmt.Errorf("population: %d open, %d verified of %d within %v (server holds %d): %s",
				p.Open, p.OpenVerified, sc.Conns, sc.RampLimit, st.serverConns(), p.Line(sc.Conns, 0))
		}
		sleep(ctx, 250*time.Millisecond)
	}
	st.res.RampS = time.Since(t0).Seconds()
	return nil
}

// restart waits for the killed server to be reaped (ExitS) and starts a
// new one on the same ports (RestartS).
func (st *storm) restart(first *procgroup.Group, firstPid int, kill time.Time) (*procgroup.Group, int, error) {
	select {
	case <-first.Exits():
	case <-time.After(time.Minute):
		return nil, 0, fmt.Errorf("server pid %d still running a minute after SIGKILL", firstPid)
	}
	st.res.ExitS = time.Since(kill).Seconds()
	if err := st.waitPortsFree(time.Minute); err != nil {
		return nil, 0, err
	}
	st.res.PortsFreeS = time.Since(kill).Seconds()
	second, cmd, err := st.startServer("server-restarted.log")
	if err != nil {
		return nil, 0, err
	}
	st.res.RestartS = time.Since(kill).Seconds()
	if snap, err := fetchStats(st.statsURL); err == nil && st.engine != "" && snap.Engine != st.engine {
		st.note("asked for -engine %s, the server runs %s: %s", st.engine, snap.Engine, snap.EngineNote)
	}
	st.logf("server reaped %.2f s after the kill, its ports free after %.2f s, the new one answering after %.2f s", st.res.ExitS, st.res.PortsFreeS, st.res.RestartS)
	return second, cmd.Process.Pid, nil
}

// waitPortsFree waits until the killed server's ports can be listened on
// again: a reaped process may still hold them, as an io_uring instance's
// registered files and armed accepts are torn down by the kernel after
// the process is gone (measured: the uring server's ports still bound
// when it had been reaped, under 20,000 connections).
func (st *storm) waitPortsFree(limit time.Duration) error {
	host, port, err := net.SplitHostPort(st.addr)
	if err != nil {
		return fmt.Errorf("server address %q: %w", st.addr, err)
	}
	base, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("server address %q: %w", st.addr, err)
	}
	for deadline := time.Now().Add(limit); !portsFree(host, base, st.sc.Ports); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the killed server's ports %s (+%d) still bound %v after it was reaped", st.addr, st.sc.Ports-1, limit)
		}
	}
	return nil
}

// waitBack watches the way back until every connection is open and
// verified again and the new server holds them all, or the bound; it
// returns the client's progress when all were back.
func (st *storm) waitBack(ctx context.Context, kill time.Time, p0 client.Progress) client.Progress {
	res, n := st.res, int64(st.sc.Conns)
	var pBack client.Progress
	since := func(t time.Time) float64 { return t.Sub(kill).Seconds() }
	for deadline := kill.Add(st.sc.Bound); time.Now().Before(deadline) && ctx.Err() == nil; sleep(ctx, 100*time.Millisecond) {
		p, at, _ := st.pop.progress()
		dropped := sumMap(p.Dropped) - sumMap(p0.Dropped)
		// Every connection must have seen the kill before its count means "back".
		if dropped >= n && at.After(kill) {
			if res.AllOpenS == 0 && p.Open == n {
				res.AllOpenS = since(at)
			}
			if res.AllBackS == 0 && p.Open == n && p.OpenVerified == n {
				res.AllBackS, pBack = since(at), p
			}
		}
		if res.ServerConnsS == 0 && dropped > 0 && st.serverConns() == n {
			res.ServerConnsS = since(time.Now())
		}
		if res.AllBackS > 0 && res.ServerConnsS > 0 {
			break
		}
	}
	return pBack
}

// tally counts the storm: the client's counts from p0 to pEnd, the
// kernel's from c0, and the restarted server's own.
func (st *storm) tally(p0, pEnd client.Progress, c0 procfs.Counters) {
	res := st.res
	if c1, err := st.fs.NetCounters(); err == nil && c0 != nil {
		d := func(k string) float64 { return c1[k] - c0[k] }
		res.ListenOverflows, res.ListenDrops = d("TcpExt.ListenOverflows"), d("TcpExt.ListenDrops")
		res.SynRetrans, res.TWOverflow = d("TcpExt.TCPSynRetrans"), d("TcpExt.TCPTimeWaitOverflow")
	}
	res.Resolution = 1
	res.Dropped = sumMap(pEnd.Dropped) - sumMap(p0.Dropped)
	res.Attempts = pEnd.Attempted - p0.Attempted
	res.Mismatched, res.Timeouts = pEnd.Mismatched-p0.Mismatched, pEnd.Timeouts-p0.Timeouts
	res.Lost = int64(st.sc.Conns) - pEnd.OpenVerified
	addGrowth(res.FailedBy, pEnd.Failed, p0.Failed)
	addGrowth(res.DroppedBy, pEnd.Dropped, p0.Dropped)
	if snap, err := fetchStats(st.statsURL); err == nil {
		res.ServerAccepted = snap.Accepted
		res.ServerAcceptErrors, res.ServerCloseReasons = nonZero(snap.AcceptErrors), nonZero(snap.CloseReasons)
	}
}

// finish stops the client, takes its downtimes and any mismatch found
// after its last progress report, and judges the storm.
func (st *storm) finish(p0 client.Progress) {
	res := st.res
	popRes, popErr := st.pop.stop()
	if popErr != nil {
		res.Failures = append(res.Failures, "client: "+popErr.Error())
	}
	res.Downtime = schema.Percentiles(popRes.DowntimeUs)
	res.Mismatched = max(res.Mismatched, popRes.Mismatched-p0.Mismatched)
	st.judge()
	st.logf("all back and verified %.1f s after the kill (all open %.1f s, server holds all %.1f s); %d attempts, lost %d, mismatched %d; downtime p99 %.1f s max %.1f s; listen overflows %.0f; TIME_WAIT peak %d",
		res.AllBackS, res.AllOpenS, res.ServerConnsS, res.Attempts, res.Lost, res.Mismatched,
		float64(res.Downtime.P99)/1e6, float64(res.Downtime.Max)/1e6, res.ListenOverflows, res.TimeWaitPeak)
}

// addGrowth sets dst[k] to what after[k] grew by over before[k], where it grew.
func addGrowth(dst, after, before map[string]int64) {
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			dst[k] = d
		}
	}
}

// sampler records a row of storm.csv every 250 ms from the kill on (the
// outage included) until the returned stop is called; stop returns the rows.
func (st *storm) sampler(kill time.Time, p0 client.Progress, c0 procfs.Counters) (stop func() [][]float64) {
	var rows [][]float64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		lastLog := time.Now()
		for {
			row := st.sample(kill, p0, c0)
			rows = append(rows, row)
			if time.Since(lastLog) >= 5*time.Second {
				lastLog = time.Now()
				st.logf("%5.1f s: %.0f open, %.0f verified again, %.0f connecting, %.0f attempts; server holds %.0f; TIME_WAIT %.0f, listen overflows %.0f",
					row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7])
			}
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	return func() [][]float64 {
		once.Do(func() { close(quit); <-done })
		return rows
	}
}

// sample is one row of schema.StormSamplesHeader; it also keeps the TIME_WAIT peak.
func (st *storm) sample(kill time.Time, p0 client.Progress, c0 procfs.Counters) []float64 {
	p, at, _ := st.pop.progress()
	row := []float64{time.Since(kill).Seconds(), float64(p.Open), float64(p.OpenVerified), float64(p.InFlight),
		float64(p.Attempted - p0.Attempted), float64(st.serverConns()), -1, -1}
	if !at.After(kill) { // the client has not reported since the kill: its counts are of before
		row[1], row[2], row[3], row[4] = -1, -1, -1, -1
	}
	if ss, err := st.fs.Sockstat(); err == nil {
		st.res.TimeWaitPeak = max(st.res.TimeWaitPeak, ss.TCPTimeWait)
		row[6] = float64(ss.TCPTimeWait)
	}
	if c, err := st.fs.NetCounters(); err == nil && c0 != nil {
		row[7] = c["TcpExt.ListenOverflows"] - c0["TcpExt.ListenOverflows"]
	}
	return row
}

// judge names what failed.
func (st *storm) judge() {
	res, n := st.res, int64(st.sc.Conns)
	fail := func(format string, a ...any) { res.Failures = append(res.Failures, fmt.Sprintf(format, a...)) }
	if res.Dropped < n {
		fail("only %d of %d connections saw the kill", res.Dropped, n)
	}
	if res.AllBackS > 0 && res.Downtime.N < n {
		fail("only %d of %d connections recorded a loss and then a verified echo on a new socket", res.Downtime.N, n)
	}
	if res.AllBackS == 0 {
		fail("%d of %d connections not back and verified within %v", res.Lost, n, st.sc.Bound)
	}
	if res.Mismatched > 0 {
		fail("%d echoes mismatched", res.Mismatched)
	}
	if res.ServerConnsS == 0 {
		fail("the restarted server never held all %d connections within %v", n, st.sc.Bound)
	}
	st.judgeStop()
}

// judgeStop names what failed in the graceful stop: it must end in an
// exit with code 0 within the bound, every connection closed.
func (st *storm) judgeStop() {
	stop := st.res.Stop
	if stop == nil {
		return
	}
	fail := func(format string, a ...any) { st.res.Failures = append(st.res.Failures, fmt.Sprintf(format, a...)) }
	switch {
	case stop.ExitS == 0:
		fail("graceful stop: the server had not exited %.0f s after SIGTERM", stop.Bound)
	case stop.ExitCode != 0:
		fail("graceful stop: the server exited with code %d after SIGTERM, not 0", stop.ExitCode)
	}
	if stop.AllClosedS == 0 {
		fail("graceful stop: the client saw %d of %d connections closed within %.0f s of SIGTERM", sumMap(stop.ClosedBy), stop.ConnsAtSignal, stop.Bound)
	}
}

// judgePolls names the phases in which /stats failed to answer within its timeout.
func (st *storm) judgePolls() {
	if st.res.Polls == nil {
		return
	}
	for _, ph := range st.res.Polls.Phases {
		if !ph.Excused && ph.Failed > 0 {
			st.res.Failures = append(st.res.Failures, fmt.Sprintf("/stats did not answer within %v %d times of %d in phase %s",
				statsPollTimeout, ph.Failed, ph.Polls, ph.Name))
		}
	}
}

// serverConns is the server's connection count, -1 if it does not answer.
func (st *storm) serverConns() int64 {
	snap, err := fetchStats(st.statsURL)
	if err != nil {
		return -1
	}
	return snap.Conns
}

// killTree SIGKILLs pid and any processes under it (a prefork server), by pid.
func killTree(fs procfs.FS, pid int) error {
	kids, _ := fs.Descendants(pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("SIGKILL server pid %d: %w", pid, err)
	}
	for _, k := range kids {
		syscall.Kill(k, syscall.SIGKILL)
	}
	return nil
}

func nonZero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}
