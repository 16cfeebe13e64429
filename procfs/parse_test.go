package procfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The files in testdata/ were captured on the project machine (Linux 6.18);
// the expected numbers below are copied from them.

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}

func TestParseKeyValues(t *testing.T) {
	t.Parallel()
	v := parseKeyValues("MemFree:   10 kB\nHugePages_Total:  3\nName:\tcat\nUid:\t0\t0\t0\t0\nOdd: 5 MB\nno colon 7 kB\nHuge: 18446744073709551615 kB\n")
	assert.Equal(t, map[string]uint64{"MemFree": 10240, "HugePages_Total": 3}, v)
}

func TestParseMeminfo(t *testing.T) {
	t.Parallel()
	m, err := parseMeminfo(readTestdata(t, "meminfo"))
	require.NoError(t, err)
	assert.Equal(t, uint64(24683620*1024), m["MemTotal"])
	assert.Equal(t, uint64(59628*1024), m["Slab"])
	assert.Equal(t, uint64(22168*1024), m["SUnreclaim"])
	assert.Equal(t, uint64(37460*1024), m["SReclaimable"])
	assert.Contains(t, m, "Active(anon)")

	_, err = parseMeminfo("garbage\n")
	assert.Error(t, err)
}

func TestParseSlabinfo(t *testing.T) {
	t.Parallel()
	slabs, err := parseSlabinfo(readTestdata(t, "slabinfo"))
	require.NoError(t, err)
	assert.Len(t, slabs, 232) // 234 lines minus the two header lines
	byName := map[string]Slab{}
	for _, s := range slabs {
		byName[s.Name] = s
	}
	assert.Equal(t, Slab{Name: "TCP", ActiveObjs: 92, NumObjs: 156, ObjSize: 2368, ObjPerSlab: 13,
		PagesPerSlab: 8, ActiveSlabs: 12, NumSlabs: 12}, byName["TCP"])
	assert.Equal(t, 12*8*pageSize, byName["TCP"].Bytes())
	assert.Equal(t, 995*pageSize, byName["dentry"].Bytes())

	sums := SlabBytes(slabs, SocketCaches)
	assert.Len(t, sums, len(SocketCaches), "every requested cache has a column")
	assert.Equal(t, 12*8*pageSize, sums["TCP"])
	assert.Zero(t, sums["eventpoll_pwq"], "merged into another cache on this kernel")
}

func TestParseSlabinfoTricky(t *testing.T) {
	t.Parallel()
	text := "slabinfo - version: 2.1\n" +
		"# name <active_objs> ...\n" +
		"\n" +
		"kmalloc-64\t 10  20 64 64 1 :  tunables 0 0 0 :slabdata 1 1 0\n" + // tabs; ":slabdata" glued
		"kmalloc-cg-64 10 20 64 64 1 : tunables 0 0 0 : slabdata 1 2 0\n" +
		"kmalloc_buckets 1 1 64 64 1 : tunables 0 0 0 : slabdata 1 1 0\n" +
		"old_style 3 4 100 40 1\n" // no slabdata: Bytes falls back to objects
	slabs, err := parseSlabinfo(text)
	require.NoError(t, err)
	require.Len(t, slabs, 4)
	assert.Zero(t, slabs[0].NumSlabs, "':slabdata' is not the slabdata keyword")
	assert.Equal(t, 20*64, int(slabs[0].Bytes()))
	assert.Equal(t, uint64(4*100), slabs[3].Bytes())

	sums := SlabBytes(slabs, []string{"kmalloc-*", "old_style", "absent"})
	assert.Equal(t, map[string]uint64{"kmalloc-*": 20*64 + 2*pageSize, "old_style": 400, "absent": 0}, sums)

	for name, bad := range map[string]string{
		"version":   "slabinfo - version: 1.1\nfoo 1 1 1 1 1\n",
		"short":     "foo 1 2 3\n",
		"notnumber": "foo 1 2 x 4 5\n",
		"slabdata":  "foo 1 2 3 4 5 : slabdata x 1 0\n",
		"empty":     "slabinfo - version: 2.1\n",
	} {
		_, err := parseSlabinfo(bad)
		assert.Error(t, err, name)
	}
}

func TestParseSockstat(t *testing.T) {
	t.Parallel()
	s, err := parseSockstat(readTestdata(t, "sockstat"))
	require.NoError(t, err)
	assert.Equal(t, Sockstat{SocketsUsed: 11, TCPInUse: 1, TCPTimeWait: 804, TCPAlloc: 1}, s)

	s, err = parseSockstat("sockets: used 2014011\nTCP: inuse 2014002 orphan 3 tw 131072 alloc 2014005 mem 25\nUDP: inuse 0 mem 9\n")
	require.NoError(t, err)
	assert.Equal(t, Sockstat{SocketsUsed: 2014011, TCPInUse: 2014002, TCPOrphan: 3, TCPTimeWait: 131072,
		TCPAlloc: 2014005, TCPMemPages: 25}, s, "UDP mem must not land in TCPMemPages")
	assert.Equal(t, 25*pageSize, s.TCPMemBytes())

	_, err = parseSockstat("TCP: inuse x\n")
	assert.Error(t, err)
	_, err = parseSockstat("")
	assert.Error(t, err)
}

func TestParseSmapsRollupAndStatus(t *testing.T) {
	t.Parallel()
	m := parseSmapsRollup(readTestdata(t, "smaps_rollup"))
	assert.Equal(t, ProcMem{Rss: 1724 << 10, Pss: 503 << 10, PssAnon: 116 << 10, PssFile: 387 << 10,
		SharedClean: 1560 << 10, PrivateClean: 48 << 10, PrivateDirty: 116 << 10, Anonymous: 116 << 10}, m)

	m = parseStatusMem(readTestdata(t, "status"))
	assert.Equal(t, ProcMem{Rss: 1744 << 10, Anonymous: 108 << 10, FromStatus: true}, m)
}

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	user, system, err := parseStatCPU(readTestdata(t, "stat"))
	require.NoError(t, err)
	assert.Equal(t, 150*time.Millisecond, user)
	assert.Equal(t, 40*time.Millisecond, system)

	// A command name may hold spaces and ')' and look like more fields.
	tricky := "42 (a b) 1 2 3 4 5 6 7 8 9 10 11 12 13) S 1 1 1 0 -1 0 0 0 0 0 250 7 0 0 20 0 1 0\n"
	user, system, err = parseStatCPU(tricky)
	require.NoError(t, err)
	assert.Equal(t, 2500*time.Millisecond, user)
	assert.Equal(t, 70*time.Millisecond, system)

	for _, bad := range []string{"", "42 (x S 1 2", "42 (x) S 1 2 3", "42 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 7\n"} {
		_, _, err := parseStatCPU(bad)
		assert.Error(t, err, bad)
	}
}

func TestParseLimits(t *testing.T) {
	t.Parallel()
	limits, err := parseLimits(readTestdata(t, "limits"))
	require.NoError(t, err)
	assert.Len(t, limits, 16)
	assert.Equal(t, Limit{Soft: 20000, Hard: 20000, Unit: "files"}, limits["Max open files"])
	assert.Equal(t, Limit{Soft: 8388608, Hard: Unlimited, Unit: "bytes"}, limits["Max stack size"])
	assert.Equal(t, Limit{Soft: Unlimited, Hard: Unlimited, Unit: "us"}, limits["Max realtime timeout"])
	assert.Equal(t, Limit{}, limits["Max nice priority"], "no unit column")

	_, err = parseLimits("Limit Soft Limit Hard Limit Units\nMax open files lots 20000 files\n")
	assert.Error(t, err)
	_, err = parseLimits("x y\n")
	assert.Error(t, err)
}

func TestParsePortList(t *testing.T) {
	t.Parallel()
	spans, err := ParsePortList("8080,9000-9010\n")
	require.NoError(t, err)
	assert.Equal(t, []PortSpan{{8080, 8080}, {9000, 9010}}, spans)
	assert.Equal(t, 11, spans[1].Len())

	spans, err = ParsePortList("\n")
	require.NoError(t, err)
	assert.Empty(t, spans)

	for _, bad := range []string{"9010-9000", "x", "1-", "70000", "-1", "1-2-3"} {
		_, err := ParsePortList(bad)
		assert.Error(t, err, bad)
	}
}

func TestParseHostCPU(t *testing.T) {
	t.Parallel()
	// user nice system idle iowait irq softirq steal guest guest_nice
	cpu, err := parseHostCPU("cpu  100 20 300 5000 7 1 50 2 40 0\ncpu0 1 2 3 4 5 6 7 8 9 10\nintr 5 1 2\nctxt 123456\nbtime 1\n")
	require.NoError(t, err)
	assert.Equal(t, HostCPU{Busy: (100 + 20 + 300 + 1 + 50 + 2) * 10 * time.Millisecond, User: 1200 * time.Millisecond,
		System: 3 * time.Second, Softirq: 500 * time.Millisecond, Ctxt: 123456}, cpu)

	cpu, err = parseHostCPU("cpu  100 20 300 5000 7 1 50\n")
	require.NoError(t, err, "no ctxt line: the times alone")
	assert.Zero(t, cpu.Ctxt)
	_, err = parseHostCPU("cpu  100 20 300 5000 7 1 50\nctxt x\n")
	require.Error(t, err)

	_, err = parseHostCPU("cpu0 1 2 3 4 5 6 7\n")
	require.Error(t, err, "the first line must be the all-CPU total")
	_, err = parseHostCPU("cpu 1 2 x 4 5 6 7\n")
	require.Error(t, err)
}

func TestParseSwitches(t *testing.T) {
	t.Parallel()
	s, err := parseSwitches(readTestdata(t, "status"))
	require.NoError(t, err)
	assert.Equal(t, Switches{}, s)
	s, err = parseSwitches("Name:\tx\nvoluntary_ctxt_switches:\t17\nnonvoluntary_ctxt_switches:\t4\n")
	require.NoError(t, err)
	assert.Equal(t, Switches{Voluntary: 17, Involuntary: 4}, s)
	assert.Equal(t, uint64(21), s.Total())

	for _, bad := range []string{"", "voluntary_ctxt_switches:\t17\n", "voluntary_ctxt_switches: 1\nnonvoluntary_ctxt_switches: -2\n"} {
		_, err := parseSwitches(bad)
		assert.Error(t, err, bad)
	}
}

func TestParseCPUModel(t *testing.T) {
	t.Parallel()
	model, err := parseCPUModel("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\n")
	require.NoError(t, err)
	assert.Equal(t, "AMD EPYC", model)
	_, err = parseCPUModel("processor\t: 0\nCPU implementer\t: 0x41\n") // arm64 names no model
	assert.Error(t, err)
}
