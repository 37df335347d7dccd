package apitest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/groupsd/groupsd/gen/api"
)

// LoadStats counts what a load run did.
type LoadStats struct {
	Acked, Unknown, Unavailable atomic.Int64
	MaxLatency                  atomic.Int64 // nanoseconds

	mu      sync.Mutex
	slowest string // the request that took MaxLatency
}

func (s *LoadStats) latency(op string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if int64(d) > s.MaxLatency.Load() {
		s.MaxLatency.Store(int64(d))
		s.slowest = fmt.Sprintf("%s took %s", op, d.Round(time.Millisecond))
	}
}

// Slowest names the request that took MaxLatency.
func (s *LoadStats) Slowest() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.slowest
}

// LoadConfig tunes a load run.
type LoadConfig struct {
	Workers int
	Pause   time.Duration // between one worker's requests (0: flat out)
	// Crashed reports whether the process was killed on purpose: a transport
	// error is then an unknown outcome that ends the worker, not a failure.
	Crashed func() bool
	// Unavailable, when set, is told about each 503 with its request start
	// time; a 503 is an unknown outcome either way.
	Unavailable func(start time.Time)
}

// RunLoad drives concurrent creates (half with Idempotency-Key), PATCHes and
// DELETEs (both with If-Match) until ctx ends or, with cfg.Crashed, the
// process dies. Each worker owns its groups, so every acknowledged answer
// says exactly what the group holds. It returns the failures it saw.
func RunLoad(ctx context.Context, c *api.ClientWithResponses, m *Model, cfg LoadConfig, stats *LoadStats) []string {
	live := m.Live()
	owned := make([][]*Tracked, cfg.Workers)
	for i, g := range live {
		owned[i%cfg.Workers] = append(owned[i%cfg.Workers], g)
	}
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lw := &loadWorker{c: c, m: m, cfg: cfg, stats: stats, fail: fail, owned: owned[w],
				rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))} //nolint:gosec // G404: a random workload, not a secret
			lw.run(ctx)
		}()
	}
	wg.Wait()
	return failures
}

type loadWorker struct {
	c     *api.ClientWithResponses
	m     *Model
	cfg   LoadConfig
	stats *LoadStats
	fail  func(string, ...any)
	owned []*Tracked
	rng   *rand.Rand
}

// outcome classifies one exchange.
type outcome int

const (
	acked   outcome = iota // a 2xx: the write happened exactly as answered
	unknown                // no answer, or 503: it may or may not have happened
	stop                   // the process is gone: stop this worker
)

// run sends requests until ctx ends. Requests themselves are never
// cancelled: a request the test abandoned could still land after the test
// looked, and only the process's death may leave an outcome unknown.
func (lw *loadWorker) run(ctx context.Context) {
	rctx := context.WithoutCancel(ctx)
	for ctx.Err() == nil {
		var o outcome
		switch p := lw.rng.IntN(100); {
		case p < 45 || len(lw.owned) == 0:
			o = lw.create(rctx)
		case p < 80:
			o = lw.patch(rctx)
		default:
			o = lw.delete(rctx)
		}
		if o == stop {
			return
		}
		if lw.cfg.Pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(lw.cfg.Pause):
			}
		}
	}
}

// classify turns a transport error or an unexpected status into an outcome,
// checking that every 503 is problem+json with Retry-After.
func (lw *loadWorker) classify(op string, start time.Time, err error, resp *http.Response, body []byte, want int) outcome {
	d := time.Since(start)
	lw.stats.latency(fmt.Sprintf("%s at %s", op, start.Format("15:04:05.000")), d)
	if err != nil {
		lw.stats.Unknown.Add(1)
		if lw.cfg.Crashed != nil && lw.cfg.Crashed() {
			return stop
		}
		lw.fail("%s: %v (after %s)", op, err, d)
		return stop
	}
	switch {
	case resp.StatusCode == want:
		lw.stats.Acked.Add(1)
		return acked
	case resp.StatusCode == http.StatusServiceUnavailable:
		lw.stats.Unknown.Add(1)
		lw.stats.Unavailable.Add(1)
		if msg := Check503(resp, body); msg != "" {
			lw.fail("%s: %s", op, msg)
		}
		if lw.cfg.Unavailable != nil {
			lw.cfg.Unavailable(start)
		}
		return unknown
	}
	lw.stats.Unknown.Add(1)
	lw.fail("%s: status %d, want %d: %s", op, resp.StatusCode, want, body)
	return unknown
}

func (lw *loadWorker) uniqueName() string {
	// Non-ASCII on purpose: what is stored must come back code point for code point.
	return fmt.Sprintf("Équipe ß %06d", lw.m.Seq.Add(1))
}

func (lw *loadWorker) randomDesc() *string {
	if lw.rng.IntN(4) == 0 {
		return nil
	}
	d := fmt.Sprintf("budget %d € — approvals", lw.rng.Int64())
	return &d
}

func (lw *loadWorker) create(ctx context.Context) outcome {
	lc := LostCreate{Name: lw.uniqueName(), Desc: lw.randomDesc()}
	params := &api.CreateGroupParams{}
	if lw.rng.IntN(2) == 0 {
		lc.Key = fmt.Sprintf("fault-%s-%d", lc.Name, lw.rng.Int64())
		params.IdempotencyKey = &lc.Key
	}
	body := api.CreateGroupJSONRequestBody{Name: lc.Name}
	if lc.Desc != nil {
		body.Description = nullable.NewNullableWithValue(*lc.Desc)
	} else if lw.rng.IntN(2) == 0 {
		body.Description = nullable.NewNullNullable[string]()
	}
	start := time.Now()
	resp, err := lw.c.CreateGroupWithResponse(ctx, params, body)
	var hr *http.Response
	var raw []byte
	if err == nil {
		hr, raw = resp.HTTPResponse, resp.Body
	}
	o := lw.classify("POST "+lc.Name, start, err, hr, raw, http.StatusCreated)
	if o != acked {
		lw.m.Lose(lc)
		return o
	}
	s, serr := SnapshotOf(*resp.JSON201, hr.Header.Get("ETag"))
	switch {
	case serr != nil:
		lw.fail("POST %s: %v", lc.Name, serr)
	case s.Version != 1 || s.Name != lc.Name || !EqualDesc(s.Desc, lc.Desc) || s.CreatedAt != s.UpdatedAt:
		lw.fail("POST %s: acknowledged %v, want version 1 with what was sent", lc.Name, s)
	}
	g := &Tracked{UUID: resp.JSON201.Uuid.String(), Cur: s}
	lw.m.Add(g)
	lw.owned = append(lw.owned, g)
	return acked
}

func (lw *loadWorker) pick() (int, *Tracked) {
	i := lw.rng.IntN(len(lw.owned))
	return i, lw.owned[i]
}

// drop removes owned[i]: the worker no longer touches that group.
func (lw *loadWorker) drop(i int) {
	lw.owned[i] = lw.owned[len(lw.owned)-1]
	lw.owned = lw.owned[:len(lw.owned)-1]
}

func (lw *loadWorker) patch(ctx context.Context) outcome {
	i, g := lw.pick()
	w := &Write{}
	switch lw.rng.IntN(3) {
	case 0:
		n := lw.uniqueName()
		w.Name = &n
	case 1:
		w.SetDesc, w.Desc = true, lw.randomDesc()
	default:
		n := lw.uniqueName()
		w.Name = &n
		w.SetDesc, w.Desc = true, lw.randomDesc()
	}
	if w.Name == nil && EqualDesc(w.Desc, g.Cur.Desc) { // never a no-op: every acknowledged patch bumps the version
		d := "changed " + strconv.FormatInt(g.Cur.Version, 10)
		w.Desc = &d
	}
	body := api.GroupPatch{}
	if w.Name != nil {
		body.Name = w.Name
	}
	if w.SetDesc {
		if w.Desc != nil {
			body.Description = nullable.NewNullableWithValue(*w.Desc)
		} else {
			body.Description = nullable.NewNullNullable[string]()
		}
	}
	tag := g.Cur.ETag // as the server sent it
	start := time.Now()
	resp, err := lw.c.UpdateGroupWithApplicationMergePatchPlusJSONBodyWithResponse(ctx, MustParseUUID(g.UUID), &api.UpdateGroupParams{IfMatch: &tag}, body)
	var hr *http.Response
	var raw []byte
	if err == nil {
		hr, raw = resp.HTTPResponse, resp.Body
	}
	op := "PATCH " + g.UUID
	o := lw.classify(op, start, err, hr, raw, http.StatusOK)
	if o != acked {
		g.Pending = w
		lw.drop(i)
		return o
	}
	s, serr := SnapshotOf(*resp.JSON200, hr.Header.Get("ETag"))
	want := Apply(g.Cur, w)
	switch {
	case serr != nil:
		lw.fail("%s: %v", op, serr)
	case s.Version != want.Version || s.Name != want.Name || !EqualDesc(s.Desc, want.Desc) || s.CreatedAt != want.CreatedAt || s.UpdatedAt < g.Cur.UpdatedAt:
		lw.fail("%s: acknowledged %v after %v, want %v", op, s, g.Cur, want)
	}
	g.Cur = s
	return acked
}

func (lw *loadWorker) delete(ctx context.Context) outcome {
	i, g := lw.pick()
	tag := g.Cur.ETag
	start := time.Now()
	resp, err := lw.c.DeleteGroupWithResponse(ctx, MustParseUUID(g.UUID), &api.DeleteGroupParams{IfMatch: &tag})
	var hr *http.Response
	var raw []byte
	if err == nil {
		hr, raw = resp.HTTPResponse, resp.Body
	}
	o := lw.classify("DELETE "+g.UUID, start, err, hr, raw, http.StatusNoContent)
	lw.drop(i)
	if o != acked {
		g.Pending = &Write{Del: true}
		return o
	}
	g.Gone = true
	return acked
}
