package procfs

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCapEff(t *testing.T) {
	t.Parallel()
	fs := fakeRoot(t, map[string]string{
		"proc/20/status": readTestdata(t, "status"),
		"proc/21/status": "Name:\tx\nCapEff:\t0000000001000000\n",
		"proc/22/status": "Name:\tx\n",
		"proc/23/status": "CapEff:\tzz\n",
	})
	mask, err := fs.CapEff(20)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x1fffeffffff), mask)
	assert.Zero(t, mask&(1<<CapSysResource), "the testdata's root lacks CAP_SYS_RESOURCE, as on this machine")

	mask, err = fs.CapEff(21)
	require.NoError(t, err)
	assert.Equal(t, uint64(1)<<CapSysResource, mask)

	_, err = fs.CapEff(22)
	assert.ErrorContains(t, err, "no CapEff")
	_, err = fs.CapEff(23)
	assert.ErrorContains(t, err, "CapEff")
	_, err = fs.CapEff(24)
	assert.ErrorIs(t, err, os.ErrNotExist)
}
