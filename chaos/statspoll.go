package chaos

// The /stats poller: while a run goes through its phases, the server's
// /stats is fetched on a fixed beat with a short timeout, and each phase
// keeps its longest answer and its failures. It says whether the server
// stays observable while it is busiest (a herd of reconnects, a stop).

import (
	"net/http"
	"sync"
	"time"

	"c1m/schema"
	"c1m/statshttp"
)

// Poll beat and patience for /stats during the storm.
const (
	statsPollEvery   = 250 * time.Millisecond
	statsPollTimeout = time.Second
)

// statsPoller polls url until stopped; phase names what the polls count towards.
type statsPoller struct {
	url    string
	client *http.Client

	mu     sync.Mutex
	phases []schema.StatsPhase // the current phase last
	excuse func() bool         // of the current phase: is a failure no fault of the server's?

	quit, done chan struct{}
	stopOnce   sync.Once
}

// startStatsPoller starts polling url in phase first.
func startStatsPoller(url, first string) *statsPoller {
	p := &statsPoller{url: url, quit: make(chan struct{}), done: make(chan struct{}),
		client: &http.Client{Timeout: statsPollTimeout, Transport: &http.Transport{DisableKeepAlives: true}}}
	p.phase(first, nil)
	go p.run()
	return p
}

// phase starts phase name; excuse (nil: none) is asked after each failed
// poll of it whether the failure is the server's: a server that is gone
// (killed, or exited after a stop) does not fail to answer.
func (p *statsPoller) phase(name string, excuse func() bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phases = append(p.phases, schema.StatsPhase{Name: name})
	p.excuse = excuse
}

// excusePhase marks the current phase as one without a server to ask.
func (p *statsPoller) excusePhase() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.phases[len(p.phases)-1].Excused = true
}

func (p *statsPoller) run() {
	defer close(p.done)
	tick := time.NewTicker(statsPollEvery)
	defer tick.Stop()
	for {
		p.pollOnce()
		select {
		case <-p.quit:
			return
		case <-tick.C:
		}
	}
}

// pollOnce fetches /stats once and counts it towards the phase it started in.
func (p *statsPoller) pollOnce() {
	p.mu.Lock()
	i, excuse := len(p.phases)-1, p.excuse
	p.mu.Unlock()
	t0 := time.Now()
	_, err := statshttp.Fetch(p.client, p.url)
	took := time.Since(t0)
	if err != nil && excuse != nil && excuse() {
		return // the server is gone: no poll to count
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ph := &p.phases[i]
	ph.Polls++
	if err != nil {
		ph.Failed++
		return
	}
	ph.MaxMs = max(ph.MaxMs, float64(took.Microseconds())/1e3)
}

// stop ends the polling and returns the phases.
func (p *statsPoller) stop() *schema.StatsPolls {
	p.stopOnce.Do(func() { close(p.quit) })
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return &schema.StatsPolls{IntervalS: statsPollEvery.Seconds(), TimeoutS: statsPollTimeout.Seconds(), Phases: append([]schema.StatsPhase(nil), p.phases...)}
}
