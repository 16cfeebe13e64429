// Package calibrate measures, in well under a second, what this machine
// charges for the operations a connection's life is made of: a system call,
// a context switch and a small echo over loopback TCP. Every result records
// them (schema.Calibration), so a reader can tell a slower processor from a
// slower engine (machines of one cloud kind come with different processors).
package calibrate

import (
	"fmt"
	"math"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"c1m/schema"
	"c1m/spread"
)

// DefaultBudget is what a run spends calibrating when it does not say.
const DefaultBudget = 300 * time.Millisecond

// Each measurement runs batches until its share of the budget is spent, at
// least minBatches of them (so a tiny budget still yields a median). The
// batches are short (~0.2 ms) so that on a shared machine most of them run
// undisturbed and the median ignores the ones another task cut into.
const (
	minBatches     = 3
	syscallBatch   = 200 // getppid calls per batch
	pipeBatch      = 20  // round trips per batch
	pipeWarmup     = 20
	loopbackMax    = 2000 // echoes timed, at most
	loopbackWarmup = 50
	loopbackSize   = 16
)

// Measure calibrates the machine within about budget and returns the
// medians. It runs on threads of its own, pinned ones given back their
// affinity before Go may reuse them, and touches nothing of the caller's.
func Measure(budget time.Duration) (schema.Calibration, error) {
	if budget <= 0 {
		budget = DefaultBudget
	}
	start := time.Now()
	var c schema.Calibration
	c.SyscallNs = medianOf(batches(budget/10, syscallBatchNs))
	cpu, err := someCPU()
	if err != nil {
		return c, err
	}
	pipe := func(cpu int, share time.Duration) exchange {
		return exchange{cpu: cpu, size: 1, perSample: pipeBatch, warmup: pipeWarmup, share: share}
	}
	pinned, err := pipeRoundTrips(pipe(cpu, budget/4))
	if err != nil {
		return c, fmt.Errorf("pipe round trip, both threads on CPU %d: %w", cpu, err)
	}
	unpinned, err := pipeRoundTrips(pipe(-1, budget*3/20))
	if err != nil {
		return c, fmt.Errorf("pipe round trip, threads unpinned: %w", err)
	}
	c.PipeRTTPinnedNs, c.PipeRTTUnpinnedNs = medianOf(pinned), medianOf(unpinned)
	c.CtxSwitchNs = c.PipeRTTPinnedNs / 2
	// Between processes it is an extra: without cat(1) the rest still stands.
	if procs, err := processRoundTrips(pipe(cpu, budget/5)); err == nil {
		c.PipeRTTProcsPinnedNs = medianOf(procs)
		c.ProcSwitchNs = c.PipeRTTProcsPinnedNs / 2
	}
	rtts, err := loopbackRoundTrips(exchange{cpu: -1, size: loopbackSize, perSample: 1, warmup: loopbackWarmup,
		maxSamples: loopbackMax, share: budget * 3 / 10})
	if err != nil {
		return c, fmt.Errorf("loopback echo over TCP: %w", err)
	}
	c.LoopbackRTTUs, c.LoopbackRoundTrips = medianOf(rtts)/1e3, len(rtts)
	c.TookMs = float64(time.Since(start).Microseconds()) / 1e3
	return c, valid(c)
}

// valid refuses a measurement that is not a positive, finite number: a
// clock or a loop gone wrong must not reach a result file.
func valid(c schema.Calibration) error {
	for name, v := range map[string]float64{"system call": c.SyscallNs, "pinned pipe round trip": c.PipeRTTPinnedNs,
		"unpinned pipe round trip": c.PipeRTTUnpinnedNs, "loopback round trip": c.LoopbackRTTUs} {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("calibration: the %s measured %v, not a positive time", name, v)
		}
	}
	return nil
}

// batches runs measure until share has passed (at least minBatches times)
// and returns what each run returned.
func batches(share time.Duration, measure func() float64) []float64 {
	var out []float64
	for deadline := time.Now().Add(share); len(out) < minBatches || time.Now().Before(deadline); {
		out = append(out, measure())
	}
	return out
}

func medianOf(v []float64) float64 {
	s, ok := spread.Of(v)
	if !ok {
		return math.NaN()
	}
	return s.Median
}

// syscallBatchNs is the mean cost of one getppid(2) over a batch. Raw: Go's
// scheduler hooks around an ordinary Syscall would add their own cost, and
// getppid is served by no vDSO and no libc cache.
func syscallBatchNs() float64 {
	t := time.Now()
	for range syscallBatch {
		unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	}
	return float64(time.Since(t).Nanoseconds()) / syscallBatch
}

// someCPU is a CPU this process may run on (the last of its affinity set,
// away from CPU 0's interrupts where there is a choice).
func someCPU() (int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, fmt.Errorf("reading the CPU affinity: %w", err)
	}
	for cpu := runtime.NumCPU() * 4; cpu >= 0; cpu-- {
		if set.IsSet(cpu) {
			return cpu, nil
		}
	}
	return 0, fmt.Errorf("the CPU affinity set is empty")
}

// lockThread locks the calling goroutine to its thread and pins the
// thread to cpu (none when cpu < 0). The returned release puts the thread's
// affinity back and unlocks it; if the affinity cannot be put back, the
// thread stays locked, and Go ends it with its goroutine instead of reusing
// it pinned.
func lockThread(cpu int) (release func(), err error) {
	runtime.LockOSThread()
	if cpu < 0 {
		return runtime.UnlockOSThread, nil
	}
	var was, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &was); err != nil {
		return func() {}, fmt.Errorf("reading a thread's CPU affinity: %w", err)
	}
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return runtime.UnlockOSThread, fmt.Errorf("pinning a thread to CPU %d: %w", cpu, err)
	}
	return func() {
		if unix.SchedSetaffinity(0, &was) == nil {
			runtime.UnlockOSThread()
		}
	}, nil
}
