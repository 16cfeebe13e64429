package chaos

// The reconnect storm: a server holding N verified keepalive connections
// is SIGKILLed and started again on the same ports at once; every
// connection of the client (-reconnect: exponential back-off, full jitter)
// must come back and have an echo verified on its new socket within a
// bound. The result (storm.json, storm.csv) says how long that took.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
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
	"c1m/procfs"
	"c1m/procgroup"
)

// StormName is the storm's name for -only.
const StormName = "storm"

// The files the storm writes under the results directory (next to, not
// into, chaos.json: the storm runs alone and must not discard the suite's).
const (
	StormFile        = "storm.json"
	StormSamplesFile = "storm.csv"
)

// StormScale sizes the storm.
type StormScale struct {
	Conns     int           `json:"conns"`
	Ports     int           `json:"ports"`
	Interval  time.Duration `json:"interval"`   // keepalive period per connection
	Bound     time.Duration `json:"bound"`      // every connection back and verified within this of the kill
	RampLimit time.Duration `json:"ramp_limit"` // the population must be up and verified within this
	// Sysctls are raised for the run and restored on every path (root only).
	Sysctls map[string]string `json:"sysctls,omitempty"`
}

// StormScaleFor returns the storm's full or quick scale; conns > 0
// overrides the connection count (ports follow it).
func StormScaleFor(quick bool, conns int) StormScale {
	sc := StormScale{Conns: 200_000, Ports: 20, Interval: 30 * time.Second, Bound: 5 * time.Minute, RampLimit: 5 * time.Minute,
		// As the million-connection experiments: a deep accept queue and
		// SYN backlog for the herd, and TCP memory for 200k sockets.
		Sysctls: map[string]string{"net.core.somaxconn": "65535", "net.ipv4.tcp_max_syn_backlog": "65535",
			"net.ipv4.tcp_mem": "1500000 2000000 3000000"}}
	if quick {
		sc = StormScale{Conns: 2000, Ports: 1, Interval: 2 * time.Second, Bound: time.Minute, RampLimit: time.Minute}
	}
	if conns > 0 {
		sc.Conns = conns
		sc.Ports = min(max(conns/10_000, 1), 20)
	}
	return sc
}

// StormResult is storm.json.
type StormResult struct {
	Start       string     `json:"start"`
	End         string     `json:"end"`
	Quick       bool       `json:"quick"`
	Scale       StormScale `json:"scale"`
	ServerFlags []string   `json:"server_flags"`
	Client      string     `json:"client"` // the client's settings, as c1m-client flags

	// Seconds: the initial ramp, then from the SIGKILL on.
	RampS        float64 `json:"ramp_s"`             // until every connection was open with a verified echo
	ExitS        float64 `json:"server_exit_s"`      // the killed server reaped
	RestartS     float64 `json:"server_restart_s"`   // the new server answering its stats
	AllOpenS     float64 `json:"all_open_s"`         // every connection open again (client's count)
	ServerConnsS float64 `json:"server_conns_s"`     // the new server holding all of them (its /stats)
	AllBackS     float64 `json:"all_back_s"`         // every connection open with an echo verified on its new socket
	Resolution   float64 `json:"resolution_s"`       // the client's progress comes this often: times are this coarse
	Dropped      int64   `json:"dropped"`            // connections the client saw lost after the kill
	Lost         int64   `json:"lost"`               // connections not back and verified at the bound
	Mismatched   int64   `json:"mismatched"`         // echoes that differed, during the storm
	Timeouts     int64   `json:"timeouts"`           // echoes later than the client's -timeout, during the storm
	Attempts     int64   `json:"reconnect_attempts"` // connects started from the kill until all were back
	// Connect failures and drops during the storm, by cause.
	FailedBy  map[string]int64 `json:"failed_by"`
	DroppedBy map[string]int64 `json:"dropped_by"`
	// Per lost connection, from the client noticing the loss to the first
	// echo verified on its new socket (µs).
	Downtime core.Percentiles `json:"downtime_us"`
	// Kernel counters over the storm (deltas of /proc/net/netstat and snmp).
	ListenOverflows float64 `json:"listen_overflows"`
	ListenDrops     float64 `json:"listen_drops"`
	SynRetrans      float64 `json:"syn_retrans"`
	TWOverflow      float64 `json:"tw_overflow"`
	TimeWaitBefore  uint64  `json:"time_wait_before"`
	TimeWaitPeak    uint64  `json:"time_wait_peak"`
	TWBuckets       string  `json:"tcp_max_tw_buckets"`
	// The restarted server's own counts once all were back (non-zero only).
	ServerAccepted     uint64            `json:"server_accepted"`
	ServerAcceptErrors map[string]uint64 `json:"server_accept_errors,omitempty"`
	ServerCloseReasons map[string]uint64 `json:"server_close_reasons,omitempty"`

	Pass     bool     `json:"pass"`
	Failures []string `json:"failures,omitempty"`
	Rule     string   `json:"rule"`
	Notes    []string `json:"notes,omitempty"`
}

// storm is one run's state.
type storm struct {
	cfg       Config
	sc        StormScale
	fs        procfs.FS
	res       *StormResult
	statsURL  string
	serverCmd []string

	mu     sync.Mutex
	pop    client.Progress
	popAt  time.Time
	popSeq int
}

func (st *storm) logf(format string, a ...any) {
	fmt.Fprintf(st.cfg.Log, "c1m-chaos: storm: "+format+"\n", a...)
}

func (st *storm) note(format string, a ...any) {
	st.res.Notes = append(st.res.Notes, fmt.Sprintf(format, a...))
}

// RunStorm runs the reconnect storm and writes storm.json and storm.csv.
// An error is a run that could not be set up; a storm that ran and failed
// its check returns a result with Pass false and the failures named.
func RunStorm(ctx context.Context, cfg Config) (res StormResult, err error) {
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	sc := StormScaleFor(cfg.Quick, cfg.StormConns)
	st := &storm{cfg: cfg, sc: sc, fs: procfs.New("/"), res: &res}
	res = StormResult{Start: time.Now().UTC().Format(time.RFC3339), Quick: cfg.Quick, Scale: sc, Rule: stormRule(sc),
		FailedBy: map[string]int64{}, DroppedBy: map[string]int64{}}
	if err := os.MkdirAll(cfg.Results, 0o755); err != nil {
		return res, fmt.Errorf("results directory: %w", err)
	}
	if _, _, err := core.RaiseNofile(); err != nil {
		return res, err
	}
	if len(sc.Sysctls) > 0 {
		if os.Geteuid() != 0 {
			st.note("not root: sysctls left as found (wanted %v)", sc.Sysctls)
		} else if guard, aerr := st.fs.Apply(sc.Sysctls); aerr != nil {
			return res, fmt.Errorf("raising sysctls for the storm: %w", aerr)
		} else {
			defer func() {
				if rerr := guard.Restore(); rerr != nil && err == nil {
					err = fmt.Errorf("restoring sysctls: %w", rerr)
				}
			}()
			for k, v := range guard.Changed() {
				st.note("sysctl %s set to %q for the storm (was %q), restored after", k, v[1], v[0])
			}
		}
	}
	res.TWBuckets, _ = st.fs.Sysctl("net.ipv4.tcp_max_tw_buckets")
	var rows [][]float64
	runErr := st.run(ctx, &rows)
	res.End = time.Now().UTC().Format(time.RFC3339)
	if runErr != nil && ctx.Err() == nil {
		return res, runErr
	}
	if ctx.Err() != nil {
		res.Failures = append(res.Failures, "interrupted: partial results")
	}
	res.Pass = len(res.Failures) == 0
	if werr := writeStorm(cfg.Results, res, rows); werr != nil {
		return res, werr
	}
	return res, nil
}

func stormRule(sc StormScale) string {
	return fmt.Sprintf("every one of the %d connections open again with an echo verified on its new socket within %v of the SIGKILL; no echo mismatched", sc.Conns, sc.Bound)
}

// run starts the server and the population, kills and restarts the
// server, and measures the way back; rows get the samples after the kill.
func (st *storm) run(ctx context.Context, rows *[][]float64) error {
	sc, res := st.sc, st.res
	addr, err := freePorts(sc.Ports)
	if err != nil {
		return err
	}
	stats, err := freeAddr()
	if err != nil {
		return err
	}
	st.statsURL = "http://" + stats + "/stats?workers=0"
	flags := []string{"-addr", addr, "-ports", strconv.Itoa(sc.Ports), "-max-conns", strconv.Itoa(sc.Conns),
		"-stats-addr", stats, "-stats-interval", "0"}
	res.ServerFlags = append(flags, st.cfg.Server...)
	first, firstPid, err := st.startServer(filepath.Join(st.cfg.Results, "storm-server.log"))
	if err != nil {
		return err
	}
	defer first.Stop(10 * time.Second)

	// The population: the real client in this process (children of it past
	// one fd table), quiet during its ramp, verifying every echo.
	cc := client.DefaultConfig()
	cc.Server, cc.Ports, cc.Conns, cc.Interval = addr, sc.Ports, sc.Conns, sc.Interval
	cc.QuietRamp, cc.Reconnect = true, true
	cc.Timeout = 10 * time.Second
	cc.Hold = sc.RampLimit + sc.Interval + sc.Bound + time.Minute // stopped long before: a bound, not a plan
	res.Client = fmt.Sprintf("-conns %d -ports %d -interval %v -timeout %v -quiet-ramp -reconnect -inflight %d -connect-timeout %v",
		cc.Conns, cc.Ports, cc.Interval, cc.Timeout, cc.InFlight, cc.ConnectTimeout)
	cc.OnProgress = func(p client.Progress) {
		st.mu.Lock()
		st.pop, st.popAt, st.popSeq = p, time.Now(), st.popSeq+1
		st.mu.Unlock()
	}
	stop, done := make(chan struct{}), make(chan struct{})
	var popRes client.Result
	var popErr error
	go func() {
		defer close(done)
		popRes, popErr = client.Run(cc, stop, io.Discard)
	}()
	stopPop := func() {
		select {
		case <-stop:
			return
		default:
			close(stop)
		}
		<-done
	}
	defer stopPop()

	// Up: every connection open with a verified echo, and the server holding them.
	t0 := time.Now()
	st.logf("%d connections to %s (+%d ports) at a keepalive every %v", sc.Conns, addr, sc.Ports-1, sc.Interval)
	for {
		p, _, _ := st.progress()
		if p.Open == int64(sc.Conns) && p.OpenVerified == int64(sc.Conns) && st.serverConns() == int64(sc.Conns) {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("the client ended before the storm: %v", popErr)
		default:
		}
		if time.Since(t0) > sc.RampLimit {
			return fmt.Errorf("population: %d open, %d verified of %d within %v (server holds %d): %s",
				p.Open, p.OpenVerified, sc.Conns, sc.RampLimit, st.serverConns(), p.Line(sc.Conns, 0))
		}
		sleep(ctx, 250*time.Millisecond)
	}
	res.RampS = time.Since(t0).Seconds()
	st.logf("all %d open and verified after %.1f s; SIGKILL to server pid %d", sc.Conns, res.RampS, firstPid)

	p0 := st.freshProgress()
	c0, _ := st.fs.NetCounters()
	if ss, err := st.fs.Sockstat(); err == nil {
		res.TimeWaitBefore = ss.TCPTimeWait
	}
	var pKill client.Progress
	kill := time.Now()
	if err := killTree(st.fs, firstPid); err != nil {
		return err
	}
	stopSampling := st.sampler(kill, p0, c0)
	defer stopSampling()
	select {
	case <-first.Exits():
	case <-time.After(time.Minute):
		return fmt.Errorf("server pid %d still running a minute after SIGKILL", firstPid)
	}
	res.ExitS = time.Since(kill).Seconds()
	second, _, err := st.startServer(filepath.Join(st.cfg.Results, "storm-server-restarted.log"))
	if err != nil {
		return err
	}
	defer second.Stop(3 * time.Minute) // closing 200k sockets takes a while
	res.RestartS = time.Since(kill).Seconds()
	st.logf("server reaped %.2f s after the kill, the new one answering after %.2f s", res.ExitS, res.RestartS)

	// The way back, until every connection is verified again or the bound.
	since := func(t time.Time) float64 { return t.Sub(kill).Seconds() }
	for deadline := kill.Add(sc.Bound); time.Now().Before(deadline) && ctx.Err() == nil; sleep(ctx, 100*time.Millisecond) {
		p, at, _ := st.progress()
		dropped := sumMap(p.Dropped) - sumMap(p0.Dropped)
		// Every connection must have seen the kill before its count means "back".
		if dropped >= int64(sc.Conns) && at.After(kill) {
			if res.AllOpenS == 0 && p.Open == int64(sc.Conns) {
				res.AllOpenS = since(at)
			}
			if res.AllBackS == 0 && p.Open == int64(sc.Conns) && p.OpenVerified == int64(sc.Conns) {
				res.AllBackS, pKill = since(at), p
			}
		}
		if res.ServerConnsS == 0 && dropped > 0 && st.serverConns() == int64(sc.Conns) {
			res.ServerConnsS = since(time.Now())
		}
		if res.AllBackS > 0 && res.ServerConnsS > 0 {
			break
		}
	}
	*rows = stopSampling()
	pEnd := pKill
	if res.AllBackS == 0 {
		pEnd, _, _ = st.progress()
	}
	if c1, err := st.fs.NetCounters(); err == nil && c0 != nil {
		d := func(k string) float64 { return c1[k] - c0[k] }
		res.ListenOverflows, res.ListenDrops = d("TcpExt.ListenOverflows"), d("TcpExt.ListenDrops")
		res.SynRetrans, res.TWOverflow = d("TcpExt.TCPSynRetrans"), d("TcpExt.TCPTimeWaitOverflow")
	}
	res.Resolution = 1
	res.Dropped = sumMap(pEnd.Dropped) - sumMap(p0.Dropped)
	res.Attempts = pEnd.Attempted - p0.Attempted
	res.Mismatched, res.Timeouts = pEnd.Mismatched-p0.Mismatched, pEnd.Timeouts-p0.Timeouts
	res.Lost = int64(sc.Conns) - pEnd.OpenVerified
	for k, v := range pEnd.Failed {
		if d := v - p0.Failed[k]; d > 0 {
			res.FailedBy[k] = d
		}
	}
	for k, v := range pEnd.Dropped {
		if d := v - p0.Dropped[k]; d > 0 {
			res.DroppedBy[k] = d
		}
	}
	if snap, err := fetchStats(st.statsURL); err == nil {
		res.ServerAccepted = snap.Accepted
		res.ServerAcceptErrors, res.ServerCloseReasons = nonZero(snap.AcceptErrors), nonZero(snap.CloseReasons)
	}
	stopPop()
	if popErr != nil {
		res.Failures = append(res.Failures, "client: "+popErr.Error())
	}
	res.Downtime = popRes.DowntimeUs
	res.Mismatched = max(res.Mismatched, popRes.Mismatched-p0.Mismatched) // anything found after the last progress too
	st.judge()
	st.logf("all back and verified %.1f s after the kill (all open %.1f s, server holds all %.1f s); %d attempts, lost %d, mismatched %d; downtime p99 %.1f s max %.1f s; listen overflows %.0f; TIME_WAIT peak %d",
		res.AllBackS, res.AllOpenS, res.ServerConnsS, res.Attempts, res.Lost, res.Mismatched,
		float64(res.Downtime.P99)/1e6, float64(res.Downtime.Max)/1e6, res.ListenOverflows, res.TimeWaitPeak)
	return nil
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

// sample is one row of StormSamplesHeader; it also keeps the TIME_WAIT peak.
func (st *storm) sample(kill time.Time, p0 client.Progress, c0 procfs.Counters) []float64 {
	p, at, _ := st.progress()
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
}

// startServer starts c1m-server with the storm's flags and waits until it answers.
func (st *storm) startServer(logPath string) (*procgroup.Group, int, error) {
	g := procgroup.New(1)
	cmd := exec.Command(filepath.Join(st.cfg.Bin, "c1m-server"), st.res.ServerFlags...)
	if err := startLogged(g, cmd, logPath); err != nil {
		return nil, 0, fmt.Errorf("server: %w (run make build first)", err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := fetchStats(st.statsURL); err == nil {
			return g, cmd.Process.Pid, nil
		}
		select {
		case ex := <-g.Exits():
			return nil, 0, fmt.Errorf("server exited at start: %v (see %s)", ex.Err, logPath)
		default:
		}
	}
	g.Stop(10 * time.Second)
	return nil, 0, fmt.Errorf("server did not answer on %s within 30 s (see %s)", st.statsURL, logPath)
}

// serverConns is the server's connection count, -1 if it does not answer.
func (st *storm) serverConns() int64 {
	snap, err := fetchStats(st.statsURL)
	if err != nil {
		return -1
	}
	return snap.Conns
}

func (st *storm) progress() (client.Progress, time.Time, int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.pop, st.popAt, st.popSeq
}

// freshProgress waits for a progress report newer than now.
func (st *storm) freshProgress() client.Progress {
	_, _, seq := st.progress()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if p, _, n := st.progress(); n > seq {
			return p
		}
	}
	p, _, _ := st.progress()
	return p
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

func fetchStats(url string) (core.Snapshot, error) {
	var snap core.Snapshot
	resp, err := statsClient.Get(url)
	if err != nil {
		return snap, err
	}
	defer resp.Body.Close()
	return snap, json.NewDecoder(resp.Body).Decode(&snap)
}

// freePorts finds n consecutive free ports below the ephemeral range and
// returns the first as 127.0.0.1:PORT.
func freePorts(n int) (string, error) {
	if n <= 1 {
		return freeAddr()
	}
	for range 50 {
		base := 20000 + rand.IntN(12000-n)
		ok := true
		for p := base; p < base+n && ok; p++ {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return "127.0.0.1:" + strconv.Itoa(base), nil
		}
	}
	return "", errors.New("no block of free ports found in 20000-32000")
}

// StormSamplesHeader is storm.csv's header: one row per sample after the
// kill (t_s from the kill; -1: not read).
var StormSamplesHeader = []string{"t_s", "open", "open_verified", "connecting", "attempts", "server_conns", "time_wait", "listen_overflows"}

func writeStorm(dir string, res StormResult, rows [][]float64) error {
	b, err := json.MarshalIndent(&res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, StormFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", StormFile, err)
	}
	return writeSamples(filepath.Join(dir, StormSamplesFile), StormSamplesHeader, rows)
}

// ReadStorm loads dir/storm.json (the analysis renders it).
func ReadStorm(dir string) (StormResult, error) {
	var res StormResult
	b, err := os.ReadFile(filepath.Join(dir, StormFile))
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return res, fmt.Errorf("%s: %w", filepath.Join(dir, StormFile), err)
	}
	return res, nil
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
