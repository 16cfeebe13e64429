package analysis

// Where each section's numbers came from: the commit of the code that ran,
// the day, the processor, the kernel and the machine's calibration, in one
// line that opens the section; and, from git, whether the code the run
// measured (package measured: its program's packages, the binaries it may
// run, the build files) has changed since (the section is then marked stale).

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"c1m/measured"
	"c1m/schema"
)

// ChangedFunc lists the files that changed between commit and today's code
// among those program's results measure (measured.Repo.ChangedFor in a
// repository); an error means git cannot tell.
type ChangedFunc func(program, commit string) ([]string, error)

// gitChanges asks git in the work tree that holds dir, else the one that
// holds the current directory (results kept outside the repository): at
// its top, since git compares only what lies under the directory it runs in.
func gitChanges(dir string) ChangedFunc {
	root, err := toplevel(dir)
	if err != nil {
		root, err = toplevel(".")
	}
	repo := measured.New(root)
	return func(program, commit string) ([]string, error) {
		if err != nil {
			return nil, err
		}
		return repo.ChangedFor(program, commit)
	}
}

// toplevel is the top of the git work tree holding dir.
func toplevel(dir string) (string, error) {
	cmd := exec.Command("git", "rev-parse", "--show-toplevel")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("no git work tree at %s (pass -repo): %w", dir, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// provenanceView opens a section: Line always, Stale when the section's
// code changed after its run or git cannot tell.
type provenanceView struct{ Line, Stale string }

// labelled names whose provenance it is, for a section with several
// results ("**Provenance (uring):** …").
func (v provenanceView) labelled(label string) provenanceView {
	for _, head := range []string{"**Provenance:**", "**Provenance unknown:**"} {
		v.Line = strings.Replace(v.Line, head, strings.TrimSuffix(head, ":**")+" ("+label+"):**", 1)
	}
	return v
}

// staleness answers, once per program and commit, whether that program's
// results made at that commit are stale; it also counts the sections it
// marked, for the summary.
type staleness struct {
	changed  ChangedFunc
	known    map[string]changes
	sections int        // sections described
	envs     []namedEnv // each section's environment, in report order
	stale    []string
	unknown  []string
}

type changes struct {
	files []string
	err   error
}

func newStaleness(changed ChangedFunc) *staleness {
	return &staleness{changed: changed, known: map[string]changes{}}
}

func (s *staleness) changedSince(program, commit string) ([]string, error) {
	key := program + " " + commit
	c, ok := s.known[key]
	if !ok {
		c.files, c.err = s.changed(program, commit)
		s.known[key] = c
	}
	return c.files, c.err
}

// describe writes the provenance of one section: name is how the summary
// names it, program the step's own program (package measured), env what
// the run recorded (nil: nothing), start when it began and rerun the
// command that makes it again.
func (s *staleness) describe(name, program string, env *schema.Env, start, rerun string) provenanceView {
	s.sections++
	ne := namedEnv{ID: name}
	if env != nil {
		ne.Env = *env
	}
	s.envs = append(s.envs, ne)
	if env == nil || env.Commit() == "" || env.Commit() == "unknown" {
		s.unknown = append(s.unknown, name)
		line := "**Provenance unknown:** the run recorded no commit or machine (it predates provenance)"
		if start != "" {
			line += "; started " + start
		}
		if env != nil && env.CPUModel != "" {
			line += "; " + env.Machine()
		}
		return provenanceView{Line: line + "."}
	}
	v := provenanceView{Line: provenanceLine(*env, start)}
	files, err := s.changedSince(program, env.Commit())
	switch {
	case err != nil:
		s.unknown = append(s.unknown, name)
		v.Stale = fmt.Sprintf("**Provenance unknown:** git cannot compare commit %s with today's code (%s).", env.Commit(), firstLine(err))
	case len(files) > 0:
		s.stale = append(s.stale, name)
		v.Stale = fmt.Sprintf("**Stale:** the code this run measured changed after it (%s, e.g. %s); re-run with `%s`.",
			plural(len(files), "file"), strings.Join(examples(files, 3), ", "), rerun)
	}
	return v
}

// provenanceLine is "Ran 2026-11-25T10:00:00Z at commit abc (not a
// reference run: code not committed) on AMD EPYC × 2 CPUs, Linux …; system call …".
func provenanceLine(env schema.Env, start string) string {
	line := "**Provenance:** commit `" + env.Commit() + "`"
	if !env.Reference() {
		line += ", not a reference run (code not committed)"
	}
	if start != "" {
		line += ", started " + start
	}
	return line + ", on " + env.Machine() + "."
}

// summaryLine says, for the summary, how many sections are stale or of
// unknown provenance ("" when every section is current).
func (s *staleness) summaryLine() string {
	if len(s.stale) == 0 && len(s.unknown) == 0 {
		if s.sections == 0 {
			return ""
		}
		return fmt.Sprintf("Every section below (%d) ran on the code it measures as it is today%s; each opens with its commit, processor and calibration.", s.sections, s.commitsText())
	}
	var parts []string
	if len(s.stale) > 0 {
		parts = append(parts, fmt.Sprintf("**%d of %d sections are stale** (their code changed after they ran: %s)", len(s.stale), s.sections, strings.Join(s.stale, ", ")))
	}
	if len(s.unknown) > 0 {
		parts = append(parts, fmt.Sprintf("%d of unknown provenance (%s)", len(s.unknown), strings.Join(s.unknown, ", ")))
	}
	return strings.Join(parts, "; ") + ". Each section opens with the commit, processor and calibration it ran on."
}

// commitsText names the commits the sections ran at, most sections first,
// when there are several (" (commit `abc` for 17 sections, `def` for 7
// sections: what changed between them is code the older sections do not
// measure)"), else "". Only called when no section is stale.
func (s *staleness) commitsText() string {
	count := map[string]int{}
	var order []string
	for _, e := range s.envs {
		c := e.Env.Commit()
		if c == "" {
			continue
		}
		if count[c] == 0 {
			order = append(order, c)
		}
		count[c]++
	}
	if len(order) < 2 {
		return ""
	}
	slices.SortStableFunc(order, func(a, b string) int { return count[b] - count[a] })
	parts := make([]string, len(order))
	for i, c := range order {
		parts[i] = fmt.Sprintf("`%s` for %s", c, plural(count[c], "section"))
	}
	return " (commit " + strings.Join(parts, ", ") + ": what changed between them is code the older sections do not measure)"
}

// examples picks n of the changed files to name, Go code before tests and
// other files (a changed engine says more than a changed Makefile), in
// git's order otherwise.
func examples(files []string, n int) []string {
	rank := func(f string) int {
		switch {
		case strings.HasSuffix(f, "_test.go"):
			return 1
		case strings.HasSuffix(f, ".go"):
			return 0
		}
		return 2
	}
	sorted := slices.Clone(files)
	slices.SortStableFunc(sorted, func(a, b string) int { return rank(a) - rank(b) })
	return sorted[:min(n, len(sorted))]
}

func firstLine(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}

// envOfFile reads the "env" key of a results file (chaos, storm, reap,
// soak, limits): nil when the file predates it.
func envOfFile(path string) (*schema.Env, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f struct {
		Env *schema.Env `json:"env"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f.Env, nil
}

// describeFile is describe for a results file other than an experiment's.
func (s *staleness) describeFile(name, program, path, start, rerun string) (provenanceView, error) {
	env, err := envOfFile(path)
	if err != nil {
		return provenanceView{}, err
	}
	return s.describe(name, program, env, start, rerun), nil
}

// repoRootOf is the work tree a results directory belongs to by default:
// its parent.
func repoRootOf(resultsDir string) string {
	abs, err := filepath.Abs(resultsDir)
	if err != nil {
		return filepath.Dir(resultsDir)
	}
	return filepath.Dir(abs)
}
