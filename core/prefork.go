package core

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Runner is a running server: one process's core, or a prefork parent.
type Runner interface {
	Plan() Plan
	Config() Config
	Snapshot() Snapshot
	Stop()
	Failed() <-chan struct{}
	Err() error
}

// Launch plans cfg and starts it: in this process, or as prefork children.
func Launch(cfg Config) (Runner, error) {
	s, err := NewServer(cfg)
	if err != nil {
		return nil, err
	}
	if s.plan.Strategy == StrategyPrefork {
		return startPrefork(s.cfg, s.plan)
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// preforkEnv carries a child's Config (JSON); fd 3 carries its snapshots back.
const preforkEnv = "C1M_PREFORK_CHILD"

// preforkInterval is how often a child reports its counters to the parent.
const preforkInterval = 500 * time.Millisecond

// RunPreforkChildIfAsked runs this process as a prefork child when the parent
// asked for one, and exits; otherwise it returns at once. Call it first in main
// (and in TestMain of packages that start prefork servers).
func RunPreforkChildIfAsked() {
	raw := os.Getenv(preforkEnv)
	if raw == "" {
		return
	}
	os.Exit(runPreforkChild(raw))
}

func runPreforkChild(raw string) int {
	var cfg Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "prefork child: bad config: %v\n", err)
		return 2
	}
	report := os.NewFile(3, "prefork-stats")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	s, err := NewServer(cfg)
	if err == nil {
		err = s.Start()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "prefork child: %v\n", err)
		return 1
	}
	enc := json.NewEncoder(report)
	tick := time.NewTicker(preforkInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			snap := s.Snapshot()
			if enc.Encode(&snap) != nil { // the parent is gone
				s.Stop()
				return 1
			}
		case <-sigs:
			s.Stop()
			snap := s.Snapshot()
			enc.Encode(&snap)
			return 0
		case <-s.Failed():
			s.Stop()
			fmt.Fprintf(os.Stderr, "prefork child: %v\n", s.Err())
			return 1
		}
	}
}

// prefork is the parent of P server processes sharing the ports with SO_REUSEPORT.
type prefork struct {
	cfg  Config
	plan Plan

	mu    sync.Mutex
	last  []Snapshot
	procs []*exec.Cmd
	done  []chan struct{}

	stopOnce sync.Once
	errOnce  sync.Once
	err      error
	failed   chan struct{}
	stopping bool
}

func startPrefork(cfg Config, plan Plan) (*prefork, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("prefork: finding this executable to re-run: %w", err)
	}
	child := cfg
	child.Strategy, child.MaxConns, child.Procs, child.ReusePort = StrategySingle, plan.MaxConnsPerProc, 0, true
	raw, err := json.Marshal(child)
	if err != nil {
		return nil, err
	}
	p := &prefork{cfg: cfg, plan: plan, last: make([]Snapshot, plan.Procs), failed: make(chan struct{})}
	for i := 0; i < plan.Procs; i++ {
		if err := p.spawn(i, exe, string(raw)); err != nil {
			p.Stop()
			return nil, err
		}
	}
	return p, nil
}

func (p *prefork) spawn(i int, exe, raw string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("prefork: pipe: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), preforkEnv+"="+raw)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("prefork: starting child %d: %w", i, err)
	}
	w.Close()
	done := make(chan struct{})
	p.mu.Lock()
	p.procs = append(p.procs, cmd)
	p.done = append(p.done, done)
	p.mu.Unlock()
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var snap Snapshot
			if json.Unmarshal(sc.Bytes(), &snap) == nil {
				p.mu.Lock()
				p.last[i] = snap
				p.mu.Unlock()
			}
		}
		r.Close()
		err := cmd.Wait()
		p.mu.Lock()
		stopping := p.stopping
		p.mu.Unlock()
		if !stopping {
			p.fail(fmt.Errorf("prefork child %d (pid %d) exited: %v", i, cmd.Process.Pid, err))
		}
	}()
	return nil
}

func (p *prefork) fail(err error) {
	p.errOnce.Do(func() {
		p.err = err
		close(p.failed)
	})
}

func (p *prefork) Plan() Plan                 { return p.plan }
func (p *prefork) Config() Config             { return p.cfg }
func (p *prefork) Failed() <-chan struct{}    { return p.failed }
func (p *prefork) Err() error {
	select {
	case <-p.failed:
		return p.err
	default:
		return nil
	}
}

// Snapshot merges the children's latest reports.
func (p *prefork) Snapshot() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := Snapshot{Time: time.Now(), Strategy: StrategyPrefork, Procs: len(p.procs),
		Dispatch: p.cfg.Dispatch, Trigger: p.cfg.Trigger}
	for i := range p.last {
		out.Merge(&p.last[i])
	}
	return out
}

// Stop sends SIGTERM to every child (by pid) and waits; SIGKILL after 10 s.
func (p *prefork) Stop() {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.stopping = true
		procs := append([]*exec.Cmd(nil), p.procs...)
		done := append([]chan struct{}(nil), p.done...)
		p.mu.Unlock()
		for _, c := range procs {
			c.Process.Signal(syscall.SIGTERM)
		}
		deadline := time.NewTimer(10 * time.Second)
		defer deadline.Stop()
		for _, d := range done {
			select {
			case <-d:
			case <-deadline.C:
				for _, c := range procs {
					c.Process.Kill() // an exited child's pid is not reused before Wait reaps it
				}
				<-d
			}
		}
	})
}
