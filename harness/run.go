package harness

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
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
	"c1m/schema"
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
	// The run writes a staging directory and replaces the experiment's
	// results whole, only when it completes: an interrupted or failed run
	// leaves the committed results as they were, and no file of an older
	// run mixes into a new one.
	dir := filepath.Join(o.Results, fmt.Sprintf("exp-%d", e.Number))
	staging := filepath.Join(o.Results, StagingDir, fmt.Sprintf("exp-%d", e.Number))
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("clearing %s: %w", staging, err)
	}
	if err := os.MkdirAll(staging, 0o755); err != nil {
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
	meta.calibrate(logf)
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
	runs := schedule(arms, repeats)
	total := len(runs)
	prog := &progress{logf: logf, start: time.Now(), runs: total, expected: expectFrom(dir, o.Scale.Name)}
	defer func() {
		meta.End = time.Now().UTC().Format(time.RFC3339)
		if ctx.Err() != nil {
			meta.note("interrupted after %d of %d runs: partial results", len(rows), total)
		}
		if werr := writeResults(staging, meta, e.Metrics, rows); werr != nil && err == nil {
			err = werr
		}
		if err != nil || ctx.Err() != nil {
			logf("partial results in %s; %s is left as it was", staging, dir)
			return
		}
		if rerr := replaceDir(dir, staging); rerr != nil {
			err = rerr
			return
		}
		logf("results in %s", dir)
	}()
	for _, run := range runs {
		arm, rep := run.arm, run.rep
		if ctx.Err() != nil {
			return nil
		}
		prog.begin(len(rows)+1, arm, rep)
		m, rerr := runArm(ctx, e, o, fs, staging, arm, rep, prog)
		meta.noteServerProblem(staging, arm.Name, rep) // on every path: a failed run's log says most
		meta.Runs = append(meta.Runs, schema.RunTime{Arm: arm.Name, Rep: rep, Seconds: time.Since(prog.runStart).Round(time.Second).Seconds()})
		if rerr != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("arm %s repeat %d: %w", arm.Name, rep, rerr)
		}
		rows = append(rows, summaryRow{Arm: arm.Name, Rep: rep, Metrics: m})
	}
	return nil
}

// scheduled is one run of an arm.
type scheduled struct {
	arm Arm
	rep int
}

// schedule orders the runs: every arm once, then every arm again, so a
// drift of the machine spreads over all arms; an arm with more Repeats
// than the experiment's runs on in the later rounds.
func schedule(arms []Arm, repeats int) []scheduled {
	rounds := repeats
	for _, a := range arms {
		rounds = max(rounds, a.Repeats)
	}
	var out []scheduled
	for rep := 1; rep <= rounds; rep++ {
		for _, a := range arms {
			if rep <= max(a.Repeats, repeats) {
				out = append(out, scheduled{a, rep})
			}
		}
	}
	return out
}

// StagingDir, under the results root, holds runs under way (and the
// partial results of one that failed or was interrupted).
const StagingDir = ".staging"

// replaceDir puts the completed run in staging in place of dir.
func replaceDir(dir, staging string) error {
	old := dir + ".old"
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("clearing %s: %w", old, err)
	}
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("moving the old results aside: %w", err)
	}
	if err := os.Rename(staging, dir); err != nil {
		return fmt.Errorf("the new results stay in %s: %w", staging, err)
	}
	return os.RemoveAll(old)
}

// runArm starts the server, then the client, samples until the client
// ends, and stops both. It returns the run's metrics.
func runArm(ctx context.Context, e Experiment, o Options, fs procfs.FS, dir string, arm Arm, rep int, prog *progress) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(e.ArmTimeout, 10*time.Minute))
	defer cancel()
	prog.at(phaseQuiet, "")
	waitQuiet(ctx, fs, 75*time.Second)
	env, err := setUp(ctx, arm)
	if err != nil {
		return nil, err
	}
	defer env.finish() // every path; on success it already ran, after the processes stopped
	prog.at(phaseStart, "")
	r, err := startRun(fs, dir, arm, rep, o, prog)
	if err != nil {
		return nil, err
	}
	defer r.group.Stop(stopGrace) // every path: SIGTERM, then SIGKILL, by pid
	if err := r.startServer(ctx); err != nil {
		return nil, err
	}
	if err := r.startClient(); err != nil {
		return nil, err
	}
	clientErr, err := r.sampleUntilClientEnds(ctx)
	if err != nil {
		return nil, err
	}
	prog.at(phaseTeardown, "stopping the server")
	r.group.Stop(stopGrace)
	envMetrics, err := env.finish()
	if err != nil {
		return nil, fmt.Errorf("finishing the arm's setup: %w", err)
	}
	if err := writeSamples(runFile(dir, "samples", arm.Name, rep, "csv"), r.rows); err != nil {
		return nil, err
	}
	res, err := readClientResult(r.clientJSON)
	if err != nil {
		return nil, fmt.Errorf("client result: %w (client exit: %v; see %s)", err, clientErr, r.cliLog)
	}
	return e.runMetrics(arm, r.rows, res, envMetrics), nil
}

// runMetrics is what one run yields: base (values no derivation from the
// run's files gives, such as an arm's Setup counters), the metrics derived
// from its samples and client result, the arm's Params, then the
// experiment's own Derive.
func (e Experiment) runMetrics(arm Arm, rows []Sample, res clientResult, base map[string]float64) map[string]float64 {
	m := map[string]float64{}
	maps.Copy(m, base)
	maps.Copy(m, deriveMetrics(rows, res))
	maps.Copy(m, arm.Params)
	if e.Derive != nil {
		e.Derive(arm, m)
	}
	return m
}

// armEnv is an arm's Setup, finished once.
type armEnv struct {
	undo     func() (map[string]float64, error)
	finished bool
}

// setUp prepares the arm's environment (nothing when it has no Setup).
func setUp(ctx context.Context, arm Arm) (*armEnv, error) {
	if arm.Setup == nil {
		return &armEnv{finished: true}, nil
	}
	undo, err := arm.Setup(ctx)
	if err != nil {
		return nil, fmt.Errorf("setting up: %w", err)
	}
	return &armEnv{undo: undo}, nil
}

// finish undoes the setup and returns its counters; only the first call
// does anything.
func (env *armEnv) finish() (map[string]float64, error) {
	if env.finished {
		return nil, nil
	}
	env.finished = true
	return env.undo()
}

// armRun is one run of an arm: its processes, its files and its samples.
type armRun struct {
	o                          Options
	arm                        Arm
	prog                       *progress
	group                      *procgroup.Group
	s                          *sampler
	statsAddr                  string
	t0                         time.Time
	rows                       []Sample
	cli                        *exec.Cmd
	srvLog, cliLog, clientJSON string
}

// startRun prepares the run's sampler and takes its first sample: the
// machine before the server starts.
func startRun(fs procfs.FS, dir string, arm Arm, rep int, o Options, prog *progress) (*armRun, error) {
	statsAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	s := &sampler{fs: fs, statsURL: "http://" + statsAddr + "/stats?workers=0", http: statsClient(arm.ServerNetns)}
	_, slabErr := fs.Slabinfo()
	s.slabOK = slabErr == nil
	r := &armRun{o: o, arm: arm, prog: prog, group: procgroup.New(2), s: s, statsAddr: statsAddr, t0: time.Now(),
		srvLog:     runFile(dir, "server", arm.Name, rep, "log"),
		cliLog:     runFile(dir, "client", arm.Name, rep, "log"),
		clientJSON: runFile(dir, "client", arm.Name, rep, "json")}
	r.rows = []Sample{s.take(r.t0)}
	return r, nil
}

// startServer starts the arm's server and waits until its /stats answers,
// then samples the idle server.
func (r *armRun) startServer(ctx context.Context) error {
	serverBin := cmp.Or(r.arm.ServerBin, "c1m-server")
	flags := r.arm.Server
	if r.arm.ServerBin == "" {
		flags = WithEngine(flags)
	}
	argv := netns.Command(r.arm.ServerNetns, append(append([]string{filepath.Join(r.o.Bin, serverBin)}, flags...),
		"-stats-addr", r.statsAddr, "-stats-interval", "0")...)
	srv := exec.Command(argv[0], argv[1:]...)
	if err := r.group.StartLogged(srv, r.srvLog); err != nil {
		return fmt.Errorf("server: %w (run make build first)", err)
	}
	r.s.serverPid = srv.Process.Pid
	if err := waitReady(ctx, r.s, r.group); err != nil {
		return fmt.Errorf("server %s: %w (see %s)", serverBin, err, r.srvLog)
	}
	r.rows = append(r.rows, r.s.take(r.t0)) // the idle server
	return nil
}

// startClient starts the load client, niced and in its namespace as the
// arm asks; it writes its result to clientJSON.
func (r *armRun) startClient() error {
	os.Remove(r.clientJSON)
	argv := append(append([]string{filepath.Join(r.o.Bin, "c1m-client")}, WithEngine(r.arm.Client)...), "-json", r.clientJSON)
	if r.arm.ClientNice != 0 {
		argv = append([]string{"nice", "-n", strconv.Itoa(r.arm.ClientNice)}, argv...)
	}
	argv = netns.Command(r.arm.ClientNetns, argv...)
	r.cli = exec.Command(argv[0], argv[1:]...)
	if err := r.group.StartLogged(r.cli, r.cliLog); err != nil {
		return fmt.Errorf("client: %w", err)
	}
	r.s.clientPid = r.cli.Process.Pid
	return nil
}

// sampleUntilClientEnds samples every o.Interval until the client exits
// (clientErr is how) or ctx ends, when it stops the client; the server
// exiting fails the run. The last sample is taken after the client ended.
func (r *armRun) sampleUntilClientEnds(ctx context.Context) (clientErr, err error) {
	tick := time.NewTicker(r.o.Interval)
	defer tick.Stop()
	target := connsTarget(r.arm.Client)
	for done := false; !done; {
		select {
		case ex := <-r.group.Exits():
			if ex.Pid == r.s.serverPid {
				return nil, fmt.Errorf("server exited during the run: %v (see %s)", ex.Err, r.srvLog)
			}
			clientErr, done = ex.Err, true
		case <-ctx.Done():
			// Time is up or we were interrupted: the client still writes its
			// result, which takes a while with a million sockets to close.
			r.prog.logf("arm %s: %v: stopping the client", r.arm.Name, context.Cause(ctx))
			r.cli.Process.Signal(syscall.SIGTERM)
			waitExit(r.group, r.s.clientPid, stopGrace)
			done = true
		case <-tick.C:
			row := r.s.take(r.t0)
			r.rows = append(r.rows, row)
			r.prog.at(phaseOf(row["conns_server"], target),
				fmt.Sprintf("%.0f connections on the server, slab %.0f MiB", row["conns_server"], row["slab_bytes"]/(1<<20)))
		}
	}
	r.s.clientPid = 0
	r.rows = append(r.rows, r.s.take(r.t0))
	return clientErr, nil
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

// FreeAddr is a loopback address with a port nobody listens on now, for a
// server's -stats-addr (or any listener a test or suite starts).
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free loopback port: %w", err)
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
