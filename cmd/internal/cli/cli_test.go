package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// -h names the command, says what it does, then lists the flags.
func TestUsage(t *testing.T) {
	t.Parallel()
	fs := FlagSet("c1m-x", "Does x.\nThen y.")
	fs.Int("n", 3, "how many")
	var out strings.Builder
	fs.SetOutput(&out)
	fs.Usage()
	assert.Equal(t, "Usage: c1m-x [flags]\n\nDoes x.\nThen y.\n\nFlags:\n  -n int\n    \thow many (default 3)\n", out.String())
}
