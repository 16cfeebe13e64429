package limits

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"c1m/procfs"
)

// DefaultState is where Tune saves the values it changes.
const DefaultState = ".c1m-tune.json"

// State is the state file: the values before the first Tune, so Untune can
// put them back even after several Tunes.
type State struct {
	Saved   map[string]string `json:"saved"`   // sysctl → value before any Tune
	Applied map[string]string `json:"applied"` // sysctl → value Tune set last
	Time    string            `json:"time"`
}

// ErrStateExists is returned by Tune when a state file from an earlier Tune
// is still there.
var ErrStateExists = errors.New("state file exists")

// Tune applies settings (sysctl → value) below fs. It writes the old values
// to the state file before changing anything, and refuses when a state file
// is already there (an earlier Tune not undone), unless again is set: then
// the originals already saved are kept and only new sysctls are added. If a
// write fails, what was changed is put back and the state file is left as it
// was. It returns the sysctls it changed, name → {old, new}.
func Tune(fs procfs.FS, settings map[string]string, statePath string, again bool) (map[string][2]string, error) {
	if err := NeedRoot(fs, "-tune"); err != nil {
		return nil, err
	}
	prior, priorErr := readState(statePath)
	switch {
	case priorErr == nil && !again:
		return nil, fmt.Errorf("limits: %s: %w from an earlier -tune: run -untune first to restore the originals it holds (or -again to tune over it, keeping them)", statePath, ErrStateExists)
	case priorErr != nil && !errors.Is(priorErr, os.ErrNotExist):
		return nil, priorErr
	}
	state := State{Saved: map[string]string{}, Applied: map[string]string{}}
	if priorErr == nil {
		maps.Copy(state.Saved, prior.Saved)
		maps.Copy(state.Applied, prior.Applied)
	}
	pending := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		cur, err := fs.Sysctl(name)
		if err != nil {
			return nil, fmt.Errorf("limits: -tune: %w", err)
		}
		want := strings.Join(strings.Fields(settings[name]), " ")
		if cur == want {
			continue
		}
		pending[name] = want
		if _, kept := state.Saved[name]; !kept {
			state.Saved[name] = cur
		}
		state.Applied[name] = want
	}
	if len(pending) == 0 {
		return nil, nil
	}
	state.Time = time.Now().UTC().Format(time.RFC3339)
	if err := writeState(statePath, state); err != nil {
		return nil, err
	}
	g, err := fs.Apply(pending) // on failure Apply has put back what it changed
	if err != nil {
		undo := os.Remove(statePath)
		if priorErr == nil {
			undo = writeState(statePath, prior)
		}
		return nil, errors.Join(fmt.Errorf("limits: -tune: %w", err), undo)
	}
	return g.Changed(), nil
}

// Untune writes back every value the state file saved and removes it. If a
// write fails the file stays, so Untune can be run again.
func Untune(fs procfs.FS, statePath string) (map[string]string, error) {
	if err := NeedRoot(fs, "-untune"); err != nil {
		return nil, err
	}
	state, err := readState(statePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("limits: -untune: no state file %s: nothing to restore (was -tune run in another directory? see -state)", statePath)
	}
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(state.Saved)) {
		if err := fs.SetSysctl(name, state.Saved[name]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("limits: -untune: %w (%s kept: fix and run -untune again)", err, statePath)
	}
	if err := os.Remove(statePath); err != nil {
		return nil, fmt.Errorf("limits: -untune restored the values but: %w", err)
	}
	return state.Saved, nil
}

// NeedRoot refuses -tune or -untune (what) on the real /proc/sys without
// root, with the fix; a fake root (tests) is always allowed.
func NeedRoot(fs procfs.FS, what string) error {
	if filepath.Clean(fs.Root) == "/" && os.Geteuid() != 0 {
		return fmt.Errorf("limits: %s writes /proc/sys and needs root: run it with sudo (sudo make %s)", what, strings.TrimPrefix(what, "-"))
	}
	return nil
}

func readState(path string) (State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return State{}, fmt.Errorf("limits: state file: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("limits: state file %s is not valid JSON (%w): restore its values by hand, then remove it", path, err)
	}
	return s, nil
}

// writeState writes the state file whole or not at all (temporary file,
// fsync, rename), so a crash mid-write never loses the originals.
func writeState(path string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("limits: writing state file %s: %w (is its directory there and writable? see -state)", path, err)
	}
	_, err = tmp.Write(append(b, '\n'))
	err = errors.Join(err, tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("limits: writing state file %s: %w", path, err)
	}
	return nil
}
