package limits

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"c1m/core"
	"c1m/procfs"
)

const fakePid = 4242

// fakeFiles is a machine like this one, with a few overrides per test:
// path below the root → content.
func fakeFiles(overrides map[string]string) map[string]string {
	files := map[string]string{
		"proc/4242/limits": "Limit                     Soft Limit           Hard Limit           Units     \n" +
			"Max processes             96364                96364                processes \n" +
			"Max open files            20000                20000                files     \n",
		"proc/4242/status":                             "Name:\tc1m-limits\nCapEff:\t000001fffeffffff\n",
		"proc/meminfo":                                 "MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\n",
		"proc/sys/fs/nr_open":                          "1048576\n",
		"proc/sys/fs/file-max":                         "2466160\n",
		"proc/sys/fs/file-nr":                          "1160\t0\t2466160\n",
		"proc/sys/net/ipv4/ip_local_port_range":        "32768\t60999\n",
		"proc/sys/net/ipv4/ip_local_reserved_ports":    "\n",
		"proc/sys/net/core/somaxconn":                  "4096\n",
		"proc/sys/net/ipv4/tcp_max_syn_backlog":        "2048\n",
		"proc/sys/net/ipv4/tcp_mem":                    "287898\t383865\t575796\n",
		"proc/sys/net/ipv4/tcp_max_orphans":            "131072\n",
		"proc/sys/net/ipv4/tcp_max_tw_buckets":         "131072\n",
		"proc/sys/net/core/netdev_max_backlog":         "1000\n",
		"proc/net/softnet_stat":                        "003ece5c 000001b8 00000002\n00353fcb 00000337 00000000\n",
		"proc/sys/kernel/pid_max":                      "32768\n",
		"proc/sys/kernel/threads-max":                  "192729\n",
		"sys/kernel/slab/TCP/object_size":              "2304\n",
		"sys/kernel/slab/sock_inode_cache/object_size": "768\n",
		"sys/kernel/slab/dentry/object_size":           "192\n",
		"sys/kernel/slab/filp/object_size":             "184\n",
		"sys/kernel/slab/eventpoll_epi/object_size":    "120\n",
	}
	maps.Copy(files, overrides)
	for k, v := range files {
		if v == "" { // an empty override removes the file
			delete(files, k)
		}
	}
	return files
}

func fakeRoot(t *testing.T, files map[string]string) procfs.FS {
	t.Helper()
	tree := fstest.MapFS{}
	for path, content := range files {
		tree[path] = &fstest.MapFile{Data: []byte(content), Mode: 0o644}
	}
	root := t.TempDir()
	require.NoError(t, os.CopyFS(root, tree))
	return procfs.New(root)
}

// summaryCSV writes an experiment 1 summary with the given core rows.
func summaryCSV(t *testing.T, rows string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "summary.csv")
	require.NoError(t, os.WriteFile(path, []byte("arm,rep,conns,kernel_bytes_per_conn\n"+rows), 0o644))
	return path
}

func testConfig(results string) Config {
	cfg := DefaultConfig()
	cfg.Pid, cfg.Workers, cfg.Results = fakePid, 2, results
	return cfg
}

func row(t *testing.T, r Report, name string) Row {
	t.Helper()
	for _, row := range r.Rows {
		if row.Name == name {
			return row
		}
	}
	require.Failf(t, "no row", "%s not in the table", name)
	return Row{}
}

// The machine of this project: a 20,000 hard RLIMIT_NOFILE without
// CAP_SYS_RESOURCE, and the original's single source and port.
func TestComputeBindingNofileAndPorts(t *testing.T) {
	t.Parallel()
	fs := fakeRoot(t, fakeFiles(nil))
	cfg := testConfig(summaryCSV(t, "core,1,1000000,9600\nholder,1,1000000,10000\n"))
	cfg.Src, cfg.Ports, cfg.Conns = "127.0.0.2", 1, 100_000
	r, err := Compute(fs, cfg)
	require.NoError(t, err)

	hard := row(t, r, "RLIMIT_NOFILE hard")
	assert.Equal(t, int64(20000-FDReserve), hard.Allows)
	assert.True(t, hard.Binds)
	assert.Equal(t, KindProcess, hard.Kind)
	assert.Contains(t, hard.Lift, "cannot be lifted: no CAP_SYS_RESOURCE")
	assert.Contains(t, hard.Lift, "fdtables")

	ports := row(t, r, "net.ipv4.ip_local_port_range")
	assert.Equal(t, int64(28232), ports.Allows, "one source × one port × the default range")
	assert.True(t, ports.Binds)
	assert.Equal(t, &Setting{"net.ipv4.ip_local_port_range", "1024 65535"}, ports.Tune)
	assert.Contains(t, ports.Lift, "-src, at least 4")

	assert.Equal(t, int64(28232), r.MaxConns, "the ports bind before anything else that caps the count")
	assert.Equal(t, "net.ipv4.ip_local_port_range", r.BoundBy)
	assert.Equal(t, "RLIMIT_NOFILE hard", r.BindsFirst, "the per-process cap comes first")
	assert.Equal(t, core.StrategyFDTables, r.Server.Strategy)
	assert.GreaterOrEqual(t, r.Server.Tables*r.Server.PerTable, cfg.Conns)
	assert.Equal(t, 6, r.ClientProcs, "100,000 ÷ 19,872 per client process")

	file := row(t, r, "fs.file-max")
	assert.Equal(t, int64((2466160-1160)/2), file.Allows, "two fds per loopback connection")
	assert.False(t, file.Binds)
	assert.Nil(t, file.Tune)

	assert.Equal(t, -int64(1), row(t, r, "net.core.somaxconn").Allows, "a ramp limit caps no count")
	assert.True(t, row(t, r, "net.core.somaxconn").Binds)
	mem := row(t, r, "net.ipv4.tcp_mem")
	assert.Equal(t, int64(575796/2), mem.Allows, "one page per socket with data, two sockets")
	assert.Equal(t, KindData, mem.Kind)
	assert.False(t, mem.Binds, "287,898 connections may have data queued at once, more than 100,000")
	assert.Equal(t, "287898 383865 575796", mem.Value)
	assert.Contains(t, mem.Note, "experiment 1 found the default max binds at ~1M")

	assert.Equal(t, map[string]string{
		"net.ipv4.ip_local_port_range": "1024 65535",
		"net.core.somaxconn":           "65535",
		"net.ipv4.tcp_max_syn_backlog": "65535",
		"net.core.netdev_max_backlog":  "65536",
	}, r.Tuning())

	summary := strings.Join(r.Summary, "\n")
	assert.Contains(t, summary, "Per-process cap: RLIMIT_NOFILE hard 20,000")
	assert.Contains(t, summary, "strategy=fdtables")
	assert.Contains(t, summary, "Client: 6 process(es)")

	var text bytes.Buffer
	require.NoError(t, r.WriteText(&text))
	assert.Regexp(t, `(?m)^LIMIT +VALUE +ALLOWS +BINDS +LIFT$`, text.String())
	assert.Regexp(t, `(?m)^RLIMIT_NOFILE hard +20,000 +19,872 per process +yes \(per-process\) +cannot be lifted`, text.String())
	b, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"binds_first":"RLIMIT_NOFILE hard"`)
}

// The loopback input backlog caps no count but drops packets in a close
// storm: its row says so, with the drops since boot from softnet_stat, and
// Tune lifts it; a backlog already at the target binds nothing.
func TestComputeNetdevBacklog(t *testing.T) {
	t.Parallel()
	r, err := Compute(fakeRoot(t, fakeFiles(nil)), testConfig(summaryCSV(t, "core,1,1000000,9600\n")))
	require.NoError(t, err)
	b := row(t, r, "net.core.netdev_max_backlog")
	assert.Equal(t, KindTeardown, b.Kind)
	assert.Equal(t, int64(-1), b.Allows, "it caps no count")
	assert.True(t, b.Binds)
	assert.Equal(t, "1,000 (1,263 dropped since boot)", b.Value, "0x1b8 + 0x337 drops over two CPUs")
	assert.Contains(t, b.Note, "close storm")
	assert.Equal(t, &Setting{"net.core.netdev_max_backlog", "65536"}, b.Tune)
	assert.Contains(t, strings.Join(r.Summary, "\n"), "sysctl -w net.core.netdev_max_backlog=65536")
	var text bytes.Buffer
	require.NoError(t, r.WriteText(&text))
	assert.Regexp(t, `(?m)^net.core.netdev_max_backlog +1,000 \(1,263 dropped since boot\) +- \(packets per CPU\) +yes \(teardown\)`, text.String())

	r, err = Compute(fakeRoot(t, fakeFiles(map[string]string{
		"proc/sys/net/core/netdev_max_backlog": "65536\n", "proc/net/softnet_stat": ""})), testConfig(summaryCSV(t, "core,1,1000000,9600\n")))
	require.NoError(t, err, "softnet_stat missing is no error")
	b = row(t, r, "net.core.netdev_max_backlog")
	assert.False(t, b.Binds)
	assert.Nil(t, b.Tune)
	assert.Contains(t, b.Note, "drops since boot unknown")
}

// A million over experiment 1's spread: nothing that caps the count binds,
// tcp_mem is sized for the target as experiment 1 set it.
func TestComputeMillionOverTheSpread(t *testing.T) {
	t.Parallel()
	fs := fakeRoot(t, fakeFiles(nil))
	r, err := Compute(fs, testConfig(summaryCSV(t, "core,1,1000000,9600\n")))
	require.NoError(t, err)
	assert.False(t, row(t, r, "net.ipv4.ip_local_port_range").Binds)
	assert.Equal(t, int64(253*20*28232), r.Spread)
	assert.Equal(t, "1500000 2000000 3000000", r.Tuning()["net.ipv4.tcp_mem"])
	assert.Equal(t, int64(20000000*1024/9600), row(t, r, "MemAvailable").Allows)
	assert.GreaterOrEqual(t, r.MaxConns, int64(1_000_000))
	assert.Equal(t, 51, r.Server.Tables)
	assert.Equal(t, 51, r.ClientProcs)
	assert.Contains(t, strings.Join(r.Summary, "\n"), "the target 1,000,000 fits")
}

func TestComputeRaisableHardLimit(t *testing.T) {
	t.Parallel()
	fs := fakeRoot(t, fakeFiles(map[string]string{
		"proc/4242/status":     "CapEff:\t000001ffffffffff\n",
		"proc/sys/fs/nr_open":  "65536\n",
		"proc/sys/fs/file-max": "100000\n",
	}))
	r, err := Compute(fs, testConfig(""))
	require.NoError(t, err)
	hard := row(t, r, "RLIMIT_NOFILE hard")
	assert.Contains(t, hard.Lift, "prlimit --nofile=1000128:1000128")
	nr := row(t, r, "fs.nr_open")
	assert.True(t, nr.Binds)
	assert.Equal(t, &Setting{"fs.nr_open", "1000448"}, nr.Tune)
	file := row(t, r, "fs.file-max")
	assert.True(t, file.Binds)
	assert.Equal(t, "fs.file-max", r.BoundBy)
	assert.Equal(t, int64((100000-1160)/2), r.MaxConns)
	assert.Equal(t, "2067456", file.Tune.Value, "2 × 1M + in use + margin, rounded up")
}

func TestMemoryMeasuredOrSlabObjectSizes(t *testing.T) {
	t.Parallel()
	fs := fakeRoot(t, fakeFiles(nil))

	measured := summaryCSV(t, "core,1,1000000,9000\ncore,2,1000000,11000\ncore,3,1000000,10000\nholder,1,1000000,50000\ncore,4,10,\n")
	r, err := Compute(fs, testConfig(measured))
	require.NoError(t, err)
	mem := row(t, r, "MemAvailable")
	assert.Equal(t, int64(20000000*1024/10000), mem.Allows, "the median of arm core: 10,000 B")
	assert.Contains(t, r.MemorySource, "measured by experiment 1")

	r, err = Compute(fs, testConfig(filepath.Join(t.TempDir(), "none.csv")))
	require.NoError(t, err)
	perConn := 2 * (2304 + 768 + 192 + 184 + 120)
	assert.Equal(t, int64(20000000*1024/perConn), row(t, r, "MemAvailable").Allows)
	assert.Contains(t, r.MemorySource, "no measurement")
	assert.Contains(t, r.MemorySource, "TCP 2304")

	noEpi := fakeRoot(t, fakeFiles(map[string]string{"sys/kernel/slab/eventpoll_epi/object_size": ""}))
	r, err = Compute(noEpi, testConfig(summaryCSV(t, "holder,1,1000000,9600\n")))
	require.NoError(t, err)
	assert.Contains(t, r.MemorySource, "no kernel_bytes_per_conn for arm core")
	assert.Contains(t, r.MemorySource, "missing: eventpoll_epi")

	noSlab := fakeRoot(t, fakeFiles(map[string]string{
		"sys/kernel/slab/TCP/object_size": "", "sys/kernel/slab/sock_inode_cache/object_size": "",
		"sys/kernel/slab/dentry/object_size": "", "sys/kernel/slab/filp/object_size": "",
		"sys/kernel/slab/eventpoll_epi/object_size": "",
	}))
	r, err = Compute(noSlab, testConfig(""))
	require.NoError(t, err, "the rest of the table stands without a memory figure")
	mem = row(t, r, "MemAvailable")
	assert.Equal(t, KindUnknown, mem.Kind)
	assert.Contains(t, mem.Note, "run make exp-1")
	assert.Equal(t, "fs.file-max", r.BoundBy)
}

func TestConntrackRow(t *testing.T) {
	t.Parallel()
	conntrack := map[string]string{
		"proc/modules": "nf_conntrack 1 0 - Live 0x0\n",
		"proc/sys/net/netfilter/nf_conntrack_max": "262144\n",
	}
	for _, tc := range []struct {
		name, count string
		kind        string
		boundBy     string
	}{
		{"tracking", "5000\n", KindCount, "net.netfilter.nf_conntrack_max"},
		{"loaded but tracking nothing", "0\n", KindTracked, "fs.file-max"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := maps.Clone(conntrack)
			files["proc/sys/net/netfilter/nf_conntrack_count"] = tc.count
			r, err := Compute(fakeRoot(t, fakeFiles(files)), testConfig(""))
			require.NoError(t, err)
			ct := row(t, r, "net.netfilter.nf_conntrack_max")
			assert.Equal(t, tc.kind, ct.Kind)
			assert.True(t, ct.Binds)
			assert.Equal(t, "1065984", r.Tuning()["net.netfilter.nf_conntrack_max"])
			assert.Equal(t, tc.boundBy, r.BoundBy)
		})
	}

	r, err := Compute(fakeRoot(t, fakeFiles(nil)), testConfig(""))
	require.NoError(t, err)
	for _, row := range r.Rows {
		assert.NotEqual(t, "net.netfilter.nf_conntrack_max", row.Name, "no row without the module")
	}
}

func TestComputeErrors(t *testing.T) {
	t.Parallel()
	_, err := Compute(fakeRoot(t, fakeFiles(nil)), Config{Conns: 0})
	assert.ErrorContains(t, err, "-conns 0")
	_, err = Compute(fakeRoot(t, fakeFiles(map[string]string{"proc/4242/limits": ""})), testConfig(""))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = Compute(fakeRoot(t, fakeFiles(map[string]string{"proc/sys/net/ipv4/tcp_mem": "1 2\n"})), testConfig(""))
	assert.ErrorContains(t, err, "want three page counts")
}
