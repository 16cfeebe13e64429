package main

import (
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/harness"
)

// Every server runs both workloads, interleaved, with the same client; the
// checks name arms that the full scale runs.
func TestArms(t *testing.T) {
	t.Parallel()
	full := arms(harness.Scale{Name: "full"})
	var names []string
	for _, a := range full {
		names = append(names, a.Name)
	}
	assert.Equal(t, []string{"core.idle-1m", "gnet.idle-1m", "nbio.idle-1m", "netgo.idle-1m",
		"core.keepalive-1m", "gnet.keepalive-1m", "nbio.keepalive-1m", "netgo.keepalive-1m"}, names)
	for _, a := range full {
		assert.Equal(t, full[0].Server, a.Server, "%s: every server gets the same flags", a.Name)
		assert.Equal(t, 10, a.ClientNice, a.Name)
		assert.Contains(t, a.Client, "-quiet-ramp", a.Name)
		assert.Contains(t, a.Client, "-reconnect", a.Name)
		assert.NotContains(t, a.Client, "-rate", a.Name)
		assert.Positive(t, a.Params["interval_s"], a.Name)
	}
	assert.Equal(t, "c1m-peer-netgo", full[3].ServerBin)
	assert.Empty(t, full[0].ServerBin, "the core is bin/c1m-server")
	for _, c := range checks() {
		assert.Contains(t, names, c.A, c.Claim)
		assert.Contains(t, names, c.B, c.Claim)
	}
}

// The quick run holds a few thousand connections but sizes the servers
// past one fd table (RLIMIT_NOFILE 20,000 here): the peers still run as
// several processes and the core as fd tables.
func TestQuickArmsPassOneTable(t *testing.T) {
	t.Parallel()
	for _, a := range arms(harness.Scale{Name: "quick", Quick: true}) {
		i := slices.Index(a.Server, "-max-conns")
		require.GreaterOrEqual(t, i, 0, a.Name)
		sized, err := strconv.Atoi(a.Server[i+1])
		require.NoError(t, err)
		assert.Greater(t, sized, 20_000, a.Name)
		j := slices.Index(a.Client, "-conns")
		require.GreaterOrEqual(t, j, 0, a.Name)
		conns, err := strconv.Atoi(a.Client[j+1])
		require.NoError(t, err)
		assert.LessOrEqual(t, conns, 5_000, "%s: quick stays small", a.Name)
	}
}
