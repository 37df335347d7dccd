// Package ratelimit provides the per-key token buckets behind groupsd's
// rate limits: Local keeps them in process (each replica limits on its
// own), Redis keeps them in one Redis shared by every replica and falls
// back to a Local one while Redis is unreachable.
package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: PerSecond tokens refill each second, up to Burst.
// Each request takes one token.
type Limit struct {
	PerSecond float64
	Burst     int
}

// Result is the outcome of one Take.
type Result struct {
	// Allowed says whether the request may proceed.
	Allowed bool
	// Remaining is the number of whole tokens left after this request.
	Remaining int
	// Reset is how long until the bucket is full again.
	Reset time.Duration
	// RetryAfter is how long until the next token, when !Allowed.
	RetryAfter time.Duration
}

// Limiter takes one token from a key's bucket. Implementations never fail a
// request for their own troubles: they decide, fail open if they must, and
// report the trouble elsewhere.
type Limiter interface {
	Take(ctx context.Context, key string, l Limit) Result
}

// result derives a Result from the tokens left after a take.
func result(allowed bool, tokens float64, l Limit) Result {
	r := Result{Allowed: allowed, Remaining: max(0, int(math.Floor(tokens)))}
	if missing := float64(l.Burst) - tokens; missing > 0 {
		r.Reset = seconds(missing / l.PerSecond)
	}
	if !allowed {
		r.RetryAfter = seconds((1 - tokens) / l.PerSecond)
	}
	return r
}

func seconds(s float64) time.Duration { return time.Duration(math.Ceil(s * float64(time.Second))) }

// Local keeps one bucket per key in this process.
type Local struct {
	now func() time.Time

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
}

// NewLocal returns an in-process limiter on clock now (time.Now when nil).
func NewLocal(now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	return &Local{now: now, buckets: map[string]*rate.Limiter{}}
}

// sweepAbove is the number of buckets above which full (idle) ones are
// dropped, at most once a minute: a full bucket is what a new one would be.
const sweepAbove = 10000

// Take implements Limiter.
func (l *Local) Take(_ context.Context, key string, lim Limit) Result {
	now := l.now()
	l.mu.Lock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) > sweepAbove && now.Sub(l.lastSweep) > time.Minute {
			l.sweep(now)
		}
		b = rate.NewLimiter(rate.Limit(lim.PerSecond), lim.Burst)
		l.buckets[key] = b
	}
	l.mu.Unlock()
	// An override changed since the bucket was made: apply it from now on.
	if b.Limit() != rate.Limit(lim.PerSecond) {
		b.SetLimitAt(now, rate.Limit(lim.PerSecond))
	}
	if b.Burst() != lim.Burst {
		b.SetBurstAt(now, lim.Burst)
	}
	ok := b.AllowN(now, 1)
	return result(ok, b.TokensAt(now), lim)
}

func (l *Local) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(b.Burst()) {
			delete(l.buckets, k)
		}
	}
}
