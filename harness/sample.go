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
	trees     map[int]processTree // by root pid
}

// processTree is a root and its descendants as last listed. Listing walks
// every thread's children file: at a million connections the client's ~50
// processes made that a tenth of a core a second, so the list is kept until
// it is stale or one of its processes is gone.
type processTree struct {
	pids   []int
	listed time.Time
}

// treeRefresh is how long a listed process tree is trusted.
const treeRefresh = 5 * time.Second

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
	if cpu, err := s.fs.HostCPU(); err == nil {
		row["host_busy_s"] = cpu.Busy.Seconds()
		row["host_softirq_s"] = cpu.Softirq.Seconds()
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
	// Sockets and TCP counters of the server's network namespace (the
	// harness's own until the server runs, or when it runs in the same).
	ss, err := s.fs.Sockstat()
	if s.serverPid > 0 {
		ss, err = s.fs.SockstatOf(s.serverPid)
	}
	if err == nil {
		row["tcp_inuse"] = float64(ss.TCPInUse)
		row["tcp_tw"] = float64(ss.TCPTimeWait)
		row["tcp_mem_bytes"] = float64(ss.TCPMemBytes())
	}
	counters, err := s.fs.NetCounters()
	if s.serverPid > 0 {
		counters, err = s.fs.NetCountersOf(s.serverPid)
	}
	if err == nil {
		for col, name := range netCounterColumns {
			if v, ok := counters[name]; ok {
				row[col] = v
			}
		}
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
	t, ok := s.trees[pid]
	if !ok || len(t.pids) == 1 || time.Since(t.listed) > treeRefresh {
		t = processTree{pids: []int{pid}, listed: time.Now()}
		if d, err := s.fs.Descendants(pid); err == nil {
			t.pids = append(t.pids, d...)
		}
		if s.trees == nil {
			s.trees = map[int]processTree{}
		}
		s.trees[pid] = t
	}
	for _, p := range t.pids {
		if m, err := s.fs.ProcMem(p); err == nil {
			rss += float64(m.Rss)
			pss += float64(m.Pss)
		} else {
			delete(s.trees, pid) // one has exited: list again next time
		}
		if u, sys, err := s.fs.ProcCPU(p); err == nil {
			cpu += (u + sys).Seconds()
		}
	}
	return rss, pss, cpu
}

// netCounterColumns are the kernel's TCP counters each sample records
// (cumulative; the metrics use differences): segments for packet rates,
// and the events that say a limit was hit.
var netCounterColumns = map[string]string{
	"tcp_in_segs":          "Tcp.InSegs",
	"tcp_out_segs":         "Tcp.OutSegs",
	"tcp_retrans_segs":     "Tcp.RetransSegs",
	"tcp_listen_overflows": "TcpExt.ListenOverflows",
	"tcp_listen_drops":     "TcpExt.ListenDrops",
	"tcp_memory_pressures": "TcpExt.TCPMemoryPressures",
	"tcp_abort_on_memory":  "TcpExt.TCPAbortOnMemory",
	"tcp_prune_called":     "TcpExt.PruneCalled",
	"tcp_timeouts":         "TcpExt.TCPTimeouts",
	"ip_in_octets":         "IpExt.InOctets",
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
