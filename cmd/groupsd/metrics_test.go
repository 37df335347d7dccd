package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	promodel "github.com/prometheus/common/model"
)

// opsScrape fetches /metrics without credentials and parses it with the
// Prometheus text parser.
func opsScrape(t testing.TB, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, b := opsDo(t, "GET", base+"/metrics", "")
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	if f := expfmt.ResponseFormat(resp.Header); f.FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("/metrics Content-Type %q", resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(promodel.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

func opsLabels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.Label {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// opsMetricValue sums the counter or gauge values of family name over the
// series whose labels include want, and counts those series.
func opsMetricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (sum float64, n int) {
	f := fams[name]
	if f == nil {
		return 0, 0
	}
	for _, m := range f.Metric {
		l := opsLabels(m)
		ok := true
		for k, v := range want {
			ok = ok && l[k] == v
		}
		if ok {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			n++
		}
	}
	return sum, n
}

// TestMetricsEndpoint scrapes groupsd, API keys required: /metrics
// is public, counts requests by route template (raw paths and ids never
// become label values), and exports pool stats, build info and the Go and
// process collectors.
func TestMetricsEndpoint(t *testing.T) {
	cfg := testConfig(t)
	cfg.DBMaxConns = 3
	key := createKey(t, cfg.Database, "acme")
	p := startServer(t, cfg)
	auth := []string{"Authorization", "Bearer " + key}

	var ids []string
	for i := range 3 {
		resp, b := opsDo(t, "POST", p.URL+"/api/v2/groups", fmt.Sprintf(`{"name":"m%d"}`, i), append(auth, "Content-Type", "application/json")...)
		if resp.StatusCode != 201 {
			t.Fatalf("create: %d %s", resp.StatusCode, b)
		}
		var g struct{ UUID string }
		_ = json.Unmarshal(b, &g)
		ids = append(ids, g.UUID)
	}
	for _, id := range ids {
		if resp, _ := opsDo(t, "GET", p.URL+"/api/v2/groups/"+id, "", auth...); resp.StatusCode != 200 {
			t.Fatalf("get: %d", resp.StatusCode)
		}
		if resp, _ := opsDo(t, "GET", p.URL+"/probe/"+id, ""); resp.StatusCode != 404 {
			t.Fatalf("unknown path: %d", resp.StatusCode)
		}
	}
	if resp, _ := opsDo(t, "GET", p.URL+"/api/v2/groups", ""); resp.StatusCode != 401 {
		t.Fatalf("anonymous list: %d", resp.StatusCode)
	}
	if resp, _ := opsDo(t, "BREW", p.URL+"/api/v2/groups", "", auth...); resp.StatusCode != 405 {
		t.Fatalf("BREW: %d", resp.StatusCode)
	}

	fams := opsScrape(t, p.URL)

	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"method": "POST", "route": "/api/v2/groups", "status": "201"}, 3},
		{map[string]string{"method": "GET", "route": "/api/v2/groups/:uuid", "status": "200"}, 3},
		{map[string]string{"method": "GET", "route": "unmatched", "status": "404"}, 3},
		{map[string]string{"method": "GET", "route": "/api/v2/groups", "status": "401"}, 1},
		{map[string]string{"method": "OTHER", "route": "/api/v2/groups", "status": "405"}, 1},
	} {
		if got, n := opsMetricValue(fams, "groupsd_http_requests_total", c.labels); n != 1 || got != c.want {
			t.Errorf("groupsd_http_requests_total%v = %v over %d series, want %v in one", c.labels, got, n, c.want)
		}
	}
	h := fams["groupsd_http_request_duration_seconds"]
	if h == nil || h.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("no latency histogram")
	}
	for _, m := range h.Metric {
		if l := opsLabels(m); l["route"] == "/api/v2/groups/:uuid" && l["status"] == "200" && m.GetHistogram().GetSampleCount() != 3 {
			t.Errorf("latency histogram count %d, want 3", m.GetHistogram().GetSampleCount())
		}
	}
	// Bounded cardinality: no label value anywhere holds an id or a raw path.
	for name, f := range fams {
		for _, m := range f.Metric {
			for k, v := range opsLabels(m) {
				for _, id := range ids {
					if strings.Contains(v, id) {
						t.Errorf("%s{%s=%q} holds a group id", name, k, v)
					}
				}
				if strings.Contains(v, "/probe") {
					t.Errorf("%s{%s=%q} holds a raw path", name, k, v)
				}
			}
		}
	}

	for _, c := range []struct {
		name, pool string
		want       float64
	}{
		{"go_sql_max_open_connections", "read", 3},
		{"go_sql_max_open_connections", "write", 1},
	} {
		if got, n := opsMetricValue(fams, c.name, map[string]string{"db_name": c.pool}); n != 1 || got != c.want {
			t.Errorf("%s{db_name=%q} = %v (%d series), want %v", c.name, c.pool, got, n, c.want)
		}
	}
	for _, name := range []string{"go_sql_open_connections", "go_sql_in_use_connections", "go_sql_idle_connections",
		"go_sql_wait_count_total", "go_sql_wait_duration_seconds_total",
		"go_goroutines", "go_memstats_alloc_bytes", "process_resident_memory_bytes", "process_start_time_seconds",
		"groupsd_build_info"} {
		if fams[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
}

// TestPublicOperationalEndpoints: with API keys required, the endpoints an
// operator's tools call (probes, scraper, docs page, spec) answer without
// credentials, while the API itself does not.
func TestPublicOperationalEndpoints(t *testing.T) {
	p := startServer(t, testConfig(t))
	for path, ct := range map[string]string{
		"/healthz":                    "application/json",
		"/readyz":                     "application/json",
		"/metrics":                    "text/plain",
		"/docs":                       "text/html",
		"/docs/assets/swagger-ui.css": "text/css",
		"/openapi.json":               "application/json",
	} {
		resp, b := opsDo(t, "GET", p.URL+path, "")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ct) || len(b) == 0 {
			t.Errorf("GET %s without credentials: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/api/v2/groups", "/v2/groups"} {
		if resp, _ := opsDo(t, "GET", p.URL+path, ""); resp.StatusCode != 401 {
			t.Errorf("GET %s without credentials: %d, want 401", path, resp.StatusCode)
		}
	}
}
