package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/harness"
)

// Every check names arms of the full-scale run, and every arm name is a
// SERVER.WORKLOAD the ratio tables can split (and a file name can hold).
func TestArmsAndChecks(t *testing.T) {
	t.Parallel()
	full := map[string]bool{}
	for _, a := range arms(harness.Scale{Name: "full"}) {
		full[a.Name] = true
		assert.NotContains(t, a.Name, "/")
		server, workload, ok := strings.Cut(a.Name, ".")
		require.True(t, ok, a.Name)
		assert.Contains(t, append([]string{"core"}, peers...), server)
		assert.NotEmpty(t, workload)
	}
	assert.Len(t, full, 4*(2+2*2), "4 servers × (2 idle + 2×2 echo workloads)")
	assert.True(t, full["core.idle-100k"] && full["gnet.echo-10k-1KiB"] && full["nbio.echo-1k-16B"])
	for _, c := range checks() {
		assert.True(t, full[c.A], "check names arm %s", c.A)
		assert.True(t, full[c.B], "check names arm %s", c.B)
	}
	quick := arms(harness.Scale{Name: "quick", Quick: true})
	assert.Len(t, quick, 4*3, "quick: one idle and two echo workloads")
}
