package core

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestPlanCapacity(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cfg    Config
		nofile uint64
		want   Plan
	}{
		{
			name: "auto fits one table", nofile: 20000,
			cfg:  Config{Ports: 1, Workers: 2},
			want: Plan{Strategy: StrategySingle, Procs: 1, Tables: 1, Workers: 2, PerTable: 19927, MaxConns: 19927, MaxConnsPerProc: 19927},
		},
		{
			name: "single with max-conns", nofile: 20000,
			cfg:  Config{Ports: 1, Workers: 2, MaxConns: 15000, Epoll: EpollConfig{Strategy: StrategySingle}},
			want: Plan{Strategy: StrategySingle, Procs: 1, Tables: 1, Workers: 2, PerTable: 19927, MaxConns: 15000, MaxConnsPerProc: 15000},
		},
		{
			// The target: -max-conns 1000000 -ports 20 under a 20,000 cap.
			name: "auto million picks fdtables", nofile: 20000,
			cfg:  Config{Ports: 20, Workers: 2, MaxConns: 1000000, Epoll: EpollConfig{Strategy: StrategyAuto}},
			want: Plan{Strategy: StrategyFDTables, Procs: 1, Tables: 51, Workers: 51, PerTable: 19712, MaxConns: 1000000, MaxConnsPerProc: 1000000},
		},
		{
			name: "fdtables small limit", nofile: 300,
			cfg:  Config{Ports: 1, Workers: 2, MaxConns: 1000, Epoll: EpollConfig{Strategy: StrategyFDTables}},
			want: Plan{Strategy: StrategyFDTables, Procs: 1, Tables: 5, Workers: 5, PerTable: 215, MaxConns: 1000, MaxConnsPerProc: 1000},
		},
		{
			name: "fdtables keeps more workers than needed", nofile: 20000,
			cfg:  Config{Ports: 1, Workers: 4, MaxConns: 30000, Epoll: EpollConfig{Strategy: StrategyFDTables}},
			want: Plan{Strategy: StrategyFDTables, Procs: 1, Tables: 4, Workers: 4, PerTable: 19919, MaxConns: 30000, MaxConnsPerProc: 30000},
		},
		{
			name: "prefork auto procs", nofile: 300,
			cfg:  Config{Ports: 1, Workers: 2, MaxConns: 1000, Epoll: EpollConfig{Strategy: StrategyPrefork}},
			want: Plan{Strategy: StrategyPrefork, Procs: 5, Tables: 1, Workers: 2, PerTable: 227, MaxConns: 1000, MaxConnsPerProc: 200},
		},
		{
			name: "prefork given procs", nofile: 300,
			cfg:  Config{Ports: 1, Workers: 2, MaxConns: 1000, Epoll: EpollConfig{Strategy: StrategyPrefork, Procs: 8}},
			want: Plan{Strategy: StrategyPrefork, Procs: 8, Tables: 1, Workers: 2, PerTable: 227, MaxConns: 1000, MaxConnsPerProc: 125},
		},
		{
			name: "prefork without max-conns", nofile: 300,
			cfg:  Config{Ports: 1, Workers: 2, Epoll: EpollConfig{Strategy: StrategyPrefork}},
			want: Plan{Strategy: StrategyPrefork, Procs: 1, Tables: 1, Workers: 2, PerTable: 227, MaxConns: 227, MaxConnsPerProc: 227},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := PlanCapacity(c.cfg, c.nofile)
			require.NoError(t, err)
			c.want.NofileSoft, c.want.NofileHard = c.nofile, c.nofile
			assert.Equal(t, c.want, got)
			assert.GreaterOrEqual(t, got.Procs*got.Tables*got.PerTable, got.MaxConns, "the plan must have room for max-conns")
		})
	}
}

func TestPlanCapacityRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cfg    Config
		nofile uint64
		msg    string
	}{
		{"no fds left", Config{Ports: 1, Workers: 2}, 50, "leaves no fds for connections"},
		{"single too big", Config{Ports: 1, Workers: 2, MaxConns: 100000, Epoll: EpollConfig{Strategy: StrategySingle}}, 20000, "does not fit one fd table"},
		{"fdtables unsized", Config{Ports: 1, Workers: 2, Epoll: EpollConfig{Strategy: StrategyFDTables}}, 20000, "needs -max-conns"},
		{"fdtables limit too small", Config{Ports: 1, Workers: 2, MaxConns: 1000, Epoll: EpollConfig{Strategy: StrategyFDTables}}, 100, "too small"},
		{"prefork too few procs", Config{Ports: 1, Workers: 2, MaxConns: 1000, Epoll: EpollConfig{Strategy: StrategyPrefork, Procs: 4}}, 300, "raise -procs"},
		{"unknown strategy", Config{Ports: 1, Workers: 2, Epoll: EpollConfig{Strategy: "bogus"}}, 20000, "unknown -strategy"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := PlanCapacity(c.cfg, c.nofile)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.msg)
		})
	}
}

func TestPlanString(t *testing.T) {
	t.Parallel()
	p, err := PlanCapacity(Config{Ports: 1, Workers: 2, MaxConns: 1000}, 300)
	require.NoError(t, err)
	s := p.String()
	assert.Contains(t, s, "strategy=fdtables procs=1 tables/proc=5 workers/proc=5 max-conns=1000")
	assert.Contains(t, s, "RLIMIT_NOFILE 300 caps one fd table at ~215")

	p, err = PlanCapacity(Config{Ports: 1, Workers: 2}, 20000)
	require.NoError(t, err)
	assert.Contains(t, p.String(), "strategy=single")
	assert.Contains(t, p.String(), "CAP_SYS_RESOURCE", "the single plan says how to go past it")
}

func TestListenAddrs(t *testing.T) {
	t.Parallel()
	got, err := ListenAddrs("127.0.0.1:9876", 3)
	require.NoError(t, err)
	assert.Equal(t, []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.1:9876"),
		netip.MustParseAddrPort("127.0.0.1:9877"),
		netip.MustParseAddrPort("127.0.0.1:9878"),
	}, got)

	got, err = ListenAddrs("[::1]:80", 0)
	require.NoError(t, err)
	assert.Equal(t, []netip.AddrPort{netip.MustParseAddrPort("[::1]:80")}, got, "ports < 1 means one")

	got, err = ListenAddrs("10.0.0.1:65535", 1)
	require.NoError(t, err)
	assert.Len(t, got, 1)

	_, err = ListenAddrs("10.0.0.1:65535", 2)
	assert.ErrorContains(t, err, "past 65535")
	_, err = ListenAddrs("localhost:80", 1)
	assert.ErrorContains(t, err, "want ip:port")
	_, err = ListenAddrs("127.0.0.1", 1)
	assert.Error(t, err)
}

func TestSockaddrOf(t *testing.T) {
	t.Parallel()
	sa, fam := SockaddrOf(netip.MustParseAddrPort("[::ffff:127.0.0.1]:99"))
	assert.Equal(t, unix.AF_INET, fam, "a v4-mapped address listens as IPv4")
	assert.Equal(t, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: 99}, sa)
	sa, fam = SockaddrOf(netip.MustParseAddrPort("[::1]:7"))
	assert.Equal(t, unix.AF_INET6, fam)
	assert.Equal(t, 7, sa.(*unix.SockaddrInet6).Port)
}

// Rings are sized from RLIMIT_NOFILE: one table per ring, so -max-conns
// past one table means more rings, never more fds.
func TestPlanRings(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.Ports, cfg.Workers, cfg.MaxConns = 20, 2, 1_000_000
	p, err := PlanRings(cfg, 20000)
	require.NoError(t, err)
	assert.Equal(t, StrategyRings, p.Strategy)
	assert.Equal(t, 19972, p.PerTable)
	assert.Equal(t, 51, p.Tables)
	assert.Equal(t, 2, p.Workers)
	assert.GreaterOrEqual(t, p.Tables*p.PerTable, 1_000_000)

	cfg.MaxConns = 0
	p, err = PlanRings(cfg, 20000)
	require.NoError(t, err)
	assert.Equal(t, 1, p.Tables)
	assert.Equal(t, 1, p.Workers, "no more threads than rings")

	cfg.MaxConns, cfg.Uring.Rings = 100_000, 2
	_, err = PlanRings(cfg, 20000)
	assert.ErrorContains(t, err, "raise -rings")

	// Past 65,536 a table stops growing: more rings instead.
	cfg.MaxConns, cfg.Uring.Rings = 1_000_000, 0
	p, err = PlanRings(cfg, 1<<20)
	require.NoError(t, err)
	assert.Equal(t, RingSlots, RingTable(p, cfg.Ports))
	assert.Equal(t, 16, p.Tables)
}
