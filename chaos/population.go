package chaos

import (
	"io"
	"sync"
	"time"

	"c1m/client"
)

// population is the well-behaved keepalive population the suite and the
// storm hold on the server: the real client, run in this process (and its
// children past one fd table), watched through its progress reports.
type population struct {
	stopping chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	res      client.Result // set when done is closed
	err      error

	mu   sync.Mutex
	last client.Progress
	at   time.Time // when last came
	seq  int       // reports so far
}

// startPopulation runs the client with cfg until stop is called.
func startPopulation(cfg client.Config) *population {
	p := &population{stopping: make(chan struct{}), done: make(chan struct{})}
	cfg.OnProgress = func(pg client.Progress) {
		p.mu.Lock()
		p.last, p.at, p.seq = pg, time.Now(), p.seq+1
		p.mu.Unlock()
	}
	go func() {
		defer close(p.done)
		p.res, p.err = client.Run(cfg, p.stopping, io.Discard)
	}()
	return p
}

// progress is the latest report, when it came and how many came so far.
func (p *population) progress() (client.Progress, time.Time, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last, p.at, p.seq
}

// fresh waits up to limit for a report newer than now, then returns the latest.
func (p *population) fresh(limit time.Duration) client.Progress {
	_, _, seq := p.progress()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if pg, _, n := p.progress(); n > seq {
			return pg
		}
	}
	pg, _, _ := p.progress()
	return pg
}

// ended is closed once the client has returned, stopped or not.
func (p *population) ended() <-chan struct{} { return p.done }

// stop ends the client, waits for it and returns its result; again, it
// returns the same.
func (p *population) stop() (client.Result, error) {
	p.stopOnce.Do(func() { close(p.stopping) })
	<-p.done
	return p.res, p.err
}
