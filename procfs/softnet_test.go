package procfs

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSoftnetDrops(t *testing.T) {
	t.Parallel()
	text := "003ece5c 000001b8 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n" +
		"00353fcb 00000337 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000\n"
	n, err := ParseSoftnetDrops(text)
	require.NoError(t, err)
	assert.EqualValues(t, 0x1b8+0x337, n, "the second column, hex, summed over CPUs")

	_, err = ParseSoftnetDrops("003ece5c\n")
	assert.Error(t, err, "a line without the dropped column")
	_, err = ParseSoftnetDrops("003ece5c zz\n")
	assert.Error(t, err, "not hex")
}

func TestSoftnetDropsReal(t *testing.T) {
	t.Parallel()
	_, err := New("").SoftnetDrops()
	require.NoError(t, err)
}
