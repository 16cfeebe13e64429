package eventloop

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Options say how a loop's OS thread is prepared before its first wait.
type Options struct {
	CPU          int  // pin the thread to this CPU; -1 leaves it unpinned
	PrivateFiles bool // unshare(CLONE_FILES): the thread gets its own fd table
	Batch        int  // events per epoll_wait (0: 256)
	RawWaitMs    int  // see Poller.Wait; 0: always wait through the scheduler
}

// Hooks are the callbacks a loop runs, all on its own locked thread.
type Hooks struct {
	Init  func(l *Loop) error               // after pin/unshare, before the first wait
	Event func(fd int, events uint32)       // one ready fd
	Wake  func()                            // another thread called Wake (work queued for this loop)
	Tick  func(now time.Time) time.Duration // after each wait; returns the longest next wait (<0: forever)
	Exit  func()                            // after Stop, before the thread ends: release everything
}

// Loop is one epoll event loop on one locked OS thread. Everything that
// waits on sockets in this repository (server workers, the acceptor, the load
// client's loops) is a Loop with different hooks.
type Loop struct {
	Poller   *Poller
	wakeFD   int // eventfd, created in the parent's fd table so other threads can write it
	stopping atomic.Bool
	done     chan struct{}
	err      error
	closeFD  sync.Once
	Waits    atomic.Uint64 // epoll_wait calls
}

// Start prepares a thread and starts the loop on it. It returns once
// Init has run, with Init's error if it failed.
func Start(opts Options, hooks Hooks) (*Loop, error) {
	wake, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	l := &Loop{wakeFD: wake, done: make(chan struct{})}
	ready := make(chan error, 1)
	go l.run(opts, hooks, ready)
	if err := <-ready; err != nil {
		l.Wait()
		return nil, err
	}
	return l, nil
}

func (l *Loop) run(opts Options, hooks Hooks, ready chan<- error) {
	// The goroutine never unlocks: when it returns the runtime ends the
	// thread, which is what a thread with a private fd table needs.
	runtime.LockOSThread()
	defer close(l.done)
	if err := l.prepare(opts, hooks); err != nil {
		ready <- err
		return
	}
	ready <- nil
	l.err = l.serve(hooks)
	if hooks.Exit != nil {
		hooks.Exit()
	}
	l.Poller.Close()
	// The wake eventfd is closed by Wait, in the shared fd table, once no
	// other thread will write it; a private table's copy dies with the thread.
}

func (l *Loop) prepare(opts Options, hooks Hooks) error {
	if opts.CPU >= 0 {
		if err := PinThread(opts.CPU); err != nil {
			return err
		}
	}
	// The runtime's poller, created lazily at its first use (a timer will
	// do, the GC's scavenger sleeping on one), takes two fds: at a full fd
	// table that first use is fatal ("netpollinit failed"), and even with
	// room it takes two fds the table was planned to have free. So it is
	// made here, before any connection can fill the table.
	if err := initNetpoll(); err != nil {
		return err
	}
	if opts.PrivateFiles {
		if err := unix.Unshare(unix.CLONE_FILES); err != nil {
			return fmt.Errorf("unshare(CLONE_FILES) for a private fd table: %w", err)
		}
	}
	p, err := NewPoller(opts.Batch)
	if err != nil {
		return err
	}
	p.RawWaitMs = opts.RawWaitMs
	l.Poller = p
	if err := p.Add(l.wakeFD, unix.EPOLLIN); err != nil {
		p.Close()
		return err
	}
	if hooks.Init != nil {
		if err := hooks.Init(l); err != nil {
			p.Close()
			return err
		}
	}
	return nil
}

func (l *Loop) serve(hooks Hooks) error {
	var counter [8]byte
	for !l.stopping.Load() {
		timeout := -1
		if hooks.Tick != nil {
			if d := hooks.Tick(time.Now()); d >= 0 {
				timeout = int((d + time.Millisecond - 1) / time.Millisecond)
			}
		}
		events, err := l.Poller.Wait(timeout)
		l.Waits.Add(1)
		if err != nil {
			return err
		}
		for _, ev := range events {
			fd := int(ev.Fd)
			if fd == l.wakeFD {
				unix.Read(l.wakeFD, counter[:])
				if hooks.Wake != nil {
					hooks.Wake()
				}
				continue
			}
			hooks.Event(fd, ev.Events)
		}
	}
	return nil
}

// Wake makes the loop run its Wake hook soon. Safe from any thread.
func (l *Loop) Wake() {
	one := [8]byte{1}
	unix.Write(l.wakeFD, one[:])
}

// Stop asks the loop to finish; Exit runs on the loop's thread.
func (l *Loop) Stop() {
	l.stopping.Store(true)
	l.Wake()
}

// Wait blocks until the loop has ended, releases its wake eventfd and
// returns its error. Call Wake no more after Wait.
func (l *Loop) Wait() error {
	<-l.done
	l.closeFD.Do(func() { unix.Close(l.wakeFD) })
	return l.err
}

// netpollOnce makes sure the Go runtime's own epoll instance exists before
// any thread copies its fd table: the runtime polls it from whatever thread
// starts the world after a GC, a private-table thread included, and an
// epoll fd created after the copy is missing there (EBADF, fatal).
var netpollOnce = sync.OnceValue(func() error {
	r, w, err := os.Pipe() // a pipe is registered with the runtime poller
	if err != nil {
		return fmt.Errorf("starting the runtime poller before unshare: %w", err)
	}
	r.Close()
	w.Close()
	return nil
})

func initNetpoll() error { return netpollOnce() }

// EnsureProcs raises GOMAXPROCS to loops+1 if it is lower. A loop thread
// in a raw wait keeps its P, and a locked loop thread woken from a
// scheduler wait queues for a free P: either way each loop wants a P of
// its own, plus one for everything else (stats, signals, the GC).
// (Measured here: half the connect rate with 51 workers at GOMAXPROCS=2.)
func EnsureProcs(loops int) {
	if runtime.GOMAXPROCS(0) < loops+1 {
		runtime.GOMAXPROCS(loops + 1)
	}
}

// PinThread binds the calling (locked) thread to one CPU.
func PinThread(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu % runtime.NumCPU())
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("sched_setaffinity(cpu %d): %w", cpu, err)
	}
	return nil
}
