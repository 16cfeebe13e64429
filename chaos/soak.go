package chaos

// The soak: many connections with churn for a bounded time (cmd/c1m-soak).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"c1m/client"
	"c1m/procfs"
	"c1m/procgroup"
	"c1m/schema"
	"c1m/statshttp"
)

// Stability rule: the mean over the last quarter of the hold within
// driftLimit of the mean over its second quarter (the first quarter is
// still warming: TIME_WAIT sockets of the churn build up for 60 s).
const driftLimit = 0.10

// SoakOptions are cmd/c1m-soak's flags.
type SoakOptions struct {
	Engine                    string // the server's: client.EngineEpoll or client.EngineUring
	Conns                     int
	Churn                     float64
	Duration, Interval, Every time.Duration
	Results, Bin              string
}

func soakLogf(format string, a ...any) { fmt.Fprintf(os.Stderr, "c1m-soak: "+format+"\n", a...) }

// soak is one run: the server and client binaries in one group, sampled.
type soak struct {
	o        SoakOptions
	fs       procfs.FS
	group    *procgroup.Group
	srv, cli *exec.Cmd
	addr     string
	statsURL string
	sum      *schema.SoakSummary
	t0       time.Time
	phase    float64 // 0 ramp, 1 hold (all open once), 2 closing
	rows     [][]float64
}

// soakStats has a longer timeout than statsClient: it is read while the
// server holds the whole soak (and, as statsClient, keeps no connection).
var soakStats = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// RunSoak runs a soak and writes its results; the summary says whether it passed.
func RunSoak(ctx context.Context, o SoakOptions) (sum schema.SoakSummary, err error) {
	if o.Engine != client.EngineEpoll && o.Engine != client.EngineUring {
		return sum, fmt.Errorf("soak engine %q: want %s or %s", o.Engine, client.EngineEpoll, client.EngineUring)
	}
	sum.Engine = o.Engine
	if err := os.MkdirAll(o.Results, 0o755); err != nil {
		return sum, err
	}
	s := &soak{o: o, fs: procfs.New("/"), group: procgroup.New(2), sum: &sum}
	sum.Env = machine(s.fs, soakLogf)
	defer s.group.Stop(3 * time.Minute) // every path: SIGTERM, then SIGKILL, by pid
	if err := s.startServer(ctx); err != nil {
		return sum, err
	}
	time.Sleep(time.Second) // the prefork children open their listeners
	sum.IdleFDs, _ = s.tree()

	clientJSON := filepath.Join(o.Results, "client.json")
	os.Remove(clientJSON)
	if err := s.startClient(clientJSON); err != nil {
		return sum, err
	}
	sum.Start = time.Now().UTC().Format(time.RFC3339)
	sum.Conns, sum.ChurnPerS, sum.IntervalS = o.Conns, o.Churn, o.Interval.Seconds()
	soakLogf("%s server %s holding for %v: %d connections, churn %.0f/s, keepalive every %v; idle server fds %d", o.Engine, s.addr, o.Duration, o.Conns, o.Churn, o.Interval, sum.IdleFDs)

	s.t0 = time.Now()
	clientErr, err := s.hold(ctx)
	if err != nil {
		return sum, err
	}
	finalFDs, finalConns := s.close()
	sum.FinalFDs, sum.FinalConns = finalFDs, &finalConns
	sum.End = time.Now().UTC().Format(time.RFC3339)
	sum.DurationS = time.Since(s.t0).Seconds()
	if err := schema.WriteSamples(filepath.Join(o.Results, schema.SoakSamplesFile), schema.SoakSamplesHeader, s.rows); err != nil {
		return sum, err
	}
	evaluate(&sum, s.rows, clientJSON, clientErr)
	if err := schema.WriteSoakSummary(o.Results, sum); err != nil {
		return sum, err
	}
	return sum, nil
}

// startServer starts the server on the soak's engine and waits up to 20 s
// for it to answer; a server that fell back to another engine is an error.
func (s *soak) startServer(ctx context.Context) error {
	addr, statsAddr, err := serverAddrs(1)
	if err != nil {
		return err
	}
	s.addr, s.statsURL = addr, statsURL(statsAddr)
	s.sum.ServerFlags = []string{"-engine", s.o.Engine, "-addr", addr}
	if s.o.Engine == client.EngineEpoll {
		// prefork: one fd table per process, so the fds of /proc/PID/fd
		// summed over the process tree are all the server's (fdtables'
		// private tables hide behind threads). uring's sockets are in its
		// rings' registered-file tables, never in an fd table.
		s.sum.ServerFlags = append(s.sum.ServerFlags, "-strategy", "prefork")
	}
	s.sum.ServerFlags = append(s.sum.ServerFlags, "-max-conns", strconv.Itoa(s.o.Conns+s.o.Conns/5+1000), "-stats-addr", statsAddr, "-stats-interval", "0")
	s.srv = exec.Command(filepath.Join(s.o.Bin, "c1m-server"), s.sum.ServerFlags...)
	if err := s.group.StartLogged(s.srv, filepath.Join(s.o.Results, "server.log")); err != nil {
		return fmt.Errorf("server: %w (run make build first)", err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		snap, err := statshttp.Fetch(soakStats, s.statsURL)
		if err == nil && snap.Engine != s.o.Engine {
			return fmt.Errorf("asked for -engine %s, the server runs %s: %s (see %s/server.log)", s.o.Engine, snap.Engine, snap.EngineNote, s.o.Results)
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("server did not answer on %s within 20 s (see %s/server.log)", statsAddr, s.o.Results)
		}
	}
}

// startClient starts c1m-client, which writes its result to clientJSON.
func (s *soak) startClient(clientJSON string) error {
	o := s.o
	s.sum.ClientFlags = []string{"-engine", client.EngineEpoll, "-server", s.addr, "-conns", strconv.Itoa(o.Conns), "-churn", strconv.FormatFloat(o.Churn, 'g', -1, 64),
		"-interval", o.Interval.String(), "-timeout", "10s", "-hold", o.Duration.String(), "-json", clientJSON}
	s.cli = exec.Command(filepath.Join(o.Bin, "c1m-client"), s.sum.ClientFlags...)
	if err := s.group.StartLogged(s.cli, filepath.Join(o.Results, "client.log")); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return nil
}

// conns is the server's connection count, -1 if it does not answer.
func (s *soak) conns() float64 {
	snap, err := statshttp.Fetch(soakStats, s.statsURL)
	if err != nil {
		return -1
	}
	return float64(snap.Conns)
}

// tree is the fds and RSS of the server's process tree.
func (s *soak) tree() (fds int, rss uint64) {
	pids := []int{s.srv.Process.Pid}
	if d, err := s.fs.Descendants(s.srv.Process.Pid); err == nil {
		pids = append(pids, d...)
	}
	for _, p := range pids {
		if n, err := s.fs.FDCount(p); err == nil {
			fds += n
		}
		if m, err := s.fs.ProcMem(p); err == nil {
			rss += m.Rss
		}
	}
	return fds, rss
}

// take records a row of samples.csv.
func (s *soak) take() {
	fds, rss := s.tree()
	row := []float64{time.Since(s.t0).Seconds(), s.phase, float64(fds), float64(rss), -1, s.conns(), -1, -1}
	if mi, err := s.fs.Meminfo(); err == nil {
		row[4] = float64(mi["Slab"])
	}
	if ss, err := s.fs.Sockstat(); err == nil {
		row[6], row[7] = float64(ss.TCPInUse), float64(ss.TCPTimeWait)
	}
	s.rows = append(s.rows, row)
	s.sum.PeakConns = max(s.sum.PeakConns, row[5])
	if len(s.rows)%6 == 1 {
		soakLogf("%4.0fs phase %.0f: %.0f connections, server fds %d, RSS %.1f MiB, slab %.1f MiB", row[0], s.phase, row[5], fds, float64(rss)/(1<<20), row[4]/(1<<20))
	}
}

// hold samples through the ramp and the hold until the client exits, and
// returns how it exited; the server exiting meanwhile is an error. An
// interrupt stops the client, which still writes its result.
func (s *soak) hold(ctx context.Context) (clientErr error, err error) {
	s.take()
	tick := time.NewTicker(s.o.Every)
	defer tick.Stop()
	for {
		select {
		case ex := <-s.group.Exits():
			if ex.Pid == s.srv.Process.Pid {
				return nil, fmt.Errorf("server exited during the soak: %v (see %s/server.log)", ex.Err, s.o.Results)
			}
			return ex.Err, nil
		case <-ctx.Done():
			soakLogf("interrupted: stopping the client")
			s.cli.Process.Signal(syscall.SIGTERM)
			ctx = context.Background() // wait for its result below
		case <-tick.C:
			s.take()
			if s.phase == 0 && s.rows[len(s.rows)-1][5] >= 0.99*float64(s.o.Conns) {
				s.phase = 1
			}
		}
	}
}

// close waits up to 2 minutes, the client having closed everything, for
// the server to get back to idle (no connection, its idle fds), takes the
// last sample, and returns the server's fds and connections as last seen.
func (s *soak) close() (fds int, conns int64) {
	s.phase = 2
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(time.Second) {
		// The fds first: a /stats request holds a socket of the server's
		// for a moment, and the last sample's count (taken right after
		// one) read a leak of 1 on uring where there was none.
		fds, _ = s.tree()
		conns = int64(s.conns())
		if fds == s.sum.IdleFDs && conns == 0 || !time.Now().Before(deadline) {
			break
		}
	}
	s.take()
	return fds, conns
}

func evaluate(sum *schema.SoakSummary, rows [][]float64, clientJSON string, clientErr error) {
	sum.Rule = fmt.Sprintf("after the client closed, the server's /stats conns 0 and its fds back to the idle server's count (on uring the sockets live in the rings' registered-file tables, not in the fd table: its fds catch leaked listeners, rings and eventfds); mean server RSS and slab over the last quarter of the hold within %.0f%% of the second quarter's; no echo lost (dropped, or unanswered at close) or mismatched", driftLimit*100)
	fail := func(format string, a ...any) { sum.Failures = append(sum.Failures, fmt.Sprintf(format, a...)) }
	if sum.FinalFDs != sum.IdleFDs {
		fail("server fds %d after the close, %d when idle: %d leaked", sum.FinalFDs, sum.IdleFDs, sum.FinalFDs-sum.IdleFDs)
	}
	switch {
	case sum.FinalConns == nil || *sum.FinalConns < 0:
		fail("the server's /stats did not answer after the close")
	case *sum.FinalConns > 0:
		fail("the server still held %d connections after the client closed (/stats conns)", *sum.FinalConns)
	}
	var hold [][]float64
	for _, r := range rows {
		if r[1] == 1 {
			hold = append(hold, r)
		}
	}
	if len(hold) < 8 {
		fail("only %d samples in the hold: too short to judge stability (raise -duration)", len(hold))
	} else {
		q := len(hold) / 4
		mean := func(rs [][]float64, col int) float64 {
			var s float64
			for _, r := range rs {
				s += r[col]
			}
			return s / float64(len(rs))
		}
		drift := func(col int) float64 { return mean(hold[len(hold)-q:], col)/mean(hold[q:2*q], col) - 1 }
		sum.RSSDrift, sum.SlabDrift = drift(3), drift(4)
		if sum.RSSDrift > driftLimit || sum.RSSDrift < -driftLimit {
			fail("server RSS drifted %+.1f%% from the second quarter of the hold to the last", 100*sum.RSSDrift)
		}
		if sum.SlabDrift > driftLimit || sum.SlabDrift < -driftLimit {
			fail("slab drifted %+.1f%% from the second quarter of the hold to the last", 100*sum.SlabDrift)
		}
	}
	var res client.Result
	b, err := os.ReadFile(clientJSON)
	if err == nil {
		err = json.Unmarshal(b, &res)
	}
	if err != nil {
		fail("client result: %v (client exit: %v)", err, clientErr)
		return
	}
	for _, n := range res.Dropped {
		sum.Dropped += n
	}
	sum.Sent, sum.Echoed, sum.Mismatched, sum.Timeouts = res.Sent, res.Echoed, res.Mismatched, res.Timeouts
	sum.Churned, sum.InFlightAtClose = res.Churned, res.InFlightAtClose
	if sum.Dropped > 0 {
		fail("%d connections dropped by the server: %v", sum.Dropped, res.Dropped)
	}
	if sum.Mismatched > 0 {
		fail("%d echoes corrupted", sum.Mismatched)
	}
	if sum.InFlightAtClose > 0 {
		fail("%d echoes unanswered at the close (client ended: %s)", sum.InFlightAtClose, res.Ended)
	}
	if sum.Churned == 0 && sum.ChurnPerS > 0 {
		fail("no connection was churned")
	}
	sum.Pass = len(sum.Failures) == 0
}
