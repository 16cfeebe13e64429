package client

import (
	"math/bits"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"c1m/core"
	"c1m/eventloop"
)

// Connection states.
const (
	stIdle       uint8 = iota // not yet attempted
	stConnecting              // connect in progress
	stOpen                    // established
	stWaiting                 // failed or dropped, waiting to reconnect
	stDone                    // failed or dropped for good
)

// Connection flags.
const (
	flTimedOut uint8 = 1 << iota // the outstanding message was counted as a timeout
	flVerified                   // at least one echo verified on this connection
	flBadMsg                     // the message being received has a wrong byte
	flLive                       // an echo verified on the current socket (counted in openVerified)
)

// conn is one connection's client state: a few dozen bytes, no pointers.
type conn struct {
	fd      int32
	state   uint8
	flags   uint8
	tries   uint16 // consecutive failed connects, for the back-off
	started int64  // connect start, or when to retry (ns, core.MonoNs clock)
	queued  uint64 // stream bytes queued to send
	written uint64 // stream bytes written
	recv    uint64 // stream bytes received and checked
	downAt  int64  // when an established connection was lost, until verified again (ns, core.MonoNs; 0: not down)
}

// Run phases, set by the controller and read by the loops.
const (
	phaseRamp  int32 = iota // connect and keep alive
	phaseDrain              // stop sending; wait for outstanding echoes
	phaseClose              // close everything
)

const (
	maxChunk       = 64 << 10 // bytes per read or write call
	tickBudget     = 4096     // scheduled sends per tick, so events are not starved
	backoffBase    = 100 * time.Millisecond
	backoffCeiling = 10 * time.Second
)

// transport is how an engine's sockets do their I/O: ordinary fds in
// epoll (epollIO) or registered-file slots of io_uring rings (uringIO).
// The engine keeps everything else — the ramp, the keepalive schedule, the
// verification, the counts — and a transport reports back through
// established, connectFailed, received and drop. All on the loop's thread.
type transport interface {
	init(l *eventloop.Loop) error // before the loop's first wait
	event(fd int, ev uint32)      // an fd the transport added to the loop is ready
	connect(k int) error          // start connection k's connect (an error: it failed at once)
	send(k int) bool              // send k's queued bytes as the socket allows; false: k was dropped
	close(k int)                  // close k's socket (conns[k].fd >= 0)
	submit() time.Duration        // after each tick: hand queued requests to the kernel; when to come back (-1: no need)
	exit()                        // the loop ends: release everything
}

// engine drives one loop's share of the connections.
type engine struct {
	id    int
	job   *Job
	loop  *eventloop.Loop
	conns []conn
	sent  []int64 // send time of each in-flight message: depth slots per connection
	io    transport
	phase *atomic.Int32
	// retryOff, when set (nil: never), ends -reconnect for this run.
	retryOff *atomic.Bool
	c        counters
	connH    *hdrhistogram.Histogram
	rttH     *hdrhistogram.Histogram
	holdH    *hdrhistogram.Histogram // round trips of messages sent after the whole ramp
	downH    *hdrhistogram.Histogram // per lost connection: from the loss to an echo verified on its new socket
	// holdStart is when every connection of the run was open (ns, 0: not yet).
	holdStart atomic.Int64
	stride    int // global index of conns[k] = job.Offset + id + k*stride

	nextNew      int
	inFlight     int
	maxInFlight  int
	tokens       float64
	rate         float64 // connects per second for this loop, 0: unbounded
	lastRefill   int64
	retry        retryQueue
	rampStop     atomic.Pointer[string] // why the ramp stopped early
	rampDone     atomic.Bool
	rampDoneAt   atomic.Int64
	cursor       int
	cycleStart   int64
	quietOver    bool  // a quiet ramp's keepalives have begun
	monoOffset   int64 // CLOCK_MONOTONIC minus core.MonoNs: aligns ticks across processes
	lastTimeScan int64

	churnRate   float64 // closes per second for this loop (-churn)
	churnTokens float64
	churnLast   int64
	churnCursor int
}

func newEngine(job *Job, id, loops int, phase *atomic.Int32) *engine {
	n := (job.Count - id + loops - 1) / loops
	if n < 0 {
		n = 0
	}
	e := &engine{id: id, job: job, conns: make([]conn, n), sent: make([]int64, n*job.Depth),
		phase: phase, connH: core.NewLatencyHistogram(),
		rttH: core.NewLatencyHistogram(), holdH: core.NewLatencyHistogram(), downH: core.NewLatencyHistogram(), stride: loops}
	e.maxInFlight = max(job.InFlight/loops, 1)
	if job.Rate > 0 {
		e.rate = job.Rate / float64(loops)
	}
	e.churnRate = job.Churn / float64(loops)
	for i := range e.conns {
		e.conns[i].fd = -1
	}
	if job.Engine == EngineUring {
		e.io = newUringIO(e)
	} else {
		e.io = newEpollIO(e)
	}
	return e
}

func (e *engine) global(k int) int { return e.job.Offset + e.id + k*e.stride }

// phase is connection g's offset into each keepalive interval, g×interval/total,
// in 128 bits: at a 24 h interval the product passes 2^63 from the 106,752nd
// connection on, and the wrapped phase used to send at once what should wait a day.
func phase(g, total int, interval int64) int64 {
	total = max(total, 1)
	whole, part := g/total, g%total
	hi, lo := bits.Mul64(uint64(part), uint64(interval))
	p, _ := bits.Div64(hi, lo, uint64(total)) // hi < total since part < total: no overflow
	return int64(whole)*interval + int64(p)
}

func (e *engine) hooks() eventloop.Hooks {
	return eventloop.Hooks{
		Init: func(l *eventloop.Loop) error {
			e.loop = l
			e.lastRefill = core.MonoNs()
			e.cycleStart = e.lastRefill
			return e.io.init(l)
		},
		Event: e.io.event,
		Tick: func(now time.Time) time.Duration {
			wait := e.tick(now)
			// Everything the events and the schedule queued goes to the
			// kernel together (io_uring: one enter per ring that has work).
			if d := e.io.submit(); d >= 0 && (wait < 0 || d < wait) {
				wait = d
			}
			return wait
		},
		Exit: func() {
			e.closeAll()
			e.io.exit()
		},
	}
}

func (e *engine) tick(now time.Time) time.Duration {
	ns := core.MonoNs()
	wait := time.Duration(-1)
	earliest := func(d time.Duration) {
		if d >= 0 && (wait < 0 || d < wait) {
			wait = d
		}
	}
	switch e.phase.Load() {
	case phaseRamp:
		earliest(e.ramp(ns))
		if e.job.Interval > 0 && e.keepaliveBegun() {
			earliest(e.keepalive(ns))
		}
		if e.churnRate > 0 {
			earliest(e.churn(ns))
		}
	case phaseDrain:
		// Nothing new is sent; a time-out scan below still runs.
	case phaseClose:
		e.closeAll()
		return -1
	}
	if e.inFlight > 0 && ns-e.lastTimeScan > int64(time.Second) {
		e.lastTimeScan = ns
		e.expireConnects(ns)
	}
	if e.inFlight > 0 {
		earliest(time.Second)
	}
	return wait
}

// ramp starts connects within the rate and in-flight bounds; returns how
// long until it can start the next one (-1: nothing left to start).
func (e *engine) ramp(ns int64) time.Duration {
	if e.rampStop.Load() != nil {
		e.finishRamp(ns)
		return -1
	}
	if e.rate > 0 {
		e.tokens = min(e.tokens+float64(ns-e.lastRefill)/1e9*e.rate, max(1, e.rate/20))
		e.lastRefill = ns
	}
	for e.inFlight < e.maxInFlight && e.rampStop.Load() == nil {
		if e.rate > 0 && e.tokens < 1 {
			return time.Duration((1 - e.tokens) / e.rate * 1e9)
		}
		k := -1
		if e.retry.len() > 0 && e.conns[e.retry.next()].started <= ns {
			k = int(e.retry.pop(e.conns))
			e.c.reconnects.Add(1)
		} else if e.nextNew < len(e.conns) {
			k = e.nextNew
			e.nextNew++
		}
		if k < 0 {
			break
		}
		e.tokens--
		e.connect(k, ns)
	}
	// Stopped early or all started: done once nothing is in flight. (A
	// connect that fails at once, like EADDRNOTAVAIL, leaves no event to
	// come back for: decide now.)
	if e.rampStop.Load() != nil || e.nextNew >= len(e.conns) && e.inFlight == 0 {
		e.finishRamp(ns)
	}
	if e.retry.len() > 0 {
		return time.Duration(max(e.conns[e.retry.next()].started-ns, 0))
	}
	return -1
}

func (e *engine) finishRamp(ns int64) {
	if e.inFlight == 0 && !e.rampDone.Load() {
		e.rampDoneAt.Store(ns)
		e.rampDone.Store(true)
	}
}

// connect starts connection k's connect through the transport.
func (e *engine) connect(k int, ns int64) {
	c := &e.conns[k]
	e.c.attempted.Add(1)
	c.started = ns
	c.state = stConnecting
	e.inFlight++
	e.c.inFlight.Add(1)
	if err := e.io.connect(k); err != nil {
		e.connectFailed(k, err)
	}
}

func (e *engine) established(k int) {
	c := &e.conns[k]
	now := core.MonoNs()
	c.state = stOpen
	c.tries = 0
	e.inFlight--
	e.c.inFlight.Add(-1)
	e.c.established.Add(1)
	if open := e.c.open.Add(1); open > e.c.peakOpen.Load() {
		e.c.peakOpen.Store(open)
	}
	e.connH.RecordValue(max((now-c.started)/1000, 1))
	switch {
	case e.job.Interval == 0 && e.phase.Load() == phaseRamp:
		e.queue(k, e.job.Depth, now) // saturating: fill the pipeline
	case c.downAt != 0 && e.keepalivesOn() && e.phase.Load() == phaseRamp:
		// Back after a loss: verify the new socket now, not at the
		// connection's next keepalive phase up to an interval away.
		e.queue(k, 1, now)
	}
}

// keepalivesOn says whether keepalives are being sent (not during a quiet ramp).
func (e *engine) keepalivesOn() bool { return !e.job.Silent && (!e.job.QuietRamp || e.quietOver) }

// queue adds n messages to connection k's output and writes what it can.
func (e *engine) queue(k, n int, now int64) bool {
	c := &e.conns[k]
	L := uint64(len(e.job.Msg))
	d := uint64(e.job.Depth)
	for i := 0; i < n; i++ {
		m := c.queued / L
		e.sent[uint64(k)*d+m%d] = now
		c.queued += L
		e.c.sent.Add(1)
		e.c.pending.Add(1)
	}
	return e.io.send(k)
}

// received checks bytes that came back on connection k against the
// stream sent, accounting each message they complete. It returns false
// once the connection is no longer open (corrupt, or dropped meanwhile).
func (e *engine) received(k int, got []byte) bool {
	c := &e.conns[k]
	L := uint64(len(e.job.Msg))
	e.c.bytesReceived.Add(int64(len(got)))
	if c.recv+uint64(len(got)) > c.written {
		// More came back than was sent: the echo is corrupt.
		e.c.mismatched.Add(1)
		e.drop(k, "extra-bytes")
		return false
	}
	now := core.MonoNs()
	for len(got) > 0 {
		off := c.recv % L
		take := min(uint64(len(got)), L-off) // up to the end of this message
		want := e.job.pattern[off : off+take]
		if string(got[:take]) != string(want) {
			c.flags |= flBadMsg
		}
		c.recv += take
		got = got[take:]
		if c.recv%L == 0 {
			e.messageDone(k, c.recv/L-1, now)
		}
	}
	return c.state == stOpen
}

// messageDone accounts message m of connection k, fully received.
func (e *engine) messageDone(k int, m uint64, now int64) {
	c := &e.conns[k]
	e.c.pending.Add(-1)
	if c.flags&flBadMsg != 0 {
		c.flags &^= flBadMsg
		e.c.mismatched.Add(1)
	} else {
		e.c.echoed.Add(1)
		if c.flags&flVerified == 0 {
			c.flags |= flVerified
			e.c.verified.Add(1)
		}
		if c.flags&flLive == 0 {
			c.flags |= flLive
			e.c.openVerified.Add(1)
			if c.downAt != 0 {
				e.downH.RecordValue(max((now-c.downAt)/1000, 1))
				c.downAt = 0
			}
		}
		d := uint64(e.job.Depth)
		sentAt := e.sent[uint64(k)*d+m%d]
		rtt := max((now-sentAt)/1000, 1)
		e.rttH.RecordValue(rtt)
		if hs := e.holdStart.Load(); hs != 0 && sentAt >= hs {
			e.holdH.RecordValue(rtt)
		}
	}
	c.flags &^= flTimedOut
	if e.job.Interval == 0 && e.phase.Load() == phaseRamp {
		e.queue(k, 1, now)
	}
}

// keepaliveBegun says whether keepalives are sent yet: always, unless the
// ramp is quiet; then from the hold on, with the first cycle starting there
// (not at the loop's start, which would fire every missed phase at once).
func (e *engine) keepaliveBegun() bool {
	if !e.job.QuietRamp || e.quietOver {
		return true
	}
	hs := e.holdStart.Load()
	if hs == 0 {
		return false
	}
	e.cycleStart, e.cursor, e.quietOver = hs, 0, true
	return true
}

// keepalive sends on every connection whose phase has come round, in
// order: connection g's phase is g×interval/total, so sends are spread
// evenly over the interval. Sends are grouped into ticks of Job.Tick
// aligned on the system's monotonic clock, so every loop of every client
// process sends in the same instants and the server's workers find many
// events per wake-up instead of one. Returns how long until the next tick.
func (e *engine) keepalive(ns int64) time.Duration {
	if len(e.conns) == 0 || e.job.Silent {
		return -1
	}
	interval := int64(e.job.Interval)
	timeout := int64(e.job.Timeout)
	tick := max(int64(e.job.Tick), 1)
	// The end of the current tick, on this process's clock.
	abs := ns + e.monoOffset
	tickEnd := abs - abs%tick + tick - e.monoOffset
	for budget := tickBudget; budget > 0; budget-- {
		due := e.cycleStart + phase(e.global(e.cursor), e.job.Total, interval)
		if due >= tickEnd {
			dueAbs := due + e.monoOffset
			return time.Duration(dueAbs - dueAbs%tick - abs)
		}
		k := e.cursor
		c := &e.conns[k]
		if c.state == stOpen {
			if c.queued > c.recv { // the last keepalive is not echoed yet
				d := uint64(e.job.Depth)
				m := (c.queued - 1) / uint64(len(e.job.Msg))
				if c.flags&flTimedOut == 0 && ns-e.sent[uint64(k)*d+m%d] > timeout {
					c.flags |= flTimedOut
					e.c.timeouts.Add(1)
				}
			} else if e.job.Keepalives == 0 || c.queued < uint64(e.job.Keepalives*len(e.job.Msg)) {
				e.queue(k, 1, ns)
			}
		}
		e.cursor++
		if e.cursor == len(e.conns) {
			e.cursor = 0
			e.cycleStart += interval
		}
	}
	return 0
}

// churn closes idle open connections at churnRate once this loop's ramp is
// done, each queued to reconnect at once; returns how long until the next.
// Only a connection with no echo outstanding is closed, so churn loses no
// message and its closes are not drops.
func (e *engine) churn(ns int64) time.Duration {
	if !e.rampDone.Load() || len(e.conns) == 0 {
		e.churnLast = ns
		return -1
	}
	e.churnTokens = min(e.churnTokens+float64(ns-e.churnLast)/1e9*e.churnRate, max(1, e.churnRate/10))
	e.churnLast = ns
	for scanned := 0; e.churnTokens >= 1 && scanned < len(e.conns); scanned++ {
		k := e.churnCursor
		e.churnCursor = (e.churnCursor + 1) % len(e.conns)
		c := &e.conns[k]
		if c.state != stOpen || c.queued != c.recv {
			continue
		}
		e.churnTokens--
		e.c.churned.Add(1)
		e.c.open.Add(-1)
		e.release(k)
		c.state, c.started = stWaiting, ns
		e.retry.push(e.conns, int32(k))
	}
	if e.churnTokens >= 1 {
		return 10 * time.Millisecond // nothing idle to close now: look again soon
	}
	return time.Duration((1 - e.churnTokens) / e.churnRate * 1e9)
}

// expireConnects fails connects older than the connect time-out.
func (e *engine) expireConnects(ns int64) {
	limit := int64(e.job.ConnectTimeout)
	for k := range e.conns {
		if e.conns[k].state == stConnecting && ns-e.conns[k].started > limit {
			e.connectFailed(k, unix.ETIMEDOUT)
		}
	}
}

func (e *engine) connectFailed(k int, err error) {
	c := &e.conns[k]
	cause := Classify(err)
	if c.state == stConnecting {
		e.inFlight--
		e.c.inFlight.Add(-1)
	}
	e.release(k)
	e.c.failed.add(cause.Name)
	if cause.StopsRamp && !e.job.Reconnect {
		name := cause.Name
		e.rampStop.CompareAndSwap(nil, &name)
		c.state = stDone
		return
	}
	e.retryLater(k)
}

// drop ends an established connection the server or the network closed.
func (e *engine) drop(k int, cause string) {
	if c := &e.conns[k]; c.downAt == 0 {
		c.downAt = core.MonoNs()
	}
	e.c.dropped.add(cause)
	e.c.open.Add(-1)
	e.release(k)
	e.retryLater(k)
}

func (e *engine) retryLater(k int) {
	c := &e.conns[k]
	if !e.job.Reconnect || e.phase.Load() != phaseRamp || (e.retryOff != nil && e.retryOff.Load()) {
		c.state = stDone
		return
	}
	// Exponential back-off with full jitter, so a restarted server is not
	// met by every client at the same instant.
	c.tries++
	ceiling := min(backoffBase<<min(c.tries, 16), backoffCeiling)
	c.started = core.MonoNs() + rand.Int64N(int64(ceiling))
	c.state = stWaiting
	e.retry.push(e.conns, int32(k))
	e.rampDone.Store(false)
}

// release closes connection k's socket and clears its stream.
func (e *engine) release(k int) {
	c := &e.conns[k]
	L := uint64(len(e.job.Msg))
	e.c.pending.Add(-int64((c.queued - c.recv + L - 1) / L)) // a partly echoed message counts as unanswered
	if c.fd >= 0 {
		e.io.close(k)
		c.fd = -1
	}
	if c.flags&flLive != 0 {
		e.c.openVerified.Add(-1)
	}
	c.queued, c.written, c.recv = 0, 0, 0
	c.flags &^= flTimedOut | flBadMsg | flLive
}

// closeAll closes every socket (end of run, on the loop's thread).
func (e *engine) closeAll() {
	// Counted here, on the loop's thread, so the result adds up: an echo or
	// a handshake the loop handled after the controller's last look is in
	// echoed or established, and must not also be in flight or missing.
	// (A second call, from Exit, adds the zeros the first one left.)
	e.c.pendingAtClose.Add(e.c.pending.Load())
	e.c.openAtClose.Add(e.c.open.Load())
	for k := range e.conns {
		if e.conns[k].state == stOpen {
			e.c.open.Add(-1)
		}
		if e.conns[k].state == stConnecting {
			e.inFlight--
			e.c.inFlight.Add(-1)
		}
		e.release(k)
		e.conns[k].state = stDone
	}
	e.retry.clear()
}
