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
	Syscalls   float64 `json:"syscalls"` // the server's own count of its I/O-path system calls (either engine)
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
		row["t_stats_s"] = time.Since(t0).Seconds() // when it answered (late under load)
		row["conns_server"] = st.Conns
		row["srv_accepted"] = st.Accepted
		row["srv_reads"] = st.Reads
		row["srv_writes"] = st.Writes
		row["srv_epoll_waits"] = st.EpollWaits
		if st.Syscalls > 0 {
			row["srv_syscalls"] = st.Syscalls
		}
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
		row["host_user_s"], row["host_sys_s"] = cpu.User.Seconds(), cpu.System.Seconds()
		if cpu.Ctxt > 0 {
			row["host_ctxt"] = float64(cpu.Ctxt)
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
		u := s.tree(pid)
		row[side+"_rss"], row[side+"_pss"], row[side+"_cpu_s"] = u.rss, u.pss, u.user+u.sys
		row[side+"_user_s"], row[side+"_sys_s"] = u.user, u.sys
		if u.threads > 0 {
			row[side+"_ctxt"], row[side+"_threads"] = u.switches, u.threads
		}
		if side == "server" {
			if n, err := s.fs.FDCount(pid); err == nil {
				row["server_fds"] = float64(n) // the root process's shared table; private tables (fdtables) are beside it
			}
		}
	}
	return row
}

// treeUsage is what a process tree uses, summed over its processes.
type treeUsage struct {
	rss, pss, user, sys float64
	// switches are context switches (voluntary and not) of every thread;
	// threads counts the threads read (0: none could be).
	switches, threads float64
}

// tree sums memory, CPU and context switches over a process and its descendants.
func (s *sampler) tree(pid int) (u treeUsage) {
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
			u.rss += float64(m.Rss)
			u.pss += float64(m.Pss)
		} else {
			delete(s.trees, pid) // one has exited: list again next time
		}
		if user, sys, err := s.fs.ProcCPU(p); err == nil {
			u.user += user.Seconds()
			u.sys += sys.Seconds()
		}
		if sw, n, err := s.fs.ProcSwitches(p); err == nil {
			u.switches += float64(sw.Total())
			u.threads += float64(n)
		}
	}
	return u
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
