package schema

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnvCalibrationRoundTrip(t *testing.T) {
	t.Parallel()
	env := Env{Kernel: "6.18", CPUModel: "AMD EPYC", CPUs: 2, Calibration: Calibration{SyscallNs: 1087.3, CtxSwitchNs: 4330,
		PipeRTTPinnedNs: 8660, PipeRTTUnpinnedNs: 11500, ProcSwitchNs: 9900, PipeRTTProcsPinnedNs: 19800,
		LoopbackRTTUs: 13.5, LoopbackRoundTrips: 2000, TookMs: 230}}
	b, err := json.Marshal(env)
	require.NoError(t, err)
	for _, field := range []string{`"syscall_ns":1087.3`, `"ctx_switch_ns":4330`, `"pipe_rtt_pinned_ns":8660`,
		`"pipe_rtt_unpinned_ns":11500`, `"proc_switch_ns":9900`, `"pipe_rtt_procs_pinned_ns":19800`, `"loopback_rtt_us":13.5`} {
		assert.Contains(t, string(b), field)
	}
	var back Env
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, env, back)
}

// Results written before the calibration existed still load, and say so.
func TestEnvWithoutCalibration(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(Env{Kernel: "6.18"})
	require.NoError(t, err)
	assert.NotContains(t, string(b), "calibration", "an unmeasured calibration is left out")
	var old Env
	require.NoError(t, json.Unmarshal([]byte(`{"kernel":"6.18","cpu_model":"Intel(R) Xeon(R) Processor","cpus":2}`), &old))
	assert.False(t, old.Calibration.Measured())
	assert.Equal(t, "calibration not measured", old.Calibration.String())
}

func TestCalibrationString(t *testing.T) {
	t.Parallel()
	c := Calibration{SyscallNs: 1087.3, CtxSwitchNs: 4330, PipeRTTPinnedNs: 8660, PipeRTTUnpinnedNs: 11500, LoopbackRTTUs: 13.5}
	assert.Equal(t, "system call 1.1 µs, context switch 4.3 µs between threads (half a pipe round trip on one CPU; unpinned threads' round trip 12 µs), loopback echo round trip 14 µs", c.String())
	c.ProcSwitchNs, c.PipeRTTProcsPinnedNs = 9900, 19800
	assert.Contains(t, c.String(), "context switch 4.3 µs between threads, 9.9 µs between processes (half a pipe")
	c.SyscallNs = 95
	assert.Contains(t, c.String(), "system call 0.10 µs")
}

func TestEnvMachine(t *testing.T) {
	t.Parallel()
	env := Env{Kernel: "6.18.44", CPUModel: "AMD EPYC", CPUs: 2, Calibration: Calibration{SyscallNs: 1087.3, CtxSwitchNs: 4330,
		PipeRTTPinnedNs: 8660, PipeRTTUnpinnedNs: 11500, LoopbackRTTUs: 13.5}}
	assert.Equal(t, "AMD EPYC × 2 CPUs, Linux 6.18.44; system call 1.1 µs, context switch 4.3 µs between threads (half a pipe round trip on one CPU; unpinned threads' round trip 12 µs), loopback echo round trip 14 µs", env.Machine())
	assert.Equal(t, "processor not recorded × 0 CPUs, Linux not recorded; calibration not measured", Env{}.Machine())
}
