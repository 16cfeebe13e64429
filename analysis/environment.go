package analysis

// The report's environment: the machine the summary quotes, every setting
// with the experiments that ran with another value, and every run.

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

type envView struct{ Machine, Settings, Runs table }

// newEnvView describes the machine (from the summary's environment), the
// settings with any experiment that ran with a different value, and every
// experiment's run.
func newEnvView(exps []Experiment) envView {
	var v envView
	env, id, ok := envOf(exps)
	if !ok {
		return v
	}
	v.Machine = table{Header: []string{"", "from " + id}, Rows: [][]string{
		{"kernel", orDash(env.Kernel)},
		{"CPU", fmt.Sprintf("%s × %d", orDash(env.CPUModel), env.CPUs)},
		{"memory", FormatQuantity(float64(env.MemBytes), "B")},
		{"Go", orDash(env.GoVersion)},
	}}
	settings := map[string]string{}
	for k, val := range env.Sysctls {
		settings[k] = val
	}
	for k, val := range env.Rlimits {
		settings["rlimit "+k] = strconv.FormatUint(val, 10)
	}
	v.Settings.Header = []string{"setting", "value", "differs in"}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		var differs []string
		for _, e := range exps {
			other, ok := e.Meta.Env.Sysctls[k]
			if r, isRlimit := strings.CutPrefix(k, "rlimit "); isRlimit {
				n, has := e.Meta.Env.Rlimits[r]
				other, ok = strconv.FormatUint(n, 10), has
			}
			if ok && other != settings[k] {
				differs = append(differs, fmt.Sprintf("%s: %s", e.Meta.ID, formatSysctl(other)))
			}
		}
		v.Settings.Rows = append(v.Settings.Rows, []string{k, formatSysctl(settings[k]), strings.Join(differs, "; ")})
	}
	v.Runs.Header = []string{"experiment", "scale", "repeats", "start", "end", "commit", "Go", "root"}
	for _, e := range exps {
		m := e.Meta
		v.Runs.Rows = append(v.Runs.Rows, []string{m.ID, orDash(m.Scale), strconv.Itoa(m.Repeats), orDash(m.Start), orDash(m.End),
			orDash(m.Env.GitCommit), orDash(m.Env.GoVersion), strconv.FormatBool(m.Env.Root)})
	}
	return v
}
