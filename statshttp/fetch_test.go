package statshttp

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/core"
)

// What Serve serves at /stats, Fetch reads back; a page that is not a
// snapshot is an error that names the URL.
func TestFetchReadsWhatServeServes(t *testing.T) {
	t.Parallel()
	ln, err := Serve("127.0.0.1:0", func() core.Snapshot { return core.Snapshot{Engine: "epoll", Conns: 7} })
	require.NoError(t, err)
	defer ln.Close()
	base := "http://" + ln.Addr().String()

	snap, err := Fetch(http.DefaultClient, base+"/stats?workers=0")
	require.NoError(t, err)
	assert.Equal(t, "epoll", snap.Engine)
	assert.EqualValues(t, 7, snap.Conns)

	_, err = Fetch(http.DefaultClient, base+"/debug/pprof/cmdline")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/debug/pprof/cmdline")
}
