package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeResult(t *testing.T, root, name, text string) {
	p := filepath.Join(root, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
}

// A step is skipped only when every file it writes is a full-scale
// reference run of the code checked out, on this processor.
func TestPlanSkipsOnlyReferenceRunsOfThisCode(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	const env = `"env":{"cpu_model":"AMD EPYC","git_commit":"%s"}`
	ref := `{"scale":"full","start":"2026-12-07T05:00:00Z","end":"2026-12-07T05:10:00Z",` + env + `}`
	writeResult(t, root, "exp-1/meta.json", fmt.Sprintf(ref, "abc"))
	writeResult(t, root, "exp-2/meta.json", fmt.Sprintf(ref, "abc-dirty"))
	writeResult(t, root, "exp-3/meta.json", fmt.Sprintf(ref, "old"))
	writeResult(t, root, "exp-4/meta.json", fmt.Sprintf(`{"scale":"quick",`+env+`}`, "abc"))
	writeResult(t, root, "chaos/chaos.json", fmt.Sprintf(`{"quick":false,"scale":{"conns":100},"start":"2026-12-07T05:00:00Z","end":"2026-12-07T05:02:00Z",`+env+`}`, "abc"))
	writeResult(t, root, "chaos/chaos-uring.json", fmt.Sprintf(`{"quick":false,"scale":{"conns":100},"start":"2026-12-07T05:00:00Z","end":"2026-12-07T05:03:00Z",`+env+`}`, "abc"))
	writeResult(t, root, "exp-6/meta.json", fmt.Sprintf(ref, "same"))
	here := checkout{commit: "abc", cpu: "AMD EPYC", changedFor: func(program, commit string) ([]string, error) {
		if commit == "old" {
			return []string{"core/core.go"}, nil
		}
		return nil, nil // "same": nothing exp-6 measures changed since
	}}
	plan, err := choose(steps(root, "bin", []int{1, 2, 3, 4, 5, 6}), root, here, false, "")
	require.NoError(t, err)
	byName := map[string]planned{}
	for _, p := range plan {
		byName[p.name] = p
	}
	assert.False(t, byName["exp-1"].run, byName["exp-1"].reason)
	assert.Equal(t, "~10m", byName["exp-1"].expected())
	assert.Contains(t, byName["exp-2"].reason, "not a reference run")
	assert.Contains(t, byName["exp-3"].reason, "measured old; 1 file(s) of its code changed since (e.g. core/core.go)")
	assert.False(t, byName["exp-6"].run, "a result of an older commit whose code did not change is current: %s", byName["exp-6"].reason)
	assert.Contains(t, byName["exp-4"].reason, "quick run")
	assert.Contains(t, byName["exp-5"].reason, "no committed exp-5/meta.json")
	assert.False(t, byName["chaos"].run, "both engines' suites are reference runs")
	assert.Equal(t, "~5m", byName["chaos"].expected(), "the two suites' times add up")
	assert.True(t, byName["storm"].run)

	other, err := choose(steps(root, "bin", []int{1}), root, checkout{commit: "abc", cpu: "Intel(R) Xeon(R) Processor", changedFor: here.changedFor}, false, "")
	require.NoError(t, err)
	assert.True(t, other[1].run, "another processor runs it again")
	assert.Contains(t, other[1].reason, "ran on AMD EPYC")

	again, err := choose(steps(root, "bin", []int{1}), root, here, true, "exp-1")
	require.NoError(t, err)
	assert.True(t, again[1].run, "-all runs it again")
	assert.False(t, again[0].run, "-only leaves the others out")
	assert.Contains(t, expectedText(again, 0), "~10m")

	done, err := choose(steps(root, "bin", []int{1}), root, here, false, "exp-1")
	require.NoError(t, err)
	assert.Contains(t, expectedText(done, 0), "nothing", "with no step to run the plan says so")
	_, err = choose(steps(root, "bin", []int{1}), root, here, false, "exp-99")
	assert.ErrorContains(t, err, "no such step")
}
