package harness

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"c1m/provenance"
)

func TestDeriveEchoShare(t *testing.T) {
	t.Parallel()
	m := map[string]float64{"interval_s": 60, "established": 1_000_000, "echo_per_sec": 15_000}
	DeriveEchoShare(Arm{}, m)
	assert.InDelta(t, 16_666.67, m["offered_per_sec"], 0.01)
	assert.InDelta(t, 0.9, m["echo_share"], 1e-9)

	idle := map[string]float64{"established": 1000} // no keepalive interval: nothing to derive
	DeriveEchoShare(Arm{}, idle)
	assert.NotContains(t, idle, "echo_share")
	noHold := map[string]float64{"interval_s": 1, "established": 1000} // no echo rate measured
	DeriveEchoShare(Arm{}, noHold)
	assert.Equal(t, 1000.0, noHold["offered_per_sec"])
	assert.NotContains(t, noHold, "echo_share")
}

func TestCountName(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "1M", CountName(1_000_000))
	assert.Equal(t, "20k", CountName(20_000))
	assert.Equal(t, "1500k", CountName(1_500_000))
	assert.Equal(t, "300", CountName(300))
	assert.Equal(t, "2500", CountName(2500))
}

// The million experiments deepen the loopback input backlog for their
// close storms, and every meta.json records it.
func TestMillionSysctlsDeepenTheBacklog(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "65536", MillionSysctls()["net.core.netdev_max_backlog"])
	assert.Contains(t, provenance.RecordedSysctls, "net.core.netdev_max_backlog")
}

// An arm that names no engine runs the one the experiments were designed
// on; one that names an engine keeps it, in any flag spelling.
func TestArmsWithoutAnEngineRunTheDesignEngine(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"-engine", DesignEngine, "-conns", "5"}, WithEngine([]string{"-conns", "5"}))
	for _, named := range [][]string{{"-engine", "uring"}, {"-engine=uring"}, {"--engine", "uring"}, {"-conns", "5", "--engine=uring"}} {
		assert.Equal(t, named, WithEngine(named))
	}
}

// Once runs an arm once at every scale; FullRepeats(n) n times at full
// scale and once at quick.
func TestRepeats(t *testing.T) {
	t.Parallel()
	full, quick := Scale{Name: "full"}, Scale{Name: "quick", Quick: true}
	assert.Equal(t, 1, Once(full))
	assert.Equal(t, 1, Once(quick))
	assert.Equal(t, 3, FullRepeats(3)(full))
	assert.Equal(t, 1, FullRepeats(3)(quick))
}

// A million-keepalive experiment runs each arm once, derives the echo
// share and raises the million sysctls, whatever it set itself.
func TestKeepaliveAtMillion(t *testing.T) {
	t.Parallel()
	e := KeepaliveAtMillion(Experiment{Number: 42, Repeats: FullRepeats(3)})
	assert.Equal(t, 42, e.Number)
	assert.Equal(t, 1, e.Repeats(Scale{Name: "full"}))
	assert.Equal(t, MillionSysctls(), e.Sysctls)
	m := map[string]float64{"interval_s": 10, "established": 100, "echo_per_sec": 5}
	e.Derive(Arm{}, m)
	assert.InDelta(t, 0.5, m["echo_share"], 1e-9)
}
