package harness

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Rederive recomputes results/exp-N/summary.csv from the raw files a run
// left (samples-ARM-rREP.csv and client-ARM-rREP.json) with the current
// derivation and e.Derive, running nothing: when the way a metric is derived
// improves, the committed runs follow without repeating hours of load.
// Values that are not derived from those files (what an arm's Setup read
// at its end, such as a link's drop counters) are kept from the old
// summary. meta.json takes the experiment's current title, hypothesis,
// metrics, checks, figures, summary feeds and arm roles, the problems the
// server logs report, and a note saying it was re-derived.
func Rederive(e Experiment, results string) error {
	dir := filepath.Join(results, fmt.Sprintf("exp-%d", e.Number))
	var m meta
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return fmt.Errorf("re-deriving needs a run's results: %w (run make exp-%d first)", err, e.Number)
	}
	if err := json.Unmarshal(b, &m.Meta); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, "meta.json"), err)
	}
	old, err := readSummary(filepath.Join(dir, "summary.csv"))
	if err != nil {
		return err
	}
	arms := map[string]Arm{}
	for _, a := range m.Arms {
		arms[a.Name] = Arm{Name: a.Name, Server: a.ServerFlags, Client: a.ClientFlags, Params: a.Params, Note: a.Note}
	}
	for i, row := range old {
		arm, ok := arms[row.Arm]
		if !ok {
			return fmt.Errorf("summary.csv row %d: arm %q is not in meta.json", i+1, row.Arm)
		}
		samples, err := readSamples(runFile(dir, "samples", row.Arm, row.Rep, "csv"))
		if err != nil {
			return err
		}
		res, err := readClientResult(runFile(dir, "client", row.Arm, row.Rep, "json"))
		if err != nil {
			return fmt.Errorf("client result: %w", err)
		}
		row.Metrics = e.runMetrics(arm, samples, res, row.Metrics)
		old[i] = row
	}
	// What the experiment declares about its analysis follows the code too;
	// what ran (arms, environment, times) stays as recorded.
	m.Title, m.Question, m.Hypothesis, m.Factor = e.Title, e.Question, e.Hypothesis, e.Factor
	m.Metrics, m.Checks, m.Figures, m.Feeds = e.Metrics, e.Checks, e.Figures, e.Feeds
	m.declareRoles(e)
	m.ServerProblems = nil
	for rep := 1; rep <= m.Repeats; rep++ { // in the order the runs ran
		for _, a := range m.Arms {
			m.noteServerProblem(dir, a.Name, rep)
		}
	}
	m.note("summary.csv re-derived from the samples and client results on %s (make rederive): the run itself is unchanged",
		time.Now().UTC().Format(time.RFC3339))
	return writeResults(dir, &m, e.Metrics, old)
}

// declareRoles gives each recorded arm the role e declares for the arm of
// that name at the run's scale (none when e no longer has such an arm).
func (m *meta) declareRoles(e Experiment) {
	if e.Arms == nil {
		return
	}
	roles := map[string]Role{}
	for _, a := range e.Arms(Scale{Name: m.Scale, Quick: m.Scale == "quick"}) {
		roles[a.Name] = a.Role
	}
	for i := range m.Arms {
		m.Arms[i].Role = roles[m.Arms[i].Name]
	}
}

// readSummary reads a summary.csv back: one row per arm and repeat, empty
// cells left out.
func readSummary(path string) ([]summaryRow, error) {
	recs, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 || len(recs[0]) < 2 || recs[0][0] != "arm" || recs[0][1] != "rep" {
		return nil, fmt.Errorf("%s: want a header starting arm,rep", path)
	}
	var rows []summaryRow
	for i, rec := range recs[1:] {
		rep, err := strconv.Atoi(rec[1])
		if err != nil {
			return nil, fmt.Errorf("%s row %d: rep: %w", path, i+1, err)
		}
		row := summaryRow{Arm: rec[0], Rep: rep, Metrics: map[string]float64{}}
		for j, cell := range rec[2:] {
			if v, err := strconv.ParseFloat(cell, 64); err == nil {
				row.Metrics[recs[0][j+2]] = v
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// readSamples reads a samples CSV back; cells that are not numbers (and
// empty ones) are left out of their row.
func readSamples(path string) ([]Sample, error) {
	recs, err := readCSV(path)
	if err != nil {
		return nil, err
	}
	var rows []Sample
	for _, rec := range recs[min(1, len(recs)):] {
		row := Sample{}
		for j, cell := range rec {
			if v, err := strconv.ParseFloat(cell, 64); err == nil {
				row[recs[0][j]] = v
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

func readCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return recs, nil
}
