// Package metrics exposes groupsd's Prometheus metrics: HTTP requests by
// route template, database connection pools, build information and the
// standard Go and process collectors, on a registry of its own.
//
// Every label value comes from a closed set (route templates, known
// methods, status codes, pool names), so the number of series stays bounded
// whatever clients send.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where Register serves the metrics.
const Path = "/metrics"

// Unmatched is the route label of requests that matched no route, so
// scanners probing random paths add one series, not one per path.
const Unmatched = "unmatched"

// Build identifies the running binary (groupsd_build_info).
type Build struct {
	Version   string // module version, e.g. v1.2.3 or a pseudo-version
	Revision  string // VCS revision
	GoVersion string // toolchain that built the binary
}

// PoolStats reports database connection pool statistics by pool name (for
// example "read" and "write"). It is called on every scrape.
type PoolStats func() map[string]sql.DBStats

// Options configure New.
type Options struct {
	Build Build
	// Pools, when set, adds the go_sql_* pool metrics labelled db_name.
	Pools PoolStats
}

// Metrics holds the registry and the collectors the server feeds.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// durationBuckets span a fast SQLite read (about a millisecond) up to the
// default request timeout (10 s) and beyond, for slow shutdown drains.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New returns a Metrics with every collector registered.
func New(opts Options) *Metrics {
	labels := []string{"method", "route", "status"}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "groupsd_http_requests_total",
			Help: "HTTP requests answered, by method, route template and status code.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "groupsd_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method, route template and status code.",
			Buckets: durationBuckets,
		}, labels),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "groupsd_build_info",
		Help: "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{
			"version":   opts.Build.Version,
			"revision":  opts.Build.Revision,
			"goversion": opts.Build.GoVersion,
		},
	})
	build.Set(1)
	m.reg.MustRegister(m.requests, m.duration, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if opts.Pools != nil {
		m.reg.MustRegister(newPoolCollector(opts.Pools))
	}
	return m
}

// Observe records one answered request. route must be the route template
// (Echo's c.Path()), never the raw path; "" counts as Unmatched.
func (m *Metrics) Observe(method, route string, status int, d time.Duration) {
	if route == "" {
		route = Unmatched
	}
	l := prometheus.Labels{"method": methodLabel(method), "route": route, "status": strconv.Itoa(status)}
	m.requests.With(l).Inc()
	m.duration.With(l).Observe(d.Seconds())
}

// methodLabel keeps the method label to the standard methods: any other
// token a client invents becomes "OTHER".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// Gatherer returns the registry, for tests and for pushing elsewhere.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Register mounts GET Path on e. It adds no authentication: like /healthz,
// the metrics carry no tenant data and scrapers expect them open.
func (m *Metrics) Register(e *echo.Echo) {
	e.GET(Path, echo.WrapHandler(m.Handler()))
}
