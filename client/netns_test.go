package client

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// netnsEnv marks the run of this test binary inside its private network
// namespace, where changing ip_local_port_range disturbs nothing else.
const netnsEnv = "C1M_CLIENT_TEST_IN_NETNS"

// The original client's failure, on purpose and exactly where the plan
// predicts it: one source address, one server port and a 100-port
// ephemeral range hold 100 connections; the 101st connect fails with
// EADDRNOTAVAIL. A second source address lifts the limit.
func TestOriginalFailureInNetns(t *testing.T) {
	if os.Getenv(netnsEnv) != "" {
		originalFailureInNetns(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private network namespace (unshare -n)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs unshare(1) for a private network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8) to bring up loopback in the namespace")
	}
	if out, err := exec.Command(unshare, "-n", "--", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here: %v: %s", err, out)
	}
	t.Parallel()
	lockThreadForChildren(t)
	exe, err := os.Executable()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*runTimeout)
	defer cancel()
	// unshare execs the test binary in place, so the context's kill reaches it by pid.
	cmd := exec.CommandContext(ctx, unshare, "-n", "--", exe,
		"-test.run", "^TestOriginalFailureInNetns$", "-test.count", "1", "-test.v")
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	t.Logf("inside the namespace:\n%s", out)
	require.NoError(t, err)
	require.Contains(t, string(out), "--- PASS: TestOriginalFailureInNetns")
}

// originalFailureInNetns runs inside the private namespace.
func originalFailureInNetns(t *testing.T) {
	require.NoError(t, exec.Command("ip", "link", "set", "lo", "up").Run())
	const rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"
	require.NoError(t, os.WriteFile(rangeFile, []byte("40000 40099"), 0o644))
	raw, err := os.ReadFile(rangeFile)
	require.NoError(t, err)
	require.Equal(t, "40000 40099", strings.Join(strings.Fields(string(raw)), " "), "the range is per namespace")

	// One source → one server port: the plan refuses 150, predicting 100...
	_, addr := startServer(t, "127.0.0.1:9876")
	cfg := testConfig(addr)
	cfg.Src, cfg.Ports, cfg.Conns, cfg.Hold = "127.0.0.2", 1, 150, 300*time.Millisecond
	_, sp, err := Plan(cfg)
	require.Error(t, err)
	assert.Equal(t, 100, sp.Capacity())
	assert.Contains(t, err.Error(), "gives each pair only 100")

	// ...and with -force the kernel agrees, to the connection.
	cfg.Force = true
	r := startClient(t, cfg)
	res, err := r.Wait(t)
	require.NoError(t, err)
	checkAccounting(t, cfg, res)
	assert.Equal(t, 100, res.Predicted)
	assert.Equal(t, int64(100), res.Established, "established exactly the predicted capacity")
	assert.Equal(t, int64(100), res.PeakOpen)
	require.Len(t, res.Failed, 1, "EADDRNOTAVAIL and nothing else: %v", res.Failed)
	assert.GreaterOrEqual(t, res.Failed["EADDRNOTAVAIL"], int64(1))
	assert.Equal(t, res.Attempted, res.Established+res.Failed["EADDRNOTAVAIL"])
	assert.Contains(t, res.Ended, "ramp stopped by EADDRNOTAVAIL")
	assert.Zero(t, res.Mismatched)
	assert.Equal(t, int64(100), res.ConnsVerified, "the 100 that opened are kept alive")
	assert.Contains(t, r.log.String(), "expect EADDRNOTAVAIL after 100 connections")
	t.Logf("one source: %d attempted, %d established, failed %v", res.Attempted, res.Established, res.Failed)

	// Two sources: the same 150 fit. (A fresh server port: the first run's
	// TIME_WAITs still hold its 100 four-tuples.)
	_, addr = startServer(t, "127.0.0.1:9877")
	cfg = testConfig(addr)
	cfg.Src, cfg.Ports, cfg.Conns, cfg.Hold = "127.0.0.2-127.0.0.3", 1, 150, 300*time.Millisecond
	_, sp, err = Plan(cfg)
	require.NoError(t, err)
	assert.Equal(t, 200, sp.Capacity())
	res = runClient(t, cfg)
	assert.Equal(t, endHold, res.Ended)
	assert.Equal(t, int64(150), res.Established)
	assert.Empty(t, res.Failed)
	assert.Equal(t, int64(150), res.ConnsVerified)
}
