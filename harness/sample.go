package harness

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"c1m/procfs"
)

// Sample is one row of samples-<arm>-r<rep>.csv: column name → value.
type Sample map[string]float64

// sampler reads the machine and the two process trees.
type sampler struct {
	fs        procfs.FS
	statsURL  string
	http      *http.Client
	slabOK    bool // /proc/slabinfo is readable (root)
	serverPid int
	clientPid int
}

// serverStats is the part of the server's /stats the harness records.
type serverStats struct {
	Conns      float64 `json:"conns"`
	Reads      float64 `json:"reads"`
	Writes     float64 `json:"writes"`
	EpollWaits float64 `json:"epoll_waits"`
	BytesOut   float64 `json:"bytes_out"`
	Accepted   float64 `json:"accepted"`
	GoHeap     float64 `json:"go_heap_bytes"`
	DispatchUs struct {
		P50, P99, N float64
	} `json:"dispatch_us"`
}

func (s *sampler) serverStats() (serverStats, error) {
	var st serverStats
	if s.statsURL == "" {
		return st, fmt.Errorf("no stats address")
	}
	resp, err := s.http.Get(s.statsURL)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// take reads everything once. Missing sources leave their columns out.
func (s *sampler) take(t0 time.Time) Sample {
	row := Sample{"t_s": time.Since(t0).Seconds()}
	if st, err := s.serverStats(); err == nil {
		row["conns_server"] = st.Conns
		row["srv_accepted"] = st.Accepted
		row["srv_reads"] = st.Reads
		row["srv_writes"] = st.Writes
		row["srv_epoll_waits"] = st.EpollWaits
		row["srv_bytes_out"] = st.BytesOut
		row["server_go_heap"] = st.GoHeap
		if st.DispatchUs.N > 0 { // the holder has no dispatch to time
			row["srv_dispatch_p50_us"] = st.DispatchUs.P50
			row["srv_dispatch_p99_us"] = st.DispatchUs.P99
		}
	}
	if mi, err := s.fs.Meminfo(); err == nil {
		row["slab_bytes"] = float64(mi["Slab"])
		row["sunreclaim_bytes"] = float64(mi["SUnreclaim"])
	}
	if s.slabOK {
		if slabs, err := s.fs.Slabinfo(); err == nil {
			for name, b := range procfs.SlabBytes(slabs, procfs.SocketCaches) {
				row["slab_"+sanitize(name)+"_bytes"] = float64(b)
			}
		}
	}
	if ss, err := s.fs.Sockstat(); err == nil {
		row["tcp_inuse"] = float64(ss.TCPInUse)
		row["tcp_tw"] = float64(ss.TCPTimeWait)
		row["tcp_mem_bytes"] = float64(ss.TCPMemBytes())
	}
	for side, pid := range map[string]int{"server": s.serverPid, "client": s.clientPid} {
		if pid <= 0 {
			continue
		}
		rss, pss, cpu := s.tree(pid)
		row[side+"_rss"], row[side+"_pss"], row[side+"_cpu_s"] = rss, pss, cpu
	}
	return row
}

// tree sums RSS, PSS and CPU over a process and its descendants.
func (s *sampler) tree(pid int) (rss, pss, cpu float64) {
	pids := []int{pid}
	if d, err := s.fs.Descendants(pid); err == nil {
		pids = append(pids, d...)
	}
	for _, p := range pids {
		if m, err := s.fs.ProcMem(p); err == nil {
			rss += float64(m.Rss)
			pss += float64(m.Pss)
		}
		if u, sys, err := s.fs.ProcCPU(p); err == nil {
			cpu += (u + sys).Seconds()
		}
	}
	return rss, pss, cpu
}

func sanitize(name string) string {
	out := []byte(name)
	for i, c := range out {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			out[i] = '_'
		}
	}
	return string(out)
}

// columns returns the union of the rows' keys, t_s first, then sorted.
func columns(rows []Sample) []string {
	seen := map[string]bool{}
	for _, r := range rows {
		for k := range r {
			seen[k] = true
		}
	}
	delete(seen, "t_s")
	cols := make([]string, 0, len(seen))
	for k := range seen {
		cols = append(cols, k)
	}
	sort.Strings(cols)
	return append([]string{"t_s"}, cols...)
}
