package analysis

// Question 1 from `make limits`: results/limits/limits.json, the table of
// every limit on concurrent connections that c1m-limits computed on the
// machine, with its conclusions.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"c1m/measured"
	"c1m/numfmt"
)

// limitsFile is the part of results/limits/limits.json the report quotes
// (written by cmd/c1m-limits -save).
type limitsFile struct {
	Time   string `json:"time"`
	Kernel string `json:"kernel"`
	Report struct {
		Target int `json:"target"`
		Rows   []struct {
			Name   string `json:"name"`
			Value  string `json:"value"`
			Allows int64  `json:"allows"`
			Kind   string `json:"kind"`
			Binds  bool   `json:"binds"`
			Lift   string `json:"lift"`
		} `json:"rows"`
		Summary []string `json:"summary"`
	} `json:"report"`
}

// limitsAnswer reads results/limits/limits.json: its conclusions as list
// items, its rows as a table and where it came from. Without the file it
// says how to make it.
func limitsAnswer(resultsDir string, stale *staleness) ([]string, table, provenanceView, error) {
	f, err := readLimits(resultsDir)
	if os.IsNotExist(err) {
		return []string{"The table of every limit on this machine: not measured yet (run `make limits`)."}, table{}, provenanceView{}, nil
	}
	if err != nil {
		return nil, table{}, provenanceView{}, err
	}
	prov, err := stale.describeFile("limits", measured.Limits, limitsPath(resultsDir), f.Time, "make limits")
	if err != nil {
		return nil, table{}, provenanceView{}, err
	}
	out := []string{fmt.Sprintf("`make limits` (results/limits/limits.json, %s, kernel %s) for a target of %s connections:",
		f.Time, f.Kernel, numfmt.Number(float64(f.Report.Target)))}
	out = append(out, f.Report.Summary...)
	t := table{Header: []string{"limit", "value", "connections it allows", "kind", "binds", "lift"}}
	for _, r := range f.Report.Rows {
		allows := "–"
		if r.Allows >= 0 {
			allows = numfmt.Number(float64(r.Allows))
		}
		binds := "no"
		if r.Binds {
			binds = "**yes**"
		}
		t.Rows = append(t.Rows, []string{r.Name, r.Value, allows, r.Kind, binds, r.Lift})
	}
	return out, t, prov, nil
}

func limitsPath(resultsDir string) string { return filepath.Join(resultsDir, "limits", "limits.json") }

// readLimits loads results/limits/limits.json (an error satisfying
// os.IsNotExist when `make limits` has not run).
func readLimits(resultsDir string) (limitsFile, error) {
	var f limitsFile
	b, err := os.ReadFile(limitsPath(resultsDir))
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%s: %w", limitsPath(resultsDir), err)
	}
	return f, nil
}
