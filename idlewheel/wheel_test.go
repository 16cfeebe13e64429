package idlewheel

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Unix(1000, 0)

// advanceTo runs the wheel to now and returns what expired, in order.
func advanceTo(w *Wheel, now time.Time) []int {
	var got []int
	w.Advance(now, 0, 0, func(i int) { got = append(got, i) })
	return got
}

func TestNilWheelDoesNothing(t *testing.T) {
	t.Parallel()
	var w *Wheel = New(0, t0)
	require.Nil(t, w)
	w.Grow(10)
	w.Add(3)
	w.Touch(3)
	w.Remove(3)
	assert.Equal(t, time.Duration(-1), w.Advance(t0.Add(time.Hour), 0, 0, func(int) { t.Fatal("expired on a nil wheel") }))
}

func TestIdleConnectionExpiresWithinTimeoutPlusOneTick(t *testing.T) {
	t.Parallel()
	w := New(8*time.Second, t0)
	require.Equal(t, time.Second, w.Tick())
	w.Grow(4)
	w.Add(2)
	assert.Empty(t, advanceTo(w, t0.Add(8*time.Second)), "not before the timeout")
	assert.Equal(t, []int{2}, advanceTo(w, t0.Add(9*time.Second)), "by timeout + one tick")
	assert.Zero(t, w.Len())
}

func TestTouchPostponesExpiry(t *testing.T) {
	t.Parallel()
	w := New(8*time.Second, t0)
	w.Grow(2)
	w.Add(0)
	w.Add(1)
	for s := 1; s <= 20; s++ {
		advanceTo(w, t0.Add(time.Duration(s)*time.Second))
		w.Touch(0)
	}
	assert.Equal(t, 1, w.Len(), "the touched one is still there, the silent one went")
	got := advanceTo(w, t0.Add(29*time.Second))
	assert.Equal(t, []int{0}, got, "expires a timeout (+ a tick) after its last touch")
}

func TestExpiryOrderFollowsLastActivity(t *testing.T) {
	t.Parallel()
	w := New(8*time.Second, t0)
	w.Grow(3)
	w.Add(2)
	advanceTo(w, t0.Add(2*time.Second))
	w.Add(0)
	advanceTo(w, t0.Add(4*time.Second))
	w.Add(1)
	got := advanceTo(w, t0.Add(time.Minute))
	assert.Equal(t, []int{2, 0, 1}, got)
}

func TestRemoveAndReAdd(t *testing.T) {
	t.Parallel()
	w := New(8*time.Second, t0)
	w.Grow(3)
	w.Add(0)
	w.Add(1)
	w.Remove(0)
	w.Remove(0) // twice: a no-op
	w.Remove(99)
	assert.Equal(t, 1, w.Len())
	advanceTo(w, t0.Add(5*time.Second))
	w.Add(0) // the slot's next connection starts a fresh clock
	assert.Equal(t, []int{1}, advanceTo(w, t0.Add(9*time.Second)))
	assert.Equal(t, []int{0}, advanceTo(w, t0.Add(14*time.Second)))
}

func TestExpireMayCloseOthers(t *testing.T) {
	t.Parallel()
	w := New(8*time.Second, t0)
	w.Grow(3)
	for i := range 3 {
		w.Add(i)
	}
	var got []int
	w.Advance(t0.Add(9*time.Second), 0, 0, func(i int) {
		got = append(got, i)
		w.Remove(2) // closing one connection closes another (e.g. a shared peer)
	})
	assert.Equal(t, []int{0, 1}, got)
	assert.Zero(t, w.Len())
}

func TestGrowKeepsMembers(t *testing.T) {
	t.Parallel()
	w := New(time.Second, t0)
	w.Grow(1)
	w.Add(0)
	w.Grow(1000)
	w.Add(999)
	assert.Equal(t, 2, w.Len())
	assert.ElementsMatch(t, []int{0, 999}, advanceTo(w, t0.Add(2*time.Second)))
}

func TestWraparoundOfTheTickCounter(t *testing.T) {
	t.Parallel()
	w := New(8*time.Millisecond, t0)
	w.Grow(2)
	w.Add(0)
	w.Add(1)
	// 10,000 ticks: the byte stamp wraps ~40 times; the touched one stays.
	for ms := 1; ms <= 10000; ms++ {
		got := advanceTo(w, t0.Add(time.Duration(ms)*time.Millisecond))
		if ms == 9 {
			assert.Equal(t, []int{1}, got)
		} else {
			assert.Empty(t, got, "tick %d", ms)
		}
		w.Touch(0)
	}
}

func TestLateAdvanceRunsEveryTick(t *testing.T) {
	t.Parallel()
	w := New(8*time.Second, t0)
	w.Grow(1)
	w.Add(0)
	left := w.Advance(t0.Add(time.Hour+300*time.Millisecond), 0, 0, func(int) {})
	assert.Equal(t, 700*time.Millisecond, left, "sleep until the next tick")
	assert.Zero(t, w.Len())
}

// model checks the wheel against the definition, with random operations
// on random connections at random times: a connection expires no earlier
// than the timeout after its last receive and no later than a tick past it.
func model(t *testing.T, seed uint64) {
	const n = 64
	timeout := time.Duration(1+seed%50) * time.Millisecond
	r := rand.New(rand.NewPCG(seed, seed>>7))
	w := New(timeout, t0)
	w.Grow(n)
	last := make([]time.Time, n) // zero: not in the wheel
	now := t0
	for step := 0; step < 3000; step++ {
		now = now.Add(time.Duration(r.IntN(int(timeout/2))) + time.Microsecond)
		w.Advance(now, 0, 0, func(i int) {
			require.False(t, last[i].IsZero(), "expired one not in the wheel")
			idle := now.Sub(last[i])
			require.GreaterOrEqual(t, idle, timeout, "expired too early")
			last[i] = time.Time{}
		})
		for i, l := range last {
			if !l.IsZero() {
				require.Less(t, now.Sub(l), timeout+w.Tick(), "connection %d overdue: reaped within the timeout plus one tick", i)
			}
		}
		i := r.IntN(n)
		switch op := r.IntN(10); {
		case op < 6:
			if !last[i].IsZero() {
				w.Touch(i)
				last[i] = now
			}
		case op < 8:
			w.Add(i)
			last[i] = now
		default:
			w.Remove(i)
			last[i] = time.Time{}
		}
	}
	live := 0
	for _, l := range last {
		if !l.IsZero() {
			live++
		}
	}
	require.Equal(t, live, w.Len())
}

func TestMatchesModel(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 50; seed++ {
		model(t, seed)
	}
}

func FuzzWheel(f *testing.F) {
	f.Add(uint64(7))
	f.Fuzz(func(t *testing.T, seed uint64) { model(t, seed) })
}

// BenchmarkTouch is the hot path: one stamp per received batch.
func BenchmarkTouch(b *testing.B) {
	w := New(time.Second, t0)
	w.Grow(1 << 16)
	for i := 0; i < b.N; i++ {
		w.Touch(i & 0xFFFF)
	}
}

// A mass expiry is spread over calls of at most budget expiries each: every
// call but the last asks to be run again after the pause, none expires a
// connection twice, and together they expire them all, with connections
// touched meanwhile spared.
func TestAdvanceSpreadsAMassExpiryOverBudgets(t *testing.T) {
	t.Parallel()
	const n, budget = 1000, 64
	w := New(time.Second, t0)
	w.Grow(n)
	for i := range n {
		w.Add(i)
	}
	now := t0.Add(2 * time.Second)
	seen := map[int]bool{}
	calls := 0
	for {
		got := 0
		wait := w.Advance(now, budget, time.Millisecond, func(i int) {
			assert.False(t, seen[i], "connection %d expired twice", i)
			seen[i] = true
			got++
		})
		calls++
		require.LessOrEqual(t, got, budget)
		if wait != time.Millisecond {
			break
		}
		require.Equal(t, budget, got, "a call that asks to come back spent its whole budget")
		if calls == 2 {
			w.Touch(n - 1) // received while the expiry was under way: spared
			seen[n-1] = true
		}
	}
	assert.Len(t, seen, n)
	assert.Equal(t, 1, w.Len(), "only the touched connection is left")
	assert.GreaterOrEqual(t, calls, n/budget)
}
