package limits

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/procfs"
)

func sysctlFiles() map[string]string {
	return map[string]string{
		"proc/sys/net/core/somaxconn":           "4096\n",
		"proc/sys/net/ipv4/tcp_max_syn_backlog": "2048\n",
		"proc/sys/net/ipv4/tcp_mem":             "287898\t383865\t575796\n",
		"proc/sys/net/ipv4/tcp_max_orphans":     "131072\n",
		"proc/sys/net/ipv4/ip_local_port_range": "32768\t60999\n",
	}
}

var originals = map[string]string{
	"net.core.somaxconn":           "4096",
	"net.ipv4.tcp_max_syn_backlog": "2048",
	"net.ipv4.tcp_mem":             "287898 383865 575796",
	"net.ipv4.tcp_max_orphans":     "131072",
	"net.ipv4.ip_local_port_range": "32768 60999",
}

func sysctls(t *testing.T, fs procfs.FS) map[string]string {
	t.Helper()
	got := map[string]string{}
	for name := range originals {
		v, err := fs.Sysctl(name)
		require.NoError(t, err)
		got[name] = v
	}
	return got
}

func stateFile(t *testing.T, path string) State {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var s State
	require.NoError(t, json.Unmarshal(b, &s))
	return s
}

func TestTuneUntuneRoundTrip(t *testing.T) {
	t.Parallel()
	fs := fakeRoot(t, sysctlFiles())
	state := filepath.Join(t.TempDir(), DefaultState)

	changed, err := Tune(fs, map[string]string{
		"net.core.somaxconn":           "65535",
		"net.ipv4.tcp_max_syn_backlog": "65535",
		"net.ipv4.tcp_mem":             "1500000 2000000 3000000",
		"net.ipv4.ip_local_port_range": "32768 60999", // already so: neither changed nor saved
	}, state, false)
	require.NoError(t, err)
	assert.Equal(t, map[string][2]string{
		"net.core.somaxconn":           {"4096", "65535"},
		"net.ipv4.tcp_max_syn_backlog": {"2048", "65535"},
		"net.ipv4.tcp_mem":             {"287898 383865 575796", "1500000 2000000 3000000"},
	}, changed)
	saved := map[string]string{
		"net.core.somaxconn":           "4096",
		"net.ipv4.tcp_max_syn_backlog": "2048",
		"net.ipv4.tcp_mem":             "287898 383865 575796",
	}
	assert.Equal(t, saved, stateFile(t, state).Saved)

	// A second tune would save the tuned values as "originals": refused.
	_, err = Tune(fs, map[string]string{"net.core.somaxconn": "65000"}, state, false)
	require.ErrorIs(t, err, ErrStateExists)
	assert.ErrorContains(t, err, "-untune first")
	assert.Equal(t, saved, stateFile(t, state).Saved)
	v, err := fs.Sysctl("net.core.somaxconn")
	require.NoError(t, err)
	assert.Equal(t, "65535", v, "a refused tune changes nothing")

	// Told to, it tunes over the state file and keeps the true originals.
	changed, err = Tune(fs, map[string]string{"net.core.somaxconn": "65000", "net.ipv4.tcp_max_orphans": "262144"}, state, true)
	require.NoError(t, err)
	assert.Equal(t, map[string][2]string{
		"net.core.somaxconn":       {"65535", "65000"},
		"net.ipv4.tcp_max_orphans": {"131072", "262144"},
	}, changed)
	s := stateFile(t, state)
	assert.Equal(t, "4096", s.Saved["net.core.somaxconn"], "the value before the first tune, not the tuned one")
	assert.Equal(t, "131072", s.Saved["net.ipv4.tcp_max_orphans"])
	assert.Equal(t, "65000", s.Applied["net.core.somaxconn"])

	restored, err := Untune(fs, state)
	require.NoError(t, err)
	assert.Len(t, restored, 4)
	assert.Equal(t, originals, sysctls(t, fs), "every value back exactly")
	assert.NoFileExists(t, state)

	_, err = Untune(fs, state)
	assert.ErrorContains(t, err, "nothing to restore")
}

func TestTuneNothingToDo(t *testing.T) {
	t.Parallel()
	fs := fakeRoot(t, sysctlFiles())
	state := filepath.Join(t.TempDir(), DefaultState)
	changed, err := Tune(fs, map[string]string{"net.core.somaxconn": "4096"}, state, false)
	require.NoError(t, err)
	assert.Empty(t, changed)
	assert.NoFileExists(t, state, "no state file when nothing changed")
}

// The state file is written before any sysctl: if it cannot be, nothing changes.
func TestTuneSavesStateFirst(t *testing.T) {
	t.Parallel()
	fs := fakeRoot(t, sysctlFiles())
	state := filepath.Join(t.TempDir(), "missing-dir", DefaultState)
	_, err := Tune(fs, map[string]string{"net.core.somaxconn": "65535"}, state, false)
	require.ErrorContains(t, err, "writing state file")
	assert.Equal(t, originals, sysctls(t, fs))
}

// A write the kernel refuses midway: what was changed is put back and no
// state file is left behind.
func TestTuneFailureRollsBack(t *testing.T) {
	t.Parallel()
	const readOnly = "/proc/sys/kernel/osrelease" // mode 0444: refused even to root
	if _, err := os.Stat(readOnly); err != nil {
		t.Skipf("no %s: %v", readOnly, err)
	}
	fs := fakeRoot(t, sysctlFiles())
	link := filepath.Join(fs.Root, "proc/sys/zz/readonly")
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
	require.NoError(t, os.Symlink(readOnly, link))
	state := filepath.Join(t.TempDir(), DefaultState)

	_, err := Tune(fs, map[string]string{
		"net.core.somaxconn": "65535", // applied first (name order), then rolled back
		"net.ipv4.tcp_mem":   "1500000 2000000 3000000",
		"zz.readonly":        "x",
	}, state, false)
	require.Error(t, err)
	assert.ErrorContains(t, err, "zz.readonly")
	assert.Equal(t, originals, sysctls(t, fs))
	assert.NoFileExists(t, state)

	// Over an earlier state file, a failure leaves that file as it was.
	require.NoError(t, writeState(state, State{Saved: map[string]string{"net.core.somaxconn": "1"}}))
	_, err = Tune(fs, map[string]string{"net.core.somaxconn": "65535", "zz.readonly": "x"}, state, true)
	require.Error(t, err)
	assert.Equal(t, map[string]string{"net.core.somaxconn": "1"}, stateFile(t, state).Saved)
	assert.Nil(t, stateFile(t, state).Applied)
}

func TestUntuneKeepsStateOnFailure(t *testing.T) {
	t.Parallel()
	fs := fakeRoot(t, sysctlFiles())
	state := filepath.Join(t.TempDir(), DefaultState)
	require.NoError(t, writeState(state, State{Saved: map[string]string{
		"net.core.somaxconn": "4096",
		"net.ipv4.gone":      "1", // not on this kernel any more
	}}))
	_, err := Untune(fs, state)
	require.ErrorContains(t, err, "run -untune again")
	assert.FileExists(t, state)

	require.NoError(t, os.WriteFile(state, []byte("{"), 0o644))
	_, err = Untune(fs, state)
	assert.ErrorContains(t, err, "not valid JSON")
}

func TestTuneNeedsRootOnTheRealSystem(t *testing.T) {
	t.Parallel()
	if os.Geteuid() == 0 {
		t.Skip("running as root: the refusal cannot be seen")
	}
	_, err := Tune(procfs.New("/"), map[string]string{"net.core.somaxconn": "65535"}, filepath.Join(t.TempDir(), "s"), false)
	assert.ErrorContains(t, err, "needs root")
	_, err = Untune(procfs.New("/"), filepath.Join(t.TempDir(), "s"))
	assert.ErrorContains(t, err, "needs root")
}
