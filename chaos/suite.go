// Package chaos is the hostile-client suite: against a running
// bin/c1m-server that holds a population of well-behaved keepalive
// connections (the real client, in-process, verifying every echo), it
// throws one kind of hostile client at a time and then all together, and
// checks that the population loses no echo and sees no corruption, that
// the server keeps serving, and that its fds and RSS return to baseline.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"c1m/client"
	"c1m/core"
	"c1m/harness"
	"c1m/procfs"
	"c1m/procgroup"
	"c1m/schema"
)

// Config is what the command line sets.
type Config struct {
	Bin     string   // where c1m-server is
	Results string   // results/chaos
	Quick   bool     // seconds instead of minutes, fewer connections
	Only    []string // scenario names to run (empty: all, then all together, then the storm)
	Server  []string // extra c1m-server flags (e.g. -trigger lt), after the suite's own
	Log     io.Writer
	// StormConns overrides the reconnect storm's connection count (0: its scale's).
	StormConns int
	// Engines are the server engines the suite, the storm and
	// vanish-scale run on, one after the other (empty: epoll and uring;
	// ignored when Server names an -engine).
	Engines []string
	// ReapConns overrides the vanishing connections' count of the
	// "peers vanish at scale" run (0: its scale's).
	ReapConns int
}

// ScaleFor returns the full or the quick scale.
func ScaleFor(quick bool) schema.ChaosScale {
	if quick {
		return schema.ChaosScale{Population: 200, Interval: 200 * time.Millisecond, MaxConns: 1000, MaxPending: 64 << 10, Hold: 3 * time.Second,
			Idle: 200, NoRead: 20, Bursts: 4, HalfClose: 50, RST: 50, Vanish: 50, Flood: 1200, FDFlood: 300, Random: 20, Slowloris: 300}
	}
	return schema.ChaosScale{Population: 2000, Interval: 500 * time.Millisecond, MaxConns: 6000, MaxPending: 64 << 10, Hold: 10 * time.Second,
		Idle: 2000, NoRead: 100, Bursts: 20, HalfClose: 500, RST: 500, Vanish: 500, Flood: 6500, FDFlood: 1000, Random: 200, Slowloris: 3000}
}

// Tolerances of the return-to-baseline checks.
const (
	settleLimit  = 30 * time.Second // how long fds and RSS may take to come back
	rssAbsSlack  = 8 << 20          // RSS may end this much above its baseline...
	rssRelSlack  = 0.10             // ...or this share of it, whichever is larger
	catchUpLimit = 15 * time.Second // every echo sent during a scenario must be back within this
	spinCores    = 0.5              // server CPU above its quiet rate, in cores, that counts as spinning
)

// Report is what Run found: the suite's run on each engine (chaos.json,
// chaos-uring.json), with the population's client result whole, and the
// reconnect storms' results when they ran (they have files of their own,
// storm-ENGINE.json, so a storm run alone keeps the suite's results).
type Report struct {
	Suites []schema.ChaosReport[client.Result] // one per engine, in armEngines' order
	Storms []schema.StormResult
	Reap   *schema.ReapResult // only when asked for by name (-only vanish-scale): it needs root and namespaces
	Pass   bool
	Failed []string // what failed, each under its engine's name
}

// suite is one run on one engine: the server, the population and the measurements.
type suite struct {
	cfg      Config
	sc       schema.ChaosScale
	fs       procfs.FS
	engine   string // the server's engine: what -engine or -server-flags asked for
	logName  string // the server's log in the results directory
	addr     string
	statsURL string
	group    *procgroup.Group
	pid      int
	exited   chan procgroup.Exit
	quiet    float64
	baseFDs  int // the server's fds with only the population connected
	pop      *population
}

func (s *suite) logf(format string, a ...any) {
	fmt.Fprintf(s.cfg.Log, "c1m-chaos: "+s.engine+": "+format+"\n", a...)
}

// Run runs the suite on each engine, then the reconnect storms, and writes
// results; the report says what passed. With Only, just the scenarios
// named ("storm" alone leaves chaos.json as it was); "vanish-scale"
// (RunReap) runs only when named.
func Run(ctx context.Context, cfg Config) (rep Report, err error) {
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	scenarios, err := suiteScenarios(cfg.Only)
	if err != nil {
		return Report{}, err
	}
	rep.Pass = true
	if len(cfg.Only) == 0 || len(scenarios) > 0 {
		suiteCfg := cfg
		suiteCfg.Only = scenarios
		rep.Suites, err = runSuites(ctx, suiteCfg)
		for _, sr := range rep.Suites {
			if !sr.Pass {
				rep.Pass = false
				for _, f := range sr.Failed {
					rep.Failed = append(rep.Failed, sr.Engine+": "+f)
				}
			}
		}
		if err != nil {
			return rep, err
		}
	}
	if (len(cfg.Only) == 0 || contains(cfg.Only, StormName)) && ctx.Err() == nil {
		storms, serr := RunStorms(ctx, cfg)
		rep.Storms = storms
		if serr != nil {
			return rep, fmt.Errorf("storm: %w", serr)
		}
		for _, st := range storms {
			if !st.Pass {
				rep.Pass = false
				rep.Failed = append(rep.Failed, stormName(st.Engine)+": "+strings.Join(st.Failures, "; "))
			}
		}
	}
	if contains(cfg.Only, ReapName) && ctx.Err() == nil {
		return runReap(ctx, cfg, rep)
	}
	return rep, nil
}

// suiteScenarios checks the names of -only and returns the suite's
// scenarios among them (not the storm's or vanish-scale's).
func suiteScenarios(only []string) ([]string, error) {
	var scenarios []string
	for _, name := range only {
		known := name == "together" || name == StormName || name == ReapName
		for _, sn := range Scenarios() {
			known = known || sn.Name == name
		}
		if !known {
			return nil, fmt.Errorf("-only: no scenario %q (see -help for the names)", name)
		}
		if name != StormName && name != ReapName {
			scenarios = append(scenarios, name)
		}
	}
	return scenarios, nil
}

// runReap runs "peers vanish at scale" and adds it to rep.
func runReap(ctx context.Context, cfg Config, rep Report) (Report, error) {
	res, err := RunReap(ctx, cfg)
	rep.Reap = &res
	if err != nil {
		return rep, fmt.Errorf("%s: %w", ReapName, err)
	}
	if !res.Pass {
		rep.Pass = false
		rep.Failed = append(rep.Failed, ReapName+": "+strings.Join(res.Failures, "; "))
	}
	return rep, nil
}

// runSuites runs the suite once per engine (armEngines), each against a
// server of its own, one after the other.
func runSuites(ctx context.Context, cfg Config) (out []schema.ChaosReport[client.Result], err error) {
	for _, e := range armEngines(cfg) {
		if ctx.Err() != nil {
			break
		}
		rep, err := runSuite(ctx, cfg, e)
		out = append(out, rep)
		if err != nil {
			return out, fmt.Errorf("suite on engine %s: %w", rep.Engine, err)
		}
	}
	return out, nil
}

// runSuite runs the hostile-client scenarios on engine ("": the one
// cfg.Server names) and writes its results (schema.ChaosFiles).
func runSuite(ctx context.Context, cfg Config, engine string) (rep schema.ChaosReport[client.Result], err error) {
	sc := ScaleFor(cfg.Quick)
	s := &suite{cfg: cfg, sc: sc, fs: procfs.New("/"), engine: engine}
	if engine == "" {
		s.engine = serverEngine(cfg.Server)
	}
	rep = schema.ChaosReport[client.Result]{Start: time.Now().UTC().Format(time.RFC3339), Quick: cfg.Quick, Scale: sc, Rules: rules(), Engine: s.engine,
		Env: machine(s.fs, s.logf)}
	if err := os.MkdirAll(cfg.Results, 0o755); err != nil {
		return rep, fmt.Errorf("results directory: %w", err)
	}
	if _, _, err := core.RaiseNofile(); err != nil {
		return rep, err
	}
	if err := s.startServer(&rep, engine); err != nil {
		return rep, err
	}
	defer s.group.Stop(10 * time.Second) // every path: SIGTERM, then SIGKILL, by pid
	if err := s.startPopulation(ctx); err != nil {
		return rep, err
	}
	defer s.stopPopulation()
	s.measureQuiet(ctx)
	rep.QuietCores = s.quiet
	s.logf("population of %d connections up; server quiet at %.3f cores", sc.Population, s.quiet)

	rep.Scenarios = s.runScenarios(ctx)
	res, perr := s.stopPopulation()
	rep.Population = &res
	rep.End = time.Now().UTC().Format(time.RFC3339)
	rep.Pass = perr == nil && ctx.Err() == nil
	for _, o := range rep.Scenarios {
		if !o.Pass {
			rep.Pass = false
			rep.Failed = append(rep.Failed, o.Name)
		}
	}
	if perr != nil {
		rep.Failed = append(rep.Failed, "population: "+perr.Error())
	}
	if ctx.Err() != nil {
		rep.Failed = append(rep.Failed, "interrupted: partial results")
	}
	if werr := schema.WriteChaosReport(cfg.Results, rep); werr != nil {
		return rep, werr
	}
	return rep, nil
}

// measureQuiet measures what the population alone costs the server, and
// the fd baseline every scenario must return to exactly: the count once it
// holds still (a closed stats or probe connection takes a moment).
func (s *suite) measureQuiet(ctx context.Context) {
	cpu0, t0 := s.serverCPU(), time.Now()
	sleep(ctx, 2*time.Second)
	s.quiet = (s.serverCPU() - cpu0) / time.Since(t0).Seconds()
	for prev := -1; prev != s.baseFDs && ctx.Err() == nil; sleep(ctx, 300*time.Millisecond) {
		prev, s.baseFDs = s.baseFDs, s.fds()
	}
}

// runScenarios runs each chosen scenario alone, then all together, while
// the server lives.
func (s *suite) runScenarios(ctx context.Context) []schema.ScenarioOutcome {
	var outcomes []schema.ScenarioOutcome
	all := Scenarios()
	for _, sn := range all {
		if len(s.cfg.Only) > 0 && !contains(s.cfg.Only, sn.Name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		outcomes = append(outcomes, s.run(ctx, sn.Name, sn.Description, []Scenario{sn}))
		if s.serverGone() {
			break
		}
	}
	if (len(s.cfg.Only) == 0 || contains(s.cfg.Only, "together")) && ctx.Err() == nil && !s.serverGone() {
		outcomes = append(outcomes, s.run(ctx, "together", "every scenario at once", all))
	}
	return outcomes
}

func rules() map[string]string {
	return map[string]string{
		"lost":     "population: no connection dropped, and every echo sent before the scenario ended was back within " + catchUpLimit.String(),
		"corrupt":  "population: no mismatched echo; attackers that read their echo found it byte for byte",
		"fds":      "server fds back to exactly their count with only the population connected (measured once, before the first scenario) within " + settleLimit.String(),
		"conns":    "the server's /stats conns back to exactly the population's count within " + settleLimit.String() + " (a uring server holds its connections in ring tables, not fds: this is what shows a leaked one there)",
		"rss":      fmt.Sprintf("server RSS back within max(%.0f%%, %d MiB) of its count before the scenario within %v", rssRelSlack*100, rssAbsSlack>>20, settleLimit),
		"serving":  "a fresh connection gets its echo within 10 s of the scenario's end; the server process never exits",
		"no-read":  "server RSS during the scenario grows by at most -max-pending per non-reading connection + 16 MiB",
		"spin":     fmt.Sprintf("floods: server CPU while the flood is held stays below the quiet rate + %.1f cores", spinCores),
		"timeouts": "echoes later than the client's -timeout are counted, not failed (a slow echo is not a lost one)",
	}
}

// startServer starts the suite's server on engine ("": as cfg.Server
// says), its log server.log (epoll) or server-ENGINE.log, and checks it
// runs the engine asked for: a uring server that fell back to epoll would
// file epoll's results under uring's name.
func (s *suite) startServer(rep *schema.ChaosReport[client.Result], engine string) error {
	addr, stats, err := serverAddrs(1)
	if err != nil {
		return err
	}
	s.addr, s.statsURL = addr, statsURL(stats)
	flags := []string{"-addr", addr, "-max-conns", fmt.Sprint(s.sc.MaxConns), "-max-pending", fmt.Sprint(s.sc.MaxPending),
		"-stats-addr", stats, "-stats-interval", "0"}
	if engine != "" {
		flags = append([]string{"-engine", engine}, flags...)
	}
	flags = append(flags, s.cfg.Server...)
	rep.ServerFlags = flags
	s.logName = "server.log"
	if s.engine != schema.ChaosEngineDefault {
		s.logName = "server-" + s.engine + ".log"
	}
	group, cmd, err := startServer(s.cfg.Bin, flags, filepath.Join(s.cfg.Results, s.logName), s.statsURL, 20*time.Second)
	if err != nil {
		return err
	}
	s.group, s.pid = group, cmd.Process.Pid
	s.exited = make(chan procgroup.Exit, 1)
	go func() {
		ex := <-s.group.Exits()
		s.exited <- ex
	}()
	if snap, err := fetchStats(s.statsURL); err == nil && snap.Engine != "" && snap.Engine != s.engine {
		s.group.Stop(10 * time.Second)
		return fmt.Errorf("the server runs engine %s, not %s (%s; see %s): leave that engine out with -engines", snap.Engine, s.engine, snap.EngineNote, s.logName)
	}
	return nil
}

// serverEngine is the engine server flags run: the one their -engine
// names, or harness.DesignEngine, which startServer adds when none does.
func serverEngine(flags []string) string {
	for i, f := range flags {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(f, "-"), "=")
		if strings.TrimPrefix(name, "-") != "engine" {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(flags) {
			return flags[i+1]
		}
	}
	return harness.DesignEngine
}

// serverGone reports whether the server process has exited.
func (s *suite) serverGone() bool {
	select {
	case ex := <-s.exited:
		s.exited <- ex
		return true
	default:
		return false
	}
}

func (s *suite) startPopulation(ctx context.Context) error {
	cfg := client.DefaultConfig()
	cfg.Server, cfg.Conns, cfg.Interval = s.addr, s.sc.Population, s.sc.Interval
	cfg.Src = "127.0.0.2-127.0.0.254"
	cfg.Hold = 1000 * time.Hour // until stopped
	cfg.Timeout = 5 * time.Second
	cfg.Loops = 1
	s.pop = startPopulation(cfg)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		p, _, _ := s.pop.progress()
		if p.RampDone && p.Open == int64(s.sc.Population) && p.Echoed >= int64(s.sc.Population) {
			return nil
		}
		select {
		case <-s.pop.ended():
			_, err := s.pop.stop()
			return fmt.Errorf("population ended early: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	p, _, _ := s.pop.progress()
	return fmt.Errorf("population: %d of %d connections open and verified within 60 s: %s", p.Open, s.sc.Population, p.Line(s.sc.Population, 0))
}

var errPopulationEnded = errors.New("population ended before it was stopped")

func (s *suite) stopPopulation() (client.Result, error) {
	res, err := s.pop.stop()
	if err != nil {
		return res, err
	}
	if res.Ended != "interrupted" {
		return res, fmt.Errorf("%w: %s", errPopulationEnded, res.Ended)
	}
	return res, nil
}

// freshProgress waits for a progress report newer than now.
func (s *suite) freshProgress() client.Progress { return s.pop.fresh(3 * time.Second) }

func (s *suite) serverCPU() float64 {
	u, sys, err := s.fs.ProcCPU(s.pid)
	if err != nil {
		return 0
	}
	return (u + sys).Seconds()
}

func (s *suite) fds() int {
	n, _ := s.fs.FDCount(s.pid)
	return n
}

func (s *suite) rss() uint64 {
	m, _ := s.fs.ProcMem(s.pid)
	return m.Rss
}

// statsOrZero fetches the stats, waiting a little while the server is short of fds.
func (s *suite) statsOrZero() core.Snapshot {
	for i := 0; i < 10; i++ {
		if snap, err := fetchStats(s.statsURL); err == nil {
			return snap
		}
		time.Sleep(200 * time.Millisecond)
	}
	return core.Snapshot{}
}

func shedOf(snap core.Snapshot) uint64 {
	var n uint64
	for k, v := range snap.AcceptErrors {
		if k == "shed_max_conns" || k == "shed_no_fd" {
			n += v
		}
	}
	return n
}

// run throws the scenarios (one, or all at once) and measures.
func (s *suite) run(ctx context.Context, name, desc string, scs []Scenario) schema.ScenarioOutcome {
	o := schema.ScenarioOutcome{Name: name, Description: desc, AttackerErrors: map[string]int64{}}
	s.logf("scenario %s: %s", name, desc)
	o.FDsBefore, o.RSSBefore = s.baseFDs, s.rss()
	o.FDsPeak, o.RSSPeak = o.FDsBefore, o.RSSBefore
	st0 := s.statsOrZero()
	p0 := s.freshProgress()
	cpu0, t0 := s.serverCPU(), time.Now()
	a := s.throw(ctx, scs, &o)
	o.WallSeconds = time.Since(t0).Seconds()
	pEnd := s.freshProgress()

	// The server still serves a newcomer; then settle: the population
	// catches up, fds and RSS come back.
	probeErr := s.probeAfter(ctx)
	st1 := s.statsOrZero()
	settle0 := time.Now()
	pAfter := s.catchUp(ctx, pEnd, settle0)
	back := s.settle(ctx, &o, settle0)
	o.SettleSeconds = time.Since(settle0).Seconds()
	o.CPUSeconds = s.serverCPU() - cpu0
	o.AcceptCalls, o.Shed = st1.AcceptCalls-st0.AcceptCalls, shedOf(st1)-shedOf(st0)

	// Both over the same window: what was sent by the scenario's end, and
	// how much of it came back (echoes of later sends are not counted).
	o.Sent, o.Verified = pEnd.Sent-p0.Sent, min(pAfter.Echoed, pEnd.Sent)-p0.Echoed
	o.Mismatched, o.Timeouts = pAfter.Mismatched-p0.Mismatched, pAfter.Timeouts-p0.Timeouts
	o.Dropped = sumMap(pAfter.Dropped) - sumMap(p0.Dropped)
	o.Lost = max(pEnd.Sent-(pAfter.Echoed+pAfter.Mismatched), 0)
	a.addTo(&o)
	s.judge(&o, back, probeErr)
	o.Pass = len(o.Failures) == 0 && ctx.Err() == nil
	verdict := "pass"
	if !o.Pass {
		verdict = fmt.Sprintf("FAIL: %v", o.Failures)
	}
	s.logf("scenario %s: %s; population sent %d verified %d lost %d mismatched %d timeouts %d; fds %d→%d→%d, RSS %.1f→%.1f→%.1f MiB, server CPU %.2fs; attacker ok %d errors %v",
		name, verdict, o.Sent, o.Verified, o.Lost, o.Mismatched, o.Timeouts, o.FDsBefore, o.FDsPeak, o.FDsAfter,
		mib(o.RSSBefore), mib(o.RSSPeak), mib(o.RSSAfter), o.CPUSeconds, o.AttackerOK, o.AttackerErrors)
	return o
}

// throw runs the scenarios at once and waits for them, sampling the
// server's fds and RSS meanwhile into o's peaks.
func (s *suite) throw(ctx context.Context, scs []Scenario, o *schema.ScenarioOutcome) *attack {
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sampling:
				return
			case <-tick.C:
				o.FDsPeak = max(o.FDsPeak, s.fds())
				o.RSSPeak = max(o.RSSPeak, s.rss())
			}
		}
	}()
	a := &attack{s: s, ctx: ctx, hold: s.sc.Hold, errs: map[string]int64{}}
	if len(scs) > 1 {
		a.together = true
	}
	var wg sync.WaitGroup
	for _, sc := range scs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc.Run(a)
		}()
	}
	wg.Wait()
	close(sampling)
	<-sampled
	return a
}

// probeAfter is the probe's error, retried for up to 10 s: a flood's
// connections may still hold every slot.
func (s *suite) probeAfter(ctx context.Context) error {
	err := s.probe()
	for t := time.Now(); err != nil && time.Since(t) < 10*time.Second && ctx.Err() == nil; {
		sleep(ctx, 200*time.Millisecond)
		err = s.probe()
	}
	return err
}

// catchUp waits, up to catchUpLimit from settle0, for the population's
// echoes of everything sent by pEnd, and returns its progress then.
func (s *suite) catchUp(ctx context.Context, pEnd client.Progress, settle0 time.Time) client.Progress {
	pAfter := pEnd
	for time.Since(settle0) < catchUpLimit && pAfter.Echoed+pAfter.Mismatched < pEnd.Sent {
		sleep(ctx, 200*time.Millisecond)
		pAfter, _, _ = s.pop.progress()
	}
	return pAfter
}

// settled says what came back after a scenario.
type settled struct{ fds, rss, conns bool }

// settle waits, up to settleLimit from settle0, for the server's fds, RSS
// and /stats conns to come back, and says whether each did.
func (s *suite) settle(ctx context.Context, o *schema.ScenarioOutcome, settle0 time.Time) (back settled) {
	for time.Since(settle0) < settleLimit && ctx.Err() == nil {
		o.FDsAfter, o.RSSAfter = s.fds(), s.rss()
		back.fds = o.FDsAfter == o.FDsBefore
		back.rss = rssWithin(o.RSSAfter, o.RSSBefore)
		if snap, err := fetchStats(s.statsURL); err == nil {
			o.ConnsAfter = &snap.Conns
			back.conns = snap.Conns == int64(s.sc.Population)
		}
		if back.fds && back.rss && back.conns {
			break
		}
		sleep(ctx, 250*time.Millisecond)
	}
	return back
}

// judge adds to o's failures what the rules say failed.
func (s *suite) judge(o *schema.ScenarioOutcome, back settled, probeErr error) {
	fail := func(format string, args ...any) { o.Failures = append(o.Failures, fmt.Sprintf(format, args...)) }
	if s.serverGone() {
		fail("the server process exited (crash: see %s)", s.logName)
	}
	if o.Dropped > 0 {
		fail("%d population connections dropped", o.Dropped)
	}
	if o.Lost > 0 {
		fail("%d population echoes not back within %v", o.Lost, catchUpLimit)
	}
	if o.Mismatched > 0 {
		fail("%d population echoes corrupted", o.Mismatched)
	}
	if !back.fds {
		fail("server fds %d after settling, %d before", o.FDsAfter, o.FDsBefore)
	}
	if !back.rss {
		fail("server RSS %.1f MiB after settling, %.1f MiB before", mib(o.RSSAfter), mib(o.RSSBefore))
	}
	switch {
	case o.ConnsAfter == nil:
		fail("server /stats did not answer after the scenario")
	case !back.conns:
		fail("server holds %d connections after settling, the population %d", *o.ConnsAfter, s.sc.Population)
	}
	if probeErr != nil {
		fail("a fresh connection got no echo within 10 s afterwards: %v", probeErr)
	}
}

func rssWithin(after, before uint64) bool {
	slack := max(uint64(rssAbsSlack), uint64(float64(before)*rssRelSlack))
	return after <= before+slack
}

// probe opens a fresh connection and checks one echo.
func (s *suite) probe() error {
	c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	msg := []byte("probe after the scenario")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != string(msg) {
		return fmt.Errorf("echo %q, want %q", got, msg)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func sumMap(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// armEngines are the server engines a run goes through, one arm each:
// cfg.Engines (default epoll and uring), or the one engine cfg.Server's
// -engine asks for ("": the server's flags say).
func armEngines(cfg Config) []string {
	if harness.NamesEngine(cfg.Server) {
		return []string{""}
	}
	if len(cfg.Engines) > 0 {
		return cfg.Engines
	}
	return []string{core.EngineEpoll, core.EngineUring}
}

// stormName names an engine's storm: "storm epoll", or "storm".
func stormName(engine string) string {
	if engine == "" {
		return StormName
	}
	return StormName + " " + engine
}
