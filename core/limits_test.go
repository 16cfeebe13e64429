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
			cfg:  Config{Ports: 1, Workers: 2, MaxConns: 15000, Strategy: StrategySingle},
			want: Plan{Strategy: StrategySingle, Procs: 1, Tables: 1, Workers: 2, PerTable: 19927, MaxConns: 15000, MaxConnsPerProc: 15000},
		},
		{
			// The target: -max-conns 1000000 -ports 20 under a 20,000 cap.
			name: "auto million picks fdtables", nofile: 20000,
			cfg:  Config{Ports: 20, Workers: 2, MaxConns: 1000000, Strategy: StrategyAuto},
			want: Plan{Strategy: StrategyFDTables, Procs: 1, Tables: 51, Workers: 51, PerTable: 19712, MaxConns: 1000000, MaxConnsPerProc: 1000000},
		},
		{
			name: "fdtables small limit", nofile: 300,
			cfg:  Config{Ports: 1, Workers: 2, MaxConns: 1000, Strategy: StrategyFDTables},
			want: Plan{Strategy: StrategyFDTables, Procs: 1, Tables: 5, Workers: 5, PerTable: 215, MaxConns: 1000, MaxConnsPerProc: 1000},
		},
		{
			name: "fdtables keeps more workers than needed", nofile: 20000,
			cfg:  Config{Ports: 1, Workers: 4, MaxConns: 30000, Strategy: StrategyFDTables},
			want: Plan{Strategy: StrategyFDTables, Procs: 1, Tables: 4, Workers: 4, PerTable: 19919, MaxConns: 30000, MaxConnsPerProc: 30000},
		},
		{
			name: "prefork auto procs", nofile: 300,
			cfg:  Config{Ports: 1, Workers: 2, MaxConns: 1000, Strategy: StrategyPrefork},
			want: Plan{Strategy: StrategyPrefork, Procs: 5, Tables: 1, Workers: 2, PerTable: 227, MaxConns: 1000, MaxConnsPerProc: 200},
		},
		{
			name: "prefork given procs", nofile: 300,
			cfg:  Config{Ports: 1, Workers: 2, MaxConns: 1000, Strategy: StrategyPrefork, Procs: 8},
			want: Plan{Strategy: StrategyPrefork, Procs: 8, Tables: 1, Workers: 2, PerTable: 227, MaxConns: 1000, MaxConnsPerProc: 125},
		},
		{
			name: "prefork without max-conns", nofile: 300,
			cfg:  Config{Ports: 1, Workers: 2, Strategy: StrategyPrefork},
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
		{"single too big", Config{Ports: 1, Workers: 2, MaxConns: 100000, Strategy: StrategySingle}, 20000, "does not fit one fd table"},
		{"fdtables unsized", Config{Ports: 1, Workers: 2, Strategy: StrategyFDTables}, 20000, "needs -max-conns"},
		{"fdtables limit too small", Config{Ports: 1, Workers: 2, MaxConns: 1000, Strategy: StrategyFDTables}, 100, "too small"},
		{"prefork too few procs", Config{Ports: 1, Workers: 2, MaxConns: 1000, Strategy: StrategyPrefork, Procs: 4}, 300, "raise -procs"},
		{"unknown strategy", Config{Ports: 1, Workers: 2, Strategy: "bogus"}, 20000, "unknown -strategy"},
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

func TestNewServerRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for name, mod := range map[string]func(*Config){
		"trigger":     func(c *Config) { c.Trigger = "both" },
		"balance":     func(c *Config) { c.Balance = "random" },
		"dispatch":    func(c *Config) { c.Dispatch = "carrier-pigeon" },
		"readbuf":     func(c *Config) { c.ReadBuf = 10 },
		"max-pending": func(c *Config) { c.MaxPending = 0 },
		"addr":        func(c *Config) { c.Addr = "nowhere" },
		"ports on 0":  func(c *Config) { c.Ports = 2 },
	} {
		cfg := testConfig()
		mod(&cfg)
		_, err := NewServer(cfg)
		assert.Error(t, err, name)
	}
}
