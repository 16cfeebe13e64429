package client

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/sys/unix"

	"c1m/calibrate"
	"c1m/core"
	"c1m/procfs"
	"c1m/schema"
)

// Result is what -json writes: one object for the whole run, all processes merged.
type Result struct {
	Attempted   int64            `json:"attempted"`
	Established int64            `json:"established"`
	PeakOpen    int64            `json:"peak_open"`
	OpenAtEnd   int64            `json:"open_at_end"`
	Failed      map[string]int64 `json:"failed"`
	Dropped     map[string]int64 `json:"dropped"`
	Reconnects  int64            `json:"reconnects"`
	Churned     int64            `json:"churned"` // closed on purpose by -churn (and reconnected)
	RampSeconds float64          `json:"ramp_seconds"`
	HoldSeconds float64          `json:"hold_seconds"` // from every connection open to the close (rtt_hold_us.n echoes came in it)
	ConnectUs   core.Percentiles `json:"connect_us"`
	RttUs       core.Percentiles `json:"rtt_us"`
	RttHoldUs   core.Percentiles `json:"rtt_hold_us"` // messages sent once every connection was open
	// DowntimeUs: per connection lost and re-established (-reconnect), from
	// the loss to the first echo verified on its new socket.
	DowntimeUs      core.Percentiles `json:"downtime_us"`
	Sent            int64            `json:"sent"`
	Echoed          int64            `json:"echoed"`
	Mismatched      int64            `json:"mismatched"`
	Timeouts        int64            `json:"timeouts"`
	InFlightAtClose int64            `json:"in_flight_at_close"`
	ConnsVerified   int64            `json:"conns_verified"`
	BytesSent       int64            `json:"bytes_sent"`
	BytesReceived   int64            `json:"bytes_received"`
	CPUSeconds      float64          `json:"cpu_seconds"`
	// HoldCPUSeconds is the CPU the client's processes spent in the hold
	// (over rtt_hold_us.n echoes): the cost of keeping connections alive,
	// without the ramp's.
	HoldCPUSeconds float64 `json:"hold_cpu_seconds"`
	WallSeconds    float64 `json:"wall_seconds"`
	Procs          int     `json:"procs"`
	Engine         string  `json:"engine"` // epoll or uring (-engine)
	Ended          string  `json:"ended"`
	Predicted      int     `json:"predicted_capacity"`
	Env            Env     `json:"env"`

	ConnectHist  *hdrhistogram.Snapshot `json:"connect_hist,omitempty"`
	RttHist      *hdrhistogram.Snapshot `json:"rtt_hist,omitempty"`
	RttHoldHist  *hdrhistogram.Snapshot `json:"rtt_hold_hist,omitempty"`
	DowntimeHist *hdrhistogram.Snapshot `json:"downtime_hist,omitempty"`
}

// Env records where a result was measured.
type Env struct {
	Kernel    string   `json:"kernel"`
	CPUModel  string   `json:"cpu_model,omitempty"`
	CPUs      int      `json:"cpus"`
	GoVersion string   `json:"go_version"`
	Flags     []string `json:"flags"`
	Start     string   `json:"start"`
	End       string   `json:"end"`
	// Calibration is the machine as measured before the load (Config.Calibrate).
	Calibration schema.Calibration `json:"calibration,omitzero"`
}

func currentEnv(flags []string) Env {
	var u unix.Utsname
	unix.Uname(&u)
	model, _ := procfs.New("/").CPUModel() // not every architecture names its model: then none
	return Env{Kernel: unix.ByteSliceToString(u.Release[:]), CPUModel: model, CPUs: runtime.NumCPU(),
		GoVersion: runtime.Version(), Flags: flags}
}

// calibrateMachine measures the machine for the result's env before any
// load (nothing when cfg.Calibrate is 0); a failure is reported, not fatal.
func calibrateMachine(cfg Config, log io.Writer) schema.Calibration {
	if cfg.Calibrate <= 0 {
		return schema.Calibration{}
	}
	c, err := calibrate.Measure(cfg.Calibrate)
	if err != nil {
		fmt.Fprintf(log, "c1m-client: the machine's calibration failed, the result goes without it: %v\n", err)
		return schema.Calibration{}
	}
	fmt.Fprintf(log, "c1m-client: machine: %s\n", c)
	return c
}

// counters are written by one loop and read by the progress reporter.
type counters struct {
	attempted, established, open, peakOpen atomic.Int64
	sent, echoed, mismatched, timeouts     atomic.Int64
	bytesSent, bytesReceived, reconnects   atomic.Int64
	churned                                atomic.Int64
	verified, inFlight                     atomic.Int64
	openVerified                           atomic.Int64 // open, with an echo verified on the current socket
	pending                                atomic.Int64 // messages sent and not yet echoed
	// pending and open as the loop closed its connections (after which
	// nothing more is sent, echoed or established)
	pendingAtClose, openAtClose atomic.Int64
	failed, dropped             causeCounts
}

// progress is this loop's share of the live counts.
func (c *counters) progress() Progress {
	p := Progress{Attempted: c.attempted.Load(), Established: c.established.Load(), Open: c.open.Load(), InFlight: c.inFlight.Load(),
		Sent: c.sent.Load(), Echoed: c.echoed.Load(), Mismatched: c.mismatched.Load(), Timeouts: c.timeouts.Load(),
		Churned: c.churned.Load(), OpenVerified: c.openVerified.Load(), Failed: map[string]int64{}, Dropped: map[string]int64{}}
	c.failed.addTo(p.Failed)
	c.dropped.addTo(p.Dropped)
	return p
}

// causeCounts counts failures by class name; the set of names is small.
type causeCounts struct {
	byName [32]atomic.Int64
	names  [32]atomic.Pointer[string]
}

func (c *causeCounts) add(name string) {
	for i := range c.names {
		p := c.names[i].Load()
		if p == nil {
			n := name
			if c.names[i].CompareAndSwap(nil, &n) {
				p = &n
			} else {
				p = c.names[i].Load()
			}
		}
		if *p == name {
			c.byName[i].Add(1)
			return
		}
	}
}

func (c *causeCounts) addTo(m map[string]int64) {
	for i := range c.names {
		if p := c.names[i].Load(); p != nil {
			m[*p] += c.byName[i].Load()
		}
	}
}

// Progress is the live state shared between processes during a run.
type Progress struct {
	Attempted   int64 `json:"attempted"`
	Established int64 `json:"established"`
	Open        int64 `json:"open"`
	InFlight    int64 `json:"in_flight"`
	Sent        int64 `json:"sent"`
	Echoed      int64 `json:"echoed"`
	Mismatched  int64 `json:"mismatched"`
	Timeouts    int64 `json:"timeouts"`
	Churned     int64 `json:"churned"`
	// OpenVerified counts open connections with an echo verified on their
	// current socket: after a server restart, those back and proven again.
	OpenVerified int64            `json:"open_verified"`
	Failed       map[string]int64 `json:"failed"`
	Dropped      map[string]int64 `json:"dropped"`
	RampDone     bool             `json:"ramp_done"`
	// Drained: the hold is over and this process's echoes are in (or
	// timed out); it closes when every process has drained.
	Drained bool `json:"drained,omitempty"`
}

func (p *Progress) add(o *Progress) {
	p.Attempted += o.Attempted
	p.Established += o.Established
	p.Open += o.Open
	p.InFlight += o.InFlight
	p.Sent += o.Sent
	p.Echoed += o.Echoed
	p.Mismatched += o.Mismatched
	p.Timeouts += o.Timeouts
	p.Churned += o.Churned
	p.OpenVerified += o.OpenVerified
	if p.Failed == nil {
		p.Failed = map[string]int64{}
	}
	for k, v := range o.Failed {
		p.Failed[k] += v
	}
	if p.Dropped == nil {
		p.Dropped = map[string]int64{}
	}
	for k, v := range o.Dropped {
		p.Dropped[k] += v
	}
}

// Line is the one-line progress summary.
func (p *Progress) Line(target int, rate float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d open / %d target, %.0f conn/s, %d connecting, echoed %d/%d",
		p.Open, target, rate, p.InFlight, p.Echoed, p.Sent)
	if p.Mismatched > 0 || p.Timeouts > 0 {
		fmt.Fprintf(&b, ", mismatched %d, timeouts %d", p.Mismatched, p.Timeouts)
	}
	names := make([]string, 0, len(p.Failed))
	for k := range p.Failed {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, ", %s %d", k, p.Failed[k])
	}
	return b.String()
}

// merge adds a child's result into r (multi-process runs).
func (r *Result) merge(o *Result) {
	r.Attempted += o.Attempted
	r.Established += o.Established
	r.PeakOpen += o.PeakOpen
	r.OpenAtEnd += o.OpenAtEnd
	r.Reconnects += o.Reconnects
	r.Churned += o.Churned
	r.Sent += o.Sent
	r.Echoed += o.Echoed
	r.Mismatched += o.Mismatched
	r.Timeouts += o.Timeouts
	r.InFlightAtClose += o.InFlightAtClose
	r.ConnsVerified += o.ConnsVerified
	r.BytesSent += o.BytesSent
	r.BytesReceived += o.BytesReceived
	r.CPUSeconds += o.CPUSeconds
	r.HoldCPUSeconds += o.HoldCPUSeconds
	r.RampSeconds = max(r.RampSeconds, o.RampSeconds)
	r.HoldSeconds = max(r.HoldSeconds, o.HoldSeconds)
	for k, v := range o.Failed {
		r.Failed[k] += v
	}
	for k, v := range o.Dropped {
		r.Dropped[k] += v
	}
	if r.Ended == "" || (o.Ended != "" && o.Ended != endHold) {
		r.Ended = o.Ended
	}
	r.ConnectHist = mergeHist(r.ConnectHist, o.ConnectHist)
	r.RttHist = mergeHist(r.RttHist, o.RttHist)
	r.RttHoldHist = mergeHist(r.RttHoldHist, o.RttHoldHist)
	r.DowntimeHist = mergeHist(r.DowntimeHist, o.DowntimeHist)
}

func mergeHist(a, b *hdrhistogram.Snapshot) *hdrhistogram.Snapshot {
	if b == nil {
		return a
	}
	if a == nil {
		return b
	}
	h := hdrhistogram.Import(a)
	h.Merge(hdrhistogram.Import(b))
	return h.Export()
}

// summarise fills the percentiles from the histograms.
func (r *Result) summarise() {
	if r.ConnectHist != nil {
		r.ConnectUs = core.PercentilesOf(hdrhistogram.Import(r.ConnectHist))
	}
	if r.RttHist != nil {
		r.RttUs = core.PercentilesOf(hdrhistogram.Import(r.RttHist))
	}
	if r.RttHoldHist != nil {
		r.RttHoldUs = core.PercentilesOf(hdrhistogram.Import(r.RttHoldHist))
	}
	if r.DowntimeHist != nil {
		r.DowntimeUs = core.PercentilesOf(hdrhistogram.Import(r.DowntimeHist))
	}
}

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
