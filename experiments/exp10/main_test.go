package main

import (
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/harness"
)

// Both strategies run every workload, and the quick run still passes one
// fd table (RLIMIT_NOFILE 20,000 here), so both strategies engage.
func TestArms(t *testing.T) {
	t.Parallel()
	names := map[string]bool{}
	for _, a := range arms(harness.Scale{Name: "full"}) {
		names[a.Name] = true
	}
	assert.Equal(t, map[string]bool{"fdtables.hold-1M": true, "prefork.hold-1M": true,
		"fdtables.echo-40k": true, "prefork.echo-40k": true}, names)
	for _, a := range arms(harness.Scale{Name: "quick", Quick: true}) {
		i := slices.Index(a.Server, "-max-conns")
		require.GreaterOrEqual(t, i, 0, a.Name)
		n, err := strconv.Atoi(a.Server[i+1])
		require.NoError(t, err)
		assert.Greater(t, n, 20_000, "%s: -max-conns must pass one fd table", a.Name)
	}
}
