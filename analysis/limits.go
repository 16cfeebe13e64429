package analysis

// Question 1 from `make limits`: results/limits/limits.json, the table of
// every limit on concurrent connections that c1m-limits computed on the
// machine, with its conclusions.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

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
// items and its rows as a table. Without the file it says how to make it.
func limitsAnswer(resultsDir string) ([]string, table, error) {
	path := filepath.Join(resultsDir, "limits", "limits.json")
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return []string{"The table of every limit on this machine: not measured yet (run `make limits`)."}, table{}, nil
	}
	if err != nil {
		return nil, table{}, err
	}
	var f limitsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, table{}, fmt.Errorf("%s: %w", path, err)
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
	return out, t, nil
}
