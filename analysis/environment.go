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
		{"CPU", processorsText(exps)},
		{"calibration", calibrationText(env.Calibration)},
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

// processorGroup is the experiments that ran on one processor.
type processorGroup struct {
	CPU string // "MODEL × CPUs"
	IDs []string
}

// processorsOf groups the experiments by the processor in their meta.json,
// in the order first met: machines of one kind come with different ones.
func processorsOf(exps []Experiment) []processorGroup {
	var groups []processorGroup
	for _, e := range exps {
		cpu := fmt.Sprintf("%s × %d", orDash(e.Meta.Env.CPUModel), e.Meta.Env.CPUs)
		if e.Meta.Env.CPUModel == "" && e.Meta.Env.CPUs == 0 {
			cpu = "not recorded"
		}
		i := slices.IndexFunc(groups, func(g processorGroup) bool { return g.CPU == cpu })
		if i < 0 {
			groups, i = append(groups, processorGroup{CPU: cpu}), len(groups)
		}
		groups[i].IDs = append(groups[i].IDs, e.Meta.ID)
	}
	return groups
}

// processorsText names the processor every experiment ran on: the one, or
// each with its experiments ("Intel … × 2 (exp-1, exp-8); AMD EPYC × 2 (exp-2)").
func processorsText(exps []Experiment) string {
	groups := processorsOf(exps)
	if len(groups) == 1 {
		return groups[0].CPU
	}
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = fmt.Sprintf("%s (%s)", g.CPU, strings.Join(g.IDs, ", "))
	}
	return strings.Join(parts, "; ")
}

// mixedProcessors warns the summary's reader when the experiments it draws
// on ran on different processors ("" when they all ran on one).
func mixedProcessors(exps []Experiment) string {
	if len(processorsOf(exps)) < 2 {
		return ""
	}
	return "The experiments below ran on more than one processor: " + processorsText(exps) +
		". Each experiment's setup names its processor and, where the run measured it, what a system call, a context switch and a loopback echo cost there."
}

func calibrationText(c Calibration) string {
	if !c.Measured() {
		return "not measured"
	}
	return c.String()
}
