package server_test

// Fuzz targets for the HTTP surface. Each one sends arbitrary input through
// the full Echo stack as server.New builds it (request id, access log,
// recover, deadline, authentication, body limit, kin-openapi validator,
// strict handlers, problem+json error handler) onto a real SQLite store, and
// checks on every input:
//
//   - no panic and no 5xx;
//   - every response carries a well-formed X-Request-Id (the client's when it
//     sent a valid one);
//   - every 4xx is application/problem+json whose status equals the HTTP
//     status, whose code is one of the spec's codes and belongs to that status;
//   - every response of an API operation is one openapi.yaml documents for it,
//     with a body matching its schema (kin-openapi's response validator), and
//     group timestamps carry exactly three fractional digits;
//   - the store's invariants hold (fuzzEnv.checkStore).
//
// The targets besides FuzzRequest also predict each outcome from a model
// (which status, which stored values), so they catch wrong answers, not only
// crashes. Every fuzzing process opens one server and one database per target
// and reuses them, because the fuzz function runs thousands of times.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
	_ "github.com/mattn/go-sqlite3" // the invariant checks read the database directly

	"github.com/groupsd/groupsd"
	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/server/apitest"
	"github.com/groupsd/groupsd/server/ratelimit"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// The organizations of the fuzz environment: fuzzOrg is the caller's,
// fuzzOtherOrg owns groups the caller must never see.
const (
	fuzzOrg      = "acme"
	fuzzOtherOrg = "globex"
)

// fuzzMaxGroups bounds the database between resets, so the per-input
// invariant scan stays cheap however long the fuzzer runs.
const fuzzMaxGroups = 200

// fuzzEnv is one server over one SQLite store.
type fuzzEnv struct {
	db *store.DB
	// raw is a second connection to the same file: the invariants are checked
	// on the tables themselves, not through the code under test.
	raw *sql.DB
	// api is the server as cmd/groupsd builds it; strict is the same over the
	// same store with --require-if-match.
	api, strict *echo.Echo
	keys        map[string]string // organization -> API key
	revoked     string            // a revoked key of fuzzOrg
	// scoped are keys with other scopes or limits (see fuzzAuth), by role:
	// "admin" (fuzzOrg, every scope), "otherAdmin" (fuzzOtherOrg,
	// keys:manage), "hooks" (fuzzOrg, webhooks:manage only), "reader"
	// (fuzzOrg, groups:read), "tiny" (fuzzOrg, every scope, one request
	// per 11 days).
	scoped map[string]string
	// tinyUses counts the 2xx answers the tiny key got: at most one.
	tinyUses int
	// victims are the ids of keys that inputs act on through {key} (fuzzOrg)
	// and {otherkey} (fuzzOtherOrg); see victim.
	victims map[string]string
	// opScopes is each operation's scopes (its first security requirement).
	opScopes map[string][]string
	routes   map[string]*routers.Route
	codes    map[string]bool // the spec's ProblemCode enum
	// log holds what the server logged (warnings and errors) during the
	// current request, to show with a failure.
	log *apitest.SyncBuffer
	// versions is the highest version seen per group uuid, from ETags and
	// from the table: it must never go down.
	versions map[string]int64
	// undocumented is fuzzUndocumented unless a test clears it.
	undocumented map[string]bool
	// anchors are groups that inputs refer to through placeholders.
	anchors map[string]string // organization -> uuid
	seq     int
	last    *fuzzResponse // the latest response, for failure messages
}

func newFuzzEnv(tb testing.TB) *fuzzEnv {
	tb.Helper()
	ctx := context.Background()
	u := storetest.URL(tb, store.SQLite)
	db := storetest.OpenURL(tb, u, store.Options{})
	raw, err := sql.Open("sqlite3", "file:"+strings.TrimPrefix(u, "sqlite:")+"?_busy_timeout=5000")
	if err != nil {
		tb.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	tb.Cleanup(func() { raw.Close() })

	env := &fuzzEnv{db: db, raw: raw, keys: map[string]string{}, routes: map[string]*routers.Route{},
		codes: map[string]bool{}, log: &apitest.SyncBuffer{}, versions: map[string]int64{}, anchors: map[string]string{},
		undocumented: maps.Clone(fuzzUndocumented)}
	logger := slog.New(slog.NewTextHandler(env.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, org := range []string{fuzzOrg, fuzzOtherOrg} {
		_, secret, err := db.CreateAPIKey(ctx, org, "fuzz")
		if err != nil {
			tb.Fatal(err)
		}
		env.keys[org] = secret
	}
	k, secret, err := db.CreateAPIKey(ctx, fuzzOrg, "fuzz revoked")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := db.RevokeAPIKey(ctx, k.ID); err != nil {
		tb.Fatal(err)
	}
	env.revoked = secret
	env.scoped, env.victims = map[string]string{}, map[string]string{}
	all := slices.Clone(store.Scopes)
	for role, in := range map[string]store.NewAPIKey{
		"admin":      {Org: fuzzOrg, Scopes: all},
		"otherAdmin": {Org: fuzzOtherOrg, Scopes: []string{"keys:manage"}},
		"hooks":      {Org: fuzzOrg, Scopes: []string{"webhooks:manage"}},
		"reader":     {Org: fuzzOrg, Scopes: []string{"groups:read"}},
		"tiny":       {Org: fuzzOrg, Scopes: all, RateLimit: &store.RateLimit{PerSecond: 1e-6, Burst: 1}},
	} {
		_, secret, err := db.CreateKey(ctx, in)
		if err != nil {
			tb.Fatal(err)
		}
		env.scoped[role] = secret
	}

	auth := server.NewAuthenticator(db, logger)
	for _, requireIfMatch := range []bool{false, true} {
		_, e, err := server.New(server.Config{Store: db, Auth: auth, RequireIfMatch: requireIfMatch,
			RequestTimeout: 10 * time.Second, Logger: logger,
			// Limits on, far above what a fuzz run sends: every answer carries
			// the RateLimit fields, and the tiny key's own limit applies.
			RateLimit: ratelimit.Limit{PerSecond: 1e6, Burst: 1e6}})
		if err != nil {
			tb.Fatal(err)
		}
		if requireIfMatch {
			env.strict = e
		} else {
			env.api = e
		}
	}

	spec, err := groupsd.Spec()
	if err != nil {
		tb.Fatal(err)
	}
	spec.Servers = nil // routes are matched by Echo below, whatever the prefix
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			env.routes[method+" "+path] = &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: op}
		}
	}
	env.opScopes = map[string][]string{}
	for op, reqs := range server.OperationScopes(spec) {
		if len(reqs) > 0 {
			env.opScopes[strings.ToLower(op[:1])+op[1:]] = reqs[0]
		}
	}
	for _, c := range spec.Components.Schemas["ProblemCode"].Value.Enum {
		env.codes[fmt.Sprint(c)] = true
	}
	return env
}

// fuzzRequest is one HTTP request as a client puts it on the wire.
type fuzzRequest struct {
	method string
	target string // the request-target: path and query, as sent
	header [][2]string
	// body nil sends no body at all; chunked sends it with
	// Transfer-Encoding: chunked instead of Content-Length.
	body    []byte
	chunked bool
	// strict sends it to the server that requires If-Match.
	strict bool
}

// wire serializes the request and parses it back with net/http's own
// parser, so the handler sees exactly what a real connection would deliver.
// It reports false for input net/http would reject before any handler runs.
func (fr fuzzRequest) wire() (*http.Request, string, bool) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: groupsd.test\r\n", fr.method, fr.target)
	for _, h := range fr.header {
		if !fuzzValidFieldValue(h[1]) {
			return nil, "", false
		}
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	switch {
	case fr.body == nil:
		b.WriteString("\r\n")
	case fr.chunked:
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		for rest := fr.body; len(rest) > 0; {
			n := min(len(rest), 4096)
			fmt.Fprintf(&b, "%x\r\n", n)
			b.Write(rest[:n])
			b.WriteString("\r\n")
			rest = rest[n:]
		}
		b.WriteString("0\r\n\r\n")
	default:
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(fr.body))
		b.Write(fr.body)
	}
	wire := b.String()
	req, err := http.ReadRequest(bufio.NewReader(&b))
	if err != nil {
		return nil, "", false
	}
	for _, vs := range req.Header {
		for _, v := range vs {
			if !fuzzValidFieldValue(v) {
				return nil, "", false
			}
		}
	}
	req.RemoteAddr = "192.0.2.1:4711"
	return req, wire, true
}

// fuzzValidFieldValue is RFC 9110's field-value: no control characters but
// HTAB. net/http's server answers 400 to anything else before routing.
func fuzzValidFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// fuzzResponse is a response with the request that produced it.
type fuzzResponse struct {
	req    *http.Request
	wire   string
	sent   []byte // the request body (nil for none)
	status int
	header http.Header
	body   []byte
	op     string // operationId of the matched route, "" for none
	params map[string]string
}

func (r *fuzzResponse) String() string {
	w := r.wire
	if len(w) > 2048 {
		w = w[:2048] + fmt.Sprintf("... (%d bytes)", len(r.wire))
	}
	b := r.body
	if len(b) > 2048 {
		b = b[:2048]
	}
	return fmt.Sprintf("request:\n%q\nresponse: %d %v\n%s", w, r.status, r.header, b)
}

// replayed reports whether the response is a stored idempotent outcome.
func (r *fuzzResponse) replayed() bool { return r.header.Get("Idempotent-Replayed") == "true" }

// do serves one request and checks the invariants every response must meet.
// It reports false when the input is not a request a server could receive.
func (env *fuzzEnv) do(t testing.TB, fr fuzzRequest) (*fuzzResponse, bool) {
	t.Helper()
	req, wire, ok := fr.wire()
	if !ok {
		return nil, false
	}
	e := env.api
	if fr.strict {
		e = env.strict
	}
	// Echo's own router names the operation, exactly as it will route it.
	rc := e.NewContext(req, nil)
	e.Router().Find(req.Method, echo.GetPath(req), rc)
	res := &fuzzResponse{req: req, wire: wire, sent: fr.body, params: map[string]string{}}
	path := fuzzEchoParam.ReplaceAllString(strings.TrimPrefix(rc.Path(), "/api"), "{$1}")
	route := env.routes[req.Method+" "+path]
	if route != nil {
		// The embedded spec may spell operationIds capitalized (ListGroups).
		res.op = strings.ToLower(route.Operation.OperationID[:1]) + route.Operation.OperationID[1:]
		for i, n := range rc.ParamNames() {
			res.params[n] = rc.ParamValues()[i]
		}
	}

	env.log.Take()
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	res.status, res.header, res.body = rec.Code, rec.Header(), rec.Body.Bytes()
	env.last = res
	env.checkResponse(t, res, route)
	return res, true
}

var fuzzEchoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`) // an Echo path parameter

// fuzzRow is a groups row as stored.
type fuzzRow struct {
	UUID, Org, Name, NameKey string
	Description              *string
	CreatedAt, UpdatedAt     int64
	Version                  int64
}

const fuzzRowColumns = "uuid, org, name, name_key, description, created_at, updated_at, version"

func (env *fuzzEnv) rows(t testing.TB, where string, args ...any) []fuzzRow {
	t.Helper()
	rs, err := env.raw.Query("SELECT "+fuzzRowColumns+" FROM groups "+where, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []fuzzRow
	for rs.Next() {
		var r fuzzRow
		var desc sql.NullString
		if err := rs.Scan(&r.UUID, &r.Org, &r.Name, &r.NameKey, &desc, &r.CreatedAt, &r.UpdatedAt, &r.Version); err != nil {
			t.Fatal(err)
		}
		if desc.Valid {
			r.Description = &desc.String
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (env *fuzzEnv) row(t testing.TB, uuid string) (fuzzRow, bool) {
	t.Helper()
	rs := env.rows(t, "WHERE uuid = ?", uuid)
	if len(rs) == 0 {
		return fuzzRow{}, false
	}
	return rs[0], true
}

// reset empties the groups, live and trashed (and their members, references
// and the idempotency records that refer to them), behind the server's back
// but consistently.
func (env *fuzzEnv) reset(t testing.TB) {
	t.Helper()
	tx, err := env.raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"DELETE FROM members", "DELETE FROM group_references", "DELETE FROM groups", "DELETE FROM deleted_groups",
		"DELETE FROM group_counts", "DELETE FROM idempotency_keys"} {
		if _, err := tx.Exec(q); err != nil {
			tx.Rollback()
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	clear(env.versions)
	clear(env.anchors)
}

// create stores a group directly, for setting up state.
func (env *fuzzEnv) create(t testing.TB, org, name string) store.Group {
	t.Helper()
	g, err := env.db.CreateGroup(context.Background(), org, store.NewGroup{Name: name})
	if err != nil {
		t.Fatalf("create %q in %s: %v", name, org, err)
	}
	return g
}

// anchor returns a group of org that inputs can address through the
// {uuid}/{other} placeholders, creating one when org has none.
func (env *fuzzEnv) anchor(t testing.TB, org string) fuzzRow {
	t.Helper()
	if id, ok := env.anchors[org]; ok {
		if r, ok := env.row(t, id); ok {
			return r
		}
	}
	rs := env.rows(t, "WHERE org = ? ORDER BY created_at, uuid LIMIT 1", org)
	if len(rs) == 0 {
		env.seq++
		g := env.create(t, org, fmt.Sprintf("Anchor %d", env.seq))
		r, _ := env.row(t, g.UUID)
		rs = []fuzzRow{r}
	}
	env.anchors[org] = rs[0].UUID
	return rs[0]
}

func (env *fuzzEnv) bearer(org string) string { return "Bearer " + env.keys[org] }

// victim returns the id of the {key} (fuzzOrg) or {otherkey} (fuzzOtherOrg)
// key, making a new one (groups:read) when an input deleted it.
func (env *fuzzEnv) victim(t testing.TB, org string) string {
	t.Helper()
	ctx := context.Background()
	if id, ok := env.victims[org]; ok {
		if _, err := env.db.GetAPIKey(ctx, org, id); err == nil {
			return id
		}
	}
	k, _, err := env.db.CreateKey(ctx, store.NewAPIKey{Org: org, Label: "fuzz victim", Scopes: []string{"groups:read"}})
	if err != nil {
		t.Fatal(err)
	}
	env.victims[org] = k.ID
	return k.ID
}

// fuzzJSONString is what s becomes after a JSON round trip (invalid UTF-8
// turns into U+FFFD), which is what the server receives.
func fuzzJSONString(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}
