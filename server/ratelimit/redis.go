package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// takeScript is a token bucket in one atomic step, so replicas sharing the
// bucket never race. It reads the time from Redis, so every replica uses
// one clock; it stores tokens and the time of the last take in a hash that
// expires once the bucket would be full anyway.
//
//	KEYS[1] the bucket; ARGV[1] tokens per second; ARGV[2] burst.
//	Returns {1 if allowed else 0, tokens left as a string}.
var takeScript = redis.NewScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
  ts = now
end
tokens = math.min(tokens, burst)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
-- %.0f keeps every digit of the microseconds; tostring would round them.
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', string.format('%.0f', ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
`)

// RedisOptions configure NewRedis.
type RedisOptions struct {
	// URL is redis://[user:password@]host:port[/db] (or rediss:// for TLS).
	URL string
	// Prefix starts every bucket's key; default "groupsd:ratelimit:".
	Prefix string
	// Timeout bounds each round trip; default 100 ms. A slower Redis is
	// treated as unreachable: requests must not wait on it.
	Timeout time.Duration
	// Retry is how long Redis is left alone after a failure, the Local
	// fallback deciding meanwhile; default 1 s.
	Retry time.Duration
	Log   *slog.Logger
	// OnError, when set, is called once per failed round trip (a metric).
	OnError func()
}

// Redis keeps the buckets in Redis, shared by every replica, with one
// script call per request. While Redis is unreachable it fails open: each
// replica limits on its own with a Local limiter (so a key gets its limit
// once per replica, as without Redis), logs a warning at most every 10 s
// and calls OnError for every failure; no request fails because of Redis.
type Redis struct {
	client   *redis.Client
	opts     RedisOptions
	fallback *Local

	downUntil atomic.Int64 // Unix ns before which Redis is not tried
	logMu     sync.Mutex
	lastLog   time.Time
}

// NewRedis returns a limiter on the Redis at opts.URL. It does not connect:
// a Redis that is down at start is handled like one that fails later.
func NewRedis(opts RedisOptions) (*Redis, error) {
	ro, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("rate limit store: %w", err)
	}
	if opts.Prefix == "" {
		opts.Prefix = "groupsd:ratelimit:"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 100 * time.Millisecond
	}
	if opts.Retry <= 0 {
		opts.Retry = time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout, ro.PoolTimeout = opts.Timeout, opts.Timeout, opts.Timeout, opts.Timeout
	ro.MaxRetries = -1 // a retry would only add latency; the fallback decides instead
	return &Redis{client: redis.NewClient(ro), opts: opts, fallback: NewLocal(nil)}, nil
}

// Close closes the connections to Redis.
func (r *Redis) Close() error { return r.client.Close() }

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.client.Ping(ctx).Err() }

// Take implements Limiter.
func (r *Redis) Take(ctx context.Context, key string, l Limit) Result {
	if time.Now().UnixNano() < r.downUntil.Load() {
		return r.fallback.Take(ctx, key, l)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.Timeout)
	defer cancel()
	v, err := takeScript.Run(ctx, r.client, []string{r.opts.Prefix + key},
		strconv.FormatFloat(l.PerSecond, 'g', -1, 64), l.Burst).Slice()
	var allowed int64
	var tokens float64
	if err == nil {
		err = parseReply(v, &allowed, &tokens)
	}
	if err != nil {
		r.failed(err)
		return r.fallback.Take(ctx, key, l)
	}
	return result(allowed == 1, tokens, l)
}

func parseReply(v []any, allowed *int64, tokens *float64) error {
	if len(v) != 2 {
		return fmt.Errorf("rate limit script returned %d values", len(v))
	}
	a, ok := v[0].(int64)
	s, ok2 := v[1].(string)
	if !ok || !ok2 {
		return fmt.Errorf("rate limit script returned %T, %T", v[0], v[1])
	}
	t, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("rate limit script returned tokens %q", s)
	}
	*allowed, *tokens = a, t
	return nil
}

func (r *Redis) failed(err error) {
	now := time.Now()
	r.downUntil.Store(now.Add(r.opts.Retry).UnixNano())
	if r.opts.OnError != nil {
		r.opts.OnError()
	}
	r.logMu.Lock()
	quiet := now.Sub(r.lastLog) < 10*time.Second
	if !quiet {
		r.lastLog = now
	}
	r.logMu.Unlock()
	if !quiet {
		r.opts.Log.Warn("rate limit store unreachable: limiting per replica until it answers (fail open)",
			slog.String("error", err.Error()))
	}
}
