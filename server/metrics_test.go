package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"c1m/core"
	"c1m/statshttp"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// /metrics serves the same counters as /stats in the Prometheus text
// format: the open-connections gauge equals /stats' conns and the
// connections the test holds, on both engines.
func TestMetricsMatchStats(t *testing.T) {
	t.Parallel()
	parallelRuns(t, []string{core.EngineEpoll, core.EngineUring}, testMetricsMatchStats)
}

func testMetricsMatchStats(t *testing.T, engine string) {
	const n = 40
	cfg := testConfig()
	cfg.Engine = engine
	s, addr := startServer(t, cfg)
	cs := dialMany(t, addr, n)
	require.NoError(t, echoAll(cs))
	waitConns(t, s.Snapshot, n)
	ln, err := statshttp.Serve("127.0.0.1:0", s.Snapshot)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	base := "http://" + ln.Addr().String()

	families := scrape(t, base+"/metrics")
	var stats core.Snapshot
	getJSON(t, base+"/stats", &stats)

	open := families["c1m_open_connections"]
	require.NotNil(t, open, "c1m_open_connections is exported")
	assert.Equal(t, dto.MetricType_GAUGE, open.GetType())
	assert.EqualValues(t, n, open.GetMetric()[0].GetGauge().GetValue())
	assert.EqualValues(t, stats.Conns, open.GetMetric()[0].GetGauge().GetValue(), "/metrics and /stats agree")

	assert.EqualValues(t, n, value(families["c1m_accepted_total"], nil))
	assert.GreaterOrEqual(t, value(families["c1m_reads_total"], nil), float64(n), "every connection echoed once")
	info := families["c1m_server_info"].GetMetric()[0]
	assert.Equal(t, engine, label(info, "engine"))
	for reason := range stats.CloseReasons {
		assert.Contains(t, labelValues(families["c1m_closed_total"], "reason"), reason)
	}
	for kind := range stats.AcceptErrors {
		assert.Contains(t, labelValues(families["c1m_accept_events_total"], "kind"), kind)
	}
	var perLoop float64
	for _, m := range families["c1m_loop_open_connections"].GetMetric() {
		perLoop += m.GetGauge().GetValue()
	}
	assert.EqualValues(t, n, perLoop, "the loops' connections add up to the total")
	assert.NotNil(t, families["go_goroutines"], "the Go runtime's metrics are there too")

	// Closing shows as a lower gauge and a higher eof count.
	closeAll(cs[:n/2])
	waitConns(t, s.Snapshot, n/2)
	families = scrape(t, base+"/metrics")
	assert.EqualValues(t, n/2, families["c1m_open_connections"].GetMetric()[0].GetGauge().GetValue())
	assert.EqualValues(t, n/2, value(families["c1m_closed_total"], map[string]string{"reason": "eof"}))
}

// scrape fetches url and parses it as Prometheus text.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return families
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func labelValues(f *dto.MetricFamily, name string) []string {
	var vs []string
	for _, m := range f.GetMetric() {
		vs = append(vs, label(m, name))
	}
	return vs
}

// value is the counter of f whose labels include want.
func value(f *dto.MetricFamily, want map[string]string) float64 {
	for _, m := range f.GetMetric() {
		match := true
		for k, v := range want {
			match = match && label(m, k) == v
		}
		if match {
			return m.GetCounter().GetValue()
		}
	}
	panic(fmt.Sprintf("no %s with %v", f.GetName(), want))
}
