package schema

// The robustness results, written by package chaos and read by the
// analysis: results/chaos (the hostile-client suite's chaos.json and
// scenarios.csv, the reconnect storm's storm.json and storm.csv) and
// the soaks' results/soak and results/soak-uring (summary.json and
// samples.csv).

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The files the hostile-client suite writes under its results directory:
// the epoll engine's run (and every run before the suite ran per engine,
// which has no engine field). Another engine's run writes ChaosFiles(engine).
const (
	ChaosFile     = "chaos.json"
	ScenariosFile = "scenarios.csv"
)

// ChaosEngineDefault is the engine of a chaos.json without one: the suite
// ran on epoll alone before it ran once per engine.
const ChaosEngineDefault = "epoll"

// ChaosFiles are the suite's result and scenarios files for a run on
// engine: chaos.json and scenarios.csv for epoll (or ""), otherwise
// chaos-ENGINE.json and scenarios-ENGINE.csv.
func ChaosFiles(engine string) (result, scenarios string) {
	if engine == "" || engine == ChaosEngineDefault {
		return ChaosFile, ScenariosFile
	}
	return "chaos-" + engine + ".json", "scenarios-" + engine + ".csv"
}

// ScenariosHeader is scenarios.csv's header; one row per scenario.
var ScenariosHeader = []string{"scenario", "pass", "echoes_sent", "echoes_verified", "echoes_lost", "echoes_mismatched", "echo_timeouts",
	"population_dropped", "attacker_conns", "attacker_ok", "attacker_errors", "fds_before", "fds_peak", "fds_after",
	"rss_before", "rss_peak", "rss_after", "server_cpu_s", "hold_cpu_cores", "wall_s", "settle_s", "accept_calls", "shed", "failures"}

// ChaosScale is how many hostile connections each scenario of the suite
// opens. It has no JSON tags: chaos.json spells its fields as Go does.
type ChaosScale struct {
	Population int           // well-behaved keepalive connections
	Interval   time.Duration // their keepalive period
	MaxConns   int           // the server's -max-conns
	MaxPending int           // the server's -max-pending
	Hold       time.Duration // how long a scenario keeps up its attack
	Idle, NoRead, Bursts, HalfClose, RST, Vanish,
	Flood, FDFlood, Random, Slowloris int
}

// ScenarioOutcome is one scenario's row in results/chaos.
type ScenarioOutcome struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Pass        bool     `json:"pass"`
	Failures    []string `json:"failures,omitempty"`
	// The well-behaved population during the scenario (deltas).
	Sent       int64 `json:"echoes_sent"`
	Verified   int64 `json:"echoes_verified"`
	Mismatched int64 `json:"echoes_mismatched"`
	Timeouts   int64 `json:"echo_timeouts"`
	Lost       int64 `json:"echoes_lost"`
	Dropped    int64 `json:"population_dropped"`
	// The attacker's side.
	Attempted      int64            `json:"attacker_conns"`
	AttackerOK     int64            `json:"attacker_ok"`
	AttackerErrors map[string]int64 `json:"attacker_errors"`
	// The server.
	FDsBefore     int      `json:"fds_before"`
	FDsPeak       int      `json:"fds_peak"`
	FDsAfter      int      `json:"fds_after"`
	RSSBefore     uint64   `json:"rss_before"`
	RSSPeak       uint64   `json:"rss_peak"`
	RSSAfter      uint64   `json:"rss_after"`
	CPUSeconds    float64  `json:"server_cpu_s"`
	WallSeconds   float64  `json:"wall_s"`
	SettleSeconds float64  `json:"settle_s"`
	AcceptCalls   uint64   `json:"accept_calls"`
	Shed          uint64   `json:"shed"`
	HoldCPUPerSec float64  `json:"hold_cpu_cores,omitempty"` // floods: server CPU while the flood was held
	Notes         []string `json:"notes,omitempty"`
	// ConnsAfter is the server's /stats conns after settling (nil: a run
	// before the suite checked it, or /stats did not answer). A uring
	// server holds its connections in ring tables, not fds: this count,
	// not the fds, shows a connection it leaked.
	ConnsAfter *int64 `json:"server_conns_after,omitempty"`
}

// ChaosReport is results/chaos/chaos.json. Its population is a c1m-client
// result, a format of package client's, which this package does not
// import: the suite writes it whole (ChaosReport[client.Result]), a reader
// takes the totals it quotes (ReadChaosReport: PopulationTotals).
type ChaosReport[Pop any] struct {
	Start string `json:"start"`
	// Env is the machine and the code the run measured (package provenance).
	Env         Env               `json:"env,omitzero"`
	End         string            `json:"end"`
	Quick       bool              `json:"quick"`
	Scale       ChaosScale        `json:"scale"`
	ServerFlags []string          `json:"server_flags"`
	QuietCores  float64           `json:"quiet_cpu_cores"` // server CPU with only the population
	Scenarios   []ScenarioOutcome `json:"scenarios"`
	Population  *Pop              `json:"population,omitempty"`
	Pass        bool              `json:"pass"`
	Failed      []string          `json:"failed,omitempty"`
	Rules       map[string]string `json:"rules"`
	// Engine is the server engine the suite ran on (empty in runs before
	// it ran once per engine: epoll, ChaosEngineDefault).
	Engine string `json:"engine,omitempty"`
}

// EngineName is the report's engine, ChaosEngineDefault when it names none.
func (r ChaosReport[Pop]) EngineName() string {
	if r.Engine == "" {
		return ChaosEngineDefault
	}
	return r.Engine
}

// PopulationTotals are the fields of the population's c1m-client result
// that the report quotes, under the client's JSON names.
type PopulationTotals struct {
	Sent            int64            `json:"sent"`
	Echoed          int64            `json:"echoed"`
	Mismatched      int64            `json:"mismatched"`
	InFlightAtClose int64            `json:"in_flight_at_close"`
	Dropped         map[string]int64 `json:"dropped"`
}

// WriteChaosReport writes the files of rep.Engine (ChaosFiles): for
// epoll dir/chaos.json and dir/scenarios.csv.
func WriteChaosReport[Pop any](dir string, rep ChaosReport[Pop]) error {
	result, scenarios := ChaosFiles(rep.Engine)
	if err := writeJSON(filepath.Join(dir, result), &rep); err != nil {
		return err
	}
	return writeCSV(filepath.Join(dir, scenarios), ScenariosHeader, scenarioRecords(rep.Scenarios))
}

func scenarioRecords(outcomes []ScenarioOutcome) [][]string {
	i, u := strconv.FormatInt, func(v uint64) string { return strconv.FormatUint(v, 10) }
	fl := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	var records [][]string
	for _, o := range outcomes {
		records = append(records, []string{o.Name, strconv.FormatBool(o.Pass), i(o.Sent, 10), i(o.Verified, 10), i(o.Lost, 10), i(o.Mismatched, 10),
			i(o.Timeouts, 10), i(o.Dropped, 10), i(o.Attempted, 10), i(o.AttackerOK, 10), FormatErrors(o.AttackerErrors),
			strconv.Itoa(o.FDsBefore), strconv.Itoa(o.FDsPeak), strconv.Itoa(o.FDsAfter), u(o.RSSBefore), u(o.RSSPeak), u(o.RSSAfter),
			fl(o.CPUSeconds), fl(o.HoldCPUPerSec), fl(o.WallSeconds), fl(o.SettleSeconds), u(o.AcceptCalls), u(o.Shed), strings.Join(o.Failures, "; ")})
	}
	return records
}

// ReadChaosReport loads dir/chaos.json.
func ReadChaosReport(dir string) (ChaosReport[PopulationTotals], error) {
	return readChaosFile(dir, ChaosFile)
}

func readChaosFile(dir, name string) (ChaosReport[PopulationTotals], error) {
	var rep ChaosReport[PopulationTotals]
	return rep, readJSON(filepath.Join(dir, name), &rep)
}

// ReadChaosReports loads the suite's runs in dir, one per engine of
// StormEngines that has its file (ChaosFiles), in that order. No run at
// all is os.ErrNotExist.
func ReadChaosReports(dir string) ([]ChaosReport[PopulationTotals], error) {
	var out []ChaosReport[PopulationTotals]
	for _, e := range StormEngines {
		result, _ := ChaosFiles(e)
		rep, err := readChaosFile(dir, result)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rep)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no hostile-client results in %s: %w", dir, os.ErrNotExist)
	}
	return out, nil
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

// The files the reconnect storm writes under the suite's results directory
// (next to, not into, chaos.json: the storm runs alone and must not discard
// the suite's).
const (
	StormFile        = "storm.json"
	StormSamplesFile = "storm.csv"
)

// StormSamplesHeader is storm.csv's header: one row per sample after the
// kill (t_s from the kill; an empty cell: not read).
var StormSamplesHeader = []string{"t_s", "open", "open_verified", "connecting", "attempts", "server_conns", "time_wait", "listen_overflows"}

// StormScale sizes the reconnect storm.
type StormScale struct {
	Conns     int           `json:"conns"`
	Ports     int           `json:"ports"`
	Interval  time.Duration `json:"interval"`   // keepalive period per connection
	Bound     time.Duration `json:"bound"`      // every connection back and verified within this of the kill
	RampLimit time.Duration `json:"ramp_limit"` // the population must be up and verified within this
	// Sysctls are raised for the run and restored on every path (root only).
	Sysctls map[string]string `json:"sysctls,omitempty"`
}

// StormResult is storm.json.
type StormResult struct {
	Start string `json:"start"`
	// Env is the machine and the code the run measured (package provenance).
	Env         Env        `json:"env,omitzero"`
	End         string     `json:"end"`
	Quick       bool       `json:"quick"`
	Scale       StormScale `json:"scale"`
	ServerFlags []string   `json:"server_flags"`
	Client      string     `json:"client"` // the client's settings, as c1m-client flags

	// Seconds: the initial ramp, then from the SIGKILL on.
	RampS        float64 `json:"ramp_s"`                 // until every connection was open with a verified echo
	ExitS        float64 `json:"server_exit_s"`          // the killed server reaped
	PortsFreeS   float64 `json:"ports_free_s,omitempty"` // the killed server's ports free to bind again
	RestartS     float64 `json:"server_restart_s"`       // the new server answering its stats
	AllOpenS     float64 `json:"all_open_s"`             // every connection open again (client's count)
	ServerConnsS float64 `json:"server_conns_s"`         // the new server holding all of them (its /stats)
	AllBackS     float64 `json:"all_back_s"`             // every connection open with an echo verified on its new socket
	Resolution   float64 `json:"resolution_s"`           // the client's progress comes this often: times are this coarse
	Dropped      int64   `json:"dropped"`                // connections the client saw lost after the kill
	Lost         int64   `json:"lost"`                   // connections not back and verified at the bound
	Mismatched   int64   `json:"mismatched"`             // echoes that differed, during the storm
	Timeouts     int64   `json:"timeouts"`               // echoes later than the client's -timeout, during the storm
	Attempts     int64   `json:"reconnect_attempts"`     // connects started from the kill until all were back
	// Connect failures and drops during the storm, by cause.
	FailedBy  map[string]int64 `json:"failed_by"`
	DroppedBy map[string]int64 `json:"dropped_by"`
	// Per lost connection, from the client noticing the loss to the first
	// echo verified on its new socket (µs).
	Downtime Percentiles `json:"downtime_us"`
	// Kernel counters over the storm (deltas of /proc/net/netstat and snmp).
	ListenOverflows float64 `json:"listen_overflows"`
	ListenDrops     float64 `json:"listen_drops"`
	SynRetrans      float64 `json:"syn_retrans"`
	TWOverflow      float64 `json:"tw_overflow"`
	TimeWaitBefore  uint64  `json:"time_wait_before"`
	TimeWaitPeak    uint64  `json:"time_wait_peak"`
	TWBuckets       string  `json:"tcp_max_tw_buckets"`
	// The restarted server's own counts once all were back (non-zero only).
	ServerAccepted     uint64            `json:"server_accepted"`
	ServerAcceptErrors map[string]uint64 `json:"server_accept_errors,omitempty"`
	ServerCloseReasons map[string]uint64 `json:"server_close_reasons,omitempty"`

	// The graceful stop of the restarted server once all were back, and
	// its /stats answering throughout (newer runs only).
	Stop  *StormStop  `json:"graceful_stop,omitempty"`
	Polls *StatsPolls `json:"stats_polls,omitempty"`

	Pass     bool     `json:"pass"`
	Failures []string `json:"failures,omitempty"`
	Rule     string   `json:"rule"`
	Notes    []string `json:"notes,omitempty"`
	// Engine is the server engine of this run (empty in runs before the
	// storm ran once per engine: storm.json).
	Engine string `json:"engine,omitempty"`
}

// StormStop is the restarted server's graceful stop: SIGTERM with every
// connection back and verified, measured to its exit.
type StormStop struct {
	ConnsAtSignal int64   `json:"server_conns_at_sigterm"`
	ExitS         float64 `json:"exit_s"`    // SIGTERM to the process reaped (0: it did not exit within the bound)
	ExitCode      int     `json:"exit_code"` // -1: killed by a signal or never exited
	Bound         float64 `json:"bound_s"`   // how long the stop was given before SIGKILL
	// The client's view: connections it saw closed, by cause (EOF: a
	// clean close; ECONNRESET: reset), until every one was closed or a
	// few reports after the exit.
	ClosedBy map[string]int64 `json:"closed_by"`
	// AllClosedS: SIGTERM to the client's report that every one was closed
	// (as coarse as its reports, ~1 s; 0: not within the bound).
	// An io_uring server's rings may close connections after its exit.
	AllClosedS    float64          `json:"all_closed_s,omitempty"`
	ClosedEOF     int64            `json:"closed_eof"`
	ClosedReset   int64            `json:"closed_reset"`
	Reestablished int64            `json:"reestablished"`            // connections the client opened again meanwhile (its -reconnect)
	RetriesFailed map[string]int64 `json:"retries_failed,omitempty"` // its reconnects refused meanwhile, by cause
	// ServerLog is what the server wrote after the SIGTERM, its JSON stats line left out.
	ServerLog []string `json:"server_log,omitempty"`
}

// StatsPolls is the server's /stats polled throughout the storm: one GET
// every Interval with a Timeout, summarised per phase.
type StatsPolls struct {
	IntervalS float64      `json:"interval_s"`
	TimeoutS  float64      `json:"timeout_s"`
	Phases    []StatsPhase `json:"phases"`
}

// StatsPhase is one phase's polls. A phase with no server (the outage
// between the SIGKILL and the restart answering) is Excused: its failures
// are no fault of a server.
type StatsPhase struct {
	Name    string  `json:"name"`
	Polls   int     `json:"polls"`
	Failed  int     `json:"failed"` // errors and timeouts
	MaxMs   float64 `json:"max_ms"` // the longest answered poll
	Excused bool    `json:"excused,omitempty"`
}

// Slowest is the phase (not excused) with the longest answer, and whether
// every poll of those phases was answered within the timeout.
func (sp StatsPolls) Slowest() (phase StatsPhase, allAnswered bool) {
	allAnswered = true
	for _, ph := range sp.Phases {
		if ph.Excused {
			continue
		}
		if ph.Failed > 0 {
			allAnswered = false
		}
		if ph.MaxMs >= phase.MaxMs {
			phase = ph
		}
	}
	return phase, allAnswered
}

// Percentiles summarise a latency histogram (µs): the one type for every
// result file and for the server's and the client's own (core.Percentiles).
type Percentiles struct {
	P50  int64 `json:"p50"`
	P90  int64 `json:"p90"`
	P99  int64 `json:"p99"`
	P999 int64 `json:"p999"`
	Max  int64 `json:"max"`
	N    int64 `json:"n"`
}

// StormEngines are the engines a storm and the hostile-client suite run
// on, in the report's order.
var StormEngines = []string{"epoll", "uring"}

// StormFiles are the result and samples files of a storm on engine:
// storm-ENGINE.json and .csv; without an engine, storm.json and storm.csv.
func StormFiles(engine string) (result, samples string) {
	if engine == "" {
		return StormFile, StormSamplesFile
	}
	return "storm-" + engine + ".json", "storm-" + engine + ".csv"
}

// WriteStorm writes the result and the samples after the kill to the
// files of res.Engine (StormFiles).
func WriteStorm(dir string, res StormResult, rows [][]float64) error {
	result, samples := StormFiles(res.Engine)
	if err := writeJSON(filepath.Join(dir, result), &res); err != nil {
		return err
	}
	return WriteSamples(filepath.Join(dir, samples), StormSamplesHeader, rows)
}

// ReadStorm loads dir/storm.json (a storm run before it ran per engine).
func ReadStorm(dir string) (StormResult, error) {
	var res StormResult
	return res, readJSON(filepath.Join(dir, StormFile), &res)
}

// ReadStorms loads the storms of dir: one per engine that has a
// storm-ENGINE.json, in StormEngines' order; with none, storm.json alone.
// No storm at all is os.ErrNotExist.
func ReadStorms(dir string) ([]StormResult, error) {
	var out []StormResult
	for _, e := range StormEngines {
		result, _ := StormFiles(e)
		var res StormResult
		err := readJSON(filepath.Join(dir, result), &res)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	if len(out) > 0 {
		return out, nil
	}
	res, err := ReadStorm(dir)
	if err != nil {
		return nil, err
	}
	return []StormResult{res}, nil
}

// The files a soak writes under its results directory.
const (
	SoakSummaryFile = "summary.json"
	SoakSamplesFile = "samples.csv"
)

// SoakSamplesHeader is samples.csv's header: one row per sample; phase is
// 0 in the ramp, 1 in the hold (once all were open), 2 in the close.
var SoakSamplesHeader = []string{"t_s", "phase", "server_fds", "server_rss", "slab_bytes", "conns", "tcp_inuse", "tcp_tw"}

// SoakEngines are the engines a soak runs on, in the report's order.
var SoakEngines = []string{"epoll", "uring"}

// SoakDir is the directory under results/ of a soak on engine: soak for
// epoll (where the soak ran before it had engines), soak-ENGINE otherwise.
func SoakDir(engine string) string {
	if engine == "" || engine == "epoll" {
		return "soak"
	}
	return "soak-" + engine
}

// SoakSummary is results/soak/summary.json (results/soak-uring/ for uring).
type SoakSummary struct {
	Engine string `json:"engine,omitempty"` // epoll or uring; absent in a soak before engines (EngineName: epoll)
	Start  string `json:"start"`
	// Env is the machine and the code the run measured (package provenance).
	Env         Env      `json:"env,omitzero"`
	End         string   `json:"end"`
	DurationS   float64  `json:"duration_s"`
	Conns       int      `json:"conns"`
	ChurnPerS   float64  `json:"churn_per_s"`
	IntervalS   float64  `json:"interval_s"`
	ServerFlags []string `json:"server_flags"`
	ClientFlags []string `json:"client_flags"`
	IdleFDs     int      `json:"idle_fds"`
	FinalFDs    int      `json:"final_fds"`
	// FinalConns is the server's /stats conns after the client closed (-1:
	// /stats did not answer); nil in a soak before it was recorded.
	FinalConns      *int64   `json:"final_conns,omitempty"`
	PeakConns       float64  `json:"peak_conns"`
	RSSDrift        float64  `json:"rss_drift"`
	SlabDrift       float64  `json:"slab_drift"`
	Sent            int64    `json:"sent"`
	Echoed          int64    `json:"echoed"`
	Mismatched      int64    `json:"mismatched"`
	Timeouts        int64    `json:"timeouts"`
	Dropped         int64    `json:"dropped"`
	Churned         int64    `json:"churned"`
	InFlightAtClose int64    `json:"in_flight_at_close"`
	Pass            bool     `json:"pass"`
	Failures        []string `json:"failures"`
	Rule            string   `json:"rule"`
}

// WriteSoakSummary writes dir/summary.json.
func WriteSoakSummary(dir string, sum SoakSummary) error {
	return writeJSON(filepath.Join(dir, SoakSummaryFile), &sum)
}

// EngineName is the engine the soak's server ran: a summary without one,
// written before the soak had engines, ran epoll. (Engine stays as read,
// so an older summary.json is written again as it was.)
func (sum SoakSummary) EngineName() string {
	if sum.Engine == "" {
		return "epoll"
	}
	return sum.Engine
}

// ReadSoakSummary loads dir/summary.json.
func ReadSoakSummary(dir string) (SoakSummary, error) {
	var sum SoakSummary
	return sum, readJSON(filepath.Join(dir, SoakSummaryFile), &sum)
}

// WriteSamples writes rows of numbers under header as CSV; a negative
// number (not read) is an empty cell.
func WriteSamples(path string, header []string, rows [][]float64) error {
	records := make([][]string, len(rows))
	for j, r := range rows {
		records[j] = make([]string, len(r))
		for i, v := range r {
			if v >= 0 {
				records[j][i] = strconv.FormatFloat(v, 'g', 10, 64)
			}
		}
	}
	return writeCSV(path, header, records)
}

func writeCSV(path string, header []string, records [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	w := csv.NewWriter(f)
	w.Write(header)
	w.WriteAll(records) // flushes
	if err := w.Error(); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	return nil
}

// writeJSON writes v indented, with a final newline.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	return nil
}

// readJSON decodes the file at path into v; a missing file's error is
// os.ErrNotExist (a result not run yet, to the analysis).
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
