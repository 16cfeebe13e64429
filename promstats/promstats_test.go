package promstats

import (
	"strings"
	"testing"

	"c1m/core"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func snapshot() core.Snapshot {
	return core.Snapshot{Engine: core.EngineUring, Strategy: core.StrategyRings, Procs: 1, Tables: 2, Conns: 7, Accepted: 9,
		UringRecv: core.RecvSingle, UringTaskrun: core.TaskrunDefer,
		CloseReasons: map[string]uint64{"eof": 1, "reset": 1, "a_reason_added_later": 3},
		AcceptErrors: map[string]uint64{"emfile": 2},
		Workers:      []core.WorkerSnapshot{{ID: 0, Conns: 3, Reads: 10}, {ID: 1, Conns: 4, Reads: 20}}}
}

// The collector turns one snapshot into metrics: the gauge, the totals,
// one series per close reason (a reason the snapshot gains appears with
// no change here), per-loop series and the info metric.
func TestCollectorExportsTheSnapshot(t *testing.T) {
	t.Parallel()
	calls := 0
	c := NewCollector(func() core.Snapshot { calls++; return snapshot() })
	want := `
# HELP c1m_open_connections Connections held now (/stats' conns).
# TYPE c1m_open_connections gauge
c1m_open_connections 7
# HELP c1m_closed_total Connections closed, by reason (/stats' close_reasons).
# TYPE c1m_closed_total counter
c1m_closed_total{reason="a_reason_added_later"} 3
c1m_closed_total{reason="eof"} 1
c1m_closed_total{reason="reset"} 1
# HELP c1m_loop_reads_total Reads of a loop.
# TYPE c1m_loop_reads_total counter
c1m_loop_reads_total{loop="0"} 10
c1m_loop_reads_total{loop="1"} 20
# HELP c1m_server_info The engine and modes the server runs with (always 1).
# TYPE c1m_server_info gauge
c1m_server_info{dispatch="",engine="uring",strategy="rings",trigger="",uring_recv="single",uring_taskrun="defer"} 1
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want),
		"c1m_open_connections", "c1m_closed_total", "c1m_loop_reads_total", "c1m_server_info"))
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c)) // Describe collects once
	calls = 0
	_, err := reg.Gather()
	require.NoError(t, err, "a pedantic registry accepts every metric")
	assert.Equal(t, 1, calls, "one snapshot per scrape")
	var problems []promlint.Problem
	problems, err = testutil.CollectAndLint(c)
	require.NoError(t, err)
	assert.Empty(t, problems, "metric names and help follow Prometheus' conventions")
}
