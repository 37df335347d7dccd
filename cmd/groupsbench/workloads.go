package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// The workloads, in the order they run.
var allWorkloads = []string{"get", "list", "listDeep", "cursor", "search", "create", "patch", "mixed",
	"listMembers", "memberCursor", "userGroups", "addMember", "changeMembers"}

func knownWorkload(w string) bool { return slices.Contains(allWorkloads, w) }

// pageSize is the page size of every list workload (the API's default).
const pageSize = 20

// patchPool is how many groups each client patches (its own, so If-Match
// never fails because another client got there first).
const patchPool = 64

// Names of the large organization: the kinds of group a company with a
// million of them has (every cost center, project and team), so search
// fragments match as many names as they would there: some a tenth of them,
// most far fewer.
var (
	kinds  = []string{"Team", "Project", "Cost Center", "Department", "Committee", "Program", "Squad", "Office", "Budget", "Lab"}
	topics = strings.Fields(`Finance Marketing Payments Platform Security Logistics Procurement Legal Sales
		Support Research Design Data Infrastructure Mobile Web Billing Growth Analytics Operations Facilities
		Recruiting Training Compliance Audit Treasury Tax Payroll Benefits Quality Manufacturing Supply Retail
		Wholesale Partners Alliances Events Brand Content Community Identity Search Ads Video Voice Maps Cloud
		Storage Network Hardware Firmware Robotics Energy Health Insurance Lending Trading Risk Fraud Privacy`)
	cities = strings.Fields(`Berlin Paris London Madrid Rome Vienna Zürich Oslo Stockholm Helsinki Dublin
		Lisbon Prague Warsaw Athens Istanbul Cairo Nairobi Lagos Dubai Mumbai Delhi Bangalore Singapore Tokyo
		Seoul Shanghai Sydney Auckland Toronto Montréal Chicago Denver Austin Boston Seattle Miami Lima Bogotá Santiago`)
)

// groupName is the name of the i-th seeded group: deterministic, so the
// search workload can draw fragments of real names without storing them,
// and unique through its number.
func groupName(i int) string {
	h := mix(uint64(i))
	return fmt.Sprintf("%s %s %s %d", kinds[h%uint64(len(kinds))], topics[(h>>16)%uint64(len(topics))],
		cities[(h>>32)%uint64(len(cities))], i+1)
}

// mix is splitmix64's finalizer: a cheap, well-spread hash of i.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// env is what the workloads share about one running server.
type env struct {
	base   string
	key    string
	groups int
	ids    []uuid.UUID
	tag    string // makes created names unique per run
	pid    int    // the server process, for its CPU time

	mu      sync.Mutex
	total   int64    // the large organization's groups, learned by setup
	cursors []string // page.next of pages at 99% depth
	etags   []map[string]string
	names   atomic.Int64 // numbers created names and added users

	// heavy are the users in the most groups (userGroups); the big group
	// is ids[0]; memberCursors start memberCursor's walks.
	heavy         []string
	memberCursors []string
	changes       atomic.Int64 // numbers changeMembers requests
	seedMembers   time.Duration
}

// worker is one client's state.
type worker struct {
	id  int
	env *env
	rnd *rand.Rand
	seq int
	// cursor is the next page this worker's cursor walk fetches.
	cursor string
}

// op is one request of a workload; it returns an error for any answer that
// is not the expected success.
type op func(ctx context.Context, c *http.Client, w *worker) error

func (e *env) request(ctx context.Context, method, path string, body []byte, hdr ...string) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.base+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req, nil
}

// do sends req and checks its status; the body is returned when keep is set
// and drained otherwise.
func do(c *http.Client, req *http.Request, want int, keep bool) (*http.Response, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var body []byte
	if keep || resp.StatusCode != want {
		body, err = io.ReadAll(resp.Body)
	} else {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode != want {
		return nil, nil, fmt.Errorf("%s %s: status %d, want %d: %.300s", req.Method, req.URL.RequestURI(), resp.StatusCode, want, bytes.TrimSpace(body))
	}
	return resp, body, nil
}

func opGet(ctx context.Context, c *http.Client, w *worker) error {
	id := w.env.ids[w.rnd.IntN(len(w.env.ids))]
	req, err := w.env.request(ctx, http.MethodGet, "/api/v2/groups/"+id.String(), nil)
	if err != nil {
		return err
	}
	_, _, err = do(c, req, http.StatusOK, false)
	return err
}

func opList(ctx context.Context, c *http.Client, w *worker) error {
	req, err := w.env.request(ctx, http.MethodGet, "/api/v2/groups", nil)
	if err != nil {
		return err
	}
	_, _, err = do(c, req, http.StatusOK, false)
	return err
}

// deepPage is the page number at 99% depth of the large organization,
// leaving at least ten pages after it.
func (e *env) deepPage() int {
	pages := int((e.total + pageSize - 1) / pageSize)
	return max(0, min(int(e.total*99/100)/pageSize, pages-11))
}

func opListDeep(ctx context.Context, c *http.Client, w *worker) error {
	page := w.env.deepPage() + w.rnd.IntN(10) // stays on a full page
	req, err := w.env.request(ctx, http.MethodGet, "/api/v2/groups?size="+strconv.Itoa(pageSize)+"&page="+strconv.Itoa(page), nil)
	if err != nil {
		return err
	}
	_, _, err = do(c, req, http.StatusOK, false)
	return err
}

type pageBody struct {
	Content []struct {
		UUID string `json:"uuid"`
	} `json:"content"`
	Page struct {
		TotalElements int64   `json:"totalElements"`
		Next          *string `json:"next"`
	} `json:"page"`
}

// opCursor walks the pages after a 99%-depth page by page.next, starting
// over at the end.
func opCursor(ctx context.Context, c *http.Client, w *worker) error {
	if w.cursor == "" {
		w.cursor = w.env.cursors[w.id%len(w.env.cursors)]
	}
	req, err := w.env.request(ctx, http.MethodGet, "/api/v2/groups?size="+strconv.Itoa(pageSize)+"&cursor="+url.QueryEscape(w.cursor), nil)
	if err != nil {
		return err
	}
	_, body, err := do(c, req, http.StatusOK, true)
	if err != nil {
		return err
	}
	next, ok := nextCursor(body)
	if !ok {
		return fmt.Errorf("cursor page is empty or has no page.next: %.300s", body)
	}
	w.cursor = next
	return nil
}

// nextCursor extracts page.next from a non-empty page without decoding the
// whole body (a full decode would cost the client more than the server's
// work): cursors are unpadded base64url, never escaped. "" means null.
func nextCursor(body []byte) (string, bool) {
	if !bytes.HasPrefix(body, []byte(`{"content":[{`)) {
		return "", false
	}
	i := bytes.LastIndex(body, []byte(`"next":`))
	if i < 0 {
		return "", false
	}
	rest := body[i+len(`"next":`):]
	if bytes.HasPrefix(rest, []byte("null")) {
		return "", true
	}
	if len(rest) < 2 || rest[0] != '"' {
		return "", false
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 0 {
		return "", false
	}
	return string(rest[1 : 1+end]), true
}

// fragment is a 3 to 6 character piece of a random seeded name, as a user
// would type it.
func (w *worker) fragment() string {
	name := []rune(groupName(w.rnd.IntN(w.env.groups)))
	n := 3 + w.rnd.IntN(4)
	i := w.rnd.IntN(len(name) - n + 1)
	return string(name[i : i+n])
}

func opSearch(ctx context.Context, c *http.Client, w *worker) error {
	req, err := w.env.request(ctx, http.MethodGet, "/api/v2/groups?q="+url.QueryEscape(w.fragment()), nil)
	if err != nil {
		return err
	}
	_, _, err = do(c, req, http.StatusOK, false)
	return err
}

func opCreate(ctx context.Context, c *http.Client, w *worker) error {
	body := fmt.Sprintf(`{"name":"Bench %s %d","description":"created by groupsbench"}`, w.env.tag, w.env.names.Add(1))
	req, err := w.env.request(ctx, http.MethodPost, "/api/v2/groups", []byte(body), "Content-Type", "application/json")
	if err != nil {
		return err
	}
	_, _, err = do(c, req, http.StatusCreated, false)
	return err
}

// patchTarget is the k-th group of worker w's pool.
func (w *worker) patchTarget(k int) string {
	per := min(patchPool, w.env.groups/(len(w.env.etags)))
	return w.env.ids[w.id*per+k%per].String()
}

func opPatch(ctx context.Context, c *http.Client, w *worker) error {
	w.seq++
	id := w.patchTarget(w.seq)
	etags := w.env.etags[w.id]
	body := fmt.Sprintf(`{"description":"patched by groupsbench %s %d"}`, w.env.tag, w.seq)
	req, err := w.env.request(ctx, http.MethodPatch, "/api/v2/groups/"+id, []byte(body),
		"Content-Type", "application/merge-patch+json", "If-Match", etags[id])
	if err != nil {
		return err
	}
	resp, _, err := do(c, req, http.StatusOK, false)
	if err != nil {
		return err
	}
	etags[id] = resp.Header.Get("ETag")
	return nil
}

// opMixed is 80% get, 15% list, 2.5% create and 2.5% patch.
func opMixed(ctx context.Context, c *http.Client, w *worker) error {
	switch n := w.rnd.IntN(1000); {
	case n < 800:
		return opGet(ctx, c, w)
	case n < 950:
		return opList(ctx, c, w)
	case n < 975:
		return opCreate(ctx, c, w)
	default:
		return opPatch(ctx, c, w)
	}
}

var ops = map[string]op{
	"get": opGet, "list": opList, "listDeep": opListDeep, "cursor": opCursor, "search": opSearch,
	"create": opCreate, "patch": opPatch, "mixed": opMixed,
	"listMembers": opListMembers, "memberCursor": opMemberCursor, "userGroups": opUserGroups,
	"addMember": opAddMember, "changeMembers": opChangeMembers,
}

// getPage lists one page during setup (not measured).
func (e *env) getPage(ctx context.Context, c *http.Client, path string) (pageBody, error) {
	var p pageBody
	req, err := e.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return p, err
	}
	_, body, err := do(c, req, http.StatusOK, true)
	if err != nil {
		return p, err
	}
	return p, json.Unmarshal(body, &p)
}

// setup prepares workload name outside the measured time: the totals for
// deep pages, cursors at 99% depth, and the ETags of the patch pools.
func (e *env) setup(ctx context.Context, c *http.Client, name string, clients int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.total == 0 {
		p, err := e.getPage(ctx, c, "/api/v2/groups?size=1")
		if err != nil {
			return err
		}
		e.total = p.Page.TotalElements
	}
	switch name {
	case "cursor":
		if e.cursors != nil {
			return nil
		}
		for i := range min(clients, 8) {
			page := max(0, e.deepPage()-i*3)
			p, err := e.getPage(ctx, c, "/api/v2/groups?size="+strconv.Itoa(pageSize)+"&page="+strconv.Itoa(page))
			if err != nil {
				return err
			}
			if p.Page.Next == nil {
				return fmt.Errorf("page %d at 99%% depth has no next cursor", page)
			}
			e.cursors = append(e.cursors, *p.Page.Next)
		}
	case "memberCursor":
		return e.setupMemberCursors(ctx, c)
	case "patch", "mixed":
		if e.etags != nil {
			return nil
		}
		e.etags = make([]map[string]string, clients)
		for i := range clients {
			w := &worker{id: i, env: e}
			e.etags[i] = map[string]string{}
			for k := range min(patchPool, e.groups/clients) {
				id := w.patchTarget(k)
				req, err := e.request(ctx, http.MethodGet, "/api/v2/groups/"+id, nil)
				if err != nil {
					return err
				}
				resp, _, err := do(c, req, http.StatusOK, false)
				if err != nil {
					return err
				}
				e.etags[i][id] = resp.Header.Get("ETag")
			}
		}
	}
	return nil
}

// result is one row of the table.
type result struct {
	db, workload     string
	requests, errors int64
	elapsed          time.Duration
	p50, p99, max    time.Duration
	rss              int64
	// serverCPU and clientCPU are CPU time per request of the server
	// process and of this one: unlike req/s they barely depend on what else
	// the machine is running.
	serverCPU, clientCPU time.Duration
	firstErrors          []string
}

func (r result) rate() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// runWorkload runs workload name against e for cfg.Warmup unmeasured, then
// cfg.Duration measured, with cfg.Concurrency clients.
func runWorkload(ctx context.Context, cfg Config, c *http.Client, p *progress, db, name string, e *env) (result, error) {
	if err := e.setup(ctx, c, name, cfg.Concurrency); err != nil {
		return result{}, fmt.Errorf("setup: %w", err)
	}
	return load(ctx, cfg, c, p, db, name, e, ops[name])
}

// load drives fn with cfg.Concurrency clients and measures it.
func load(ctx context.Context, cfg Config, c *http.Client, p *progress, db, name string, e *env, fn op) (result, error) {
	var phase atomic.Int32 // 0 warmup, 1 measured, 2 stop
	var done, failed, warmFailed atomic.Int64
	lat := make([][]time.Duration, cfg.Concurrency)
	errs := make([][]string, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{id: i, env: e, rnd: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))}
			for {
				ph := phase.Load()
				if ph == 2 || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				err := fn(ctx, c, w)
				d := time.Since(t0)
				if ph != 1 || phase.Load() != 1 {
					// Errors outside the measured window still count: the
					// smoke run must see every failure.
					if err != nil && ctx.Err() == nil {
						warmFailed.Add(1)
						if len(errs[i]) < 3 {
							errs[i] = append(errs[i], err.Error())
						}
					}
					continue
				}
				done.Add(1)
				lat[i] = append(lat[i], d)
				if err != nil {
					failed.Add(1)
					if len(errs[i]) < 3 {
						errs[i] = append(errs[i], err.Error())
					}
				}
			}
		}()
	}
	sleep(ctx, cfg.Warmup)
	phase.Store(1)
	start := time.Now()
	server0, client0 := procCPU(e.pid), procCPU(os.Getpid())
	tick := time.NewTicker(5 * time.Second)
	end := time.NewTimer(cfg.Duration)
loop:
	for {
		select {
		case <-tick.C:
			p.printf("%s %s: %v/%v, %d requests, %d errors", db, name, time.Since(start).Round(time.Second), cfg.Duration, done.Load(), failed.Load())
		case <-end.C:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	tick.Stop()
	phase.Store(2)
	elapsed := time.Since(start)
	server1, client1 := procCPU(e.pid), procCPU(os.Getpid())
	wg.Wait()

	r := result{db: db, workload: name, elapsed: elapsed, errors: failed.Load() + warmFailed.Load()}
	var all []time.Duration
	for i := range lat {
		all = append(all, lat[i]...)
		r.firstErrors = append(r.firstErrors, errs[i]...)
	}
	r.requests = int64(len(all))
	if r.requests > 0 {
		r.serverCPU = (server1 - server0) / time.Duration(r.requests)
		r.clientCPU = (client1 - client0) / time.Duration(r.requests)
	}
	if len(all) > 0 {
		slices.Sort(all)
		r.p50, r.p99, r.max = all[len(all)*50/100], all[len(all)*99/100], all[len(all)-1]
	}
	if len(r.firstErrors) > 5 {
		r.firstErrors = r.firstErrors[:5]
	}
	p.printf("%s %s: %.0f req/s, p50 %v, p99 %v, %d errors", db, name, r.rate(), r.p50, r.p99, r.errors)
	for _, s := range r.firstErrors {
		p.printf("  error: %s", s)
	}
	return r, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
