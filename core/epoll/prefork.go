package epoll

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"c1m/core"
	"c1m/procgroup"
)

// Launch plans cfg (which core.Config.Validate has checked) and starts it:
// in this process, or as prefork children. note, if not empty, says why
// this engine runs instead of the one asked for; the snapshot carries it.
func Launch(cfg core.Config, note string) (core.Engine, error) {
	s, err := NewServer(cfg)
	if err != nil {
		return nil, err
	}
	if s.plan.Strategy == core.StrategyPrefork {
		p, err := startPrefork(s.cfg, s.plan, s.Addrs())
		if err == nil {
			p.engineNote = note
		}
		return p, err
	}
	s.engineNote = note
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// preforkEnv carries a child's core.Config (JSON); fd 3 carries its snapshots back.
const preforkEnv = "C1M_PREFORK_CHILD"

// preforkInterval is how often a child reports its counters to the parent.
const preforkInterval = 500 * time.Millisecond

// RunPreforkChildIfAsked runs this process as a prefork child when the parent
// asked for one, and exits; otherwise it returns at once. Call it first in main
// (and in TestMain of packages that start prefork servers).
func RunPreforkChildIfAsked() { procgroup.RunAsChild(preforkEnv, runPreforkChild) }

func runPreforkChild(raw string) int {
	var cfg core.Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "prefork child: bad config: %v\n", err)
		return 2
	}
	report := procgroup.Reporter()
	if report == nil {
		fmt.Fprintf(os.Stderr, "prefork child: no report pipe on fd %d (only the prefork parent starts children)\n", procgroup.ReportFD)
		return 2
	}
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
	// The first report says this child is listening: Launch waits for it.
	if snap := s.Snapshot(); report.Encode(&snap) != nil {
		s.Stop()
		return 1
	}
	tick := time.NewTicker(preforkInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			snap := s.Snapshot()
			if report.Encode(&snap) != nil { // the parent is gone
				s.Stop()
				return 1
			}
		case <-sigs:
			s.Stop()
			snap := s.Snapshot()
			report.Encode(&snap)
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
	cfg        core.Config
	plan       core.Plan
	addrs      []netip.AddrPort
	group      *procgroup.Group
	engineNote string

	mu    sync.Mutex
	last  []core.Snapshot
	ready []chan struct{} // closed at a child's first report
	core.Failure
}

func startPrefork(cfg core.Config, plan core.Plan, addrs []netip.AddrPort) (*prefork, error) {
	child := cfg
	// SO_REUSEPORT spreads connections unevenly, so each child may hold a
	// tenth more than its even share (within its table); the parent's
	// total is what -max-conns bounds in the plan.
	perChild := min(plan.MaxConnsPerProc+plan.MaxConnsPerProc/10+1, plan.PerTable)
	child.MaxConns = perChild
	child.Epoll.Strategy, child.Epoll.Procs, child.Epoll.ReusePort = core.StrategySingle, 0, true
	raw, err := json.Marshal(child)
	if err != nil {
		return nil, err
	}
	p := &prefork{cfg: cfg, plan: plan, addrs: addrs, group: procgroup.New(plan.Procs),
		last: make([]core.Snapshot, plan.Procs), ready: make([]chan struct{}, plan.Procs)}
	for i := range p.ready {
		p.ready[i] = make(chan struct{})
	}
	for i := 0; i < plan.Procs; i++ {
		cmd, err := procgroup.Self()
		if err == nil {
			cmd.Env = append(os.Environ(), preforkEnv+"="+string(raw))
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			_, err = p.group.Start(cmd, func(line []byte) { p.record(i, line) })
		}
		if err != nil {
			p.Stop()
			return nil, fmt.Errorf("prefork child %d: %w", i, err)
		}
	}
	// Return once every child listens, as a single-process Launch does.
	for i := range p.ready {
		select {
		case <-p.ready[i]:
		case e := <-p.group.Exits():
			p.Stop()
			return nil, fmt.Errorf("prefork child %d (pid %d) exited while starting: %v", e.Index, e.Pid, e.Err)
		}
	}
	go func() {
		for e := range p.group.Exits() {
			if !e.Expected {
				p.Fail(fmt.Errorf("prefork child %d (pid %d) exited: %v", e.Index, e.Pid, e.Err))
			}
		}
	}()
	return p, nil
}

func (p *prefork) record(i int, line []byte) {
	var snap core.Snapshot
	if json.Unmarshal(line, &snap) == nil {
		p.mu.Lock()
		first := p.last[i].Time.IsZero()
		p.last[i] = snap
		p.mu.Unlock()
		if first {
			close(p.ready[i])
		}
	}
}

func (p *prefork) Plan() core.Plan { return p.plan }

// Addrs are the ports every child listens on (SO_REUSEPORT).
func (p *prefork) Addrs() []netip.AddrPort { return append([]netip.AddrPort(nil), p.addrs...) }

// Snapshot merges the children's latest reports.
func (p *prefork) Snapshot() core.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := core.Snapshot{Time: time.Now(), Engine: core.EngineEpoll, EngineNote: p.engineNote, Strategy: core.StrategyPrefork,
		Procs: len(p.last), Dispatch: p.cfg.Epoll.Dispatch, Trigger: p.cfg.Epoll.Trigger}
	for i := range p.last {
		out.Merge(&p.last[i])
	}
	return out
}

// Stop sends SIGTERM to every child (by pid) and waits; SIGKILL after 10 s.
// Each child's last report, sent as it exits, is in the final core.Snapshot.
func (p *prefork) Stop() { p.group.Stop(10 * time.Second) }
