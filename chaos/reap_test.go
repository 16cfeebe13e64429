package chaos

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/harness"
	"c1m/netns"
	"c1m/schema"
)

// buildBins builds c1m-server and c1m-client into a temporary directory.
func buildBins(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"c1m-server", "c1m-client"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./cmd/"+name)
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "building %s: %s", name, out)
	}
	return dir
}

// Peers vanish, small: 300 connections behind a cut link are all closed by
// the server within each arm's bound (reason idle, then timeout), nothing
// reaches the server after the cut, the live connections lose no echo,
// and the namespaces are gone afterwards. An interrupted run removes them
// too.
func TestVanishScaleQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server and clients in network namespaces")
	}
	if err := netns.Check(); err != nil {
		t.Skip(err)
	}
	// The run's namespaces, port and stats address are fixed: a lab run
	// (c1m-chaos -only vanish-scale) holding them must not be disturbed.
	unlock, err := harness.LockLab()
	if err != nil {
		t.Skipf("%v: this test would share its namespaces and ports", err)
	}
	defer unlock()
	bin := buildBins(t)
	results := filepath.Join(t.TempDir(), "chaos")
	var log strings.Builder
	// One engine (the other arms are the same code; server/ tests reaping on both).
	cfg := Config{Bin: bin, Results: results, Quick: true, Only: []string{ReapName}, ReapConns: 300, Log: &log, Server: []string{"-engine", "uring"}}
	rep, err := Run(context.Background(), cfg)
	t.Logf("log:\n%s", log.String())
	require.NoError(t, err)
	require.NotNil(t, rep.Reap)
	rp := *rep.Reap
	assert.True(t, rep.Pass, "failed: %v", rep.Failed)
	require.Len(t, rp.Arms, 2, "each way on the engine asked for")
	for i, a := range rp.Arms {
		reason := []string{"idle", "timeout"}[i]
		assert.Equal(t, "uring", a.Engine)
		assert.True(t, a.Pass, "%s: %v", a.Name, a.Failures)
		assert.EqualValues(t, 300, a.CloseReasons[reason], a.Name)
		assert.Positive(t, a.AllReapedS, a.Name)
		assert.Zero(t, a.ServerRxAfterCut, a.Name)
		assert.Equal(t, a.ConnsBaseline, a.ConnsEnd, a.Name)
		assert.Zero(t, a.LiveDropped+a.LiveTimeouts+a.LiveMismatched, a.Name)
	}
	back, err := schema.ReadReap(results)
	require.NoError(t, err)
	assert.Equal(t, rp.Arms[0].AllReapedS, back.Arms[0].AllReapedS)
	assert.False(t, netns.Exists(reapLink.ServerNS()) || netns.Exists(reapLink.ClientNS()), "namespaces removed")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second) // as SIGINT does, mid-arm
	defer cancel()
	rep, err = Run(ctx, cfg)
	require.NoError(t, err)
	assert.False(t, rep.Pass, "an interrupted run does not pass")
	assert.False(t, netns.Exists(reapLink.ServerNS()) || netns.Exists(reapLink.ClientNS()), "namespaces removed after the interrupt")
}

// Each engine gets both ways of noticing vanished peers, named and
// flagged for its engine, with the idle timeout outlasting the bound's
// start: an arm's bound is its timeout plus slack.
func TestReapArmsOneOfEachWayPerEngine(t *testing.T) {
	t.Parallel()
	sc := ReapScaleFor(false, 0)
	arms := reapArms(sc, Config{})
	require.Len(t, arms, 4)
	var names []string
	for _, a := range arms {
		names = append(names, a.name)
		assert.Equal(t, []string{"-engine", a.engine}, a.flags[:2], a.name)
		assert.Greater(t, a.bound, sc.KeepAlive, a.name)
	}
	assert.Equal(t, []string{"epoll-idle-timeout", "epoll-tcp-keepalive", "uring-idle-timeout", "uring-tcp-keepalive"}, names)
	assert.Greater(t, arms[0].bound, sc.IdleTimeout, "the idle arm's bound is the timeout plus a tick")
}

func TestReapArmsFollowTheServersEngineFlag(t *testing.T) {
	t.Parallel()
	arms := reapArms(ReapScaleFor(true, 0), Config{Server: []string{"-engine=uring"}})
	require.Len(t, arms, 2)
	assert.Equal(t, "idle-timeout", arms[0].name)
	assert.Empty(t, arms[0].engine)
}
