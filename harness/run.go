package harness

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"c1m/netns"
	"c1m/procfs"
	"c1m/procgroup"
)

// Options are the command-line settings every experiment shares.
type Options struct {
	Scale    Scale
	Results  string        // results root; the experiment writes Results/exp-N
	Bin      string        // where c1m-server, c1m-client and c1m-holder are
	Interval time.Duration // sampling interval
	Root     string        // proc/sys root ("/"; tests use a fake one)
}

// Main runs e with the flags of the command line and exits.
func Main(e Experiment) {
	var o Options
	fs := flag.NewFlagSet(fmt.Sprintf("exp-%d", e.Number), flag.ExitOnError)
	scale := fs.String("scale", "full", "full (the reference run, minutes) or quick (seconds, for CI)")
	fs.StringVar(&o.Results, "results", "results", "results directory")
	fs.StringVar(&o.Bin, "bin", "bin", "directory of the c1m binaries (make build)")
	fs.DurationVar(&o.Interval, "interval", time.Second, "sampling interval")
	rederive := fs.Bool("rederive", false, "run nothing: recompute summary.csv from the run's samples and client results in -results")
	if e.Flags != nil {
		e.Flags(fs)
	}
	fs.Parse(os.Args[1:])
	if *rederive {
		if err := Rederive(e, o.Results); err != nil {
			fmt.Fprintf(os.Stderr, "exp-%d: %v\n", e.Number, err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "exp-%d: summary.csv re-derived in %s\n", e.Number, filepath.Join(o.Results, fmt.Sprintf("exp-%d", e.Number)))
		return
	}
	switch *scale {
	case "full", "quick":
	default:
		fmt.Fprintf(os.Stderr, "exp-%d: -scale %q: want full or quick\n", e.Number, *scale)
		os.Exit(2)
	}
	o.Scale = Scale{Name: *scale, Quick: *scale == "quick"}
	o.Root = "/"
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, e, o); err != nil {
		fmt.Fprintf(os.Stderr, "exp-%d: %v\n", e.Number, err)
		stop()
		os.Exit(1)
	}
}

// Run runs every arm of e, interleaved, Repeats times, and writes the
// results. Interrupted (ctx done), it stops the running arm, restores the
// sysctls and still writes what it has, with a note saying so.
func Run(ctx context.Context, e Experiment, o Options) (err error) {
	unlock, err := LockLab()
	if err != nil {
		return err
	}
	defer unlock()
	fs := procfs.New(o.Root)
	dir := filepath.Join(o.Results, fmt.Sprintf("exp-%d", e.Number))
	// A run replaces the experiment's results whole: no file of an older run may mix in.
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clearing %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("results directory: %w", err)
	}
	arms := e.Arms(o.Scale)
	repeats := 1
	if e.Repeats != nil {
		repeats = max(e.Repeats(o.Scale), 1)
	}
	meta := newMeta(e, o, arms, repeats, fs)
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "exp-%d: "+format+"\n", append([]any{e.Number}, a...)...)
	}
	// Tuning: root only; restored on every path out of Run.
	if len(e.Sysctls) > 0 {
		if os.Geteuid() != 0 {
			meta.note("not root: sysctls left as found (%v); the run uses the scale the current settings allow", e.Sysctls)
		} else if guard, aerr := fs.Apply(e.Sysctls); aerr != nil {
			meta.note("could not apply sysctls: %v", aerr)
		} else {
			for k, v := range guard.Changed() {
				meta.note("sysctl %s set to %q for the run (was %q), restored after", k, v[1], v[0])
			}
			defer func() {
				if rerr := guard.Restore(); rerr != nil && err == nil {
					err = fmt.Errorf("restoring sysctls: %w", rerr)
				}
			}()
		}
	}
	var rows []summaryRow
	defer func() {
		meta.End = time.Now().UTC().Format(time.RFC3339)
		if ctx.Err() != nil {
			meta.note("interrupted after %d of %d runs: partial results", len(rows), len(arms)*repeats)
		}
		if werr := writeResults(dir, meta, e.Metrics, rows); werr != nil && err == nil {
			err = werr
		}
		logf("results in %s", dir)
	}()
	total := len(arms) * repeats
	for rep := 1; rep <= repeats; rep++ {
		for _, arm := range arms {
			if ctx.Err() != nil {
				return nil
			}
			logf("run %d/%d: arm %s, repeat %d", len(rows)+1, total, arm.Name, rep)
			m, rerr := runArm(ctx, e, o, fs, dir, arm, rep, logf)
			meta.noteServerProblem(dir, arm.Name, rep) // on every path: a failed run's log says most
			if rerr != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("arm %s repeat %d: %w", arm.Name, rep, rerr)
			}
			rows = append(rows, summaryRow{Arm: arm.Name, Rep: rep, Metrics: m})
		}
	}
	return nil
}

// runArm starts the server, then the client, samples until the client
// ends, and stops both. It returns the run's metrics.
func runArm(ctx context.Context, e Experiment, o Options, fs procfs.FS, dir string, arm Arm, rep int, logf func(string, ...any)) (map[string]float64, error) {
	timeout := e.ArmTimeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var finishEnv func() error
	waitQuiet(ctx, fs, 75*time.Second)
	var envMetrics map[string]float64
	if arm.Setup != nil {
		finish, err := arm.Setup(ctx)
		if err != nil {
			return nil, fmt.Errorf("setting up: %w", err)
		}
		finished := false
		defer func() { // every path; on success it already ran, after the processes stopped
			if !finished {
				finish()
			}
		}()
		finishEnv = func() (err error) {
			finished = true
			envMetrics, err = finish()
			return err
		}
	}
	statsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &sampler{fs: fs, statsURL: "http://" + statsAddr + "/stats?workers=0", http: statsClient(arm.ServerNetns)}
	_, slabErr := fs.Slabinfo()
	s.slabOK = slabErr == nil
	t0 := time.Now()
	rows := []Sample{s.take(t0)} // the machine before the server starts

	group := procgroup.New(2)
	defer group.Stop(stopGrace) // every path: SIGTERM, then SIGKILL, by pid

	serverBin := "c1m-server"
	if arm.ServerBin != "" {
		serverBin = arm.ServerBin
	}
	srvArgv := netns.Command(arm.ServerNetns, append(append([]string{filepath.Join(o.Bin, serverBin)}, arm.Server...), "-stats-addr", statsAddr, "-stats-interval", "0")...)
	srv := exec.Command(srvArgv[0], srvArgv[1:]...)
	srvLog := runFile(dir, "server", arm.Name, rep, "log")
	if err := startLogged(group, srv, srvLog); err != nil {
		return nil, fmt.Errorf("server: %w (run make build first)", err)
	}
	s.serverPid = srv.Process.Pid
	if err := waitReady(ctx, s, group); err != nil {
		return nil, fmt.Errorf("server %s: %w (see %s)", serverBin, err, srvLog)
	}
	rows = append(rows, s.take(t0)) // the idle server

	clientJSON := runFile(dir, "client", arm.Name, rep, "json")
	os.Remove(clientJSON)
	cliArgv := append(append([]string{filepath.Join(o.Bin, "c1m-client")}, arm.Client...), "-json", clientJSON)
	if arm.ClientNice != 0 {
		cliArgv = append([]string{"nice", "-n", strconv.Itoa(arm.ClientNice)}, cliArgv...)
	}
	cliArgv = netns.Command(arm.ClientNetns, cliArgv...)
	cli := exec.Command(cliArgv[0], cliArgv[1:]...)
	cliLog := runFile(dir, "client", arm.Name, rep, "log")
	if err := startLogged(group, cli, cliLog); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	s.clientPid = cli.Process.Pid

	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	var clientErr error
	for done := false; !done; {
		select {
		case ex := <-group.Exits():
			if ex.Pid == s.serverPid {
				return nil, fmt.Errorf("server exited during the run: %v (see %s)", ex.Err, srvLog)
			}
			clientErr, done = ex.Err, true
		case <-ctx.Done():
			// Time is up or we were interrupted: the client still writes its
			// result, which takes a while with a million sockets to close.
			logf("arm %s: %v: stopping the client", arm.Name, context.Cause(ctx))
			cli.Process.Signal(syscall.SIGTERM)
			waitExit(group, s.clientPid, stopGrace)
			done = true
		case <-tick.C:
			row := s.take(t0)
			rows = append(rows, row)
			logf("arm %s: %.0fs: %.0f connections on the server, slab %.0f MiB", arm.Name, row["t_s"], row["conns_server"], row["slab_bytes"]/(1<<20))
		}
	}
	s.clientPid = 0
	rows = append(rows, s.take(t0))
	group.Stop(stopGrace)
	if finishEnv != nil {
		if err := finishEnv(); err != nil {
			return nil, fmt.Errorf("finishing the arm's setup: %w", err)
		}
	}
	if err := writeSamples(runFile(dir, "samples", arm.Name, rep, "csv"), rows); err != nil {
		return nil, err
	}
	res, err := readClientResult(clientJSON)
	if err != nil {
		return nil, fmt.Errorf("client result: %w (client exit: %v; see %s)", err, clientErr, cliLog)
	}
	m := deriveMetrics(rows, res)
	for k, v := range arm.Params {
		m[k] = v
	}
	for k, v := range envMetrics {
		m[k] = v
	}
	if e.Derive != nil {
		e.Derive(arm, m)
	}
	return m, nil
}

// statsClient reaches the server's /stats, from inside its namespace if it has one.
func statsClient(ns string) *http.Client {
	c := &http.Client{Timeout: 5 * time.Second}
	if ns != "" {
		c.Transport = &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return netns.DialContext(ctx, ns, network, addr)
		}}
	}
	return c
}

// LockLab makes experiments on one machine run one at a time (the chaos
// suite and the soak take it too): two would share the CPUs and the server
// port and spoil each other's numbers.
func LockLab() (unlock func(), err error) {
	path := filepath.Join(os.TempDir(), "c1m-lab.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lab lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another experiment is running on this machine (lock %s held): wait for it to finish", path)
	}
	return func() { f.Close() }, nil
}

// stopGrace is how long a process may take to close its connections and
// write its results after SIGTERM before it is killed (closing a million
// sockets takes the kernel tens of seconds here).
const stopGrace = 3 * time.Minute

// waitExit waits up to limit for the process pid of group to end.
func waitExit(group *procgroup.Group, pid int, limit time.Duration) {
	deadline := time.After(limit)
	for {
		select {
		case ex := <-group.Exits():
			if ex.Pid == pid {
				return
			}
		case <-deadline:
			return
		}
	}
}

// startLogged starts cmd in group with its output going to the file logPath.
func startLogged(group *procgroup.Group, cmd *exec.Cmd, logPath string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer f.Close() // the child has its own copy once started
	cmd.Stdout, cmd.Stderr = f, f
	_, err = group.Start(cmd, nil)
	return err
}

// waitReady polls the server's /stats until it answers.
func waitReady(ctx context.Context, s *sampler, group *procgroup.Group) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := s.serverStats(); err == nil {
			return nil
		}
		select {
		case ex := <-group.Exits():
			return fmt.Errorf("exited at start: %v", ex.Err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("did not answer on its stats address within 20 s")
}

// waitQuiet waits (bounded) for the sockets of a previous run to be freed,
// so each run's kernel-memory baseline starts clean and its ephemeral ports
// are free again: TIME_WAIT lasts 60 s, and a port held by a TIME_WAIT
// socket younger than 1 s cannot be reused (EADDRNOTAVAIL).
func waitQuiet(ctx context.Context, fs procfs.FS, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		ss, err := fs.Sockstat()
		if err != nil || ss.TCPInUse < 1000 && ss.TCPTimeWait < 1000 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port for /stats: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// clientResult is the part of c1m-client's -json the harness derives metrics from.
type clientResult struct {
	Attempted     float64            `json:"attempted"`
	Established   float64            `json:"established"`
	RampSeconds   float64            `json:"ramp_seconds"`
	HoldSeconds   float64            `json:"hold_seconds"`
	WallSeconds   float64            `json:"wall_seconds"`
	Sent          float64            `json:"sent"`
	Echoed        float64            `json:"echoed"`
	Mismatched    float64            `json:"mismatched"`
	Timeouts      float64            `json:"timeouts"`
	InFlightClose float64            `json:"in_flight_at_close"`
	BytesReceived float64            `json:"bytes_received"`
	CPUSeconds    float64            `json:"cpu_seconds"`
	ConnectUs     pcts               `json:"connect_us"`
	RttUs         pcts               `json:"rtt_us"`
	RttHoldUs     pcts               `json:"rtt_hold_us"`
	Failed        map[string]float64 `json:"failed"`
	Predicted     float64            `json:"predicted_capacity"`
}

type pcts struct {
	P50, P90, P99, P999, Max, N float64
}

func readClientResult(path string) (clientResult, error) {
	var r clientResult
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(b, &r)
}
