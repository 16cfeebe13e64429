// Package promstats exposes a server's core.Snapshot in the Prometheus text
// format. It is a collector, not a set of instruments: every scrape takes
// one snapshot (the same atomic reads /stats makes) and turns it into
// metrics, so the engines count nothing twice and pay nothing per event.
// It lives apart from core so that the engines do not depend on
// client_golang; statshttp serves it at /metrics.
package promstats

import (
	"maps"
	"net/http"
	"slices"
	"strconv"

	"c1m/core"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric of the server's own.
const Namespace = "c1m"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
}

// totals are the snapshot's server-wide counters: one row per metric, so a
// counter added to core.Snapshot is one line here.
var totals = []struct {
	desc *prometheus.Desc
	get  func(*core.Snapshot) uint64
}{
	{desc("accepted_total", "Connections accepted."), func(s *core.Snapshot) uint64 { return s.Accepted }},
	{desc("registered_total", "Connections a loop took over (epoll: after the hand-off; uring: at accept)."), func(s *core.Snapshot) uint64 { return s.Registered }},
	{desc("reads_total", "Reads that returned data or EOF (uring: receive completions)."), func(s *core.Snapshot) uint64 { return s.Reads }},
	{desc("writes_total", "Writes of echoed bytes (uring: send completions)."), func(s *core.Snapshot) uint64 { return s.Writes }},
	{desc("received_bytes_total", "Bytes read from clients."), func(s *core.Snapshot) uint64 { return s.BytesIn }},
	{desc("sent_bytes_total", "Bytes echoed back to clients."), func(s *core.Snapshot) uint64 { return s.BytesOut }},
	{desc("backpressure_total", "Times a connection's reading paused because its unsent output reached -max-pending."), func(s *core.Snapshot) uint64 { return s.Backpressure }},
	{desc("accept_calls_total", "accept4 calls (uring: accept requests armed)."), func(s *core.Snapshot) uint64 { return s.AcceptCalls }},
	{desc("epoll_waits_total", "epoll_wait calls of every loop."), func(s *core.Snapshot) uint64 { return s.EpollWaits }},
	{desc("uring_enters_total", "io_uring_enter calls (uring engine; 0 on epoll)."), func(s *core.Snapshot) uint64 { return s.UringEnters }},
	{desc("syscalls_total", "System calls on the I/O path (see /stats' syscalls)."), func(s *core.Snapshot) uint64 { return s.Syscalls }},
}

// perLoop are the counters of one event loop (epoll) or ring (uring),
// labelled loop="ID".
var perLoop = []struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
	get  func(*core.WorkerSnapshot) float64
}{
	{desc("loop_open_connections", "Connections a loop (epoll worker, or uring ring) holds now.", "loop"), prometheus.GaugeValue, func(w *core.WorkerSnapshot) float64 { return float64(w.Conns) }},
	{desc("loop_registered_total", "Connections a loop took over.", "loop"), prometheus.CounterValue, func(w *core.WorkerSnapshot) float64 { return float64(w.Registered) }},
	{desc("loop_closed_total", "Connections a loop closed.", "loop"), prometheus.CounterValue, func(w *core.WorkerSnapshot) float64 { return float64(w.Closed) }},
	{desc("loop_reads_total", "Reads of a loop.", "loop"), prometheus.CounterValue, func(w *core.WorkerSnapshot) float64 { return float64(w.Reads) }},
	{desc("loop_writes_total", "Writes of a loop.", "loop"), prometheus.CounterValue, func(w *core.WorkerSnapshot) float64 { return float64(w.Writes) }},
}

var (
	openDesc      = desc("open_connections", "Connections held now (/stats' conns).")
	closedDesc    = desc("closed_total", "Connections closed, by reason (/stats' close_reasons).", "reason")
	acceptErrDesc = desc("accept_events_total", "What went wrong at accept, by kind (/stats' accept_errors: errors, sheds and back-offs).", "kind")
	infoDesc      = desc("server_info", "The engine and modes the server runs with (always 1).", "engine", "strategy", "dispatch", "trigger", "uring_recv", "uring_taskrun")
	tablesDesc    = desc("tables", "fd tables (epoll fdtables or prefork) or rings (uring) holding connections.")
	procsDesc     = desc("processes", "Server processes (prefork: children).")
)

// Collector turns a snapshot function's result into metrics at each scrape.
type Collector struct {
	snap func() core.Snapshot
}

// NewCollector collects from snap (an engine's Snapshot).
func NewCollector(snap func() core.Snapshot) *Collector { return &Collector{snap: snap} }

// Describe sends the descriptors of every metric the collector may send.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

// Collect takes one snapshot and sends it as metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.snap()
	ch <- prometheus.MustNewConstMetric(infoDesc, prometheus.GaugeValue, 1,
		s.Engine, s.Strategy, s.Dispatch, s.Trigger, s.UringRecv, s.UringTaskrun)
	ch <- prometheus.MustNewConstMetric(openDesc, prometheus.GaugeValue, float64(s.Conns))
	ch <- prometheus.MustNewConstMetric(tablesDesc, prometheus.GaugeValue, float64(s.Tables))
	ch <- prometheus.MustNewConstMetric(procsDesc, prometheus.GaugeValue, float64(s.Procs))
	for _, t := range totals {
		ch <- prometheus.MustNewConstMetric(t.desc, prometheus.CounterValue, float64(t.get(&s)))
	}
	labelled(ch, closedDesc, s.CloseReasons)
	labelled(ch, acceptErrDesc, s.AcceptErrors)
	for i := range s.Workers {
		w := &s.Workers[i]
		id := strconv.Itoa(w.ID)
		for _, m := range perLoop {
			ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.get(w), id)
		}
	}
}

// labelled sends one counter per key of m, in a stable order. Every reason
// the engines count is in the map from the start (at 0), so a new close
// reason or accept error shows up here without a change.
func labelled(ch chan<- prometheus.Metric, d *prometheus.Desc, m map[string]uint64) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(m[k]), k)
	}
}

// Handler serves snap's metrics, with the Go runtime's and the process's
// (go_*, process_*), in the Prometheus text format.
func Handler(snap func() core.Snapshot) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(snap), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
