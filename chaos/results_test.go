package chaos

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/client"
	"c1m/schema"
)

// The committed results (results/chaos, results/soak and, once committed,
// results/soak-uring), read and written again, are the same bytes: the
// writers keep the format they were run with.
func TestCommittedResultsRewriteIdentically(t *testing.T) {
	t.Parallel()
	chaosDir := filepath.Join("..", "results", "chaos")
	out := t.TempDir()

	// Each engine's run (epoll's chaos.json at least), the population
	// verbatim: it is the client's format (and older than the client's
	// newest field).
	for _, e := range schema.StormEngines {
		result, scenarios := schema.ChaosFiles(e)
		raw, err := os.ReadFile(filepath.Join(chaosDir, result))
		if os.IsNotExist(err) && e != schema.ChaosEngineDefault {
			continue
		}
		require.NoError(t, err)
		var rep schema.ChaosReport[json.RawMessage]
		require.NoError(t, json.Unmarshal(raw, &rep))
		require.NoError(t, schema.WriteChaosReport(out, rep))
		assertSameFile(t, chaosDir, out, result)
		assertSameFile(t, chaosDir, out, scenarios)
	}

	storms, err := schema.ReadStorms(chaosDir) // per engine, or an older storm.json
	require.NoError(t, err)
	for _, st := range storms {
		result, samples := schema.StormFiles(st.Engine)
		require.NoError(t, schema.WriteStorm(out, st, readSamples(t, filepath.Join(chaosDir, samples))))
		assertSameFile(t, chaosDir, out, result)
		assertSameFile(t, chaosDir, out, samples)
	}

	for _, engine := range schema.SoakEngines {
		soakDir := filepath.Join("..", "results", schema.SoakDir(engine))
		sum, err := schema.ReadSoakSummary(soakDir)
		if engine != "epoll" && os.IsNotExist(err) {
			continue // not run on this engine yet
		}
		require.NoError(t, err)
		soakOut := filepath.Join(out, schema.SoakDir(engine))
		require.NoError(t, os.MkdirAll(soakOut, 0o755))
		require.NoError(t, schema.WriteSoakSummary(soakOut, sum))
		assertSameFile(t, soakDir, soakOut, schema.SoakSummaryFile)
		rows := readSamples(t, filepath.Join(soakDir, schema.SoakSamplesFile))
		require.NoError(t, schema.WriteSamples(filepath.Join(soakOut, schema.SoakSamplesFile), schema.SoakSamplesHeader, rows))
		assertSameFile(t, soakDir, soakOut, schema.SoakSamplesFile)
	}
}

// The analysis reads the population's totals from chaos.json under the
// client's own JSON names.
func TestPopulationTotalsReadFromClientResult(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pop := client.Result{Sent: 10, Echoed: 7, Mismatched: 1, InFlightAtClose: 2, Dropped: map[string]int64{"EOF": 3}, Attempted: 99}
	require.NoError(t, schema.WriteChaosReport(dir, schema.ChaosReport[client.Result]{Population: &pop}))
	back, err := schema.ReadChaosReport(dir)
	require.NoError(t, err)
	require.NotNil(t, back.Population)
	assert.Equal(t, schema.PopulationTotals{Sent: 10, Echoed: 7, Mismatched: 1, InFlightAtClose: 2, Dropped: map[string]int64{"EOF": 3}}, *back.Population)
}

func assertSameFile(t *testing.T, wantDir, gotDir, name string) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join(wantDir, name))
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(gotDir, name))
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), name)
}

// readSamples reads a samples CSV back into rows (an empty cell: -1, not read).
func readSamples(t *testing.T, path string) [][]float64 {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	var rows [][]float64
	for _, rec := range records[1:] {
		row := make([]float64, len(rec))
		for i, cell := range rec {
			row[i] = -1
			if cell != "" {
				row[i], err = strconv.ParseFloat(cell, 64)
				require.NoError(t, err)
			}
		}
		rows = append(rows, row)
	}
	return rows
}
