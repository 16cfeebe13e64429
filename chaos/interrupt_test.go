package chaos

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/harness"
	"c1m/procfs"
)

// sysctlsTouched are the settings experiments 1, 4 and 9 change (as root).
var sysctlsTouched = []string{"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "net.ipv4.tcp_mem"}

// An experiment interrupted by SIGINT at a random point leaves nothing
// behind: no c1m process, no changed sysctl, no network namespace, and the
// results it had are written, beside the committed ones and not in their
// place, with a note saying the run was cut short.
func TestExperimentInterruptedLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs an experiment")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	for _, b := range []struct{ out, pkg string }{
		{"c1m-server", "./cmd/c1m-server"}, {"c1m-client", "./cmd/c1m-client"}, {"exp4", "./experiments/exp4"},
	} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, b.out), b.pkg)
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "building %s: %s", b.pkg, out)
	}
	fs := procfs.New("/")
	snapshot := func() map[string]string {
		m := map[string]string{}
		for _, name := range sysctlsTouched {
			v, err := fs.Sysctl(name)
			require.NoError(t, err)
			m[name] = v
		}
		if ns, err := os.ReadDir("/run/netns"); err == nil {
			for _, e := range ns {
				m["netns "+e.Name()] = "present"
			}
		}
		return m
	}
	for round := range 3 {
		results := filepath.Join(dir, "results", strings.Repeat("r", round+1))
		waitLabFree(t)
		before := snapshot() // per round: an experiment someone ran meanwhile may have changed them
		cmd := exec.Command(filepath.Join(bin, "exp4"), "-scale", "quick", "-results", results, "-bin", bin)
		var log strings.Builder
		cmd.Stdout, cmd.Stderr = &log, &log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		require.NoError(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()

		delay := time.Duration(300+rand.IntN(3500)) * time.Millisecond
		time.Sleep(delay) // a random point in the run (not a measurement)
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			err := <-exited
			if strings.Contains(log.String(), "another experiment is running") {
				t.Skipf("round %d: another experiment took the lab lock first", round)
			}
			require.FailNow(t, "experiment ended before the SIGINT", "%v; output:\n%s", err, log.String())
		}
		select {
		case err := <-exited:
			assert.NoError(t, err, "round %d: exit after SIGINT at %v; output:\n%s", round, delay, log.String())
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-exited
			require.FailNow(t, "experiment did not exit within 60 s of SIGINT", "output:\n%s", log.String())
		}
		t.Logf("round %d: SIGINT after %v", round, delay)

		assert.Empty(t, processesUnder(t, bin), "round %d: c1m processes left running after SIGINT at %v", round, delay)
		assert.Equal(t, before, snapshot(), "round %d: a sysctl or namespace changed and stayed", round)
		assert.NoDirExists(t, filepath.Join(results, "exp-4"), "round %d: an interrupted run is not put in place of the results", round)
		raw, err := os.ReadFile(filepath.Join(results, harness.StagingDir, "exp-4", "meta.json"))
		require.NoError(t, err, "round %d: partial results written to the staging directory; output:\n%s", round, log.String())
		var meta struct{ Notes []string }
		require.NoError(t, json.Unmarshal(raw, &meta))
		if os.Geteuid() == 0 && before["net.core.somaxconn"] != "65535" {
			assert.True(t, containsSubstring(meta.Notes, "sysctl net.core.somaxconn set"), "round %d: the run changed the sysctl it then restored: %v", round, meta.Notes)
		}
		// exp-4 quick runs 8 arms of seconds each: a SIGINT within 4 s always cuts it short.
		assert.True(t, containsSubstring(meta.Notes, "interrupted"), "round %d: the notes say the run was interrupted: %v", round, meta.Notes)
	}
}

// waitLabFree waits a while for an experiment someone else runs on this
// machine (it holds the lab lock and the default server port) to end, and
// skips the test if it does not.
func waitLabFree(t *testing.T) {
	path := filepath.Join(os.TempDir(), "c1m-lab.lock")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
		require.NoError(t, err)
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		f.Close() // releases the lock at once: the experiment takes it next
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Skipf("another experiment has held the lab lock %s for 2 minutes", path)
		}
		time.Sleep(time.Second)
	}
}

// processesUnder lists running processes whose executable lies in dir.
func processesUnder(t *testing.T, dir string) []string {
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var found []string
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && strings.HasPrefix(exe, dir+"/") {
			found = append(found, e.Name()+" "+exe)
		}
	}
	return found
}

func containsSubstring(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
