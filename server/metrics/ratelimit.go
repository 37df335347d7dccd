package metrics

import "github.com/prometheus/client_golang/prometheus"

// RateLimitStoreErrors returns the function that counts a failed round
// trip to the shared rate limit store (groupsd_rate_limit_store_errors_total):
// each one is a request decided by the replica's own limiter instead.
func (m *Metrics) RateLimitStoreErrors() func() {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "groupsd_rate_limit_store_errors_total",
		Help: "Round trips to the shared rate limit store (Redis) that failed; requests were limited per replica instead (fail open).",
	})
	m.reg.MustRegister(c)
	return c.Inc
}
