package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"c1m/core"
	"c1m/schema"
)

// Scenario is one kind of hostile client.
type Scenario struct {
	Name, Description string
	Run               func(a *attack)
}

// Scenarios lists every kind, in the order they run alone.
func Scenarios() []Scenario {
	return []Scenario{
		{"idle", "connections that connect and send nothing", idle},
		{"no-read", "connections that send without end and never read their echo", noRead},
		{"burst", "1 MiB bursts, echo read back and compared", burst},
		{"half-close", "256 KiB sent, then shutdown(SHUT_WR) with the echo still in flight; the whole echo and then EOF must come back", halfClose},
		{"rst", "RST mid-message: 128 KiB sent, then close with SO_LINGER 0", rst},
		{"vanish", "connect, maybe send a little, then close without reading (the echo meets a closed socket)", vanish},
		{"flood", "a connect flood past -max-conns, held, then released", flood},
		{"fd-flood", "a connect flood past the server's fd limit (its soft RLIMIT_NOFILE lowered for the scenario)", fdFlood},
		{"random", "random bytes of random lengths, echo compared", random},
		{"slowloris", "one byte per second per connection on thousands of connections, echo compared", slowloris},
	}
}

// attack is what a scenario works with: dialing, counting, the server.
type attack struct {
	s        *suite
	ctx      context.Context
	hold     time.Duration
	together bool // every scenario at once: each opens half its count
	src      atomic.Uint32

	mu        sync.Mutex
	errs      map[string]int64
	attempted int64
	ok        int64
	holdCores float64
	notes     []string
	failures  []string
}

// n is a scenario's connection count (halved when all run together).
func (a *attack) n(full int) int {
	if a.together {
		return max(full/2, 1)
	}
	return full
}

// addTo records the attacker's side of the scenario in o.
func (a *attack) addTo(o *schema.ScenarioOutcome) {
	a.mu.Lock()
	defer a.mu.Unlock()
	o.Attempted, o.AttackerOK, o.HoldCPUPerSec = a.attempted, a.ok, a.holdCores
	for k, v := range a.errs {
		o.AttackerErrors[k] = v
	}
	o.Notes = append(o.Notes, a.notes...)
	o.Failures = append(o.Failures, a.failures...)
}

func (a *attack) note(format string, args ...any) {
	a.mu.Lock()
	a.notes = append(a.notes, fmt.Sprintf(format, args...))
	a.mu.Unlock()
}

func (a *attack) fail(format string, args ...any) {
	a.mu.Lock()
	a.failures = append(a.failures, fmt.Sprintf(format, args...))
	a.mu.Unlock()
}

func (a *attack) success() {
	a.mu.Lock()
	a.ok++
	a.mu.Unlock()
}

// count records an attacker-side error by class.
func (a *attack) count(err error) {
	a.mu.Lock()
	a.errs[errName(err)]++
	a.mu.Unlock()
}

func errName(err error) string {
	var ne net.Error
	var errno syscall.Errno
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &errno):
		return unix.ErrnoName(errno)
	}
	return "other"
}

// dial opens one hostile connection from a rotating source address
// (127.0.1.1-250), so attackers never run short of ephemeral ports.
func (a *attack) dial(timeout time.Duration) (*net.TCPConn, error) {
	a.mu.Lock()
	a.attempted++
	a.mu.Unlock()
	k := a.src.Add(1)
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+k%250))}}
	c, err := d.DialContext(a.ctx, "tcp", a.s.addr)
	if err != nil {
		a.count(err)
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// dialMany opens up to n connections, 256 at a time, and returns those that connected.
func (a *attack) dialMany(n int, timeout time.Duration) []*net.TCPConn {
	var mu sync.Mutex
	conns := make([]*net.TCPConn, 0, n)
	each(n, 256, func(int) {
		if c, err := a.dial(timeout); err == nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	return conns
}

// each runs f(0..n-1) on at most limit goroutines at once.
func each(n, limit int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, limit)
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(i)
		}()
	}
	wg.Wait()
}

// perConn dials n connections, limit at a time, runs f on each and closes
// it; f returning true counts one attacker success.
func (a *attack) perConn(n, limit int, f func(i int, c *net.TCPConn) bool) {
	each(n, limit, func(i int) {
		c, err := a.dial(5 * time.Second)
		if err != nil {
			return
		}
		defer c.Close()
		if f(i, c) {
			a.success()
		}
	})
}

func (a *attack) wait() { sleep(a.ctx, a.hold) }

func closeAll(conns []*net.TCPConn) {
	for _, c := range conns {
		c.Close()
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.UintN(256))
	}
	return b
}

// echoBack writes msg (concurrently with reading) and checks the echo; a
// different echo fails the scenario, a connection error is only counted.
func (a *attack) echoBack(c *net.TCPConn, msg []byte, what string) bool {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(msg)
		werr <- err
	}()
	got := make([]byte, len(msg))
	_, rerr := io.ReadFull(c, got)
	if err := errors.Join(<-werr, rerr); err != nil {
		a.count(err)
		return false
	}
	if !bytes.Equal(got, msg) {
		a.fail("%s: echo differs from what was sent (first difference at byte %d of %d)", what, firstDiff(got, msg), len(msg))
		return false
	}
	return true
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func idle(a *attack) {
	conns := a.dialMany(a.n(a.s.sc.Idle), 5*time.Second)
	a.wait()
	for range conns {
		a.success()
	}
	closeAll(conns)
}

func noRead(a *attack) {
	n := a.n(a.s.sc.NoRead)
	before := a.s.rss()
	conns := a.dialMany(n, 5*time.Second)
	deadline := time.Now().Add(a.hold)
	var written atomic.Int64
	var wg sync.WaitGroup
	chunk := randomBytes(64 << 10)
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetWriteDeadline(deadline)
			for time.Now().Before(deadline) && a.ctx.Err() == nil {
				w, err := c.Write(chunk)
				written.Add(int64(w))
				if err != nil {
					if errName(err) != "timeout" { // the deadline ends a blocked write: expected
						a.count(err)
					}
					return
				}
			}
		}()
	}
	peak := before
	for time.Now().Before(deadline) && a.ctx.Err() == nil {
		peak = max(peak, a.s.rss())
		sleep(a.ctx, 200*time.Millisecond)
	}
	wg.Wait()
	peak = max(peak, a.s.rss())
	for range conns {
		a.success()
	}
	bound := uint64(len(conns))*uint64(a.s.sc.MaxPending) + 16<<20
	a.note("no-read: %d connections wrote %.1f MiB the server could not send back; server RSS grew %.1f MiB (bound %.1f MiB)",
		len(conns), float64(written.Load())/(1<<20), mib(peak)-mib(before), mib(bound))
	if !a.together && peak > before+bound {
		a.fail("no-read: server RSS grew %.1f MiB, past the per-connection bound %.1f MiB", mib(peak-before), mib(bound))
	}
	closeAll(conns)
}

func burst(a *attack) {
	a.perConn(a.n(a.s.sc.Bursts), 64, func(_ int, c *net.TCPConn) bool {
		return a.echoBack(c, randomBytes(1<<20), "burst")
	})
}

func halfClose(a *attack) {
	a.perConn(a.n(a.s.sc.HalfClose), 128, func(_ int, c *net.TCPConn) bool {
		msg := randomBytes(256 << 10) // past -max-pending: reading pauses with the FIN queued behind
		c.SetDeadline(time.Now().Add(30 * time.Second))
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(msg)
			if err == nil {
				err = c.CloseWrite()
			}
			werr <- err
		}()
		got, rerr := io.ReadAll(c) // to EOF: the server must close after echoing everything
		if err := errors.Join(<-werr, rerr); err != nil {
			a.count(err)
			return false
		}
		if !bytes.Equal(got, msg) {
			a.fail("half-close: %d bytes came back before EOF, want the %d sent (first difference at %d)", len(got), len(msg), firstDiff(got, msg))
			return false
		}
		return true
	})
}

func rst(a *attack) {
	a.perConn(a.n(a.s.sc.RST), 128, func(_ int, c *net.TCPConn) bool {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(randomBytes(128 << 10)); err != nil {
			a.count(err)
		}
		c.SetLinger(0) // close sends RST, whatever is in flight
		c.Close()
		return true
	})
}

func vanish(a *attack) {
	a.perConn(a.n(a.s.sc.Vanish), 128, func(i int, c *net.TCPConn) bool {
		if i%2 == 1 {
			c.Write([]byte("here one moment"))
		}
		c.Close() // never reads: an echo on its way meets a closed socket (RST)
		return true
	})
}

// holdFlood holds a flood's connections for the hold time, measures the
// server's CPU meanwhile (a spinning accept burns a core), then counts
// which connections the server closed.
func (a *attack) holdFlood(name string, conns []*net.TCPConn) (held, closed int) {
	cpu0, t0 := a.s.serverCPU(), time.Now()
	a.wait()
	cores := (a.s.serverCPU() - cpu0) / time.Since(t0).Seconds()
	a.mu.Lock()
	a.holdCores = max(a.holdCores, cores)
	a.mu.Unlock()
	if !a.together && cores > a.s.quiet+spinCores {
		a.fail("%s: server used %.2f cores while the flood was held (quiet: %.2f): accept spins", name, cores, a.s.quiet)
	}
	buf := make([]byte, 1)
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(buf); err != nil && errName(err) != "timeout" {
			closed++ // shed: accepted and closed at once
		} else {
			held++
		}
	}
	for range conns {
		a.success()
	}
	a.note("%s: %d connected (%d held open, %d closed by the server); server CPU %.2f cores while held", name, len(conns), held, closed, cores)
	return held, closed
}

func flood(a *attack) {
	conns := a.dialMany(a.n(a.s.sc.Flood), 3*time.Second)
	a.holdFlood("flood", conns)
	closeAll(conns)
}

// fdFlood lowers the server's soft RLIMIT_NOFILE so that a third of the
// flood fits as fds, and floods it. The epoll engine accepts into fds: the
// rest meets EMFILE, which it must shed without spinning. The uring
// engine accepts into its rings' registered-file tables, which take no fd
// (sized at its start, from the limit then, to hold -max-conns): the
// lowered limit must not cost it a connection (fdFloodUring).
func fdFlood(a *attack) {
	n := a.n(a.s.sc.FDFlood)
	var old unix.Rlimit
	if err := unix.Prlimit(a.s.pid, unix.RLIMIT_NOFILE, nil, &old); err != nil {
		a.fail("fd-flood: reading the server's RLIMIT_NOFILE: %v", err)
		return
	}
	low := old
	low.Cur = uint64(a.s.fds() + n/3) // a third of the flood fits, the rest meets EMFILE
	if err := unix.Prlimit(a.s.pid, unix.RLIMIT_NOFILE, &low, nil); err != nil {
		a.fail("fd-flood: lowering the server's RLIMIT_NOFILE: %v (needs root or the same user)", err)
		return
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := unix.Prlimit(a.s.pid, unix.RLIMIT_NOFILE, &old, nil); err != nil {
				a.fail("fd-flood: restoring the server's RLIMIT_NOFILE: %v", err)
			}
		}
	}
	defer restore()
	conns := a.dialMany(n, 3*time.Second)
	_, closed := a.holdFlood("fd-flood", conns)
	// What the server holds, not what the client sees: a connection
	// waiting in the accept queue looks held open to the client.
	serverConns := int64(-1)
	if snap, err := fetchStats(a.s.statsURL); err == nil {
		serverConns = snap.Conns
	}
	restore()
	closeAll(conns)
	a.note("fd-flood: server soft RLIMIT_NOFILE lowered from %d to %d for the flood; the server held %d connections at the end of the hold (-1: /stats did not answer)",
		old.Cur, low.Cur, serverConns)
	if a.s.engine == core.EngineUring {
		a.fdFloodUring(len(conns), closed, serverConns)
	}
}

// fdFloodUring judges fd-flood on a uring server: its connections take no
// fd, so the flood (under -max-conns when alone) must be held whole. The
// equivalent of running out of fds, a full ring table, is not provoked:
// the server plans its tables to hold -max-conns, whose limit flood tests.
func (a *attack) fdFloodUring(conns, closed int, serverConns int64) {
	a.note("fd-flood: uring: the lowered limit does not apply to the connections (ring accepts put them in registered-file tables, not fds), " +
		"so EMFILE is not provoked; the scenario checks that a flood past what the limit allows as fds is held whole; " +
		"a full ring table, uring's EMFILE, is not reached: the tables are planned to hold -max-conns, which flood tests")
	if a.together {
		return
	}
	if closed > 0 {
		a.fail("fd-flood: the uring server closed %d of %d connections under -max-conns with its fd limit lowered: its ring accepts should need no fd", closed, conns)
	}
	if want := int64(a.s.sc.Population + conns); serverConns < want {
		a.fail("fd-flood: the uring server held %d connections with the flood's %d and the population's %d connected (-1: /stats did not answer): its ring accepts should need no fd",
			serverConns, conns, a.s.sc.Population)
	}
}

func random(a *attack) {
	a.perConn(a.n(a.s.sc.Random), 64, func(_ int, c *net.TCPConn) bool {
		for range 8 {
			if !a.echoBack(c, randomBytes(1+rand.IntN(16<<10)), "random") {
				return false
			}
		}
		return true
	})
}

func slowloris(a *attack) {
	conns := a.dialMany(a.n(a.s.sc.Slowloris), 5*time.Second)
	sent := make([]int, len(conns))
	recv := make([]atomic.Int64, len(conns))
	bad := make([]atomic.Bool, len(conns))
	var readers sync.WaitGroup
	for i, c := range conns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			buf := make([]byte, 64)
			for {
				n, err := c.Read(buf)
				for _, b := range buf[:n] {
					if b != byte('a'+recv[i].Load()%26) {
						bad[i].Store(true)
					}
					recv[i].Add(1)
				}
				if err != nil {
					return
				}
			}
		}()
	}
	end := time.Now().Add(a.hold)
	for time.Now().Before(end) && a.ctx.Err() == nil {
		for i, c := range conns {
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := c.Write([]byte{byte('a' + sent[i]%26)}); err != nil {
				a.count(err)
				continue
			}
			sent[i]++
		}
		sleep(a.ctx, time.Second)
	}
	// Every byte sent must come back, in order.
	deadline := time.Now().Add(5 * time.Second)
	short := 0
	for time.Now().Before(deadline) {
		short = 0
		for i := range conns {
			if recv[i].Load() < int64(sent[i]) {
				short++
			}
		}
		if short == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	closeAll(conns)
	readers.Wait()
	corrupt := 0
	for i := range conns {
		if bad[i].Load() {
			corrupt++
		} else if recv[i].Load() >= int64(sent[i]) {
			a.success()
		}
	}
	if corrupt > 0 {
		a.fail("slowloris: %d connections got back bytes they did not send", corrupt)
	}
	if short > 0 {
		a.note("slowloris: %d connections were missing echo bytes after 5 s", short)
	}
}
