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
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"c1m/client"
	"c1m/core"
	"c1m/procfs"
	"c1m/procgroup"
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
}

// Scale is how many hostile connections each scenario opens.
type Scale struct {
	Population int           // well-behaved keepalive connections
	Interval   time.Duration // their keepalive period
	MaxConns   int           // the server's -max-conns
	MaxPending int           // the server's -max-pending
	Hold       time.Duration // how long a scenario keeps up its attack
	Idle, NoRead, Bursts, HalfClose, RST, Vanish,
	Flood, FDFlood, Random, Slowloris int
}

// ScaleFor returns the full or the quick scale.
func ScaleFor(quick bool) Scale {
	if quick {
		return Scale{Population: 200, Interval: 200 * time.Millisecond, MaxConns: 1000, MaxPending: 64 << 10, Hold: 3 * time.Second,
			Idle: 200, NoRead: 20, Bursts: 4, HalfClose: 50, RST: 50, Vanish: 50, Flood: 1200, FDFlood: 300, Random: 20, Slowloris: 300}
	}
	return Scale{Population: 2000, Interval: 500 * time.Millisecond, MaxConns: 6000, MaxPending: 64 << 10, Hold: 10 * time.Second,
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

// Outcome is one scenario's row in results/chaos.
type Outcome struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Pass        bool     `json:"pass"`
	Failures    []string `json:"failures,omitempty"`
	// The well-behaved population during the scenario (deltas).
	Sent       int64 `json:"echoes_sent"`
	Verified   int64 `json:"echoes_verified"`
	Mismatched int64 `json:"echoes_mismatched"`
	Timeouts   int64 `json:"echo_timeouts"`
	Lost       int64 `json:"echoes_lost"`
	Dropped    int64 `json:"population_dropped"`
	// The attacker's side.
	Attempted      int64            `json:"attacker_conns"`
	AttackerOK     int64            `json:"attacker_ok"`
	AttackerErrors map[string]int64 `json:"attacker_errors"`
	// The server.
	FDsBefore     int      `json:"fds_before"`
	FDsPeak       int      `json:"fds_peak"`
	FDsAfter      int      `json:"fds_after"`
	RSSBefore     uint64   `json:"rss_before"`
	RSSPeak       uint64   `json:"rss_peak"`
	RSSAfter      uint64   `json:"rss_after"`
	CPUSeconds    float64  `json:"server_cpu_s"`
	WallSeconds   float64  `json:"wall_s"`
	SettleSeconds float64  `json:"settle_s"`
	AcceptCalls   uint64   `json:"accept_calls"`
	Shed          uint64   `json:"shed"`
	HoldCPUPerSec float64  `json:"hold_cpu_cores,omitempty"` // floods: server CPU while the flood was held
	Notes         []string `json:"notes,omitempty"`
}

// Report is results/chaos/chaos.json.
type Report struct {
	Start       string            `json:"start"`
	End         string            `json:"end"`
	Quick       bool              `json:"quick"`
	Scale       Scale             `json:"scale"`
	ServerFlags []string          `json:"server_flags"`
	QuietCores  float64           `json:"quiet_cpu_cores"` // server CPU with only the population
	Scenarios   []Outcome         `json:"scenarios"`
	Population  *client.Result    `json:"population,omitempty"`
	Pass        bool              `json:"pass"`
	Failed      []string          `json:"failed,omitempty"`
	Rules       map[string]string `json:"rules"`
	// Storm is the reconnect storm's result when it ran; it has a file of
	// its own (storm.json), so a storm run alone keeps the suite's results.
	Storm *StormResult `json:"-"`
}

// suite is one run: the server, the population and the measurements.
type suite struct {
	cfg      Config
	sc       Scale
	fs       procfs.FS
	addr     string
	statsURL string
	group    *procgroup.Group
	pid      int
	exited   chan procgroup.Exit
	quiet    float64
	baseFDs  int // the server's fds with only the population connected

	popMu   sync.Mutex
	pop     client.Progress
	popSeq  int
	popStop chan struct{}
	popDone chan struct{}
	popRes  client.Result
	popErr  error
}

func (s *suite) logf(format string, a ...any) {
	fmt.Fprintf(s.cfg.Log, "c1m-chaos: "+format+"\n", a...)
}

// Run runs the suite, then the reconnect storm, and writes results; the
// report says what passed. With Only, just the scenarios named ("storm"
// alone leaves chaos.json as it was).
func Run(ctx context.Context, cfg Config) (rep Report, err error) {
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	var scenarios []string
	for _, name := range cfg.Only {
		known := name == "together" || name == StormName
		for _, sn := range Scenarios() {
			known = known || sn.Name == name
		}
		if !known {
			return Report{}, fmt.Errorf("-only: no scenario %q (see -help for the names)", name)
		}
		if name != StormName {
			scenarios = append(scenarios, name)
		}
	}
	rep = Report{Pass: true}
	if len(cfg.Only) == 0 || len(scenarios) > 0 {
		suiteCfg := cfg
		suiteCfg.Only = scenarios
		if rep, err = runSuite(ctx, suiteCfg); err != nil {
			return rep, err
		}
	}
	if (len(cfg.Only) == 0 || contains(cfg.Only, StormName)) && ctx.Err() == nil {
		st, serr := RunStorm(ctx, cfg)
		rep.Storm = &st
		if serr != nil {
			return rep, fmt.Errorf("storm: %w", serr)
		}
		if !st.Pass {
			rep.Pass = false
			rep.Failed = append(rep.Failed, "storm: "+strings.Join(st.Failures, "; "))
		}
	}
	return rep, nil
}

// runSuite runs the hostile-client scenarios and writes chaos.json.
func runSuite(ctx context.Context, cfg Config) (rep Report, err error) {
	sc := ScaleFor(cfg.Quick)
	s := &suite{cfg: cfg, sc: sc, fs: procfs.New("/")}
	rep = Report{Start: time.Now().UTC().Format(time.RFC3339), Quick: cfg.Quick, Scale: sc, Rules: rules()}
	if err := os.MkdirAll(cfg.Results, 0o755); err != nil {
		return rep, fmt.Errorf("results directory: %w", err)
	}
	if _, _, err := core.RaiseNofile(); err != nil {
		return rep, err
	}
	if err := s.startServer(&rep); err != nil {
		return rep, err
	}
	defer s.group.Stop(10 * time.Second) // every path: SIGTERM, then SIGKILL, by pid
	if err := s.startPopulation(ctx); err != nil {
		return rep, err
	}
	defer s.stopPopulation()

	// The quiet rate: what the population alone costs the server.
	cpu0, t0 := s.serverCPU(), time.Now()
	sleep(ctx, 2*time.Second)
	s.quiet = (s.serverCPU() - cpu0) / time.Since(t0).Seconds()
	rep.QuietCores = s.quiet
	// The fd baseline every scenario must return to exactly: the count once
	// it holds still (a closed stats or probe connection takes a moment).
	for prev := -1; prev != s.baseFDs && ctx.Err() == nil; sleep(ctx, 300*time.Millisecond) {
		prev, s.baseFDs = s.baseFDs, s.fds()
	}
	s.logf("population of %d connections up; server quiet at %.3f cores", sc.Population, s.quiet)

	all := Scenarios()
	var chosen []Scenario
	for _, sn := range all {
		if len(cfg.Only) == 0 || contains(cfg.Only, sn.Name) {
			chosen = append(chosen, sn)
		}
	}
	for _, sn := range chosen {
		if ctx.Err() != nil {
			break
		}
		rep.Scenarios = append(rep.Scenarios, s.run(ctx, sn.Name, sn.Description, []Scenario{sn}))
		if s.serverGone() {
			break
		}
	}
	if (len(cfg.Only) == 0 || contains(cfg.Only, "together")) && ctx.Err() == nil && !s.serverGone() {
		rep.Scenarios = append(rep.Scenarios, s.run(ctx, "together", "every scenario at once", all))
	}
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
	if werr := writeResults(cfg.Results, rep); werr != nil {
		return rep, werr
	}
	return rep, nil
}

func rules() map[string]string {
	return map[string]string{
		"lost":     "population: no connection dropped, and every echo sent before the scenario ended was back within " + catchUpLimit.String(),
		"corrupt":  "population: no mismatched echo; attackers that read their echo found it byte for byte",
		"fds":      "server fds back to exactly their count with only the population connected (measured once, before the first scenario) within " + settleLimit.String(),
		"rss":      fmt.Sprintf("server RSS back within max(%.0f%%, %d MiB) of its count before the scenario within %v", rssRelSlack*100, rssAbsSlack>>20, settleLimit),
		"serving":  "a fresh connection gets its echo within 10 s of the scenario's end; the server process never exits",
		"no-read":  "server RSS during the scenario grows by at most -max-pending per non-reading connection + 16 MiB",
		"spin":     fmt.Sprintf("floods: server CPU while the flood is held stays below the quiet rate + %.1f cores", spinCores),
		"timeouts": "echoes later than the client's -timeout are counted, not failed (a slow echo is not a lost one)",
	}
}

func (s *suite) startServer(rep *Report) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	stats, err := freeAddr()
	if err != nil {
		return err
	}
	s.addr, s.statsURL = addr, "http://"+stats+"/stats?workers=0"
	flags := []string{"-addr", addr, "-max-conns", fmt.Sprint(s.sc.MaxConns), "-max-pending", fmt.Sprint(s.sc.MaxPending),
		"-stats-addr", stats, "-stats-interval", "0"}
	flags = append(flags, s.cfg.Server...)
	rep.ServerFlags = flags
	logPath := filepath.Join(s.cfg.Results, "server.log")
	cmd := exec.Command(filepath.Join(s.cfg.Bin, "c1m-server"), flags...)
	s.group = procgroup.New(1)
	if err := startLogged(s.group, cmd, logPath); err != nil {
		return fmt.Errorf("server: %w (run make build first)", err)
	}
	s.pid = cmd.Process.Pid
	s.exited = make(chan procgroup.Exit, 1)
	go func() {
		ex := <-s.group.Exits()
		s.exited <- ex
	}()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := s.stats(); err == nil {
			return nil
		}
		if s.serverGone() {
			return fmt.Errorf("server exited at start (see %s)", logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("server did not answer on %s within 20 s (see %s)", s.statsURL, logPath)
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
	cfg.OnProgress = func(p client.Progress) {
		s.popMu.Lock()
		s.pop, s.popSeq = p, s.popSeq+1
		s.popMu.Unlock()
	}
	s.popStop, s.popDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.popDone)
		s.popRes, s.popErr = client.Run(cfg, s.popStop, io.Discard)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		p, _ := s.progress()
		if p.RampDone && p.Open == int64(s.sc.Population) && p.Echoed >= int64(s.sc.Population) {
			return nil
		}
		select {
		case <-s.popDone:
			return fmt.Errorf("population ended early: %v", s.popErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	p, _ := s.progress()
	return fmt.Errorf("population: %d of %d connections open and verified within 60 s: %s", p.Open, s.sc.Population, p.Line(s.sc.Population, 0))
}

var errPopulationEnded = errors.New("population ended before it was stopped")

func (s *suite) stopPopulation() (client.Result, error) {
	select {
	case <-s.popStop:
	default:
		close(s.popStop)
	}
	<-s.popDone
	if s.popErr != nil {
		return s.popRes, s.popErr
	}
	if s.popRes.Ended != "interrupted" {
		return s.popRes, fmt.Errorf("%w: %s", errPopulationEnded, s.popRes.Ended)
	}
	return s.popRes, nil
}

func (s *suite) progress() (client.Progress, int) {
	s.popMu.Lock()
	defer s.popMu.Unlock()
	return s.pop, s.popSeq
}

// freshProgress waits for a progress report newer than now.
func (s *suite) freshProgress() client.Progress {
	_, seq := s.progress()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if p, n := s.progress(); n > seq {
			return p
		}
		time.Sleep(20 * time.Millisecond)
	}
	p, _ := s.progress()
	return p
}

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

func (s *suite) stats() (core.Snapshot, error) { return fetchStats(s.statsURL) }

// statsClient closes each connection after its request: a kept-alive one
// would be an fd of the server's that the fd count must not see.
var statsClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// statsOrZero fetches the stats, waiting a little while the server is short of fds.
func (s *suite) statsOrZero() core.Snapshot {
	for i := 0; i < 10; i++ {
		if snap, err := s.stats(); err == nil {
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
func (s *suite) run(ctx context.Context, name, desc string, scs []Scenario) Outcome {
	o := Outcome{Name: name, Description: desc, AttackerErrors: map[string]int64{}}
	s.logf("scenario %s: %s", name, desc)
	o.FDsBefore, o.RSSBefore = s.baseFDs, s.rss()
	o.FDsPeak, o.RSSPeak = o.FDsBefore, o.RSSBefore
	st0 := s.statsOrZero()
	p0 := s.freshProgress()
	cpu0, t0 := s.serverCPU(), time.Now()

	// Sample fds and RSS while the attack runs.
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
	o.WallSeconds = time.Since(t0).Seconds()
	pEnd := s.freshProgress()

	// The server still serves a newcomer; then settle: the population
	// catches up, fds and RSS come back.
	probeErr := s.probe()
	for t := time.Now(); probeErr != nil && time.Since(t) < 10*time.Second && ctx.Err() == nil; {
		sleep(ctx, 200*time.Millisecond) // a flood's connections may still hold every slot
		probeErr = s.probe()
	}
	st1 := s.statsOrZero()
	settle0 := time.Now()
	pAfter := pEnd
	for time.Since(settle0) < catchUpLimit && pAfter.Echoed+pAfter.Mismatched < pEnd.Sent {
		sleep(ctx, 200*time.Millisecond)
		pAfter, _ = s.progress()
	}
	fdsOK, rssOK := false, false
	for time.Since(settle0) < settleLimit && ctx.Err() == nil {
		o.FDsAfter, o.RSSAfter = s.fds(), s.rss()
		fdsOK = o.FDsAfter == o.FDsBefore
		rssOK = rssWithin(o.RSSAfter, o.RSSBefore)
		if fdsOK && rssOK {
			break
		}
		sleep(ctx, 250*time.Millisecond)
	}
	o.SettleSeconds = time.Since(settle0).Seconds()
	o.CPUSeconds = s.serverCPU() - cpu0
	o.AcceptCalls, o.Shed = st1.AcceptCalls-st0.AcceptCalls, shedOf(st1)-shedOf(st0)

	// Both over the same window: what was sent by the scenario's end, and
	// how much of it came back (echoes of later sends are not counted).
	o.Sent, o.Verified = pEnd.Sent-p0.Sent, min(pAfter.Echoed, pEnd.Sent)-p0.Echoed
	o.Mismatched, o.Timeouts = pAfter.Mismatched-p0.Mismatched, pAfter.Timeouts-p0.Timeouts
	o.Dropped = sumMap(pAfter.Dropped) - sumMap(p0.Dropped)
	o.Lost = max(pEnd.Sent-(pAfter.Echoed+pAfter.Mismatched), 0)
	a.mu.Lock()
	o.Attempted, o.AttackerOK, o.HoldCPUPerSec = a.attempted, a.ok, a.holdCores
	for k, v := range a.errs {
		o.AttackerErrors[k] = v
	}
	o.Notes = append(o.Notes, a.notes...)
	o.Failures = append(o.Failures, a.failures...)
	a.mu.Unlock()

	fail := func(format string, args ...any) { o.Failures = append(o.Failures, fmt.Sprintf(format, args...)) }
	if s.serverGone() {
		fail("the server process exited (crash: see server.log)")
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
	if !fdsOK {
		fail("server fds %d after settling, %d before", o.FDsAfter, o.FDsBefore)
	}
	if !rssOK {
		fail("server RSS %.1f MiB after settling, %.1f MiB before", mib(o.RSSAfter), mib(o.RSSBefore))
	}
	if probeErr != nil {
		fail("a fresh connection got no echo within 10 s afterwards: %v", probeErr)
	}
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

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
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
