package procgroup

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Report lines reach onLine in order, and Stop ends a child that ignores nothing.
func TestReportLines(t *testing.T) {
	t.Parallel()
	g := New(1)
	var lines []string
	done := make(chan struct{})
	cmd := exec.Command("sh", "-c", `echo '{"a":1}' >&3; echo '{"a":2}' >&3`)
	_, err := g.Start(cmd, func(b []byte) { lines = append(lines, string(b)) })
	require.NoError(t, err)
	go func() { g.Wait(); close(done) }()
	<-done
	e := <-g.Exits()
	require.NoError(t, e.Err)
	assert.False(t, e.Expected)
	assert.Equal(t, []string{`{"a":1}`, `{"a":2}`}, lines)
}
