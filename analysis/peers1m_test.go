package analysis

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loadExp14 writes a small experiment 14: the core and gnet hold 1M in
// both workloads; netgo's idle arm stopped short (its client result and
// server log say why) and its keepalive arm has no row.
func loadExp14(t *testing.T) []Experiment {
	t.Helper()
	dir := t.TempDir()
	var arms []string
	for _, s := range []string{"core", "gnet", "netgo"} {
		for _, w := range []string{"idle-1m", "keepalive-1m"} {
			arms = append(arms, `{"name": "`+s+"."+w+`", "client_flags": ["-conns", "1000000", "-ports", "20"],
				"role": {"server": "`+s+`", "workload": "`+strings.TrimSuffix(w, "-1m")+`"}}`)
		}
	}
	writeFile(t, filepath.Join(dir, "exp-14/meta.json"), `{"id": "exp-14", "number": 14, "title": "Peers at a million", "repeats": 1,
		"feeds": ["peers-at-million"], "env": {"cpus": 2}, "arms": [`+strings.Join(arms, ", ")+`],
		"server_problems": [{"arm": "netgo.keepalive-1m", "rep": 1, "line": "c1m-peer-netgo: child 7 (pid 4242) exited: signal: killed"}],
		"metrics": [{"name": "server_user_bytes_per_conn", "unit": "B"}, {"name": "server_user_bytes_per_conn_hold", "unit": "B"}, {"name": "server_cpu_us_per_msg", "unit": "µs"}]}`)
	writeFile(t, filepath.Join(dir, "exp-14/summary.csv"),
		"arm,rep,interval_s,conns,server_ramp_s,server_user_bytes_per_conn,server_user_bytes_per_conn_hold,kernel_bytes_per_conn,server_cpu_us_per_msg,host_cpu_us_per_msg,echo_share,rtt_p50_us,rtt_p99_us,rtt_p999_us,mismatched,timeouts\n"+
			"core.idle-1m,1,60,1000000,18,14,16,9300,20,33,0.998,150,45000,90000,0,0\n"+
			"gnet.idle-1m,1,60,1000000,40,520,600,9400,30,40,0.999,160,40000,80000,0,0\n"+
			"netgo.idle-1m,1,60,612345,,4200,,9900,,,,,,,0,0\n"+
			"core.keepalive-1m,1,30,1000000,17,12,15,9300,15,27,0.999,200,145000,300000,0,0\n"+
			"gnet.keepalive-1m,1,30,1000000,41,510,590,9400,12,30,1.0,210,100000,200000,0,2\n")
	// Samples: the machine, the idle server, the ramp, the hold (memory
	// still growing as connections read), the close.
	writeFile(t, filepath.Join(dir, "exp-14/samples-core.idle-1m-r1.csv"), "t_s,conns_server,server_pss\n"+
		"0,0,\n1,0,10000000\n10,500000,17000000\n20,1000000,24000000\n80,1000000,26000000\n90,0,26000000\n")
	writeFile(t, filepath.Join(dir, "exp-14/samples-gnet.idle-1m-r1.csv"), "t_s,conns_server,server_pss\n"+
		"0,0,\n1,0,500000000\n40,1000000,1020000000\n100,995000,1100000000\n110,1000,1100000000\n")
	writeFile(t, filepath.Join(dir, "exp-14/client-netgo.idle-1m-r1.json"),
		`{"ended": "interrupted", "established": 612400, "ramp_seconds": 290, "hold_seconds": 0, "wall_seconds": 291.5, "failed": {"ETIMEDOUT": 12}}`)
	exps, err := Load(dir)
	require.NoError(t, err)
	return exps
}

func TestPeersAtMillion(t *testing.T) {
	t.Parallel()
	v := peersAtMillion(loadExp14(t), nil)
	require.Len(t, v.Table.Rows, 3)
	assert.Equal(t, "held (60 s / 30 s)", v.Table.Header[1])
	assert.Equal(t, []string{"**core**", "1,000,000 / 1,000,000", "17.5 s [17–18] (n=2)", "14 B → 16 B", "9,300 B", "15 µs", "27 µs",
		"99.8% / 99.9%", "200 µs / 145 ms / 300 ms", "0 / 0"}, v.Table.Rows[0])
	assert.Equal(t, "0 / 2", v.Table.Rows[1][9], "gnet's timeouts, both arms summed")
	netgo := v.Table.Rows[2]
	assert.Equal(t, "612,345 (short) / –", netgo[1], "netgo keeps its row with what it reached")
	assert.Equal(t, "4,200 B → –", netgo[3], "no samples, no hold figure")
	assert.Equal(t, "520 B → 600 B", v.Table.Rows[1][3])
	assert.Equal(t, "–", netgo[5])

	text := strings.Join(v.Lines, "\n")
	assert.Contains(t, text, "From [Experiment 14: Peers at a million](#experiment-14-peers-at-a-million)")
	// Only servers that held every connection compete.
	assert.Contains(t, text, "Cheapest in user memory per idle connection at the end of the hold among the servers that held every connection: **core** (16 B); next gnet (600 B, 37.5× as much).")
	assert.Contains(t, text, "Cheapest in server CPU per keepalive among the servers that held every connection: **gnet** (12 µs); next core (15 µs, 1.25× as much).")
	assert.Contains(t, text, "**netgo.idle-1m** held at most 612,345 of 1,000,000 connections: the arm's time limit stopped the client 292 s after its start, "+
		"its ramp unfinished at 612,400 established (failed connects: ETIMEDOUT 12).")
	assert.Contains(t, text, "**netgo.keepalive-1m** has no result (the run ended before or during it): its server log ends with "+
		"`c1m-peer-netgo: child 7 (pid 4242) exited: signal: killed`.")
	assert.NotContains(t, text, "core.idle-1m**", "an arm that held 1M needs no explanation")
	assert.Nil(t, v.Figure, "no experiment view, no figure")
}

func TestPeersAtMillionNotMeasured(t *testing.T) {
	t.Parallel()
	v := peersAtMillion(nil, nil)
	assert.Empty(t, v.Table.Markdown())
	require.Len(t, v.Lines, 1)
	assert.Contains(t, v.Lines[0], `not measured yet (no experiment in the results declares that it feeds "peers-at-million")`)
}

// The summary shows the experiment's figure of ratios to the core.
func TestPeersAtMillionFigure(t *testing.T) {
	t.Parallel()
	views := []experimentView{{Heading: "Experiment 14: Peers at a million", Figures: []figureView{
		{Kind: "bars", Title: "bars", PNG: "results/exp-14/fig-bars-echo_share.png"},
		{Kind: "ratios", Title: "ratios", PNG: "results/exp-14/fig-ratios-core.png"},
	}}}
	v := peersAtMillion(loadExp14(t), views)
	require.NotNil(t, v.Figure)
	assert.Equal(t, "ratios", v.Figure.Title)
}
