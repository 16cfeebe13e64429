package schema

import (
	"path/filepath"
	"time"
)

// The file the "peers vanish at scale" run writes under the chaos results
// directory (beside chaos.json and storm.json: it runs alone).
const ReapFile = "reap.json"

// ReapScale sizes the run: Vanish connections from a network namespace
// whose link is then cut (no FIN, no RST reaches the server), while Live
// connections on the server's loopback keep their keepalives going.
type ReapScale struct {
	Vanish         int           `json:"vanish"`
	Live           int           `json:"live"`
	Ports          int           `json:"ports"`
	LiveInterval   time.Duration `json:"live_interval"`   // the live connections' keepalive period
	VanishInterval time.Duration `json:"vanish_interval"` // the vanishing ones send one keepalive within this of opening, then nothing
	IdleTimeout    time.Duration `json:"idle_timeout"`    // the idle arm's -idle-timeout
	KeepAlive      time.Duration `json:"tcp_keepalive"`   // the keepalive arm's -tcp-keepalive
	RampLimit      time.Duration `json:"ramp_limit"`      // every connection must be open within this
	Settle         time.Duration `json:"settle"`          // how long memory may take to come back after the last reap
}

// ReapArm is one way of noticing the vanished peers, measured.
type ReapArm struct {
	Name        string   `json:"name"`   // [engine-]idle-timeout or [engine-]tcp-keepalive
	Engine      string   `json:"engine"` // the engine the server ran, from its /stats
	ServerFlags []string `json:"server_flags"`
	// BoundS: every vanished connection must be gone within this of the cut
	// (the arm's own rule: the timeout plus one tick, or keepalive's idle
	// time plus its probes, plus the measurement's resolution).
	BoundS float64 `json:"bound_s"`
	RampS  float64 `json:"ramp_s"` // the vanishing connections all open and held by the server
	// From the cut: the first and the last vanished connection closed by the server.
	FirstReapS float64 `json:"first_reap_s"`
	AllReapedS float64 `json:"all_reaped_s"` // 0: not within the bound
	Resolution float64 `json:"resolution_s"` // the server's count is read this often
	// Packets the server's end of the link received after the cut: 0 when
	// the cut left the server nothing to notice.
	ServerRxAfterCut uint64 `json:"server_rx_after_cut"`
	// The server: live connections only (baseline), at the peak, at the end.
	ConnsBaseline    int64  `json:"conns_baseline"`
	ConnsPeak        int64  `json:"conns_peak"`
	ConnsEnd         int64  `json:"conns_end"`
	RSSBaseline      uint64 `json:"rss_baseline"`
	RSSPeak          uint64 `json:"rss_peak"`
	RSSEnd           uint64 `json:"rss_end"`
	TCPInuseBaseline int64  `json:"tcp_inuse_baseline"` // TCP sockets in the server's namespace (/proc/PID/net/sockstat)
	TCPInusePeak     int64  `json:"tcp_inuse_peak"`
	TCPInuseEnd      int64  `json:"tcp_inuse_end"`
	// Close reasons the server counted from the cut to the end (non-zero only).
	CloseReasons map[string]uint64 `json:"close_reasons,omitempty"`
	// The live connections over the whole arm (their client's result).
	LiveSent       int64 `json:"live_sent"`
	LiveEchoed     int64 `json:"live_echoed"`
	LiveInFlight   int64 `json:"live_in_flight_at_close"` // sent but not yet back when their client was stopped (not late: younger than its -timeout)
	LiveTimeouts   int64 `json:"live_timeouts"`
	LiveMismatched int64 `json:"live_mismatched"`
	LiveDropped    int64 `json:"live_dropped"`
	LiveOpenAtEnd  int64 `json:"live_open_at_end"`

	Pass     bool     `json:"pass"`
	Failures []string `json:"failures,omitempty"`
}

// ReapResult is reap.json.
type ReapResult struct {
	Start string `json:"start"`
	// Env is the machine and the code the run measured (package provenance).
	Env         Env       `json:"env,omitzero"`
	End         string    `json:"end"`
	Quick       bool      `json:"quick"`
	Scale       ReapScale `json:"scale"`
	ServerFlags []string  `json:"server_flags"` // the extra flags every arm ran with (e.g. -engine uring)
	Cut         string    `json:"cut"`          // how the link was cut
	Arms        []ReapArm `json:"arms"`
	Pass        bool      `json:"pass"`
	Failures    []string  `json:"failures,omitempty"`
	Rule        string    `json:"rule"`
	Notes       []string  `json:"notes,omitempty"`
}

// WriteReap writes dir/reap.json.
func WriteReap(dir string, res ReapResult) error {
	return writeJSON(filepath.Join(dir, ReapFile), &res)
}

// ReadReap loads dir/reap.json.
func ReadReap(dir string) (ReapResult, error) {
	var res ReapResult
	return res, readJSON(filepath.Join(dir, ReapFile), &res)
}
