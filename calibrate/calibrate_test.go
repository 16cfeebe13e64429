package calibrate

import (
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"c1m/schema"
)

func TestMeasureGivesPositiveFiniteTimes(t *testing.T) {
	t.Parallel()
	c, err := Measure(50 * time.Millisecond)
	require.NoError(t, err)
	for name, v := range map[string]float64{"syscall_ns": c.SyscallNs, "ctx_switch_ns": c.CtxSwitchNs,
		"pipe_rtt_pinned_ns": c.PipeRTTPinnedNs, "pipe_rtt_unpinned_ns": c.PipeRTTUnpinnedNs,
		"proc_switch_ns": c.ProcSwitchNs, "pipe_rtt_procs_pinned_ns": c.PipeRTTProcsPinnedNs,
		"loopback_rtt_us": c.LoopbackRTTUs, "took_ms": c.TookMs} {
		assert.Greater(t, v, 0.0, name)
		assert.False(t, math.IsInf(v, 0) || math.IsNaN(v), name)
	}
	assert.InDelta(t, c.PipeRTTPinnedNs/2, c.CtxSwitchNs, 1e-9, "a switch is half the pinned round trip")
	assert.InDelta(t, c.PipeRTTProcsPinnedNs/2, c.ProcSwitchNs, 1e-9)
	assert.Positive(t, c.LoopbackRoundTrips)
	assert.LessOrEqual(t, c.LoopbackRoundTrips, loopbackMax)
	assert.True(t, c.Measured())
}

// A tiny budget still gives every measurement its minimum of batches.
func TestMeasureWithATinyBudget(t *testing.T) {
	t.Parallel()
	c, err := Measure(time.Nanosecond)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, c.LoopbackRoundTrips, minBatches)
	assert.NoError(t, valid(c))
}

func TestValidRefusesWhatIsNoTime(t *testing.T) {
	t.Parallel()
	good := schema.Calibration{SyscallNs: 1, PipeRTTPinnedNs: 2, PipeRTTUnpinnedNs: 3, LoopbackRTTUs: 4}
	require.NoError(t, valid(good))
	for _, bad := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		c := good
		c.LoopbackRTTUs = bad
		assert.Error(t, valid(c), "%v", bad)
	}
}

// Measuring pins threads of its own and gives them back their affinity
// before it returns: no thread of the process is left pinned. Not
// parallel: another Measure's threads would be.
func TestMeasureLeavesNoThreadPinned(t *testing.T) {
	var want unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &want))
	_, err := Measure(time.Nanosecond)
	require.NoError(t, err)
	assert.Zero(t, pinnedThreads(t, want))
}

// pinnedThreads counts this process's threads whose affinity is not want.
func pinnedThreads(t *testing.T, want unix.CPUSet) int {
	tasks, err := os.ReadDir("/proc/self/task")
	require.NoError(t, err)
	n := 0
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		require.NoError(t, err)
		var got unix.CPUSet
		if unix.SchedGetaffinity(tid, &got) == nil && got != want { // a thread may have ended since
			n++
		}
	}
	return n
}
