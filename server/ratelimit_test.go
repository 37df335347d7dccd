package server_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/server/ratelimit"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// TestRateLimitHeaders: at 1 request/s with bursts of 2 on a frozen clock,
// the third request is 429 and every header is exact.
func TestRateLimitHeaders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		clk := newFakeClock()
		e, _ := clockEnv(t, d, clk, func(c *server.Config) {
			c.RateLimit = ratelimit.Limit{PerSecond: 1, Burst: 2}
			c.Limiter = ratelimit.NewLocal(clk.Now)
		})
		id := e.addKey("root", "acme", store.Scopes...)
		e.addKey("other", "acme", store.ScopeGroupsRead)
		get := func(key string) (int, string, string, string, []byte) {
			resp, body := e.do("GET", "/api/v2/groups", "", "Authorization", "Bearer "+e.keys[key])
			return resp.StatusCode, resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit"), resp.Header.Get("Retry-After"), body
		}
		for i, want := range []struct {
			status                    int
			policy, limit, retryAfter string
		}{
			{200, `"key";q=2;w=2`, `"key";r=1;t=1`, ""},
			{200, `"key";q=2;w=2`, `"key";r=0;t=2`, ""},
			{429, `"key";q=2;w=2`, `"key";r=0;t=2`, "1"},
		} {
			status, policy, limit, retry, body := get("root")
			if status != want.status || policy != want.policy || limit != want.limit || retry != want.retryAfter {
				t.Fatalf("request %d: %d %q %q Retry-After %q, want %+v; %s", i+1, status, policy, limit, retry, want, body)
			}
		}
		resp, body := e.do("GET", "/api/v2/groups", "", "Authorization", "Bearer "+e.keys["root"])
		p := problem(t, resp, body, 429, api.RATELIMITED)
		if !strings.Contains(p.Detail, "1 requests per second") {
			t.Fatalf("detail %q", p.Detail)
		}
		t.Run("OtherKeysHaveTheirOwnBucket", func(t *testing.T) {
			if status, _, limit, _, _ := get("other"); status != 200 || limit != `"key";r=1;t=1` {
				t.Fatalf("%d %q", status, limit)
			}
		})
		t.Run("RefillsAtTheRate", func(t *testing.T) {
			clk.Add(time.Second)
			if status, _, limit, _, _ := get("root"); status != 200 || limit != `"key";r=0;t=2` {
				t.Fatalf("after 1 s: %d %q", status, limit)
			}
		})
		t.Run("UnlimitedPaths", func(t *testing.T) {
			for _, path := range []string{"/healthz", "/readyz", "/openapi.json"} {
				resp, _ := e.do("GET", path, "", "Authorization", "Bearer "+e.keys["root"])
				if resp.StatusCode != 200 || resp.Header.Get("RateLimit") != "" {
					t.Fatalf("%s: %d, RateLimit %q", path, resp.StatusCode, resp.Header.Get("RateLimit"))
				}
			}
			resp, _ := e.do("GET", "/api/v2/groups", "", "Authorization", "Bearer gk_0123456789ab_"+strings.Repeat("Z", 43))
			if resp.StatusCode != 401 || resp.Header.Get("RateLimit") != "" {
				t.Fatalf("invalid key: %d, RateLimit %q", resp.StatusCode, resp.Header.Get("RateLimit"))
			}
		})
		t.Run("PerKeyOverride", func(t *testing.T) {
			clk.Add(10 * time.Second)
			if got := e.status(e.keys["root"], "PATCH", "/api/v2/api-keys/"+id, `{"rateLimit":{"perSecond":10,"burst":5}}`); got != 200 {
				t.Fatalf("patch: %d", got)
			}
			// The PATCH took one of the 2 tokens; a new burst does not refill.
			if status, policy, limit, _, _ := get("root"); status != 200 || policy != `"key";q=5;w=1` || limit != `"key";r=0;t=1` {
				t.Fatalf("after override: %d %q %q", status, policy, limit)
			}
		})
	})
}

// redisServer runs a redis-server of its own on a free port.
type redisServer struct {
	URL string
	cmd *exec.Cmd
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &redisServer{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), cmd: cmd}
	t.Cleanup(r.Stop)
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return r
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("redis-server did not start")
		}
	}
}

// Stop kills this redis-server (by its own PID) and waits for it.
func (r *redisServer) Stop() {
	if r.cmd.ProcessState == nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
}

func redisLimiter(t *testing.T, url string, opts ratelimit.RedisOptions) *ratelimit.Redis {
	t.Helper()
	opts.URL = url
	l, err := ratelimit.NewRedis(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestRedisLimitIsSharedByReplicas: two servers on one database and one
// Redis let a key through at most its rate times the time plus its burst,
// together.
func TestRedisLimitIsSharedByReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		rs := startRedis(t)
		lim := ratelimit.Limit{PerSecond: 20, Burst: 10}
		replica := func(c *server.Config) {
			c.RateLimit = lim
			c.Limiter = redisLimiter(t, rs.URL, ratelimit.RedisOptions{Timeout: time.Second})
		}
		a := newEnv(t, d, replica)
		b := startEnv(t, a.dbURL, a.keys, replica)
		var ok, limited, other atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e := []*env{a, b}[w%2]
				for time.Since(start) < 1500*time.Millisecond {
					resp, _ := e.do("GET", "/api/v2/groups", "", e.auth("acme")...)
					switch resp.StatusCode {
					case 200:
						ok.Add(1)
					case 429:
						limited.Add(1)
					default:
						other.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start).Seconds()
		ceiling := int64(lim.PerSecond*elapsed) + int64(lim.Burst) + 1
		t.Logf("%.2f s: %d allowed, %d limited (ceiling %d)", elapsed, ok.Load(), limited.Load(), ceiling)
		if ok.Load() > ceiling || other.Load() != 0 || limited.Load() == 0 {
			t.Fatalf("two replicas allowed %d in %.2f s (ceiling %d), %d limited, %d others", ok.Load(), elapsed, ceiling, limited.Load(), other.Load())
		}
		if ok.Load() < int64(lim.PerSecond*elapsed*0.8) {
			t.Fatalf("only %d allowed in %.2f s at %v/s", ok.Load(), elapsed, lim.PerSecond)
		}
	})
}

// TestRedisDownFailsOpen stops Redis mid-run: requests keep being served
// (limited per replica, never a 5xx), a warning is logged and the error
// counter moves.
func TestRedisDownFailsOpen(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		rs := startRedis(t)
		var logs syncBuffer
		var errs atomic.Int64
		e := newEnv(t, d, func(c *server.Config) {
			// High enough that this test's own pace is never limited,
			// with Redis or without.
			c.RateLimit = ratelimit.Limit{PerSecond: 1e6, Burst: 1e6}
			l := redisLimiter(t, rs.URL, ratelimit.RedisOptions{
				Log: slog.New(slog.NewJSONHandler(&logs, nil)), OnError: func() { errs.Add(1) }})
			if err := l.Ping(bg); err != nil {
				t.Fatal(err)
			}
			c.Limiter = l
		})
		run := func(n int) {
			for i := range n {
				resp, body := e.do("GET", "/api/v2/groups", "", e.auth("acme")...)
				if resp.StatusCode != 200 || resp.Header.Get("RateLimit") == "" {
					t.Fatalf("request %d: %d, RateLimit %q: %s", i, resp.StatusCode, resp.Header.Get("RateLimit"), body)
				}
			}
		}
		run(20)
		if errs.Load() != 0 {
			t.Fatalf("%d errors with Redis up", errs.Load())
		}
		rs.Stop()
		start := time.Now()
		for time.Since(start) < 1500*time.Millisecond {
			run(10)
		}
		if errs.Load() == 0 || !strings.Contains(logs.String(), "rate limit store unreachable") {
			t.Fatalf("no error counted (%d) or no warning logged: %s", errs.Load(), logs.String())
		}
	})
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
