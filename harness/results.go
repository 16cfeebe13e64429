package harness

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"c1m/procfs"
	"c1m/provenance"
	"c1m/schema"
)

// meta is results/exp-N/meta.json.
type meta struct{ schema.Meta }

func newMeta(e Experiment, o Options, arms []Arm, repeats int, fs procfs.FS) *meta {
	m := &meta{schema.Meta{ID: fmt.Sprintf("exp-%d", e.Number), Number: e.Number, Title: e.Title, Question: e.Question,
		Hypothesis: e.Hypothesis, Factor: e.Factor, Metrics: e.Metrics, Repeats: repeats, Scale: o.Scale.Name,
		Checks: e.Checks, Figures: e.Figures, Feeds: e.Feeds, Start: time.Now().UTC().Format(time.RFC3339), Notes: []string{}}}
	for _, a := range arms {
		m.Arms = append(m.Arms, schema.Arm{Name: a.Name, ServerBin: a.ServerBin, ServerFlags: a.Server, ClientFlags: a.Client,
			Note: a.Note, ClientNice: a.ClientNice, Params: a.Params, Role: a.Role, ServerNetns: a.ServerNetns, ClientNetns: a.ClientNetns, Repeats: a.Repeats})
	}
	m.Env = provenance.Machine(fs)
	return m
}

// calibrate measures what the machine charges for a system call, a context
// switch and a loopback echo, once, before any load: a reader of the results
// can then tell a slower processor from a slower engine.
func (m *meta) calibrate(logf func(string, ...any)) {
	if err := provenance.Calibrate(&m.Env); err != nil {
		m.note("%v", err)
		return
	}
	logf("machine: %s × %d, %s", m.Env.CPUModel, m.Env.CPUs, m.Env.Calibration)
}

func (m *meta) note(format string, a ...any) { m.Notes = append(m.Notes, fmt.Sprintf(format, a...)) }

type summaryRow struct {
	Arm     string
	Rep     int
	Metrics map[string]float64
}

// writeResults writes meta.json and summary.csv (a row per arm and repeat).
func writeResults(dir string, m *meta, metrics []Metric, rows []summaryRow) error {
	b, err := json.MarshalIndent(&m.Meta, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing meta.json: %w", err)
	}
	header := []string{"arm", "rep"}
	for _, mt := range metrics {
		header = append(header, mt.Name)
	}
	records := [][]string{header}
	for _, r := range rows {
		rec := []string{r.Arm, strconv.Itoa(r.Rep)}
		for _, mt := range metrics {
			rec = append(rec, formatValue(r.Metrics, mt.Name))
		}
		records = append(records, rec)
	}
	return writeCSV(filepath.Join(dir, "summary.csv"), records)
}

// writeSamples writes one run's time series.
func writeSamples(path string, rows []Sample) error {
	annotate(rows)
	cols := columns(rows)
	records := [][]string{cols}
	for _, r := range rows {
		rec := make([]string, len(cols))
		for i, c := range cols {
			rec[i] = formatValue(r, c)
		}
		records = append(records, rec)
	}
	return writeCSV(path, records)
}

func formatValue(m map[string]float64, key string) string {
	v, ok := m[key]
	if !ok {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 10, 64)
}

func writeCSV(path string, records [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	w := csv.NewWriter(f)
	w.WriteAll(records)
	if err := w.Error(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
