package main

// Fault tests: the real groupsd process under crashes (kill -9), database
// outages, unwritable SQLite files, several replicas on one Postgres and
// schema migrations. They share the model below: what the API acknowledged,
// and the writes whose outcome nobody can know (in flight when the process
// died, or answered 503), checked against what the database holds afterwards.
//
//	go test -race -run 'TestFault' ./cmd/groupsd

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // integrity_check on the crashed file
	"github.com/oapi-codegen/nullable"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// faultOrg is the organization every fault test works in.
const faultOrg = "fault"

// newAPIClient returns a generated client for baseURL (http://host:port)
// that authenticates with key. doer, when not nil, sends the requests.
func newAPIClient(t testing.TB, baseURL, key string, doer api.HttpRequestDoer) *api.ClientWithResponses {
	t.Helper()
	if doer == nil {
		doer = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	}
	c, err := api.NewClientWithResponses(baseURL+"/api", api.WithHTTPClient(doer),
		api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+key)
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// snapshot is a group's content as the API shows it, version included.
type snapshot struct {
	Name      string
	Desc      *string
	Version   int64
	CreatedAt string
	UpdatedAt string
}

func (s snapshot) String() string {
	d := "null"
	if s.Desc != nil {
		d = strconv.Quote(*s.Desc)
	}
	return fmt.Sprintf("{name %q, description %s, version %d, created %s, updated %s}", s.Name, d, s.Version, s.CreatedAt, s.UpdatedAt)
}

func (s snapshot) equal(o snapshot) bool {
	return s.Name == o.Name && equalDesc(s.Desc, o.Desc) && s.Version == o.Version &&
		s.CreatedAt == o.CreatedAt && s.UpdatedAt == o.UpdatedAt
}

func snapshotOf(g api.Group, etag string) (snapshot, error) {
	v, err := versionOf(etag)
	if err != nil {
		return snapshot{}, err
	}
	s := snapshot{Name: g.Name, Version: v, CreatedAt: g.CreatedAt.String(), UpdatedAt: g.UpdatedAt.String()}
	if g.Description.IsSpecified() && !g.Description.IsNull() {
		d := g.Description.MustGet()
		s.Desc = &d
	}
	return s, nil
}

func versionOf(etag string) (int64, error) {
	v, err := strconv.ParseInt(strings.Trim(etag, `"`), 10, 64)
	if err != nil || len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		return 0, fmt.Errorf("malformed ETag %q", etag)
	}
	return v, nil
}

func etagOf(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

func equalDesc(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// write is an update or delete whose outcome is unknown.
type write struct {
	del     bool
	name    *string
	setDesc bool
	desc    *string
}

// tracked is one group the API acknowledged creating.
type tracked struct {
	uuid string
	cur  snapshot // the last acknowledged state
	gone bool     // an acknowledged delete
	// pending is a write sent after cur whose outcome is unknown: the group
	// must then be in state cur or in cur with pending applied.
	pending *write
}

// lostCreate is a create whose outcome is unknown.
type lostCreate struct {
	name string
	desc *string
	key  string // Idempotency-Key, or ""
}

// model is what the database must hold.
type model struct {
	mu      sync.Mutex
	groups  map[string]*tracked
	creates []lostCreate
	seq     atomic.Int64 // makes names unique across rounds and workers

	// How the outcomes nobody knew turned out, over every verify.
	landed, vanished int // unknown writes found applied / not applied
	replayed, rerun  int // idempotent creates retried: replayed / created now
	stillClaimed     int // idempotent creates retried: 409, key still claimed
}

func (m *model) outcomes() string {
	return fmt.Sprintf("unknown outcomes: %d had happened, %d had not; idempotent retries: %d replayed, %d created now, %d still claimed (409)",
		m.landed, m.vanished, m.replayed, m.rerun, m.stillClaimed)
}

func newModel() *model { return &model{groups: map[string]*tracked{}} }

func (m *model) add(g *tracked) {
	m.mu.Lock()
	m.groups[g.uuid] = g
	m.mu.Unlock()
}

func (m *model) lose(c lostCreate) {
	m.mu.Lock()
	m.creates = append(m.creates, c)
	m.mu.Unlock()
}

// live returns the groups that exist and have no pending write, in a stable order.
func (m *model) live() []*tracked {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*tracked
	for _, g := range m.groups {
		if !g.gone && g.pending == nil {
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].uuid < out[j].uuid })
	return out
}

// loadStats counts what a load run did.
type loadStats struct {
	acked, unknown, unavailable atomic.Int64
	maxLatency                  atomic.Int64 // nanoseconds

	mu      sync.Mutex
	slowest string // the request that took maxLatency
}

func (s *loadStats) latency(op string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if int64(d) > s.maxLatency.Load() {
		s.maxLatency.Store(int64(d))
		s.slowest = fmt.Sprintf("%s took %s", op, d.Round(time.Millisecond))
	}
}

// loadConfig tunes a load run.
type loadConfig struct {
	workers int
	pause   time.Duration // between one worker's requests (0: flat out)
	// crashed reports whether the process was killed on purpose: a transport
	// error is then an unknown outcome that ends the worker, not a failure.
	crashed func() bool
	// unavailable, when set, is told about each 503 with its request start
	// time; a 503 is an unknown outcome either way.
	unavailable func(start time.Time)
}

// runLoad drives concurrent creates (half with Idempotency-Key), PATCHes and
// DELETEs (both with If-Match) until ctx ends or, with cfg.crashed, the
// process dies. Each worker owns its groups, so every acknowledged answer
// says exactly what the group holds. It returns the failures it saw.
func runLoad(ctx context.Context, c *api.ClientWithResponses, m *model, cfg loadConfig, stats *loadStats) []string {
	live := m.live()
	owned := make([][]*tracked, cfg.workers)
	for i, g := range live {
		owned[i%cfg.workers] = append(owned[i%cfg.workers], g)
	}
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range cfg.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lw := &loadWorker{c: c, m: m, cfg: cfg, stats: stats, fail: fail, owned: owned[w],
				rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))}
			lw.run(ctx)
		}()
	}
	wg.Wait()
	return failures
}

type loadWorker struct {
	c     *api.ClientWithResponses
	m     *model
	cfg   loadConfig
	stats *loadStats
	fail  func(string, ...any)
	owned []*tracked
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
		if lw.cfg.pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(lw.cfg.pause):
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
		lw.stats.unknown.Add(1)
		if lw.cfg.crashed != nil && lw.cfg.crashed() {
			return stop
		}
		lw.fail("%s: %v (after %s)", op, err, d)
		return stop
	}
	switch {
	case resp.StatusCode == want:
		lw.stats.acked.Add(1)
		return acked
	case resp.StatusCode == http.StatusServiceUnavailable:
		lw.stats.unknown.Add(1)
		lw.stats.unavailable.Add(1)
		if msg := check503(resp, body); msg != "" {
			lw.fail("%s: %s", op, msg)
		}
		if lw.cfg.unavailable != nil {
			lw.cfg.unavailable(start)
		}
		return unknown
	}
	lw.stats.unknown.Add(1)
	lw.fail("%s: status %d, want %d: %s", op, resp.StatusCode, want, body)
	return unknown
}

// check503 returns what is wrong with a 503 answer, or "".
func check503(resp *http.Response, body []byte) string {
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Sprintf("503 with Content-Type %q, want application/problem+json", ct)
	}
	if resp.Header.Get("Retry-After") == "" {
		return "503 without Retry-After"
	}
	var p api.Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Status != 503 || p.Code != api.SERVICEUNAVAILABLE {
		return fmt.Sprintf("503 body is not a SERVICE_UNAVAILABLE problem: %s", body)
	}
	return ""
}

func (lw *loadWorker) uniqueName() string {
	// Non-ASCII on purpose: what is stored must come back code point for code point.
	return fmt.Sprintf("Équipe ß %06d", lw.m.seq.Add(1))
}

func (lw *loadWorker) randomDesc() *string {
	if lw.rng.IntN(4) == 0 {
		return nil
	}
	d := fmt.Sprintf("budget %d € — approvals", lw.rng.Int64())
	return &d
}

func (lw *loadWorker) create(ctx context.Context) outcome {
	lc := lostCreate{name: lw.uniqueName(), desc: lw.randomDesc()}
	params := &api.CreateGroupParams{}
	if lw.rng.IntN(2) == 0 {
		lc.key = fmt.Sprintf("fault-%s-%d", lc.name, lw.rng.Int64())
		params.IdempotencyKey = &lc.key
	}
	body := api.CreateGroupJSONRequestBody{Name: lc.name}
	if lc.desc != nil {
		body.Description = nullable.NewNullableWithValue(*lc.desc)
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
	o := lw.classify("POST "+lc.name, start, err, hr, raw, http.StatusCreated)
	if o != acked {
		lw.m.lose(lc)
		return o
	}
	s, serr := snapshotOf(*resp.JSON201, hr.Header.Get("ETag"))
	switch {
	case serr != nil:
		lw.fail("POST %s: %v", lc.name, serr)
	case s.Version != 1 || s.Name != lc.name || !equalDesc(s.Desc, lc.desc) || s.CreatedAt != s.UpdatedAt:
		lw.fail("POST %s: acknowledged %v, want version 1 with what was sent", lc.name, s)
	}
	g := &tracked{uuid: resp.JSON201.Uuid.String(), cur: s}
	lw.m.add(g)
	lw.owned = append(lw.owned, g)
	return acked
}

func (lw *loadWorker) pick() (int, *tracked) {
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
	w := &write{}
	switch lw.rng.IntN(3) {
	case 0:
		n := lw.uniqueName()
		w.name = &n
	case 1:
		w.setDesc, w.desc = true, lw.randomDesc()
	default:
		n := lw.uniqueName()
		w.name = &n
		w.setDesc, w.desc = true, lw.randomDesc()
	}
	if w.name == nil && equalDesc(w.desc, g.cur.Desc) { // never a no-op: every acknowledged patch bumps the version
		d := "changed " + strconv.FormatInt(g.cur.Version, 10)
		w.desc = &d
	}
	body := api.GroupPatch{}
	if w.name != nil {
		body.Name = w.name
	}
	if w.setDesc {
		if w.desc != nil {
			body.Description = nullable.NewNullableWithValue(*w.desc)
		} else {
			body.Description = nullable.NewNullNullable[string]()
		}
	}
	tag := etagOf(g.cur.Version)
	start := time.Now()
	resp, err := lw.c.UpdateGroupWithApplicationMergePatchPlusJSONBodyWithResponse(ctx, mustParseUUID(g.uuid), &api.UpdateGroupParams{IfMatch: &tag}, body)
	var hr *http.Response
	var raw []byte
	if err == nil {
		hr, raw = resp.HTTPResponse, resp.Body
	}
	op := "PATCH " + g.uuid
	o := lw.classify(op, start, err, hr, raw, http.StatusOK)
	if o != acked {
		g.pending = w
		lw.drop(i)
		return o
	}
	s, serr := snapshotOf(*resp.JSON200, hr.Header.Get("ETag"))
	want := apply(g.cur, w)
	switch {
	case serr != nil:
		lw.fail("%s: %v", op, serr)
	case s.Version != want.Version || s.Name != want.Name || !equalDesc(s.Desc, want.Desc) || s.CreatedAt != want.CreatedAt || s.UpdatedAt < g.cur.UpdatedAt:
		lw.fail("%s: acknowledged %v after %v, want %v", op, s, g.cur, want)
	}
	g.cur = s
	return acked
}

func (lw *loadWorker) delete(ctx context.Context) outcome {
	i, g := lw.pick()
	tag := etagOf(g.cur.Version)
	start := time.Now()
	resp, err := lw.c.DeleteGroupWithResponse(ctx, mustParseUUID(g.uuid), &api.DeleteGroupParams{IfMatch: &tag})
	var hr *http.Response
	var raw []byte
	if err == nil {
		hr, raw = resp.HTTPResponse, resp.Body
	}
	o := lw.classify("DELETE "+g.uuid, start, err, hr, raw, http.StatusNoContent)
	lw.drop(i)
	if o != acked {
		g.pending = &write{del: true}
		return o
	}
	g.gone = true
	return acked
}

// apply returns s after the update w, as the server would store it (its
// updatedAt is unknown and kept from s).
func apply(s snapshot, w *write) snapshot {
	out := s
	if w.name != nil {
		out.Name = *w.name
	}
	if w.setDesc {
		out.Desc = w.desc
	}
	out.Version++
	return out
}

func mustParseUUID(s string) api.GroupUUID {
	var u api.GroupUUID
	if err := u.UnmarshalText([]byte(s)); err != nil {
		panic(err)
	}
	return u
}

// listAll walks every page of the organization's groups with the cursor and
// checks that totalElements (kept in a counter table) matches what it saw.
func listAll(t testing.TB, ctx context.Context, c *api.ClientWithResponses) map[string]api.Group {
	t.Helper()
	out := map[string]api.Group{}
	size := api.Size(1000)
	params := &api.ListGroupsParams{Size: &size}
	var total int64
	for {
		resp, err := c.ListGroupsWithResponse(ctx, params)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if resp.JSON200 == nil {
			t.Fatalf("list: status %d: %s", resp.StatusCode(), resp.Body)
		}
		total = resp.JSON200.Page.TotalElements
		for _, g := range resp.JSON200.Content {
			id := g.Uuid.String()
			if _, dup := out[id]; dup {
				t.Errorf("list: group %s appears twice", id)
			}
			out[id] = g
		}
		if !resp.JSON200.Page.Next.IsSpecified() || resp.JSON200.Page.Next.IsNull() {
			break
		}
		next := api.Cursor(resp.JSON200.Page.Next.MustGet())
		params = &api.ListGroupsParams{Size: &size, Cursor: &next}
	}
	if int64(len(out)) != total {
		t.Errorf("list: totalElements %d, but the pages hold %d groups (the count table drifted)", total, len(out))
	}
	return out
}

// getAll GETs every group in ids concurrently and returns their snapshots
// (with the version from the ETag); a 404 leaves the group out.
func getAll(t testing.TB, ctx context.Context, c *api.ClientWithResponses, ids []string) map[string]snapshot {
	t.Helper()
	var mu sync.Mutex
	out := map[string]snapshot{}
	var errs []string
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			resp, err := c.GetGroupWithResponse(ctx, mustParseUUID(id), nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, fmt.Sprintf("GET %s: %v", id, err))
			case resp.StatusCode() == http.StatusNotFound:
			case resp.JSON200 == nil:
				errs = append(errs, fmt.Sprintf("GET %s: status %d: %s", id, resp.StatusCode(), resp.Body))
			default:
				s, err := snapshotOf(*resp.JSON200, resp.HTTPResponse.Header.Get("ETag"))
				if err != nil {
					errs = append(errs, fmt.Sprintf("GET %s: %v", id, err))
				}
				out[id] = s
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("reading groups back:\n%s", strings.Join(errs, "\n"))
	}
	return out
}

// verify checks the database behind c against m: every acknowledged create
// is there with its acknowledged content, every acknowledged delete is gone,
// a write of unknown outcome either happened whole or not at all, and there
// is no group nobody created. It then folds what it found into m, so the
// next round starts from the truth.
func verify(t testing.TB, ctx context.Context, c *api.ClientWithResponses, m *model) {
	t.Helper()
	listed := listAll(t, ctx, c)
	ids := make([]string, 0, len(listed))
	for id := range listed {
		ids = append(ids, id)
	}
	got := getAll(t, ctx, c, ids)
	for id, g := range listed {
		s, ok := got[id]
		if !ok {
			t.Errorf("group %s is listed but GET says 404", id)
			continue
		}
		if l, _ := snapshotOf(g, etagOf(s.Version)); !l.equal(s) {
			t.Errorf("group %s: list shows %v, GET shows %v", id, l, s)
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	byName := map[string]string{}
	for id, s := range got {
		byName[s.Name] = id
	}
	for id, g := range m.groups {
		s, present := got[id]
		var alts []string
		matched := false
		if g.gone {
			matched = !present
			alts = append(alts, "deleted")
		} else {
			alts = append(alts, g.cur.String())
			matched = present && s.equal(g.cur)
		}
		if g.pending != nil && !g.gone {
			if matched {
				m.vanished++
			} else if g.pending.del {
				alts = append(alts, "deleted")
				matched = !present
				m.landed++
			} else {
				w := apply(g.cur, g.pending)
				alts = append(alts, w.String()+" (any later updatedAt)")
				matched = present && s.Name == w.Name && equalDesc(s.Desc, w.Desc) && s.Version == w.Version &&
					s.CreatedAt == w.CreatedAt && s.UpdatedAt >= g.cur.UpdatedAt
				m.landed++
			}
		}
		if !matched {
			state := "absent"
			if present {
				state = s.String()
			}
			t.Errorf("group %s is %s, want %s", id, state, strings.Join(alts, " or "))
		}
		// Fold in the truth.
		g.pending = nil
		if present {
			g.cur, g.gone = s, false
		} else {
			g.gone = true
		}
	}

	// Creates of unknown outcome: each happened once or not at all.
	var retry []lostCreate
	for _, lc := range m.creates {
		id, present := byName[lc.name]
		if present {
			if _, known := m.groups[id]; known {
				t.Errorf("a create of unknown outcome (%q) matches acknowledged group %s", lc.name, id)
				continue
			}
			s := got[id]
			if s.Version != 1 || !equalDesc(s.Desc, lc.desc) || s.CreatedAt != s.UpdatedAt {
				t.Errorf("group %s from a create of unknown outcome is %v, want version 1 as sent", id, s)
			}
			m.groups[id] = &tracked{uuid: id, cur: s}
			m.landed++
		} else {
			m.vanished++
		}
		if lc.key != "" {
			retry = append(retry, lc)
		}
	}
	m.creates = nil
	for id, s := range got {
		if _, ok := m.groups[id]; !ok {
			t.Errorf("group %s %v exists but nobody created it", id, s)
		}
	}

	// A create with an Idempotency-Key whose outcome is unknown is what a
	// client retries: it must replay what happened, or run now, never twice.
	for _, lc := range retry {
		id, existed := byName[lc.name]
		body := api.CreateGroupJSONRequestBody{Name: lc.name}
		if lc.desc != nil {
			body.Description = nullable.NewNullableWithValue(*lc.desc)
		}
		// The body's description null/absent distinction does not change the
		// fingerprint, so a retry may send either.
		resp, err := c.CreateGroupWithResponse(ctx, &api.CreateGroupParams{IdempotencyKey: &lc.key}, body)
		if err != nil {
			t.Fatalf("retrying create %q: %v", lc.name, err)
		}
		replayed := resp.HTTPResponse.Header.Get("Idempotent-Replayed") == "true"
		switch {
		case resp.StatusCode() == http.StatusCreated && existed:
			if !replayed || resp.JSON201.Uuid.String() != id {
				t.Errorf("retrying create %q (key %q) that did happen as %s: got %s replayed=%v, want a replay of it",
					lc.name, lc.key, id, resp.JSON201.Uuid, replayed)
			}
			m.replayed++
		case resp.StatusCode() == http.StatusCreated && !existed:
			if replayed {
				t.Errorf("retrying create %q (key %q) replays group %s that is not in the database", lc.name, lc.key, resp.JSON201.Uuid)
			}
			s, err := snapshotOf(*resp.JSON201, resp.HTTPResponse.Header.Get("ETag"))
			if err != nil {
				t.Error(err)
			}
			nid := resp.JSON201.Uuid.String()
			m.groups[nid] = &tracked{uuid: nid, cur: s}
			m.rerun++
		case resp.StatusCode() == http.StatusConflict && !existed && problemCode(resp.Body) == api.IDEMPOTENCYINFLIGHT:
			// The crash left the key claimed but the create undone: the claim
			// blocks retries until its lease ends; nothing was created twice.
			m.stillClaimed++
		default:
			t.Errorf("retrying create %q (key %q, existed=%v): status %d: %s", lc.name, lc.key, existed, resp.StatusCode(), resp.Body)
		}
	}
}

func problemCode(body []byte) api.ProblemCode {
	var p api.Problem
	_ = json.Unmarshal(body, &p)
	return p.Code
}

// integrityCheck runs PRAGMA integrity_check on the SQLite file at path.
func integrityCheck(t testing.TB, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	assertIntegrity(t, db)
}

// assertIntegrity fails t unless PRAGMA integrity_check on db says "ok".
func assertIntegrity(t testing.TB, db *sql.DB) {
	t.Helper()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	defer rows.Close()
	var res []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		res = append(res, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res, []string{"ok"}) {
		t.Fatalf("integrity_check: %s", strings.Join(res, "; "))
	}
}

// kill9 kills p with SIGKILL, as a crash would, and waits for it to be gone.
func kill9(t testing.TB, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	if err := p.Wait(10 * time.Second); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("groupsd after kill -9: %v, want signal: killed", err)
	}
}

// TestFaultCrash kills groupsd with SIGKILL in the middle of concurrent
// creates, patches and deletes, at a different moment each round, restarts
// it on the same database and checks that nothing acknowledged was lost or
// changed (and, on SQLite, that the file passes integrity_check).
func TestFaultCrash(t *testing.T) {
	const kills = 12
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			database := storetest.URL(t, d)
			key := newKey(t, database, faultOrg)
			m := newModel()
			ctx := context.Background()
			start := time.Now()
			var acked, unknownN int64
			for round := range kills {
				p := startGroupsd(t, nil, "--database", database)
				c := newAPIClient(t, p.URL, key, nil)
				if round > 0 {
					verify(t, ctx, c, m)
					if d == store.SQLite {
						integrityCheck(t, strings.TrimPrefix(database, "sqlite:"))
					}
					if t.Failed() {
						t.Fatalf("round %d: state after kill -9 is wrong; groupsd log:\n%s", round, tail(p.stderr.String(), 4000))
					}
				}
				var killed atomic.Bool
				stats := &loadStats{}
				lctx, cancel := context.WithCancel(ctx)
				done := make(chan []string, 1)
				go func() {
					done <- runLoad(lctx, c, m, loadConfig{workers: 8, crashed: killed.Load}, stats)
				}()
				// Kill at a different point of the load each round.
				time.Sleep(time.Duration(60+round*37%400) * time.Millisecond)
				killed.Store(true)
				kill9(t, p)
				failures := <-done
				cancel()
				for _, f := range failures {
					t.Error(f)
				}
				if t.Failed() {
					t.Fatalf("round %d: load failed before the kill; groupsd log:\n%s", round, tail(p.stderr.String(), 4000))
				}
				acked += stats.acked.Load()
				unknownN += stats.unknown.Load()
			}
			p := startGroupsd(t, nil, "--database", database)
			verify(t, ctx, newAPIClient(t, p.URL, key, nil), m)
			if d == store.SQLite {
				integrityCheck(t, strings.TrimPrefix(database, "sqlite:"))
			}
			t.Logf("%d kills in %s: %d acknowledged writes, %d of unknown outcome, %d groups at the end; %s",
				kills, time.Since(start).Round(time.Millisecond), acked, unknownN, len(m.live()), m.outcomes())
		})
	}
}
