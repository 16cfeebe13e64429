package chaos

// The soak: many connections with churn for a bounded time (cmd/c1m-soak).

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"c1m/procfs"
	"c1m/procgroup"
)

// Stability rule: the mean over the last quarter of the hold within
// driftLimit of the mean over its second quarter (the first quarter is
// still warming: TIME_WAIT sockets of the churn build up for 60 s).
const driftLimit = 0.10

// SoakOptions are cmd/c1m-soak's flags.
type SoakOptions struct {
	Conns                     int
	Churn                     float64
	Duration, Interval, Every time.Duration
	Results, Bin              string
}

// SoakSummary is results/soak/summary.json.
type SoakSummary struct {
	Start           string   `json:"start"`
	End             string   `json:"end"`
	DurationS       float64  `json:"duration_s"`
	Conns           int      `json:"conns"`
	ChurnPerS       float64  `json:"churn_per_s"`
	IntervalS       float64  `json:"interval_s"`
	ServerFlags     []string `json:"server_flags"`
	ClientFlags     []string `json:"client_flags"`
	IdleFDs         int      `json:"idle_fds"`
	FinalFDs        int      `json:"final_fds"`
	PeakConns       float64  `json:"peak_conns"`
	RSSDrift        float64  `json:"rss_drift"`
	SlabDrift       float64  `json:"slab_drift"`
	Sent            int64    `json:"sent"`
	Echoed          int64    `json:"echoed"`
	Mismatched      int64    `json:"mismatched"`
	Timeouts        int64    `json:"timeouts"`
	Dropped         int64    `json:"dropped"`
	Churned         int64    `json:"churned"`
	InFlightAtClose int64    `json:"in_flight_at_close"`
	Pass            bool     `json:"pass"`
	Failures        []string `json:"failures"`
	Rule            string   `json:"rule"`
}

// SoakSummaryFile and SoakSamplesFile are what a soak writes under its results directory.
const (
	SoakSummaryFile = "summary.json"
	SoakSamplesFile = "samples.csv"
)

func soakLogf(format string, a ...any) { fmt.Fprintf(os.Stderr, "c1m-soak: "+format+"\n", a...) }

// startLogged starts cmd in g with its output going to the file path.
func startLogged(g *procgroup.Group, cmd *exec.Cmd, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	_, err = g.Start(cmd, nil)
	return err
}

// RunSoak runs a soak and writes its results; the summary says whether it passed.
func RunSoak(ctx context.Context, o SoakOptions) (sum SoakSummary, err error) {
	if err := os.MkdirAll(o.Results, 0o755); err != nil {
		return sum, err
	}
	addr, err := freeAddr()
	if err != nil {
		return sum, err
	}
	statsAddr, err := freeAddr()
	if err != nil {
		return sum, err
	}
	fs := procfs.New("/")
	group := procgroup.New(2)
	defer group.Stop(3 * time.Minute) // every path: SIGTERM, then SIGKILL, by pid

	// prefork: one fd table per process, so the fds of /proc/PID/fd summed
	// over the process tree are all the server's (fdtables' private
	// tables hide behind threads).
	sum.ServerFlags = []string{"-addr", addr, "-strategy", "prefork", "-max-conns", strconv.Itoa(o.Conns + o.Conns/5 + 1000),
		"-stats-addr", statsAddr, "-stats-interval", "0"}
	srv := exec.Command(filepath.Join(o.Bin, "c1m-server"), sum.ServerFlags...)
	if err := startLogged(group, srv, filepath.Join(o.Results, "server.log")); err != nil {
		return sum, fmt.Errorf("server: %w (run make build first)", err)
	}
	httpc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	conns := func() float64 {
		resp, err := httpc.Get("http://" + statsAddr + "/stats?workers=0")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		var st struct{ Conns float64 }
		if json.NewDecoder(resp.Body).Decode(&st) != nil {
			return -1
		}
		return st.Conns
	}
	for deadline := time.Now().Add(20 * time.Second); conns() < 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return sum, fmt.Errorf("server did not answer on %s within 20 s (see %s/server.log)", statsAddr, o.Results)
		}
	}
	tree := func() (fds int, rss uint64) {
		pids := []int{srv.Process.Pid}
		if d, err := fs.Descendants(srv.Process.Pid); err == nil {
			pids = append(pids, d...)
		}
		for _, p := range pids {
			if n, err := fs.FDCount(p); err == nil {
				fds += n
			}
			if m, err := fs.ProcMem(p); err == nil {
				rss += m.Rss
			}
		}
		return fds, rss
	}
	time.Sleep(time.Second) // the prefork children open their listeners
	sum.IdleFDs, _ = tree()

	clientJSON := filepath.Join(o.Results, "client.json")
	os.Remove(clientJSON)
	sum.ClientFlags = []string{"-server", addr, "-conns", strconv.Itoa(o.Conns), "-churn", strconv.FormatFloat(o.Churn, 'g', -1, 64),
		"-interval", o.Interval.String(), "-timeout", "10s", "-hold", o.Duration.String(), "-json", clientJSON}
	cli := exec.Command(filepath.Join(o.Bin, "c1m-client"), sum.ClientFlags...)
	if err := startLogged(group, cli, filepath.Join(o.Results, "client.log")); err != nil {
		return sum, fmt.Errorf("client: %w", err)
	}
	sum.Start = time.Now().UTC().Format(time.RFC3339)
	sum.Conns, sum.ChurnPerS, sum.IntervalS = o.Conns, o.Churn, o.Interval.Seconds()
	soakLogf("server %s holding for %v: %d connections, churn %.0f/s, keepalive every %v; idle server fds %d", addr, o.Duration, o.Conns, o.Churn, o.Interval, sum.IdleFDs)

	// phase: 0 ramp, 1 hold (all open once), 2 closing.
	header := []string{"t_s", "phase", "server_fds", "server_rss", "slab_bytes", "conns", "tcp_inuse", "tcp_tw"}
	var rows [][]float64
	t0, phase := time.Now(), 0.0
	take := func() {
		fds, rss := tree()
		row := []float64{time.Since(t0).Seconds(), phase, float64(fds), float64(rss), -1, conns(), -1, -1}
		if mi, err := fs.Meminfo(); err == nil {
			row[4] = float64(mi["Slab"])
		}
		if ss, err := fs.Sockstat(); err == nil {
			row[6], row[7] = float64(ss.TCPInUse), float64(ss.TCPTimeWait)
		}
		rows = append(rows, row)
		sum.PeakConns = max(sum.PeakConns, row[5])
		if len(rows)%6 == 1 {
			soakLogf("%4.0fs phase %.0f: %.0f connections, server fds %d, RSS %.1f MiB, slab %.1f MiB", row[0], phase, row[5], fds, float64(rss)/(1<<20), row[4]/(1<<20))
		}
	}
	take()
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	var clientErr error
	for done := false; !done; {
		select {
		case ex := <-group.Exits():
			if ex.Pid == srv.Process.Pid {
				return sum, fmt.Errorf("server exited during the soak: %v (see %s/server.log)", ex.Err, o.Results)
			}
			clientErr, done = ex.Err, true
		case <-ctx.Done():
			soakLogf("interrupted: stopping the client")
			cli.Process.Signal(syscall.SIGTERM)
			ctx = context.Background() // wait for its result below
		case <-tick.C:
			take()
			if phase == 0 && rows[len(rows)-1][5] >= 0.99*float64(o.Conns) {
				phase = 1
			}
		}
	}
	phase = 2
	// The client has closed everything: the server must get back to idle.
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		if fds, _ := tree(); fds == sum.IdleFDs && conns() == 0 {
			break
		}
	}
	take()
	sum.FinalFDs = int(rows[len(rows)-1][2])
	sum.End = time.Now().UTC().Format(time.RFC3339)
	sum.DurationS = time.Since(t0).Seconds()
	if err := writeSamples(filepath.Join(o.Results, SoakSamplesFile), header, rows); err != nil {
		return sum, err
	}
	evaluate(&sum, rows, clientJSON, clientErr)
	b, _ := json.MarshalIndent(&sum, "", "  ")
	if err := os.WriteFile(filepath.Join(o.Results, SoakSummaryFile), append(b, '\n'), 0o644); err != nil {
		return sum, err
	}
	return sum, nil
}

func evaluate(sum *SoakSummary, rows [][]float64, clientJSON string, clientErr error) {
	sum.Rule = fmt.Sprintf("server fds back to the idle server's count after the client closed; mean server RSS and slab over the last quarter of the hold within %.0f%% of the second quarter's; no echo lost (dropped, or unanswered at close) or mismatched", driftLimit*100)
	fail := func(format string, a ...any) { sum.Failures = append(sum.Failures, fmt.Sprintf(format, a...)) }
	if sum.FinalFDs != sum.IdleFDs {
		fail("server fds %d after the close, %d when idle: %d leaked", sum.FinalFDs, sum.IdleFDs, sum.FinalFDs-sum.IdleFDs)
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
	var res struct {
		Sent, Echoed, Mismatched, Timeouts, Churned int64
		InFlightAtClose                             int64            `json:"in_flight_at_close"`
		Dropped                                     map[string]int64 `json:"dropped"`
		Ended                                       string
	}
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

func writeSamples(path string, header []string, rows [][]float64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := csv.NewWriter(f)
	w.Write(header)
	for _, r := range rows {
		rec := make([]string, len(r))
		for i, v := range r {
			if v >= 0 {
				rec[i] = strconv.FormatFloat(v, 'g', 10, 64)
			}
		}
		w.Write(rec)
	}
	w.Flush()
	return w.Error()
}
