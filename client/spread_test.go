package client

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestParseSources(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec string
		want []netip.Addr
	}{
		{"127.0.0.2", addrs("127.0.0.2")},
		{"127.0.0.2-127.0.0.4", addrs("127.0.0.2", "127.0.0.3", "127.0.0.4")},
		{" 127.0.0.2 - 127.0.0.2 ", addrs("127.0.0.2")},
		{"127.0.0.254-127.0.1.1", addrs("127.0.0.254", "127.0.0.255", "127.0.1.0", "127.0.1.1")},
		{"255.255.255.254-255.255.255.255", addrs("255.255.255.254", "255.255.255.255")},
		// A CIDR leaves out its network and broadcast addresses...
		{"127.1.0.0/30", addrs("127.1.0.1", "127.1.0.2")},
		{"127.1.0.3/30", addrs("127.1.0.1", "127.1.0.2")}, // host bits masked
		// ...unless that would leave nothing.
		{"127.1.0.0/31", addrs("127.1.0.0", "127.1.0.1")},
		{"127.1.0.9/32", addrs("127.1.0.9")},
		{"255.255.255.252/30", addrs("255.255.255.253", "255.255.255.254")},
		{"127.0.0.2,127.0.0.5-127.0.0.6, 10.0.0.0/30,", addrs("127.0.0.2", "127.0.0.5", "127.0.0.6", "10.0.0.1", "10.0.0.2")},
		{"::1", addrs("::1")},
		{"fd00::1-fd00::3", addrs("fd00::1", "fd00::2", "fd00::3")},
		{"fd00::/126", addrs("fd00::1", "fd00::2")},
	} {
		got, err := ParseSources(tc.spec)
		if assert.NoError(t, err, tc.spec) {
			assert.Equal(t, tc.want, got, tc.spec)
		}
	}
}

func TestParseSourcesSizes(t *testing.T) {
	t.Parallel()
	got, err := ParseSources("10.0.0.0/16")
	require.NoError(t, err)
	assert.Len(t, got, 65534)
	assert.Equal(t, netip.MustParseAddr("10.0.0.1"), got[0])
	assert.Equal(t, netip.MustParseAddr("10.0.255.254"), got[len(got)-1])

	got, err = ParseSources("10.0.0.0-10.0.255.255")
	require.NoError(t, err)
	assert.Len(t, got, maxSources, "a range of exactly the limit is accepted")

	for _, spec := range []string{"10.0.0.0-10.1.0.0", "10.0.0.0/16,10.1.0.0/16", "10.0.0.0-10.0.255.255,127.0.0.1"} {
		_, err = ParseSources(spec)
		if assert.Error(t, err, spec) {
			assert.Contains(t, err.Error(), "more than 65536 addresses", spec)
		}
	}
}

func TestParseSourcesErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ spec, want string }{
		{"", "names no address"},
		{" , ,", "names no address"},
		{"localhost", "ParseAddr"},
		{"127.0.0.2-", "ParseAddr"},
		{"-127.0.0.2", "ParseAddr"},
		{"127.0.0.5-127.0.0.2", "before its start"},
		{"127.0.0.1-::1", "another family"},
		{"::1-127.0.0.1", "another family"},
		{"127.0.0.0/33", "prefix length out of range"},
		{"10.0.0.0/8", "prefix /8 is too large: use /16 or longer"},
		{"fd00::/64", "prefix /64 is too large: use /112 or longer"},
		{"127.0.0.2,bogus", `"bogus"`},
	} {
		_, err := ParseSources(tc.spec)
		if assert.Error(t, err, tc.spec) {
			assert.Contains(t, err.Error(), tc.want, tc.spec)
		}
	}
}

func TestParsePortRange(t *testing.T) {
	t.Parallel()
	r, err := ParsePortRange("32768\t60999\n") // as /proc writes it
	require.NoError(t, err)
	assert.Equal(t, PortRange{Lo: 32768, Hi: 60999}, r)
	assert.Equal(t, 28232, r.Size())

	r, err = ParsePortRange("40000 40000")
	require.NoError(t, err)
	assert.Equal(t, 1, r.Size())

	for _, s := range []string{"", "40000", "40000 40099 1", "a 40099", "40000 b", "0 100", "40099 40000", "1 65536", "-1 5"} {
		_, err := ParsePortRange(s)
		assert.Error(t, err, "%q", s)
	}
}

func TestCountReserved(t *testing.T) {
	t.Parallel()
	r := PortRange{Lo: 40000, Hi: 40099}
	for _, tc := range []struct {
		list string
		want int
	}{
		{"", 0},
		{"\n", 0},
		{"8080", 0},
		{"40000", 1},
		{"40099", 1},
		{"40100", 0},
		{"39990-40009", 10},
		{"40090-40200", 10},
		{"1-65535", 100},
		{"40010-40019,40050, 40060-40061\n", 13},
		// Overlapping entries (possible in an override; the kernel's own list
		// never overlaps) count each port once.
		{"40000-40009,40005-40014", 15},
		{"40000-40099,40000-40099", 100},
	} {
		got, err := r.CountReserved(tc.list)
		if assert.NoError(t, err, "%q", tc.list) {
			assert.Equal(t, tc.want, got, "%q", tc.list)
		}
	}
	for _, list := range []string{"x", "40010-40005", "1-2-3", "-5", "40000-", "99999999999999999999"} {
		_, err := r.CountReserved(list)
		assert.Error(t, err, "%q", list)
	}
}

// The exact limit: one source, one server port, a 100-port range.
func TestSpreadCapacityExact(t *testing.T) {
	t.Parallel()
	sp := Spread{Sources: addrs("127.0.0.2"), Server: netip.MustParseAddr("127.0.0.1"),
		Ports: []uint16{9876}, Range: PortRange{Lo: 40000, Hi: 40099}}
	assert.Equal(t, 100, sp.Capacity())
	assert.NoError(t, sp.Check(100))
	err := sp.Check(101)
	require.Error(t, err)
	for _, want := range []string{
		"101 connections", "1 source address(es) × 1 server port(s)", "need 101 per pair",
		"ephemeral port range 40000-40099 gives each pair only 100",                                        // the limit
		"add source addresses (-src, at least 2)", "server ports (-ports)", "net.ipv4.ip_local_port_range", // the fix
	} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "TIME_WAIT")

	sp.Sources = addrs("127.0.0.2", "127.0.0.3", "127.0.0.4")
	sp.Ports = []uint16{9876, 9877}
	sp.Range.Reserved = 10
	assert.Equal(t, 3*2*90, sp.Capacity())
	assert.NoError(t, sp.Check(540))
	err = sp.Check(541)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "only 90")
	assert.Contains(t, err.Error(), "at least 4") // ⌈541 / (90 × 2)⌉ sources
	// With 4 sources the suggested fix does fit.
	sp.Sources = append(sp.Sources, netip.MustParseAddr("127.0.0.5"))
	assert.NoError(t, sp.Check(541))
}

// Target spreads connections evenly: no (source, port) pair carries more
// than PerPair, so a plan that passes Check never overfills a pair.
func TestSpreadTargetEven(t *testing.T) {
	t.Parallel()
	sp := Spread{Sources: addrs("127.0.0.2", "127.0.0.3", "127.0.0.4"), Server: netip.MustParseAddr("127.0.0.1"),
		Ports: []uint16{9876, 9877}, Range: PortRange{Lo: 40000, Hi: 40009}}
	for _, n := range []int{1, 5, 6, 7, 59, 60} {
		per := map[[2]any]int{}
		for i := 0; i < n; i++ {
			src, port := sp.Target(i)
			per[[2]any{src, port}]++
		}
		most := 0
		for _, c := range per {
			most = max(most, c)
		}
		assert.Equal(t, sp.PerPair(n), most, "n=%d", n)
		assert.LessOrEqual(t, most, sp.Range.Size(), "n=%d fits", n)
	}
	assert.NoError(t, sp.Check(60))
	assert.Error(t, sp.Check(61))
}

// planConfig is a Plan input that reads no sysctl: the port range and the
// reserved list are given ("0" reserves only port 0, outside any range).
func planConfig(conns int, src string) Config {
	cfg := DefaultConfig()
	cfg.Conns, cfg.Src = conns, src
	cfg.PortRange, cfg.ReservedPorts = "40000 40099", "0"
	return cfg
}

func TestPlanRefusesAtPredictedLimit(t *testing.T) {
	t.Parallel()
	jobs, sp, err := Plan(planConfig(100, "127.0.0.2"))
	require.NoError(t, err)
	assert.Equal(t, 100, sp.Capacity())
	assert.Len(t, jobs, 1)

	_, sp, err = Plan(planConfig(101, "127.0.0.2"))
	require.Error(t, err)
	assert.Equal(t, 100, sp.Capacity())
	assert.Contains(t, err.Error(), "only 100")
	assert.Contains(t, err.Error(), "-force")

	cfg := planConfig(101, "127.0.0.2")
	cfg.Force = true
	_, sp, err = Plan(cfg)
	require.NoError(t, err, "-force plans past the limit")
	assert.Equal(t, 100, sp.Capacity())

	cfg = planConfig(101, "127.0.0.2")
	cfg.Ports = 2
	_, sp, err = Plan(cfg)
	require.NoError(t, err, "a second server port doubles the capacity")
	assert.Equal(t, 200, sp.Capacity())
	assert.Equal(t, []uint16{9876, 9877}, sp.Ports)

	cfg = planConfig(90, "127.0.0.2")
	cfg.ReservedPorts = "40000-40009,8080"
	_, sp, err = Plan(cfg)
	require.NoError(t, err)
	assert.Equal(t, 90, sp.Capacity(), "reserved ports are not ephemeral")
	cfg.Conns = 91
	_, _, err = Plan(cfg)
	assert.ErrorContains(t, err, "only 90")

	// The defaults spread over 127.0.0.2-254: a million fits in the default range.
	cfg = DefaultConfig()
	cfg.Conns, cfg.PortRange, cfg.ReservedPorts = 1_000_000, "32768 60999", "0"
	_, sp, err = Plan(cfg)
	require.NoError(t, err)
	assert.Equal(t, 253*28232, sp.Capacity())
}

func TestPlanErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no conns", func(c *Config) { c.Conns = 0 }, "-conns 0"},
		{"bad server", func(c *Config) { c.Server = "localhost:9876" }, "-server"},
		{"no port", func(c *Config) { c.Server = "127.0.0.1" }, "-server"},
		{"family mismatch", func(c *Config) { c.Src = "::1" }, "different address families"},
		{"family mismatch in a list", func(c *Config) { c.Src = "127.0.0.2,fd00::1" }, "different address families"},
		{"bad src", func(c *Config) { c.Src = "127.0.0.9-127.0.0.2" }, "-src"},
		{"ports past 65535", func(c *Config) { c.Server = "127.0.0.1:65535"; c.Ports = 2 }, "run past 65535"},
		{"bad port range", func(c *Config) { c.PortRange = "9 1" }, "ip_local_port_range"},
		{"bad reserved", func(c *Config) { c.ReservedPorts = "x" }, "ip_local_reserved_ports"},
		{"empty message", func(c *Config) { c.Msg = "" }, "nothing to send"},
		{"negative interval", func(c *Config) { c.Interval = -time.Second }, "-interval"},
		{"saturating without depth", func(c *Config) { c.Interval = 0; c.Depth = 0 }, "-depth 0"},
		{"too few procs", func(c *Config) { c.Conns, c.Procs, c.PortRange = 30000, 1, "1024 65535" }, "-procs 1"},
	} {
		cfg := planConfig(10, "127.0.0.2-127.0.0.254")
		tc.edit(&cfg)
		_, _, err := Plan(cfg)
		if assert.Error(t, err, tc.name) {
			assert.Contains(t, err.Error(), tc.want, tc.name)
		}
	}
}

func TestPlanJobs(t *testing.T) {
	t.Parallel()
	cfg := planConfig(10, "127.0.0.2-127.0.0.3")
	cfg.Procs, cfg.Rate, cfg.InFlight = 3, 300, 30
	jobs, _, err := Plan(cfg)
	require.NoError(t, err)
	require.Len(t, jobs, 3)
	var offsets, counts []int
	for _, j := range jobs {
		offsets = append(offsets, j.Offset)
		counts = append(counts, j.Count)
		assert.Equal(t, 10, j.Total)
		assert.InDelta(t, 100.0, j.Rate, 1e-9, "the rate is split")
		assert.Equal(t, 10, j.InFlight, "the in-flight bound is split")
		assert.Equal(t, 1, j.Loops, "one loop per child process")
		assert.Equal(t, 1, j.Depth, "depth only matters when saturating")
	}
	assert.Equal(t, []int{0, 4, 7}, offsets)
	assert.Equal(t, []int{4, 3, 3}, counts)

	// More processes than connections: one each.
	cfg.Conns, cfg.Procs = 2, 5
	jobs, _, err = Plan(cfg)
	require.NoError(t, err)
	assert.Len(t, jobs, 2)

	// -size replaces the message with a pattern; saturating keeps -depth.
	cfg = planConfig(3, "127.0.0.2")
	cfg.Size, cfg.Interval, cfg.Depth, cfg.Loops = 30, 0, 4, 8
	jobs, _, err = Plan(cfg)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	assert.Equal(t, "abcdefghijklmnopqrstuvwxyzabcd", string(jobs[0].Msg))
	assert.Equal(t, 4, jobs[0].Depth)
	assert.Equal(t, 3, jobs[0].Loops, "no more loops than connections")
}
