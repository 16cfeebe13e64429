package procfs

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The switches of a process are those of all its threads.
func TestProcSwitchesSumsThreads(t *testing.T) {
	t.Parallel()
	status := func(vol, invol string) string {
		return "Name:\tx\nvoluntary_ctxt_switches:\t" + vol + "\nnonvoluntary_ctxt_switches:\t" + invol + "\n"
	}
	fs := fakeRoot(t, map[string]string{
		"proc/10/status":         status("1", "0"), // the main thread alone: not what is summed
		"proc/10/task/10/status": status("1", "0"),
		"proc/10/task/11/status": status("100", "5"),
		"proc/10/task/12/status": status("20", "2"),
		"proc/10/task/13/x":      "", // a thread that exited while listed: no status
	})
	s, threads, err := fs.ProcSwitches(10)
	require.NoError(t, err)
	assert.Equal(t, Switches{Voluntary: 121, Involuntary: 7}, s)
	assert.Equal(t, 3, threads)

	_, _, err = fs.ProcSwitches(30)
	assert.ErrorIs(t, err, os.ErrNotExist, "a vanished process is recognisable")
}

func TestProcSwitchesOnThisMachine(t *testing.T) {
	t.Parallel()
	s, threads, err := New("").ProcSwitches(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, threads)
	assert.Positive(t, s.Total(), "a Go test process has blocked at least once")
	cpu, err := New("").HostCPU()
	require.NoError(t, err)
	assert.Positive(t, cpu.Ctxt)
	assert.Positive(t, cpu.User+cpu.System)
}
