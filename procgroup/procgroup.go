// Package procgroup runs child processes that report back one JSON line at a
// time over an inherited pipe (fd 3), and ends them by pid on every path.
// The server's prefork mode, the multi-process client and the experiment
// harness all start their children through it.
package procgroup

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// ReportFD is the fd a child writes its report lines to.
const ReportFD = 3

// Reporter returns an encoder writing one JSON value per line to the parent,
// or nil when this process was not started with a report pipe.
func Reporter() *json.Encoder {
	f := os.NewFile(ReportFD, "report")
	if f == nil {
		return nil
	}
	if _, err := f.Stat(); err != nil {
		return nil
	}
	return json.NewEncoder(f)
}

// Exit says how a child ended.
type Exit struct {
	Index int
	Pid   int
	Err   error // nil: exit status 0
	// Expected is true when the child ended after Stop asked it to.
	Expected bool
}

// Group is a set of children started by one parent.
type Group struct {
	mu       sync.Mutex
	cmds     []*exec.Cmd
	done     []chan struct{}
	stopping bool
	exits    chan Exit
	stopOnce sync.Once
}

// New returns an empty group; Exits reports up to max children's ends.
func New(max int) *Group {
	return &Group{exits: make(chan Exit, max+1)}
}

// RunAsChild runs this process as a child when its parent set env (the
// child's job, in whatever form run reads), and exits with run's code;
// otherwise it returns at once. Call it first in main.
func RunAsChild(env string, run func(job string) int) {
	job := os.Getenv(env)
	if job == "" {
		return
	}
	os.Exit(run(job))
}

// Self returns a command that re-runs this executable.
func Self(args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this executable to re-run: %w", err)
	}
	return exec.Command(exe, args...), nil
}

// The kernel sends Pdeathsig when the *thread* that forked a child exits,
// not the process; and Go ends a thread whenever a goroutine that locked
// it returns (every core.Loop does). So all children are forked from one
// goroutine locked to its thread for the life of the process.
var forks = make(chan forkRequest)

type forkRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func init() {
	go func() {
		runtime.LockOSThread() // never unlocked: this thread lives as long as the process
		for req := range forks {
			req.done <- req.cmd.Start()
		}
	}()
}

func start(cmd *exec.Cmd) error {
	done := make(chan error)
	forks <- forkRequest{cmd, done}
	return <-done
}

// Start starts cmd with a report pipe on fd 3; onLine gets each line it
// writes there (on one goroutine per child). The child is killed with
// SIGKILL if this process dies (Pdeathsig). It returns the child's index.
func (g *Group) Start(cmd *exec.Cmd, onLine func(line []byte)) (int, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return -1, fmt.Errorf("report pipe: %w", err)
	}
	cmd.ExtraFiles = append([]*os.File{w}, cmd.ExtraFiles...)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := start(cmd); err != nil {
		r.Close()
		w.Close()
		return -1, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	w.Close()
	g.mu.Lock()
	i := len(g.cmds)
	done := make(chan struct{})
	g.cmds = append(g.cmds, cmd)
	g.done = append(g.done, done)
	g.mu.Unlock()
	go g.watch(i, cmd, r, done, onLine)
	return i, nil
}

func (g *Group) watch(i int, cmd *exec.Cmd, r io.ReadCloser, done chan struct{}, onLine func([]byte)) {
	defer close(done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		if onLine != nil {
			onLine(sc.Bytes())
		}
	}
	io.Copy(io.Discard, r) // a line past the limit: keep the pipe drained
	r.Close()
	err := cmd.Wait()
	g.mu.Lock()
	expected := g.stopping
	g.mu.Unlock()
	g.exits <- Exit{Index: i, Pid: cmd.Process.Pid, Err: err, Expected: expected}
}

// StartLogged starts cmd in the group with its output going to the file
// path (created or truncated); the child keeps its own copy of the file.
func (g *Group) StartLogged(cmd *exec.Cmd, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	_, err = g.Start(cmd, nil)
	return err
}

// Exits delivers each child's end, in the order they end.
func (g *Group) Exits() <-chan Exit { return g.exits }

// Pids lists the children's pids.
func (g *Group) Pids() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	pids := make([]int, len(g.cmds))
	for i, c := range g.cmds {
		pids[i] = c.Process.Pid
	}
	return pids
}

// Signal sends sig to every child still running.
func (g *Group) Signal(sig os.Signal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, c := range g.cmds {
		select {
		case <-g.done[i]:
		default:
			c.Process.Signal(sig)
		}
	}
}

// Wait blocks until every child has ended.
func (g *Group) Wait() {
	g.mu.Lock()
	done := append([]chan struct{}(nil), g.done...)
	g.mu.Unlock()
	for _, d := range done {
		<-d
	}
}

// Stop sends SIGTERM to every child, waits up to grace, then SIGKILLs the
// rest and waits for them. Safe to call more than once.
func (g *Group) Stop(grace time.Duration) {
	g.stopOnce.Do(func() {
		g.mu.Lock()
		g.stopping = true
		g.mu.Unlock()
		g.Signal(syscall.SIGTERM)
		all := make(chan struct{})
		go func() { g.Wait(); close(all) }()
		select {
		case <-all:
		case <-time.After(grace):
			g.Signal(syscall.SIGKILL) // reaped children are skipped, so no pid is reused
			<-all
		}
	})
}
