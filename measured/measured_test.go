package measured

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A module of four packages: a shared core, the server binary on it, two
// experiments (one with a subpackage) and a tool nothing runs.
// asked counts the calls of its ChangedSince.
func fakeRepo(asked *int, changed ...string) *Repo {
	r := New("/repo")
	r.ChangedSince = func(root, commit string) ([]string, error) {
		*asked++
		return changed, nil
	}
	r.Packages = func(string) ([]Package, error) {
		pkgs := []Package{
			{ImportPath: "c1m/core", Dir: "core"},
			{ImportPath: "c1m/harness", Dir: "harness", Deps: []string{"c1m/core", "fmt"}},
			{ImportPath: "c1m/experiments/exp3", Dir: "experiments/exp3", Deps: []string{"c1m/harness", "c1m/core"}},
			{ImportPath: "c1m/experiments/exp9/peer", Dir: "experiments/exp9/peer", Deps: []string{"c1m/core"}},
			{ImportPath: "c1m/experiments/exp17", Dir: "experiments/exp17", Deps: []string{"c1m/harness", "c1m/core"}},
			{ImportPath: "c1m/cmd/c1m-report", Dir: "cmd/c1m-report"},
		}
		for _, b := range Binaries {
			dir := strings.TrimPrefix(b, "./")
			deps := []string{"c1m/core"}
			if strings.HasPrefix(dir, "experiments/exp9/") {
				deps = append(deps, "c1m/experiments/exp9/peer")
			}
			pkgs = append(pkgs, Package{ImportPath: "c1m/" + dir, Dir: dir, Deps: deps})
		}
		return pkgs, nil
	}
	return r
}

func TestChangedForCountsOnlyTheProgramsCode(t *testing.T) {
	t.Parallel()
	asked := 0
	r := fakeRepo(&asked, "experiments/exp17/main.go", "cmd/c1m-report/main.go", "harness/run.go", "core/core.go", "experiments/exp9/peer/peer.go", "go.sum")
	files, err := r.ChangedFor(Experiment(3), "abc")
	require.NoError(t, err)
	assert.Equal(t, []string{"harness/run.go", "core/core.go", "experiments/exp9/peer/peer.go", "go.sum"}, files,
		"its own packages, the binaries' (exp9's peers among them) and the build files; not another experiment or a tool")

	files, err = r.ChangedFor(Experiment(17), "abc")
	require.NoError(t, err)
	assert.Contains(t, files, "experiments/exp17/main.go")

	_, err = r.ChangedFor(Experiment(99), "abc")
	assert.ErrorContains(t, err, "no package at ./experiments/exp99/...")

	assert.Equal(t, 1, asked, "git is asked once per commit, whatever the program")

	none, err := fakeRepo(&asked).ChangedFor(Experiment(99), "abc")
	require.NoError(t, err, "with nothing changed the program is not looked up")
	assert.Empty(t, none)
}

// Binaries is what `make build` builds: a binary added there and not here
// would let its changes go unnoticed.
func TestBinariesAreWhatMakeBuildBuilds(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../Makefile")
	require.NoError(t, err)
	mk := string(b)
	build := mk[strings.Index(mk, "\nbuild:"):]
	build = build[:strings.Index(build, "\n\n")]
	var built []string
	for _, m := range regexp.MustCompile(`\s(\./\S+)`).FindAllStringSubmatch(build, -1) {
		built = append(built, m[1])
	}
	peers := regexp.MustCompile(`(?m)^PEERS\s*:=\s*(.+)$`).FindStringSubmatch(mk)
	require.NotNil(t, peers, "the Makefile's PEERS line")
	for _, p := range strings.Fields(peers[1]) {
		built = append(built, "./experiments/exp9/"+p)
	}
	built = slices.DeleteFunc(built, func(s string) bool { return strings.Contains(s, "$") }) // the peers' loop
	assert.ElementsMatch(t, built, Binaries)
}
