// Package analysis turns results/ into figures and REPORT.md.
//
// It reads every directory under results/ that holds a meta.json (exp-1,
// exp-2, ..., chaos, soak, ...), draws the figures each meta.json asks for
// (PNG and SVG, next to the data), draws the wire model of question 4 into
// results/model/, and writes REPORT.md from the embedded template
// report.tmpl. Every number in the report comes from those files. The
// summary at its top reads the experiments that declare, in meta.json,
// which of its blocks they feed ("feeds") and what each arm stands for in
// them ("role"): never an experiment's number or an arm's name.
//
// The layout of one experiment directory:
//
//	meta.json                  what was asked, the arms, metrics, checks, figures, feeds, environment
//	summary.csv                arm,rep,<metric>...: one row per run (empty cell: not measured)
//	samples-<arm>-r<rep>.csv   time series of one run (t_s, conns_server, slab_*_bytes, ...)
//	client-<arm>-r<rep>.json   the load client's result of one run
//
// Only meta.json is required; the others are read when present.
package analysis

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"c1m/schema"
)

// Experiment is one results directory, loaded.
type Experiment struct {
	Dir     string // e.g. results/exp-1
	Meta    Meta
	Runs    []Run // summary.csv, in file order
	Samples map[RunID]*Samples
	Clients map[RunID]*ClientResult
}

// RunID names one run: an arm and a repeat.
type RunID struct {
	Arm string
	Rep int
}

// The meta.json types are schema's, shared with the harness that writes them.
type (
	Meta        = schema.Meta
	Metric      = schema.Metric
	Arm         = schema.Arm
	Role        = schema.Role
	Check       = schema.Check
	Figure      = schema.Figure
	Env         = schema.Env
	Calibration = schema.Calibration
)

// Run is one row of summary.csv. A metric absent from Values was not measured.
type Run struct {
	RunID
	Values map[string]float64
}

// Samples is one samples-<arm>-r<rep>.csv. Numeric cells are in Rows
// (NaN when empty or not a number); the raw cells of text columns such as
// phase are in Text, row by row.
type Samples struct {
	Columns []string
	Rows    [][]float64
	Text    map[string][]string
}

// ClientResult is the part of client-<arm>-r<rep>.json the report quotes.
type ClientResult struct {
	Attempted   float64     `json:"attempted"`
	Established float64     `json:"established"`
	RampSeconds float64     `json:"ramp_seconds"`
	ConnectUs   Percentiles `json:"connect_us"`
	RttUs       Percentiles `json:"rtt_us"`
	Sent        float64     `json:"sent"`
	Echoed      float64     `json:"echoed"`
	Mismatched  float64     `json:"mismatched"`
	Timeouts    float64     `json:"timeouts"`
}

// Percentiles of a latency histogram, in microseconds.
type Percentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	N    float64 `json:"n"`
}

// Load reads every experiment under dir: each subdirectory holding a
// meta.json. Experiments come numbered first (by number), then the others
// by directory name. A missing dir is no experiments, not an error.
func Load(dir string) ([]Experiment, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading results directory: %w", err)
	}
	var exps []Experiment
	for _, e := range entries {
		sub := filepath.Join(dir, e.Name())
		if !e.IsDir() || !exists(filepath.Join(sub, "meta.json")) {
			continue
		}
		exp, err := LoadExperiment(sub)
		if err != nil {
			return nil, err
		}
		exps = append(exps, exp)
	}
	slices.SortStableFunc(exps, func(a, b Experiment) int {
		return cmp.Or(
			cmp.Compare(sortKey(a.Meta.Number), sortKey(b.Meta.Number)),
			strings.Compare(a.Dir, b.Dir))
	})
	return exps, nil
}

// sortKey puts unnumbered experiments (number 0) after the numbered ones.
func sortKey(number int) int {
	if number <= 0 {
		return math.MaxInt
	}
	return number
}

var runFile = regexp.MustCompile(`^(samples|client)-(.+)-r(\d+)\.(csv|json)$`)

// LoadExperiment reads one experiment directory.
func LoadExperiment(dir string) (Experiment, error) {
	exp := Experiment{Dir: dir, Samples: map[RunID]*Samples{}, Clients: map[RunID]*ClientResult{}}
	if err := readJSON(filepath.Join(dir, "meta.json"), &exp.Meta); err != nil {
		return exp, err
	}
	if exp.Meta.ID == "" {
		exp.Meta.ID = filepath.Base(dir)
	}
	runs, err := readSummary(filepath.Join(dir, "summary.csv"))
	if err != nil {
		return exp, err
	}
	exp.Runs = runs
	entries, err := os.ReadDir(dir)
	if err != nil {
		return exp, fmt.Errorf("%s: %w", dir, err)
	}
	for _, e := range entries {
		m := runFile.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		rep, _ := strconv.Atoi(m[3])
		id := RunID{Arm: m[2], Rep: rep}
		path := filepath.Join(dir, e.Name())
		switch m[1] + "." + m[4] {
		case "samples.csv":
			s, err := readSamples(path)
			if err != nil {
				return exp, err
			}
			exp.Samples[id] = s
		case "client.json":
			var c ClientResult
			if err := readJSON(path, &c); err != nil {
				return exp, err
			}
			exp.Clients[id] = &c
		}
	}
	return exp, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: not valid JSON for %T: %w", path, v, err)
	}
	return nil
}

// readCSV returns the header and the records of a CSV file; a missing file
// is (nil, nil, nil).
func readCSV(path string) ([]string, [][]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err == io.EOF {
		return nil, nil, fmt.Errorf("%s: empty file, want a header line", path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	records, err := r.ReadAll()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return header, records, nil
}

func readSummary(path string) ([]Run, error) {
	header, records, err := readCSV(path)
	if err != nil || header == nil {
		return nil, err
	}
	if len(header) < 2 || header[0] != "arm" || header[1] != "rep" {
		return nil, fmt.Errorf("%s: header starts %q, want arm,rep,<metrics>...", path, header[:min(2, len(header))])
	}
	runs := make([]Run, 0, len(records))
	for i, rec := range records {
		line := i + 2
		rep, err := strconv.Atoi(strings.TrimSpace(rec[1]))
		if err != nil {
			return nil, fmt.Errorf("%s line %d: rep %q is not an integer", path, line, rec[1])
		}
		run := Run{RunID: RunID{Arm: rec[0], Rep: rep}, Values: map[string]float64{}}
		for j := 2; j < len(header); j++ {
			cell := strings.TrimSpace(rec[j])
			if cell == "" {
				continue
			}
			v, err := strconv.ParseFloat(cell, 64)
			if err != nil {
				return nil, fmt.Errorf("%s line %d: column %s: %q is not a number", path, line, header[j], cell)
			}
			run.Values[header[j]] = v
		}
		runs = append(runs, run)
	}
	return runs, nil
}

func readSamples(path string) (*Samples, error) {
	header, records, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	s := &Samples{Columns: header, Text: map[string][]string{}}
	for _, rec := range records {
		row := make([]float64, len(header))
		for j, cell := range rec {
			v, err := strconv.ParseFloat(strings.TrimSpace(cell), 64)
			if err != nil {
				v = math.NaN()
				if cell != "" && s.Text[header[j]] == nil {
					s.Text[header[j]] = make([]string, len(records))
				}
			}
			row[j] = v
		}
		s.Rows = append(s.Rows, row)
	}
	for col, cells := range s.Text {
		j := slices.Index(header, col)
		for i, rec := range records {
			cells[i] = rec[j]
		}
	}
	return s, nil
}

// Column returns the values of a column (nil when the column is absent).
func (s *Samples) Column(name string) []float64 {
	j := slices.Index(s.Columns, name)
	if j < 0 {
		return nil
	}
	col := make([]float64, len(s.Rows))
	for i, row := range s.Rows {
		col[i] = row[j]
	}
	return col
}

// ArmNames lists the arms in meta.json order, then any arm that appears
// only in the data.
func (e *Experiment) ArmNames() []string {
	var names []string
	for _, a := range e.Meta.Arms {
		names = append(names, a.Name)
	}
	for _, r := range e.Runs {
		if !slices.Contains(names, r.Arm) {
			names = append(names, r.Arm)
		}
	}
	return names
}

// FirstSamples returns the samples of the arm's lowest-numbered repeat.
func (e *Experiment) FirstSamples(arm string) (*Samples, int) {
	reps := repsOf(e.Samples, arm)
	if len(reps) == 0 {
		return nil, 0
	}
	return e.Samples[RunID{arm, reps[0]}], reps[0]
}

// repsOf lists, in order, the repeats of arm that runs has an entry for.
func repsOf[T any](runs map[RunID]T, arm string) []int {
	var reps []int
	for id := range runs {
		if id.Arm == arm {
			reps = append(reps, id.Rep)
		}
	}
	slices.Sort(reps)
	return reps
}

// ArmRole returns the role meta.json declares for an arm (none when it
// declares none, or has no such arm).
func (e *Experiment) ArmRole(arm string) Role {
	for _, a := range e.Meta.Arms {
		if a.Name == arm {
			return a.Role
		}
	}
	return Role{}
}

// ServerProblem returns the last problem one run's server log reported, as
// the harness recorded it in meta.json ("" when none).
func (e *Experiment) ServerProblem(arm string, rep int) string {
	for _, p := range e.Meta.ServerProblems {
		if p.Arm == arm && p.Rep == rep {
			return p.Line
		}
	}
	return ""
}

// MetricInfo returns the meta.json declaration of a metric (a bare one
// when undeclared).
func (e *Experiment) MetricInfo(name string) Metric {
	for _, m := range e.Meta.Metrics {
		if m.Name == name {
			return m
		}
	}
	return Metric{Name: name}
}
