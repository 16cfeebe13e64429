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

// namedEnv is the environment a section of the report ran in: an
// experiment's, or the chaos suite's, a soak's, the limits' (zero when its
// file records none).
type namedEnv struct {
	ID  string
	Env Env
}

func experimentEnvs(exps []Experiment) []namedEnv {
	out := make([]namedEnv, len(exps))
	for i, e := range exps {
		out[i] = namedEnv{e.Meta.ID, e.Meta.Env}
	}
	return out
}

// newEnvView describes the machines every section ran on (a column per
// processor), the settings with any experiment that ran with a different
// value, and every experiment's run.
func newEnvView(exps []Experiment, sections []namedEnv) envView {
	var v envView
	env, id, ok := envOf(exps)
	if !ok {
		return v
	}
	v.Machine = machineTable(sections)
	settings := map[string]string{}
	for k, val := range env.Sysctls {
		settings[k] = val
	}
	for k, val := range env.Rlimits {
		settings["rlimit "+k] = strconv.FormatUint(val, 10)
	}
	v.Settings.Header = []string{"setting", "value (" + id + ")", "differs in"}
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

// machineTable has a column per processor the sections ran on: its
// sections, kernels, calibration, memory and Go.
func machineTable(sections []namedEnv) table {
	groups := processorsOf(sections)
	t := table{Header: []string{""}}
	rows := [][]string{{"sections"}, {"kernel"}, {"calibration"}, {"memory"}, {"Go"}}
	for _, g := range groups {
		t.Header = append(t.Header, g.CPU)
		var kernels, mems, gos []string
		calibration := "not measured"
		for _, s := range sections {
			if !slices.Contains(g.IDs, s.ID) {
				continue
			}
			kernels = appendNew(kernels, s.Env.Kernel)
			if s.Env.MemBytes > 0 {
				mems = appendNew(mems, FormatQuantity(float64(s.Env.MemBytes), "B"))
			}
			gos = appendNew(gos, s.Env.GoVersion)
			if calibration == "not measured" && s.Env.Calibration.Measured() {
				calibration = s.Env.Calibration.String() + " (" + s.ID + ")"
			}
		}
		for i, cell := range []string{strings.Join(g.IDs, ", "), strings.Join(kernels, ", "), calibration, strings.Join(mems, ", "), strings.Join(gos, ", ")} {
			rows[i] = append(rows[i], orDash(cell))
		}
	}
	t.Rows = rows
	return t
}

// appendNew appends v unless it is empty or already there.
func appendNew(list []string, v string) []string {
	if v == "" || slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// processorGroup is the sections that ran on one processor.
type processorGroup struct {
	CPU string // "MODEL × CPUs"
	IDs []string
}

// processorsOf groups the sections by the processor they recorded, in the
// order first met: machines of one kind come with different ones.
func processorsOf(sections []namedEnv) []processorGroup {
	var groups []processorGroup
	for _, s := range sections {
		cpu := fmt.Sprintf("%s × %d", orDash(s.Env.CPUModel), s.Env.CPUs)
		if s.Env.CPUModel == "" && s.Env.CPUs == 0 {
			cpu = "not recorded"
		}
		i := slices.IndexFunc(groups, func(g processorGroup) bool { return g.CPU == cpu })
		if i < 0 {
			groups, i = append(groups, processorGroup{CPU: cpu}), len(groups)
		}
		groups[i].IDs = append(groups[i].IDs, s.ID)
	}
	return groups
}

// processorsText names the processor every section ran on: the one, or
// each with its sections ("Intel … × 2 (exp-1, exp-8); AMD EPYC × 2 (exp-2)").
func processorsText(sections []namedEnv) string {
	groups := processorsOf(sections)
	if len(groups) == 1 {
		return groups[0].CPU
	}
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = fmt.Sprintf("%s (%s)", g.CPU, strings.Join(g.IDs, ", "))
	}
	return strings.Join(parts, "; ")
}

// mixedProcessors warns the summary's reader when the sections it draws
// on ran on different processors ("" when they all ran on one).
func mixedProcessors(sections []namedEnv) string {
	if len(processorsOf(sections)) < 2 {
		return ""
	}
	return "The results below ran on more than one processor: " + processorsText(sections) +
		". Each section's provenance line names its processor and, where the run measured it, what a system call, a context switch and a loopback echo cost there."
}

func calibrationText(c Calibration) string {
	if !c.Measured() {
		return "not measured"
	}
	return c.String()
}
