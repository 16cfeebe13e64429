package uring

import (
	"fmt"
	"sync/atomic"
	"time"

	"c1m/core"
	"c1m/eventloop"

	"golang.org/x/sys/unix"
)

// thread is one locked OS thread serving a share of the rings. Its rings
// signal one eventfd, which the thread's epoll loop waits on.
type thread struct {
	loop      *eventloop.Loop
	efd       int
	rings     []*ringWorker
	wakes     atomic.Uint64 // eventfd reads
	more      bool          // the last run ended with work left
	lookEvery time.Duration // look into every ring this often whatever the eventfd says (0: never)
	looked    time.Time     // when every ring was last looked into regardless
	stopping  atomic.Bool   // Server.Stop asked for a graceful stop (set from any thread)
	stop      core.StopBudget
}

func (th *thread) hooks() eventloop.Hooks {
	return eventloop.Hooks{
		Init: th.init,
		Event: func(fd int, _ uint32) {
			if fd == th.efd {
				var b [8]byte
				unix.Read(th.efd, b[:])
				th.wakes.Add(1)
				th.run()
			}
		},
		Tick: th.tick,
		Exit: th.exit,
	}
}

// init creates the thread's eventfd and its rings, on the thread itself
// (each ring's single issuer). It serves nothing: the loop's first tick
// does (th.more). Serving here held up Start, and with it the server's
// /stats, while the rings drained full accept queues: a server restarted
// into a reconnect storm of a million (20 listeners' queues of 65,535)
// did not answer for over 30 s on 2 AMD EPYC CPUs.
func (th *thread) init(l *eventloop.Loop) error {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	th.efd = efd
	if err := l.Poller.Add(efd, unix.EPOLLIN); err != nil {
		return err
	}
	for _, w := range th.rings {
		if err := w.init(efd); err != nil {
			th.exit()
			return err
		}
	}
	th.more = true
	return nil
}

// tick runs after every wait: the optional look into every ring, another
// run while work was left, and the rings' accept back-offs. It returns how
// long the loop may sleep (-1: until an event).
func (th *thread) tick(now time.Time) time.Duration {
	if th.stopping.Load() {
		return th.stopTick(now)
	}
	if th.lookEvery > 0 && now.Sub(th.looked) >= th.lookEvery {
		// -uring-look: look into every ring (entering the kernel for
		// deferring ones) however quiet the eventfd has been. Off by
		// default (core.UringConfig.LookEvery says why); experiment 13's arm.
		for _, w := range th.rings {
			w.look = w.ring != nil
		}
		th.more, th.looked = true, now
	}
	if th.more {
		th.run()
	}
	wait := time.Duration(-1)
	switch {
	case th.more:
		wait = 0
	case th.lookEvery > 0:
		wait = th.lookEvery
	}
	for _, w := range th.rings {
		d := w.tick(now)
		if w.ring != nil && w.ring.Queued() > 0 {
			d = time.Millisecond // the kernel took not all: try again soon
		}
		if d >= 0 && (wait < 0 || d < wait) {
			wait = d
		}
	}
	return wait
}

// runRounds bounds one run: how many times it serves every busy ring.
const runRounds = 16

// run serves every ring of the thread until none has completions left, or
// runRounds times (one while stopping: serving a saturated thread's rings
// 16 times over took seconds, and its stop closed nothing meanwhile).
// The rings' eventfd signals are off meanwhile, and back on before the
// last look, so a completion posted after it still wakes the thread.
func (th *thread) run() {
	rounds := runRounds
	if th.stopping.Load() {
		rounds = 1 // a stop serves between its batches of closes (stopTick)
	}
	for _, w := range th.rings {
		if w.ring != nil {
			w.ring.Notify(false)
		}
	}
	for round := 0; round < rounds; round++ {
		busy := false
		last := round == rounds-1
		for _, w := range th.rings {
			if w.ring == nil {
				continue
			}
			if last {
				w.ring.Notify(true)
			}
			if w.look || w.ring.Ready() || w.ring.Queued() > 0 || w.ring.MayHaveMore() {
				w.serve()
				busy = true
			}
		}
		if !busy && !last {
			round = rounds - 2 // one more pass, notifications on
		} else if !busy {
			th.more = false
			return
		}
	}
	// Still busy after every round: come back at once (Tick) rather than
	// wait for a signal that a deferring ring may not send.
	th.more = true
}

// stopTick is one step of a graceful stop, on the thread: serve what has
// completed (echoing what arrived), then close its rings' connections, a
// core.StopBudget at a time; the loop ends when none is left (Exit then
// closes the rings).
func (th *thread) stopTick(now time.Time) time.Duration {
	if th.stop.Begin(now) {
		for _, w := range th.rings {
			w.forgetFresh()
		}
	}
	th.run()
	now = time.Now()
	budget, left := th.stop.Budget(now), 0
	for _, w := range th.rings {
		if w.ring != nil {
			budget -= w.stopSome(budget, th.stop.Expired(now))
			left += w.conns
		}
	}
	if left == 0 {
		th.loop.Stop()
		return 0
	}
	return core.StopPause
}

func (th *thread) exit() {
	for _, w := range th.rings {
		w.close()
	}
	if th.efd >= 0 {
		unix.Close(th.efd)
		th.efd = -1
	}
}
