// Package measured says which code a step of the notebook measures: the
// packages of the module its own program and the binaries it may run are
// built from, plus the build files. A result made at an older commit still
// measures today's code when none of that changed since, whatever else
// did: adding experiment 17 leaves experiment 3's results current.
//
// Nothing a step builds imports this package (only the report and
// c1m-reproduce do), so changing it makes no result stale.
package measured

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"c1m/provenance"
)

// Binaries are what `make build` puts in bin/: any step may run any of
// them (the harness starts c1m-server, c1m-client, c1m-holder and
// experiment 9's peers by name), so each is part of every step's code.
var Binaries = []string{
	"./cmd/c1m-server", "./cmd/c1m-client", "./cmd/c1m-holder", "./cmd/c1m-limits", "./cmd/c1m-statswatch",
	"./experiments/exp9/netgo", "./experiments/exp9/gnet", "./experiments/exp9/nbio",
}

// Experiment is the program of experiment n, with its own subpackages.
func Experiment(n int) string { return fmt.Sprintf("./experiments/exp%d/...", n) }

// The programs of the other steps.
const (
	Chaos  = "./cmd/c1m-chaos" // the hostile suites, the reconnect storms, vanish-scale
	Soak   = "./cmd/c1m-soak"
	Limits = "./cmd/c1m-limits"
)

// Repo answers for the git work tree at root.
type Repo struct {
	root string
	// ChangedSince lists the measured files changed between a commit and
	// HEAD (gitChanged; replaced in tests).
	ChangedSince func(root, commit string) ([]string, error)
	// Packages lists the module's packages (go list; replaced in tests).
	Packages func(root string) ([]Package, error)

	once sync.Once
	pkgs map[string]Package // by import path
	err  error

	mu      sync.Mutex
	changed map[string]changes // by commit: every program asks about the same few
}

type changes struct {
	files []string
	err   error
}

// Package is one package of the module: where it is and, transitively,
// every package it imports.
type Package struct {
	ImportPath string
	Dir        string // relative to the repository's root, slash-separated
	Deps       []string
}

// New answers for the work tree at root.
func New(root string) *Repo {
	return &Repo{root: root, ChangedSince: gitChanged, Packages: goList}
}

// ChangedFor lists the files changed since commit that program's results
// measure: Go files of the packages program and Binaries are built from,
// and every measured file that is not Go (the Makefile, go.mod, go.sum
// change every build). Empty: a result of program made at commit measures
// today's code.
func (r *Repo) ChangedFor(program, commit string) ([]string, error) {
	files, err := r.changedSince(commit)
	if err != nil || len(files) == 0 {
		return nil, err
	}
	dirs, err := r.dirsOf(append([]string{program}, Binaries...))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".go") || dirs[path.Dir(f)] {
			out = append(out, f)
		}
	}
	return out, nil
}

// changedSince is ChangedSince, asked once per commit.
func (r *Repo) changedSince(commit string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.changed[commit]
	if !ok {
		c.files, c.err = r.ChangedSince(r.root, commit)
		if r.changed == nil {
			r.changed = map[string]changes{}
		}
		r.changed[commit] = c
	}
	return c.files, c.err
}

// dirsOf is the set of directories of the module's packages the programs
// are built from (a pattern ending in /... takes every package under it).
func (r *Repo) dirsOf(programs []string) (map[string]bool, error) {
	r.once.Do(func() {
		var list []Package
		if list, r.err = r.Packages(r.root); r.err == nil {
			r.pkgs = map[string]Package{}
			for _, p := range list {
				r.pkgs[p.ImportPath] = p
			}
		}
	})
	if r.err != nil {
		return nil, r.err
	}
	dirs := map[string]bool{}
	add := func(p Package) {
		dirs[p.Dir] = true
		for _, d := range p.Deps {
			if dep, ok := r.pkgs[d]; ok {
				dirs[dep.Dir] = true
			}
		}
	}
	for _, prog := range programs {
		dir, all := strings.CutSuffix(path.Clean(strings.TrimPrefix(prog, "./")), "/...")
		found := false
		for _, p := range r.pkgs {
			if p.Dir == dir || (all && strings.HasPrefix(p.Dir, dir+"/")) {
				add(p)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("no package at %s in the module at %s: is the program's path right?", prog, r.root)
		}
	}
	return dirs, nil
}

// gitChanged lists the measured files (provenance.NotMeasured aside) that
// differ between commit and HEAD. Renames are listed as a deletion and an
// addition: a file moved out of a package changed that package, and git's
// rename detection would name only where it went.
func gitChanged(root, commit string) ([]string, error) {
	commit = strings.TrimSuffix(commit, "-dirty")
	if commit == "" {
		return nil, fmt.Errorf("no commit recorded")
	}
	args := []string{"diff", "--name-only", "--no-renames", commit, "HEAD", "--", "."}
	for _, p := range provenance.NotMeasured {
		args = append(args, ":(exclude)"+p)
	}
	for _, g := range provenance.NotMeasuredGlobs {
		args = append(args, ":(exclude,glob)"+g)
	}
	out, err := command(root, "git", args...)
	return strings.Fields(out), err
}

// command runs name in dir and returns its output; a failure says what
// the command printed to stderr.
func command(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		return "", fmt.Errorf("%s %s in %s: %w: %s", name, args[0], dir, err, bytes.TrimSpace(ee.Stderr))
	}
	if err != nil {
		return "", fmt.Errorf("%s %s in %s: %w", name, args[0], dir, err)
	}
	return string(out), nil
}

// goList lists the module's packages with `go list` in root.
func goList(root string) ([]Package, error) {
	out, err := command(root, "go", "list", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .Deps \" \"}}", "./...")
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	var pkgs []Package
	for line := range strings.SplitSeq(out, "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, "\t", 3) // a package that imports nothing ends in a tab
		if len(f) != 3 {
			return nil, fmt.Errorf("go list: unexpected line %q", line)
		}
		rel, err := filepath.Rel(abs, f[1])
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // not under the repository
		}
		pkgs = append(pkgs, Package{ImportPath: f[0], Dir: filepath.ToSlash(rel), Deps: strings.Fields(f[2])})
	}
	return pkgs, nil
}
