package client

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"c1m/core"
	"c1m/procgroup"
)

// jobEnv carries a child process's Job (JSON).
const jobEnv = "C1M_CLIENT_JOB"

// reportEvery is how often children report progress to the parent.
const reportEvery = 500 * time.Millisecond

// drainGrace bounds the wait for the other processes past -timeout: the
// parent closes them all by -timeout + drainGrace/2 whether or not every
// one said it drained, and a child whose parent is gone closes at
// -timeout + drainGrace.
const drainGrace = 10 * time.Second

// childLine is one line a child writes to its parent.
type childLine struct {
	Progress *Progress `json:"progress,omitempty"`
	Result   *Result   `json:"result,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// RunChildIfAsked runs this process as a client child when a parent asked
// for one, and exits; otherwise it returns at once. Call it first in main.
func RunChildIfAsked() { procgroup.RunAsChild(jobEnv, runChild) }

func runChild(raw string) int {
	report := procgroup.Reporter()
	if report == nil {
		fmt.Fprintf(os.Stderr, "c1m-client child: no report pipe on fd %d\n", procgroup.ReportFD)
		return 2
	}
	var job Job
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		report.Encode(childLine{Error: fmt.Sprintf("bad job: %v", err)})
		return 2
	}
	if _, _, err := core.RaiseNofile(); err != nil {
		report.Encode(childLine{Error: err.Error()})
		return 1
	}
	// From the parent: SIGUSR2, every process has ramped (the hold
	// starts); SIGUSR1, the hold is over: drain, say so, and wait; SIGUSR2
	// again, every process has drained: close. SIGHUP: reconnect no more
	// (Config.StopReconnect). SIGTERM/SIGINT: interrupted.
	stop, finish, hold, closeOK, noRetry := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP)
	go func() {
		holding, finishing, retrying := false, false, true
		for s := range sigs {
			switch {
			case s == syscall.SIGHUP && retrying:
				retrying = false
				close(noRetry)
			case s == syscall.SIGUSR2 && finishing:
				close(closeOK)
				return
			case s == syscall.SIGUSR2 && !holding:
				holding = true
				close(hold)
			case s == syscall.SIGUSR1 && !finishing:
				finishing = true
				close(finish)
			case s == syscall.SIGTERM || s == syscall.SIGINT:
				close(stop)
				return
			}
		}
	}()
	var mu sync.Mutex // the encoder is shared by the progress callback and the end
	sig := signals{stop: stop, finish: finish, hold: hold, closeOK: closeOK, noRetry: noRetry}
	res, err := runJob(job, sig, reportEvery, func(p Progress) {
		mu.Lock()
		report.Encode(childLine{Progress: &p})
		mu.Unlock()
	})
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		report.Encode(childLine{Error: err.Error()})
		return 1
	}
	report.Encode(childLine{Result: &res})
	return 0
}

// Run plans cfg, runs it (in this process or in children) until the hold
// ends or stop is closed, and returns the merged result. Progress goes to log.
func Run(cfg Config, stop <-chan struct{}, log io.Writer) (Result, error) {
	if engine, why := ResolveEngine(cfg); why != "" {
		fmt.Fprintf(log, "c1m-client: -engine %s: %s\n", cfg.Engine, why)
		cfg.Engine = engine
	}
	jobs, sp, err := Plan(cfg)
	if err != nil {
		return Result{}, err
	}
	machine := calibrateMachine(cfg, log)
	start := time.Now()
	fmt.Fprintf(log, "c1m-client: plan: %d connections over %d source(s) × %d server port(s); ephemeral ports %d-%d (%d usable) → capacity %d; %d process(es) × %d loop(s), engine %s\n",
		cfg.Conns, len(sp.Sources), len(sp.Ports), sp.Range.Lo, sp.Range.Hi, sp.Range.Size(), sp.Capacity(), len(jobs), jobs[0].Loops, jobs[0].Engine)
	if jobs[0].Engine == EngineUring {
		perLoop := (jobs[0].Count + jobs[0].Loops - 1) / jobs[0].Loops
		if p, err := uringPlan(perLoop); err == nil {
			fmt.Fprintf(log, "c1m-client: io_uring: each loop's connections in %d ring(s) of up to %d (RLIMIT_NOFILE %d caps a ring's table)\n",
				p.Tables, p.PerTable, p.NofileSoft)
		}
	}
	if cfg.Conns > sp.Capacity() {
		fmt.Fprintf(log, "c1m-client: -force: expect EADDRNOTAVAIL after %d connections (%d per source → server port pair)\n", sp.Capacity(), sp.Range.Size())
	}
	pr := newProgressPrinter(log, cfg.Conns)
	pr.also = cfg.OnProgress
	var res Result
	if len(jobs) == 1 {
		res, err = runJob(jobs[0], signals{stop: stop, noRetry: cfg.StopReconnect}, time.Second, pr.print)
	} else {
		res, err = runChildren(jobs, stop, cfg.StopReconnect, pr)
	}
	pr.finish()
	if err != nil {
		return res, err
	}
	res.Predicted = sp.Capacity()
	res.Procs = len(jobs)
	res.Engine = jobs[0].Engine
	res.summarise()
	res.Env = currentEnv(cfg.Flags)
	res.Env.Calibration = machine
	res.Env.Start, res.Env.End = start.UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339)
	res.WallSeconds = time.Since(start).Seconds()
	return res, nil
}

// runChildren runs one child process per job and merges their results.
func runChildren(jobs []Job, stop, noRetry <-chan struct{}, pr *progressPrinter) (Result, error) {
	c, err := startChildren(jobs)
	if err != nil {
		return Result{}, err
	}
	c.steer(stop, noRetry, jobs[0].Hold, jobs[0].Timeout, pr)
	c.group.Stop(time.Second) // all have exited; this only marks the group done
	return c.merged()
}

// children are a run's child processes, one per job, as they last reported.
type children struct {
	group   *procgroup.Group
	mu      sync.Mutex
	latest  []Progress
	results []*Result
	errs    []string
}

// startChildren starts a child per job; the parent times the hold (the
// children's is -1: until told), from when every child has ramped.
func startChildren(jobs []Job) (*children, error) {
	c := &children{group: procgroup.New(len(jobs)), latest: make([]Progress, len(jobs)),
		results: make([]*Result, len(jobs)), errs: make([]string, len(jobs))}
	for i := range jobs {
		job := jobs[i]
		job.Hold = -1
		raw, err := json.Marshal(job)
		if err != nil {
			return nil, err
		}
		cmd, err := procgroup.Self()
		if err == nil {
			cmd.Env = append(os.Environ(), jobEnv+"="+string(raw))
			cmd.Stderr = os.Stderr
			_, err = c.group.Start(cmd, func(b []byte) { c.read(i, b) })
		}
		if err != nil {
			c.group.Stop(10 * time.Second)
			return nil, fmt.Errorf("client process %d: %w", i, err)
		}
	}
	return c, nil
}

// read takes in a line child i reported.
func (c *children) read(i int, b []byte) {
	var l childLine
	if json.Unmarshal(b, &l) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case l.Progress != nil:
		c.latest[i] = *l.Progress
	case l.Result != nil:
		c.results[i] = l.Result
	case l.Error != "":
		c.errs[i] = l.Error
	}
}

// progress is every child's latest progress together.
func (c *children) progress() Progress {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := Progress{RampDone: true}
	for i := range c.latest {
		p.add(&c.latest[i])
		p.RampDone = p.RampDone && c.latest[i].RampDone
	}
	return p
}

// drained says whether every child has drained (or ended).
func (c *children) drained() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.latest {
		if !c.latest[i].Drained && c.results[i] == nil && c.errs[i] == "" {
			return false
		}
	}
	return true
}

// steer runs the children until all have exited: it prints their
// progress, starts their holds together once all have ramped, ends them
// together after hold, and lets them close once all have drained (or
// timeout + drainGrace/2 after the hold's end). stop interrupts them;
// noRetry closed, they reconnect no more.
func (c *children) steer(stop, noRetry <-chan struct{}, hold, timeout time.Duration, pr *progressPrinter) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	exits := 0
	var holdEnd, drainStart time.Time
	closed := false
	lastPrint := time.Now()
	for exits < len(c.latest) {
		select {
		case <-stop:
			c.group.Signal(syscall.SIGTERM) // children close, then report their results
			stop = nil
		case <-noRetry:
			c.group.Signal(syscall.SIGHUP) // connections lost from now on stay closed
			noRetry = nil
		case <-c.group.Exits():
			exits++
		case <-tick.C:
			p := c.progress()
			if time.Since(lastPrint) >= time.Second {
				lastPrint = time.Now()
				pr.print(p)
			}
			if holdEnd.IsZero() && p.RampDone {
				holdEnd = time.Now().Add(hold)
				c.group.Signal(syscall.SIGUSR2) // the hold starts: RTTs from now are the steady state
			}
			if !holdEnd.IsZero() && drainStart.IsZero() && time.Now().After(holdEnd) {
				c.group.Signal(syscall.SIGUSR1) // every child drains, then waits for the others
				drainStart = time.Now()
			}
			if !drainStart.IsZero() && !closed && (c.drained() || time.Since(drainStart) > timeout+drainGrace/2) {
				c.group.Signal(syscall.SIGUSR2) // all drained: every child closes now
				closed = true
			}
		}
	}
}

// merged is the children's results together; a child without one fails the run.
func (c *children) merged() (Result, error) {
	res := Result{Failed: map[string]int64{}, Dropped: map[string]int64{}}
	var missing []string
	for i, r := range c.results {
		if r == nil {
			why := c.errs[i]
			if why == "" {
				why = "exited without a result"
			}
			missing = append(missing, fmt.Sprintf("process %d: %s", i, why))
			continue
		}
		res.merge(r)
	}
	if len(missing) > 0 {
		return res, fmt.Errorf("%d of %d client processes failed: %v", len(missing), len(c.results), missing)
	}
	return res, nil
}

// progressPrinter shows a live line on a terminal, a line every 5 s otherwise.
type progressPrinter struct {
	w        io.Writer
	tty      bool
	target   int
	last     time.Time
	lastEst  int64
	lastLine time.Time
	printed  bool
	also     func(Progress) // Config.OnProgress
}

func newProgressPrinter(w io.Writer, target int) *progressPrinter {
	return &progressPrinter{w: w, tty: isTerminal(w), target: target, last: time.Now()}
}

func (p *progressPrinter) print(pg Progress) {
	if p.also != nil {
		p.also(pg)
	}
	now := time.Now()
	rate := float64(pg.Established-p.lastEst) / now.Sub(p.last).Seconds()
	p.last, p.lastEst = now, pg.Established
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", pg.Line(p.target, rate))
		p.printed = true
		return
	}
	if now.Sub(p.lastLine) >= 5*time.Second {
		p.lastLine = now
		fmt.Fprintf(p.w, "c1m-client: %s\n", pg.Line(p.target, rate))
	}
}

func (p *progressPrinter) finish() {
	if p.tty && p.printed {
		fmt.Fprintln(p.w)
	}
}
