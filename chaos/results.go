package chaos

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The files a run writes under its results directory.
const (
	ReportFile    = "chaos.json"
	ScenariosFile = "scenarios.csv"
)

// CSVHeader is scenarios.csv's header; one row per scenario.
var CSVHeader = []string{"scenario", "pass", "echoes_sent", "echoes_verified", "echoes_lost", "echoes_mismatched", "echo_timeouts",
	"population_dropped", "attacker_conns", "attacker_ok", "attacker_errors", "fds_before", "fds_peak", "fds_after",
	"rss_before", "rss_peak", "rss_after", "server_cpu_s", "hold_cpu_cores", "wall_s", "settle_s", "accept_calls", "shed", "failures"}

func writeResults(dir string, rep Report) error {
	b, err := json.MarshalIndent(&rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ReportFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", ReportFile, err)
	}
	f, err := os.Create(filepath.Join(dir, ScenariosFile))
	if err != nil {
		return fmt.Errorf("writing %s: %w", ScenariosFile, err)
	}
	defer f.Close()
	w := csv.NewWriter(f)
	w.Write(CSVHeader)
	i, u, fl := strconv.FormatInt, func(v uint64) string { return strconv.FormatUint(v, 10) }, func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for _, o := range rep.Scenarios {
		w.Write([]string{o.Name, strconv.FormatBool(o.Pass), i(o.Sent, 10), i(o.Verified, 10), i(o.Lost, 10), i(o.Mismatched, 10),
			i(o.Timeouts, 10), i(o.Dropped, 10), i(o.Attempted, 10), i(o.AttackerOK, 10), FormatErrors(o.AttackerErrors),
			strconv.Itoa(o.FDsBefore), strconv.Itoa(o.FDsPeak), strconv.Itoa(o.FDsAfter), u(o.RSSBefore), u(o.RSSPeak), u(o.RSSAfter),
			fl(o.CPUSeconds), fl(o.HoldCPUPerSec), fl(o.WallSeconds), fl(o.SettleSeconds), u(o.AcceptCalls), u(o.Shed), strings.Join(o.Failures, "; ")})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("writing %s: %w", ScenariosFile, err)
	}
	return nil
}

// FormatErrors renders error counts as "EOF 3, ECONNRESET 2", sorted by name.
func FormatErrors(m map[string]int64) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for j, k := range names {
		parts[j] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// ReadReport loads dir/chaos.json (the analysis renders it).
func ReadReport(dir string) (Report, error) {
	var rep Report
	b, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return rep, fmt.Errorf("%s: %w", filepath.Join(dir, ReportFile), err)
	}
	return rep, nil
}
