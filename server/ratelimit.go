package server

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server/ratelimit"
)

// DefaultRateLimit is the limit of a key without its own: 100 requests per
// second sustained, bursts of 200.
var DefaultRateLimit = ratelimit.Limit{PerSecond: 100, Burst: 200}

// limitRate takes a token from the principal's bucket and writes the
// RateLimit-Policy and RateLimit fields (IETF draft "RateLimit header fields
// for HTTP", draft-ietf-httpapi-ratelimit-headers-09) on the response, or
// answers 429 when the bucket is empty. It runs only for authenticated API
// requests: health, readiness, metrics and docs are never limited.
func (s *Server) limitRate(c echo.Context, p Principal) error {
	if s.limiter == nil || p.KeyID == "" {
		return nil
	}
	lim := s.cfg.RateLimit
	if p.RateLimit != nil {
		lim = ratelimit.Limit{PerSecond: p.RateLimit.PerSecond, Burst: p.RateLimit.Burst}
	}
	res := s.limiter.Take(c.Request().Context(), p.KeyID, lim)
	h := c.Response().Header()
	h.Set("RateLimit-Policy", rateLimitPolicy(lim))
	h.Set("RateLimit", `"key";r=`+strconv.Itoa(res.Remaining)+`;t=`+strconv.FormatInt(ceilSeconds(res.Reset), 10))
	if res.Allowed {
		return nil
	}
	retry := max(1, ceilSeconds(res.RetryAfter))
	return &apiError{status: http.StatusTooManyRequests, code: api.RATELIMITED,
		detail:  "this API key exceeded its rate limit of " + strconv.FormatFloat(lim.PerSecond, 'g', -1, 64) + " requests per second (bursts of " + strconv.Itoa(lim.Burst) + "); retry after " + strconv.FormatInt(retry, 10) + " s",
		headers: map[string]string{"Retry-After": strconv.FormatInt(retry, 10)}}
}

// rateLimitPolicy states a token bucket as a quota policy: the quota is the
// burst, and the window the time an empty bucket takes to refill.
func rateLimitPolicy(l ratelimit.Limit) string {
	w := max(1, int64(math.Ceil(float64(l.Burst)/l.PerSecond)))
	return `"key";q=` + strconv.Itoa(l.Burst) + `;w=` + strconv.FormatInt(w, 10)
}

func ceilSeconds(d time.Duration) int64 {
	return int64(math.Ceil(d.Seconds()))
}
