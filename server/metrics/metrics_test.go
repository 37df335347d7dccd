package metrics_test

import (
	"database/sql"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/groupsd/groupsd/server/metrics"
)

// scrape serves m over HTTP and parses the answer with the Prometheus text
// parser, as a Prometheus server would.
func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := expfmt.ResponseFormat(resp.Header); got.FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("Content-Type %q is not the text exposition format", resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return fams
}

// series returns the metrics of family name whose labels include want.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) []*dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		ok := true
		for k, v := range want {
			if got[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

func TestExposition(t *testing.T) {
	m := metrics.New(metrics.Options{
		Build: metrics.Build{Version: "v1.2.3", Revision: "abc123", GoVersion: "go1.99"},
		Pools: func() map[string]sql.DBStats {
			return map[string]sql.DBStats{
				"read":  {MaxOpenConnections: 16, OpenConnections: 3, InUse: 1, Idle: 2, WaitCount: 7, WaitDuration: 1500 * time.Millisecond},
				"write": {MaxOpenConnections: 1, OpenConnections: 1, Idle: 1},
			}
		},
	})
	m.Observe("GET", "/api/v2/groups/:uuid", 200, 20*time.Millisecond)
	m.Observe("GET", "/api/v2/groups/:uuid", 200, 2*time.Second)
	m.Observe("GET", "/api/v2/groups/:uuid", 404, time.Millisecond)
	m.Observe("GET", "", 404, time.Millisecond)
	m.Observe("GET", metrics.Unmatched, 404, time.Millisecond)
	m.Observe("BREW", "", 404, time.Millisecond)
	fams := scrape(t, m)

	t.Run("RequestsByRouteMethodStatus", func(t *testing.T) {
		for _, c := range []struct {
			labels map[string]string
			want   float64
		}{
			{map[string]string{"method": "GET", "route": "/api/v2/groups/:uuid", "status": "200"}, 2},
			{map[string]string{"method": "GET", "route": "/api/v2/groups/:uuid", "status": "404"}, 1},
			{map[string]string{"method": "GET", "route": "unmatched", "status": "404"}, 2},
			{map[string]string{"method": "OTHER", "route": "unmatched", "status": "404"}, 1},
		} {
			s := series(fams, "groupsd_http_requests_total", c.labels)
			if len(s) != 1 || s[0].GetCounter().GetValue() != c.want {
				t.Errorf("groupsd_http_requests_total%v = %v, want one series of %v", c.labels, s, c.want)
			}
		}
		if got, want := len(fams["groupsd_http_requests_total"].Metric), 4; got != want {
			t.Errorf("%d request series, want %d: unknown methods and unmatched routes must collapse", got, want)
		}
	})

	t.Run("LatencyHistogram", func(t *testing.T) {
		f := fams["groupsd_http_request_duration_seconds"]
		if f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
			t.Fatalf("groupsd_http_request_duration_seconds missing or not a histogram: %v", f)
		}
		s := series(fams, "groupsd_http_request_duration_seconds", map[string]string{"method": "GET", "route": "/api/v2/groups/:uuid", "status": "200"})
		if len(s) != 1 {
			t.Fatalf("want one series, got %v", s)
		}
		h := s[0].GetHistogram()
		if h.GetSampleCount() != 2 || h.GetSampleSum() < 2.02 || h.GetSampleSum() > 2.0201 {
			t.Errorf("count %d sum %v, want 2 and 2.02", h.GetSampleCount(), h.GetSampleSum())
		}
		for _, b := range h.Bucket {
			want := uint64(0)
			if b.GetUpperBound() >= 0.02 {
				want = 1
			}
			if b.GetUpperBound() >= 2 {
				want = 2
			}
			if b.GetCumulativeCount() != want {
				t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
			}
		}
	})

	t.Run("BuildInfo", func(t *testing.T) {
		s := series(fams, "groupsd_build_info", map[string]string{"version": "v1.2.3", "revision": "abc123", "goversion": "go1.99"})
		if len(s) != 1 || s[0].GetGauge().GetValue() != 1 {
			t.Fatalf("groupsd_build_info = %v", fams["groupsd_build_info"])
		}
	})

	t.Run("PoolStats", func(t *testing.T) {
		for _, c := range []struct {
			name, pool string
			want       float64
		}{
			{"go_sql_max_open_connections", "read", 16},
			{"go_sql_open_connections", "read", 3},
			{"go_sql_in_use_connections", "read", 1},
			{"go_sql_idle_connections", "read", 2},
			{"go_sql_wait_count_total", "read", 7},
			{"go_sql_wait_duration_seconds_total", "read", 1.5},
			{"go_sql_max_open_connections", "write", 1},
			{"go_sql_max_idle_closed_total", "write", 0},
			{"go_sql_max_idle_time_closed_total", "write", 0},
			{"go_sql_max_lifetime_closed_total", "write", 0},
		} {
			s := series(fams, c.name, map[string]string{"db_name": c.pool})
			if len(s) != 1 {
				t.Errorf("%s{db_name=%q}: %d series", c.name, c.pool, len(s))
				continue
			}
			got := s[0].GetGauge().GetValue() + s[0].GetCounter().GetValue()
			if got != c.want {
				t.Errorf("%s{db_name=%q} = %v, want %v", c.name, c.pool, got, c.want)
			}
		}
	})

	t.Run("RuntimeAndProcess", func(t *testing.T) {
		want := []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds"}
		if runtime.GOOS == "linux" {
			want = append(want, "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds")
		}
		for _, name := range want {
			if fams[name] == nil {
				t.Errorf("%s missing", name)
			}
		}
	})
}

func TestNoPoolsNoPoolMetrics(t *testing.T) {
	fams := scrape(t, metrics.New(metrics.Options{}))
	if fams["go_sql_open_connections"] != nil {
		t.Fatal("pool metrics without a pool")
	}
	if fams["groupsd_build_info"] == nil {
		t.Fatal("build info missing")
	}
}
