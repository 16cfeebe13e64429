// Package statshttp is the server's side door for its operator: /stats
// (the snapshot as JSON), /metrics (the same counters in the Prometheus
// text format, package promstats) and net/http/pprof under /debug/pprof/.
// It runs on Go's net package: these are not connections the engines hold.
package statshttp

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"

	"c1m/core"
	"c1m/promstats"
)

// Serve serves snap on addr. Close the returned listener to stop.
func Serve(addr string, snap func() core.Snapshot) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-stats-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		s := snap()
		s.DispatchHist = nil
		if r.URL.Query().Get("workers") == "0" {
			s.Workers = nil
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(&s)
	})
	mux.Handle("/metrics", promstats.Handler(snap))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go http.Serve(ln, mux)
	return ln, nil
}
