package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector turns database/sql pool statistics into metrics. The names
// match the go_sql_* family other Go services export, so existing dashboards
// apply; db_name tells the pools apart.
type poolCollector struct {
	stats PoolStats

	maxOpen, open, inUse, idle                                    *prometheus.Desc
	waitCount, waitDuration, idleClosed, idleTimeClosed, ltClosed *prometheus.Desc
}

func newPoolCollector(stats PoolStats) *poolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("go_sql_"+name, help, []string{"db_name"}, nil)
	}
	return &poolCollector{
		stats:          stats,
		maxOpen:        d("max_open_connections", "Maximum number of open connections allowed in the pool."),
		open:           d("open_connections", "Connections open in the pool, in use or idle."),
		inUse:          d("in_use_connections", "Connections currently in use."),
		idle:           d("idle_connections", "Idle connections."),
		waitCount:      d("wait_count_total", "Times a query waited for a free connection."),
		waitDuration:   d("wait_duration_seconds_total", "Total time queries waited for a free connection."),
		idleClosed:     d("max_idle_closed_total", "Connections closed because the pool had enough idle ones."),
		idleTimeClosed: d("max_idle_time_closed_total", "Connections closed after staying idle too long."),
		ltClosed:       d("max_lifetime_closed_total", "Connections closed at the end of their lifetime."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.maxOpen, c.open, c.inUse, c.idle,
		c.waitCount, c.waitDuration, c.idleClosed, c.idleTimeClosed, c.ltClosed} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for name, s := range c.stats() {
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, name)
		}
		counter := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, name)
		}
		gauge(c.maxOpen, float64(s.MaxOpenConnections))
		gauge(c.open, float64(s.OpenConnections))
		gauge(c.inUse, float64(s.InUse))
		gauge(c.idle, float64(s.Idle))
		counter(c.waitCount, float64(s.WaitCount))
		counter(c.waitDuration, s.WaitDuration.Seconds())
		counter(c.idleClosed, float64(s.MaxIdleClosed))
		counter(c.idleTimeClosed, float64(s.MaxIdleTimeClosed))
		counter(c.ltClosed, float64(s.MaxLifetimeClosed))
	}
}
