package core

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Plan is how the server will hold -max-conns under RLIMIT_NOFILE.
type Plan struct {
	Strategy        string `json:"strategy"`
	Procs           int    `json:"procs"`     // server processes
	Tables          int    `json:"tables"`    // fd tables per process
	Workers         int    `json:"workers"`   // workers per process
	PerTable        int    `json:"per_table"` // connections one fd table may hold
	MaxConns        int    `json:"max_conns"` // in all
	MaxConnsPerProc int    `json:"max_conns_per_proc"`
	NofileSoft      uint64 `json:"nofile_soft"`
	NofileHard      uint64 `json:"nofile_hard"`
}

// RaiseNofile lifts the soft RLIMIT_NOFILE to the hard limit and returns both.
func RaiseNofile() (soft, hard uint64, err error) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0, 0, fmt.Errorf("getrlimit(NOFILE): %w", err)
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
			return r.Cur, r.Max, fmt.Errorf("setrlimit(NOFILE, %d): %w", r.Max, err)
		}
	}
	return r.Cur, r.Max, nil
}

// fdOverhead is what a table needs besides connections: listeners, the
// runtime's own fds, stats, and per worker an epoll, an eventfd and an inbox
// (a private table starts as a copy of the shared one, so it pays the same).
func fdOverhead(ports, workers int) int { return 64 + ports + 4*workers }

// PlanCapacity chooses the epoll engine's strategy for cfg under an fd
// limit of nofile.
func PlanCapacity(cfg Config, nofile uint64) (Plan, error) {
	p := Plan{NofileSoft: nofile, NofileHard: nofile, Procs: 1, Tables: 1, Workers: cfg.Workers}
	single := int(nofile) - fdOverhead(cfg.Ports, cfg.Workers)
	if single < 1 {
		return p, fmt.Errorf("RLIMIT_NOFILE %d leaves no fds for connections: raise it (ulimit -n)", nofile)
	}
	want := cfg.MaxConns
	strategy := cfg.Epoll.Strategy
	if strategy == "" || strategy == StrategyAuto {
		switch {
		case want == 0 || want <= single:
			strategy = StrategySingle
		default:
			strategy = StrategyFDTables
		}
	}
	p.Strategy = strategy
	switch strategy {
	case StrategySingle:
		if want == 0 {
			want = single
		}
		if want > single {
			return p, fmt.Errorf("-max-conns %d does not fit one fd table (RLIMIT_NOFILE %d allows about %d): use -strategy fdtables or prefork, or raise the hard limit (needs CAP_SYS_RESOURCE)", want, nofile, single)
		}
		p.PerTable, p.MaxConns, p.MaxConnsPerProc = single, want, want
	case StrategyFDTables:
		if want == 0 {
			return p, fmt.Errorf("-strategy fdtables needs -max-conns to size the tables")
		}
		// Each worker is one table; tables grow the overhead of every table.
		tables := max(cfg.Workers, 1)
		for {
			per := int(nofile) - fdOverhead(cfg.Ports, tables)
			if per < 1 {
				return p, fmt.Errorf("-max-conns %d: RLIMIT_NOFILE %d is too small for the %d fd tables needed", want, nofile, tables)
			}
			if tables*per >= want {
				p.PerTable = per
				break
			}
			tables = (want + per - 1) / per
		}
		p.Tables, p.Workers, p.MaxConns, p.MaxConnsPerProc = tables, tables, want, want
	case StrategyPrefork:
		if want == 0 {
			want = single
		}
		procs := cfg.Epoll.Procs
		if procs <= 0 {
			procs = (want + single - 1) / single
		}
		per := (want + procs - 1) / procs
		if per > single {
			return p, fmt.Errorf("-procs %d: %d connections per process exceed one fd table (about %d): raise -procs", procs, per, single)
		}
		p.Procs, p.PerTable, p.MaxConns, p.MaxConnsPerProc = procs, single, want, per
	default:
		return p, fmt.Errorf("unknown -strategy %q (auto, single, fdtables or prefork)", strategy)
	}
	return p, nil
}

// String is the startup line's description of the plan.
func (p Plan) String() string {
	s := fmt.Sprintf("strategy=%s procs=%d tables/proc=%d workers/proc=%d max-conns=%d (RLIMIT_NOFILE %d caps one fd table at ~%d connections",
		p.Strategy, p.Procs, p.Tables, p.Workers, p.MaxConns, p.NofileHard, p.PerTable)
	if p.Strategy == StrategySingle {
		s += "; past it use -strategy fdtables|prefork, or raise the hard limit, which needs CAP_SYS_RESOURCE"
	}
	return s + ")"
}

// Ring sizing shared by the plan and the engine.
const (
	// RingAcceptSlack is the table slots a ring keeps free beyond one armed
	// accept per listener.
	RingAcceptSlack = 8
	// RingSlots is the most slots a ring's table may have: a slot travels
	// as 16 bits in a request's user data (core/uring), so a larger table
	// would let two connections share one.
	RingSlots = 1 << 16
)

// RingTable is the size of each ring's registered-file table under plan p
// with ports listeners: room for PerTable connections and the accepts.
func RingTable(p Plan, ports int) int { return p.PerTable + ports + RingAcceptSlack }

// PlanRings sizes the io_uring engine: how many rings (registered-file
// tables of up to nofile slots each, and never more than RingSlots) and
// threads -max-conns needs.
func PlanRings(cfg Config, nofile uint64) (Plan, error) {
	p := Plan{Strategy: StrategyRings, Procs: 1, NofileSoft: nofile, NofileHard: nofile}
	table := int(min(nofile, RingSlots))
	per := table - cfg.Ports - RingAcceptSlack
	if per < 1 {
		return p, fmt.Errorf("RLIMIT_NOFILE %d leaves a ring's table no room for connections: raise it (ulimit -n)", nofile)
	}
	rings := cfg.Uring.Rings
	if rings <= 0 {
		rings = max(1, (cfg.MaxConns+per-1)/per)
	}
	want := cfg.MaxConns
	if want == 0 {
		want = rings * per
	}
	if want > rings*per {
		return p, fmt.Errorf("-rings %d hold at most %d connections (%d per ring, RLIMIT_NOFILE %d): raise -rings or leave it 0", rings, rings*per, per, nofile)
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	p.Tables, p.Workers = rings, min(workers, rings)
	p.PerTable, p.MaxConns, p.MaxConnsPerProc = per, want, want
	return p, nil
}
