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
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
	_ "github.com/mattn/go-sqlite3" // the invariant checks read the database directly

	"github.com/groupsd/groupsd"
	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server"
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
	routes      map[string]*routers.Route
	codes       map[string]bool // the spec's ProblemCode enum
	log         *fuzzLog
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
		codes: map[string]bool{}, log: &fuzzLog{}, versions: map[string]int64{}, anchors: map[string]string{},
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

	auth := server.NewAuthenticator(db, logger)
	for _, requireIfMatch := range []bool{false, true} {
		_, e, err := server.New(server.Config{Store: db, Auth: auth, RequireIfMatch: requireIfMatch,
			RequestTimeout: 10 * time.Second, Logger: logger})
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
	for _, c := range spec.Components.Schemas["ProblemCode"].Value.Enum {
		env.codes[fmt.Sprint(c)] = true
	}
	return env
}

// fuzzLog keeps what the server logged during the current request (warnings
// and errors), to show with a failure.
type fuzzLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *fuzzLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *fuzzLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.buf.String()
	l.buf.Reset()
	return s
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
	res := &fuzzResponse{req: req, wire: wire, params: map[string]string{}}
	path := fuzzEchoParam.ReplaceAllString(strings.TrimPrefix(rc.Path(), "/api"), "{$1}")
	route := env.routes[req.Method+" "+path]
	if route != nil {
		// The embedded spec may spell operationIds capitalized (ListGroups).
		res.op = strings.ToLower(route.Operation.OperationID[:1]) + route.Operation.OperationID[1:]
		for i, n := range rc.ParamNames() {
			res.params[n] = rc.ParamValues()[i]
		}
	}

	env.log.take()
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	res.status, res.header, res.body = rec.Code, rec.Header(), rec.Body.Bytes()
	env.last = res
	env.checkResponse(t, res, route)
	return res, true
}

var (
	fuzzEchoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)
	fuzzRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	fuzzTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
	fuzzStrongTag = regexp.MustCompile(`^"([1-9][0-9]*)"$`)
)

// fuzzUndocumented lists statuses the server answers that openapi.yaml does
// not document for the operation. Keep it empty: an entry is a spec bug.
var fuzzUndocumented = map[string]bool{}

// fuzzCodeStatus is the status each problem code belongs to.
var fuzzCodeStatus = map[api.ProblemCode]int{
	api.VALIDATIONERROR: 400, api.UNAUTHORIZED: 401, api.NOTFOUND: 404, api.METHODNOTALLOWED: 405,
	api.NOTACCEPTABLE: 406, api.NAMECONFLICT: 409, api.IDEMPOTENCYINFLIGHT: 409, api.PRECONDITIONFAILED: 412,
	api.PAYLOADTOOLARGE: 413, api.UNSUPPORTEDMEDIATYPE: 415, api.IDEMPOTENCYKEYREUSED: 422,
	api.PRECONDITIONREQUIRED: 428, api.INTERNAL: 500, api.SERVICEUNAVAILABLE: 503,
}

func (env *fuzzEnv) checkResponse(t testing.TB, res *fuzzResponse, route *routers.Route) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\n%s\nserver log:\n%s", fmt.Sprintf(format, args...), res, env.log.take())
	}
	if res.status >= 500 || res.status < 100 {
		fail("status %d", res.status)
	}
	id := res.header.Get("X-Request-Id")
	if !fuzzRequestID.MatchString(id) {
		fail("X-Request-Id %q is malformed", id)
	}
	if sent := res.req.Header.Get("X-Request-Id"); fuzzRequestID.MatchString(sent) && id != sent {
		fail("X-Request-Id %q, want the client's %q", id, sent)
	}
	if res.status >= 400 {
		env.checkProblem(t, res, fail)
	}
	if route == nil {
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: res.req, PathParams: res.params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: res.status, Header: res.header,
		Body: io.NopCloser(bytes.NewReader(res.body)),
		Options: &openapi3filter.Options{MultiError: true,
			IncludeResponseStatus: !env.undocumented[res.op+" "+strconv.Itoa(res.status)]},
	})
	if err != nil {
		fail("%s: response does not match openapi.yaml: %v", res.op, err)
	}
	switch {
	case res.status == 304:
		env.sawVersion(t, res, res.params["uuid"], fail)
	case res.status == 200 && res.op == "listGroups":
		var p fuzzPage
		if err := json.Unmarshal(res.body, &p); err != nil {
			fail("page: %v", err)
		}
		for _, g := range p.Content {
			fuzzCheckGroup(g, fail)
		}
		if p.Page.Size < 1 || len(p.Content) > int(p.Page.Size) {
			fail("%d groups on a page of size %d", len(p.Content), p.Page.Size)
		}
		if want := (p.Page.TotalElements + int64(p.Page.Size) - 1) / int64(p.Page.Size); int64(p.Page.TotalPages) != want {
			fail("totalPages %d, want %d", p.Page.TotalPages, want)
		}
	case res.status/100 == 2 && res.op != "deleteGroup":
		var g fuzzGroup
		if err := json.Unmarshal(res.body, &g); err != nil {
			fail("group: %v", err)
		}
		fuzzCheckGroup(g, fail)
		if res.status == 201 && res.header.Get("Location") != "/api/v2/groups/"+g.UUID {
			fail("Location %q, want the canonical path of %s", res.header.Get("Location"), g.UUID)
		}
		if !res.replayed() { // a replay repeats the ETag of its time
			env.sawVersion(t, res, g.UUID, fail)
		}
	}
}

// sawVersion checks the response's ETag against the highest version seen
// for the group, and records it.
func (env *fuzzEnv) sawVersion(t testing.TB, res *fuzzResponse, uuid string, fail func(string, ...any)) int64 {
	t.Helper()
	m := fuzzStrongTag.FindStringSubmatch(res.header.Get("ETag"))
	if m == nil {
		fail("ETag %q is not a strong version tag", res.header.Get("ETag"))
	}
	v, _ := strconv.ParseInt(m[1], 10, 64)
	uuid = strings.ToLower(uuid)
	if v < env.versions[uuid] {
		fail("group %s went back from version %d to %d", uuid, env.versions[uuid], v)
	}
	env.versions[uuid] = v
	return v
}

func (env *fuzzEnv) checkProblem(t testing.TB, res *fuzzResponse, fail func(string, ...any)) {
	t.Helper()
	if mt, _, err := mime.ParseMediaType(res.header.Get("Content-Type")); err != nil || mt != "application/problem+json" {
		fail("a %d with Content-Type %q, want application/problem+json", res.status, res.header.Get("Content-Type"))
	}
	switch res.status {
	case 401:
		if res.header.Get("WWW-Authenticate") == "" {
			fail("401 without WWW-Authenticate")
		}
	case 405:
		if res.header.Get("Allow") == "" {
			fail("405 without Allow")
		}
	}
	if res.req.Method == http.MethodHead {
		if len(res.body) != 0 {
			fail("a HEAD response has a body")
		}
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(res.body, &fields); err != nil {
		fail("problem body is not a JSON object: %v", err)
	}
	for _, k := range []string{"type", "title", "status", "detail", "instance", "code", "requestId"} {
		if _, ok := fields[k]; !ok {
			fail("problem has no %q", k)
		}
	}
	var p api.Problem
	if err := json.Unmarshal(res.body, &p); err != nil {
		fail("problem body does not parse as Problem: %v", err)
	}
	if int(p.Status) != res.status {
		fail("problem status %d on a %d response", p.Status, res.status)
	}
	if !env.codes[string(p.Code)] {
		fail("problem code %q is not in the spec's ProblemCode enum", p.Code)
	}
	if want, ok := fuzzCodeStatus[p.Code]; ok && want != res.status {
		fail("problem code %s on a %d response, want %d", p.Code, res.status, want)
	}
	if p.Title != http.StatusText(res.status) {
		fail("problem title %q, want %q", p.Title, http.StatusText(res.status))
	}
	for _, fe := range fuzzProblemErrors(p) {
		if fe.Detail == "" {
			fail("problem errors entry without detail")
		}
		if fe.Pointer != nil && *fe.Pointer != "" && !strings.HasPrefix(*fe.Pointer, "/") {
			fail("problem errors pointer %q is not a JSON Pointer", *fe.Pointer)
		}
	}
	// A replayed idempotent outcome repeats the first request's body byte for
	// byte, its requestId and instance included.
	if !res.replayed() {
		if p.RequestId != res.header.Get("X-Request-Id") {
			fail("problem requestId %q, X-Request-Id %q", p.RequestId, res.header.Get("X-Request-Id"))
		}
		if p.Instance != res.req.URL.EscapedPath() {
			fail("problem instance %q, want the path as sent %q", p.Instance, res.req.URL.EscapedPath())
		}
	}
}

// fuzzGroup and fuzzPage are the wire forms of Group and GroupPage; the
// validator has already checked them against the schema.
type fuzzGroup struct {
	UUID        string  `json:"uuid"`
	Name        string  `json:"name"`
	Description *string `json:"description"`
	CreatedAt   string  `json:"createdAt"`
	UpdatedAt   string  `json:"updatedAt"`
}

type fuzzPage struct {
	Content []fuzzGroup `json:"content"`
	Page    struct {
		Size          int32   `json:"size"`
		Number        int32   `json:"number"`
		TotalElements int64   `json:"totalElements"`
		TotalPages    int32   `json:"totalPages"`
		Next          *string `json:"next"`
	} `json:"page"`
}

func fuzzCheckGroup(g fuzzGroup, fail func(string, ...any)) {
	if !fuzzTimestamp.MatchString(g.CreatedAt) || !fuzzTimestamp.MatchString(g.UpdatedAt) {
		fail("timestamps %q, %q: want UTC with three fractional digits", g.CreatedAt, g.UpdatedAt)
	}
	if g.UpdatedAt < g.CreatedAt {
		fail("updatedAt %s before createdAt %s", g.UpdatedAt, g.CreatedAt)
	}
	if fuzzNameProblem(g.Name) != "" || strings.TrimFunc(g.Name, unicode.IsSpace) != g.Name {
		fail("group name %q is not a trimmed valid name", g.Name)
	}
}

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

// checkStore checks the invariants of the whole database and returns how
// many groups it holds: names are valid, trimmed and stored with their
// NameKey; no two groups of an organization share a NameKey; no version
// went down; group_counts equals the real count of every organization.
func (env *fuzzEnv) checkStore(t testing.TB) int {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("store invariant: %s\nafter\n%s", fmt.Sprintf(format, args...), env.last)
	}
	rows := env.rows(t, "")
	byKey := map[[2]string]string{}
	counts := map[string]int64{}
	for _, r := range rows {
		if p := fuzzNameProblem(r.Name); p != "" {
			fail("group %s has name %q: %s", r.UUID, r.Name, p)
		}
		if strings.TrimFunc(r.Name, unicode.IsSpace) != r.Name {
			fail("group %s has untrimmed name %q", r.UUID, r.Name)
		}
		if r.NameKey != store.NameKey(r.Name) {
			fail("group %s name %q stored with key %q, want %q", r.UUID, r.Name, r.NameKey, store.NameKey(r.Name))
		}
		k := [2]string{r.Org, store.NameKey(r.Name)}
		if other, dup := byKey[k]; dup {
			fail("groups %s and %s of %s share the name key %q", other, r.UUID, r.Org, k[1])
		}
		byKey[k] = r.UUID
		if r.Description != nil && fuzzDescriptionProblem(*r.Description) != "" {
			fail("group %s has description %q: %s", r.UUID, *r.Description, fuzzDescriptionProblem(*r.Description))
		}
		if r.Version < 1 || r.Version < env.versions[r.UUID] {
			fail("group %s is at version %d after %d was seen", r.UUID, r.Version, env.versions[r.UUID])
		}
		env.versions[r.UUID] = r.Version
		if r.UpdatedAt < r.CreatedAt {
			fail("group %s updated before it was created", r.UUID)
		}
		counts[r.Org]++
	}
	rs, err := env.raw.Query("SELECT org, n FROM group_counts")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	stored := map[string]int64{}
	for rs.Next() {
		var org string
		var n int64
		if err := rs.Scan(&org, &n); err != nil {
			t.Fatal(err)
		}
		stored[org] = n
	}
	for _, org := range slices.Sorted(maps.Keys(counts)) {
		if stored[org] != counts[org] {
			fail("group_counts says %d groups for %s, the table holds %d", stored[org], org, counts[org])
		}
	}
	for org, n := range stored {
		if n != counts[org] {
			fail("group_counts says %d groups for %s, the table holds %d", n, org, counts[org])
		}
	}
	return len(rows)
}

// reset empties the groups (and the idempotency records that refer to
// them), behind the server's back but consistently.
func (env *fuzzEnv) reset(t testing.TB) {
	t.Helper()
	tx, err := env.raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"DELETE FROM groups", "DELETE FROM group_counts", "DELETE FROM idempotency_keys"} {
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

// fuzzNameProblem says why name breaks the spec's GroupName rules (length in
// code points, no Unicode Cc characters, not blank once trimmed), or "".
func fuzzNameProblem(name string) string {
	switch n := utf8.RuneCountInString(name); {
	case n < 1:
		return "empty"
	case n > 255:
		return "longer than 255 code points"
	}
	if strings.IndexFunc(name, func(r rune) bool { return unicode.Is(unicode.Cc, r) }) >= 0 {
		return "contains a control character"
	}
	if strings.TrimFunc(name, unicode.IsSpace) == "" {
		return "blank"
	}
	return ""
}

// fuzzDescriptionProblem says why a description breaks GroupDescription, or "".
func fuzzDescriptionProblem(d string) string {
	if utf8.RuneCountInString(d) > 2000 {
		return "longer than 2000 code points"
	}
	if strings.ContainsRune(d, 0) {
		return "contains NUL"
	}
	return ""
}

// fuzzJSONString is what s becomes after a JSON round trip (invalid UTF-8
// turns into U+FFFD), which is what the server receives.
func fuzzJSONString(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

// fuzzIfMatchHolds is RFC 9110 13.1.1 for a group at version: "*" or a
// listed entity tag equal, character for character, to the group's strong
// ETag. A blank header is no condition.
func fuzzIfMatchHolds(h string, version int64) bool {
	h = strings.Trim(h, " \t")
	if h == "" || h == "*" {
		return true
	}
	tag := `"` + strconv.FormatInt(version, 10) + `"`
	for _, el := range strings.Split(h, ",") {
		if strings.Trim(el, " \t") == tag {
			return true
		}
	}
	return false
}

// fuzzNoneMatchHolds is RFC 9110 13.1.2: "*" or a listed entity tag weakly
// equal to etag (the opaque tags match, W/ prefixes ignored). A "*" inside a
// list is not valid syntax; it matches too, as the server reads it.
func fuzzNoneMatchHolds(h, etag string) bool {
	for _, el := range strings.Split(h, ",") {
		el = strings.Trim(el, " \t")
		if el == "*" || strings.TrimPrefix(el, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

func fuzzStatusIn(t testing.TB, env *fuzzEnv, res *fuzzResponse, want ...int) {
	t.Helper()
	if !slices.Contains(want, res.status) {
		t.Fatalf("status %d, want one of %v\n%s\nserver log:\n%s", res.status, want, res, env.log.take())
	}
}

// ---------------------------------------------------------------------------
// FuzzRequest: anything at all.

// fuzzRequestInput is one input of FuzzRequest. In path, query, the If-* headers
// and the body, {uuid} becomes a group of the caller's organization, {other}
// a group of another organization, {etag} the current ETag of {uuid} and {v}
// its version number.
type fuzzRequestInput struct {
	Method, Path, Query                string
	ContentType, IfMatch, IfNoneMatch  string
	IdempotencyKey, RequestID, AuthRaw string
	Auth                               uint8 // see fuzzAuth
	Body                               []byte
	// Flags: 1 chunked body, 2 the --require-if-match server, 4 no body at
	// all, 8 pad the body with spaces to exactly 1 MiB, 16 to 1 MiB + 1, 32
	// send every header but Authorization twice.
	Flags uint8
}

// The outcomes an Authorization header can have.
const (
	fuzzAuthInvalid = iota // must get 401 on an API path
	fuzzAuthValid          // must never get 401
	fuzzAuthEither         // not asserted (see fuzzAuth)
)

// fuzzAuth is the Authorization header for mode%8 ("" for none) and what
// the server must make of it.
func (env *fuzzEnv) fuzzAuth(mode uint8, raw string) (string, int) {
	switch mode % 8 {
	case 0:
		return env.bearer(fuzzOrg), fuzzAuthValid
	case 1:
		return env.bearer(fuzzOtherOrg), fuzzAuthValid
	case 2:
		return "", fuzzAuthInvalid
	case 3:
		return "Bearer " + raw, fuzzAuthInvalid
	case 4:
		return raw, fuzzAuthInvalid
	case 5:
		return "bEaReR " + env.keys[fuzzOrg], fuzzAuthValid // the scheme is case-insensitive
	case 6:
		return "Bearer " + env.revoked, fuzzAuthInvalid
	default:
		// RFC 9110 11.4 allows several spaces after the scheme; the server
		// answers 401 (reported, see TestFuzzRegressions).
		return "Bearer  " + env.keys[fuzzOrg], fuzzAuthEither
	}
}

func fuzzIsAPIPath(p string) bool {
	return p == "/v2" || p == "/api/v2" || strings.HasPrefix(p, "/v2/") || strings.HasPrefix(p, "/api/v2/")
}

func (env *fuzzEnv) request(t testing.TB, in fuzzRequestInput) {
	t.Helper()
	subst := func(s string) string {
		if !strings.Contains(s, "{") {
			return s
		}
		a := env.anchor(t, fuzzOrg)
		s = strings.ReplaceAll(s, "{uuid}", a.UUID)
		s = strings.ReplaceAll(s, "{etag}", `"`+strconv.FormatInt(a.Version, 10)+`"`)
		s = strings.ReplaceAll(s, "{v}", strconv.FormatInt(a.Version, 10))
		if strings.Contains(s, "{other}") {
			s = strings.ReplaceAll(s, "{other}", env.anchor(t, fuzzOtherOrg).UUID)
		}
		return s
	}
	fr := fuzzRequest{method: in.Method, target: subst(in.Path), chunked: in.Flags&1 != 0, strict: in.Flags&2 != 0}
	if in.Query != "" {
		fr.target += "?" + subst(in.Query)
	}
	authz, authWant := env.fuzzAuth(in.Auth, in.AuthRaw)
	for i, h := range [][2]string{
		{"Authorization", authz}, {"Content-Type", in.ContentType}, {"If-Match", subst(in.IfMatch)},
		{"If-None-Match", subst(in.IfNoneMatch)}, {"Idempotency-Key", in.IdempotencyKey}, {"X-Request-Id", in.RequestID},
	} {
		if h[1] != "" {
			fr.header = append(fr.header, h)
			if i > 0 && in.Flags&32 != 0 {
				fr.header = append(fr.header, h)
			}
		}
	}
	if in.Flags&4 == 0 {
		fr.body = []byte(subst(string(in.Body)))
		switch {
		case in.Flags&16 != 0:
			fr.body = append(fr.body, bytes.Repeat([]byte{' '}, max(0, server.MaxBodyBytes+1-len(fr.body)))...)
		case in.Flags&8 != 0 && len(fr.body) <= server.MaxBodyBytes:
			fr.body = append(fr.body, bytes.Repeat([]byte{' '}, server.MaxBodyBytes-len(fr.body))...)
		}
	}
	res, ok := env.do(t, fr)
	if !ok {
		return
	}
	protected := fuzzIsAPIPath(res.req.URL.Path) || res.op != ""
	switch {
	case protected && authWant == fuzzAuthInvalid && res.status != 401:
		t.Fatalf("an API request without a valid key got %d, want 401\n%s", res.status, res)
	case authWant == fuzzAuthValid && res.status == 401:
		t.Fatalf("a valid key got 401\n%s", res)
	case res.status != 401 && len(fr.body) > server.MaxBodyBytes && res.status != 413:
		t.Fatalf("a %d-byte body got %d, want 413\n%s", len(fr.body), res.status, res)
	case len(fr.body) <= server.MaxBodyBytes && res.status == 413:
		t.Fatalf("a %d-byte body got 413\n%s", len(fr.body), res)
	case authWant == fuzzAuthValid && res.req.Header.Get("Content-Type") == "" && len(fr.body) > 0 &&
		len(fr.body) <= server.MaxBodyBytes && slices.Contains([]string{"createGroup", "updateGroup", "replaceGroup"}, res.op) &&
		res.status != 415:
		t.Fatalf("a body without Content-Type got %d, want 415\n%s", res.status, res)
	}
	if inm := res.req.Header.Values("If-None-Match"); res.op == "getGroup" && len(inm) == 1 && (res.status == 200 || res.status == 304) {
		if holds := fuzzNoneMatchHolds(inm[0], res.header.Get("ETag")); holds != (res.status == 304) {
			t.Fatalf("If-None-Match %q against ETag %s got %d\n%s", inm[0], res.header.Get("ETag"), res.status, res)
		}
	}
	if m := res.req.Method; m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions {
		if env.checkStore(t) > fuzzMaxGroups {
			env.reset(t)
		}
	}
}

func FuzzRequest(f *testing.F) {
	env := newFuzzEnv(f)
	for _, in := range []fuzzRequestInput{
		{Method: "GET", Path: "/api/v2/groups", Query: "page=0&size=2&sort=name,desc&q=an"},
		{Method: "GET", Path: "/v2/groups/{uuid}", IfNoneMatch: "{etag}"},
		{Method: "GET", Path: "/v2/groups/{uuid}", IfNoneMatch: `"1", W/"{v}"`},
		{Method: "GET", Path: "/api/v2/groups/{other}"},
		{Method: "GET", Path: "/api/v2/groups/not-a-uuid", RequestID: "trace-1"},
		{Method: "POST", Path: "/api/v2/groups", ContentType: "application/json", Body: []byte(`{"name":" Finance ","description":null}`)},
		{Method: "POST", Path: "/v2/groups", ContentType: "application/json", IdempotencyKey: "k1", Body: []byte(`{"name":"Ops"}`), Flags: 1},
		{Method: "POST", Path: "/api/v2/groups", ContentType: "text/plain", Body: []byte(`{"name":"x"}`)},
		{Method: "POST", Path: "/api/v2/groups", ContentType: "application/json", Body: []byte(`{"name":"big"}`), Flags: 8},
		{Method: "POST", Path: "/api/v2/groups", ContentType: "application/json", Body: []byte(`{"name":"big"}`), Flags: 16},
		{Method: "PATCH", Path: "/api/v2/groups/{uuid}", ContentType: "application/merge-patch+json", IfMatch: "{etag}", Body: []byte(`{"description":"d"}`)},
		{Method: "PATCH", Path: "/api/v2/groups/{uuid}", ContentType: "application/json", Body: []byte(`{"name":null}`), Flags: 2},
		{Method: "PUT", Path: "/api/v2/groups", ContentType: "application/json", IfMatch: `W/"1"`, Body: []byte(`{"uuid":"{uuid}","name":"Renamed"}`)},
		{Method: "DELETE", Path: "/api/v2/groups/{uuid}", IfMatch: `"999"`},
		{Method: "DELETE", Path: "/v2/groups", Auth: 2},
		{Method: "GET", Path: "/api/v2/groups", Auth: 3, AuthRaw: "gk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{Method: "GET", Path: "/healthz", Auth: 2},
		{Method: "OPTIONS", Path: "/api/v2/groups"},
		{Method: "HEAD", Path: "/api/v2/groups/{uuid}"},
		{Method: "PATCH", Path: "/api/v2/groups/{uuid}", ContentType: "application/json", IfMatch: "{etag}", RequestID: "twice", Body: []byte(`{}`), Flags: 32},
	} {
		f.Add(in.Method, in.Path, in.Query, in.ContentType, in.IfMatch, in.IfNoneMatch, in.IdempotencyKey,
			in.RequestID, in.AuthRaw, in.Auth, in.Body, in.Flags)
	}
	f.Fuzz(func(t *testing.T, method, path, query, contentType, ifMatch, ifNoneMatch, idempotencyKey,
		requestID, authRaw string, auth uint8, body []byte, flags uint8) {
		env.request(t, fuzzRequestInput{Method: method, Path: path, Query: query, ContentType: contentType,
			IfMatch: ifMatch, IfNoneMatch: ifNoneMatch, IdempotencyKey: idempotencyKey, RequestID: requestID,
			AuthRaw: authRaw, Auth: auth, Body: body, Flags: flags})
	})
}

// ---------------------------------------------------------------------------
// FuzzCreateGroup: names and descriptions, against the spec's rules.

// fuzzCreateInput is one input of FuzzCreateGroup.
type fuzzCreateInput struct {
	Name, Description string
	// DescMode%3: 0 absent, 1 null, 2 Description.
	DescMode       uint8
	IdempotencyKey string // "" sends none
	// Flags: 1 use /v2 instead of /api/v2, 2 add an unknown property.
	Flags uint8
}

// fuzzIdem is the outcome an Idempotency-Key was first used for.
type fuzzIdem struct {
	fingerprint string
	status      int
	body        []byte
}

// fuzzCreateState is FuzzCreateGroup's memory of used idempotency keys.
type fuzzCreateState struct{ idem map[string]fuzzIdem }

func (env *fuzzEnv) createGroup(t testing.TB, st *fuzzCreateState, in fuzzCreateInput) {
	t.Helper()
	body := map[string]any{"name": in.Name}
	name, desc := fuzzJSONString(in.Name), (*string)(nil)
	switch in.DescMode % 3 {
	case 1:
		body["description"] = nil
	case 2:
		body["description"] = in.Description
		d := fuzzJSONString(in.Description)
		desc = &d
	}
	if in.Flags&2 != 0 {
		body["color"] = "red"
	}
	b, _ := json.Marshal(body)
	fr := fuzzRequest{method: "POST", target: "/api/v2/groups", body: b,
		header: [][2]string{{"Authorization", env.bearer(fuzzOrg)}, {"Content-Type", "application/json"}}}
	if in.Flags&1 != 0 {
		fr.target = "/v2/groups"
	}
	key := strings.Trim(in.IdempotencyKey, " \t") // what a header value carries
	if key != "" {
		fr.header = append(fr.header, [2]string{"Idempotency-Key", key})
	}

	invalid := in.Flags&2 != 0 || fuzzNameProblem(name) != "" ||
		(desc != nil && fuzzDescriptionProblem(*desc) != "") || utf8.RuneCountInString(key) > 255
	trimmed := strings.TrimFunc(name, unicode.IsSpace)
	taken := len(env.rows(t, "WHERE org = ? AND name_key = ?", fuzzOrg, store.NameKey(trimmed))) > 0
	fp := fmt.Sprintf("%q %v", name, desc)
	if desc != nil {
		fp = fmt.Sprintf("%q %q", name, *desc)
	}
	prev, used := st.idem[key]

	res, ok := env.do(t, fr)
	if !ok {
		return
	}
	switch {
	case invalid:
		fuzzStatusIn(t, env, res, 400)
		var p api.Problem
		_ = json.Unmarshal(res.body, &p)
		if in.Flags&2 != 0 && !slices.ContainsFunc(fuzzProblemErrors(p), func(fe api.ProblemFieldError) bool {
			return fe.Pointer != nil && *fe.Pointer == "/color"
		}) {
			t.Fatalf("the problem does not name the unknown property /color\n%s", res)
		}
		return
	case key != "" && used && prev.fingerprint != fp:
		fuzzStatusIn(t, env, res, 422)
	case key != "" && used:
		fuzzStatusIn(t, env, res, prev.status)
		if !res.replayed() || !bytes.Equal(res.body, prev.body) {
			t.Fatalf("a retry with the same Idempotency-Key is not a byte-for-byte replay of\n%s\n%s", prev.body, res)
		}
	case taken:
		fuzzStatusIn(t, env, res, 409)
	default:
		fuzzStatusIn(t, env, res, 201)
		var g fuzzGroup
		_ = json.Unmarshal(res.body, &g)
		if g.Name != trimmed || !fuzzEqualDesc(g.Description, desc) {
			t.Fatalf("created name %q description %v, want %q %v\n%s", g.Name, fuzzFmtDesc(g.Description), trimmed, fuzzFmtDesc(desc), res)
		}
		get, _ := env.do(t, fuzzRequest{method: "GET", target: res.header.Get("Location"),
			header: [][2]string{{"Authorization", env.bearer(fuzzOrg)}}})
		fuzzStatusIn(t, env, get, 200)
		var got fuzzGroup
		_ = json.Unmarshal(get.body, &got)
		if got.UUID != g.UUID || got.Name != g.Name || !fuzzEqualDesc(got.Description, g.Description) ||
			got.CreatedAt != g.CreatedAt || got.UpdatedAt != g.UpdatedAt {
			t.Fatalf("GET after create returned %+v, create returned %+v", got, g)
		}
		// Searching for the exact name finds it, spelled the same.
		found, _ := env.do(t, fuzzRequest{method: "GET", target: "/api/v2/groups?size=1000&q=" + url.QueryEscape(trimmed),
			header: [][2]string{{"Authorization", env.bearer(fuzzOrg)}}})
		fuzzStatusIn(t, env, found, 200)
		var page fuzzPage
		_ = json.Unmarshal(found.body, &page)
		if !slices.ContainsFunc(page.Content, func(x fuzzGroup) bool {
			return x.UUID == g.UUID && x.Name == g.Name && fuzzEqualDesc(x.Description, g.Description) &&
				x.CreatedAt == g.CreatedAt && x.UpdatedAt == g.UpdatedAt
		}) {
			t.Fatalf("searching for %q does not list %+v\n%s", trimmed, g, found)
		}
		// The name is now taken, in every case variant.
		again, _ := json.Marshal(map[string]string{"name": strings.ToUpper(trimmed)})
		if store.NameKey(strings.ToUpper(trimmed)) != store.NameKey(trimmed) || fuzzNameProblem(strings.ToUpper(trimmed)) != "" {
			again, _ = json.Marshal(map[string]string{"name": trimmed})
		}
		dup, _ := env.do(t, fuzzRequest{method: "POST", target: "/api/v2/groups", body: again,
			header: [][2]string{{"Authorization", env.bearer(fuzzOrg)}, {"Content-Type", "application/json"}}})
		fuzzStatusIn(t, env, dup, 409)
	}
	if key != "" && !used && (res.status == 201 || res.status == 409) {
		st.idem[key] = fuzzIdem{fingerprint: fp, status: res.status, body: bytes.Clone(res.body)}
	}
	if env.checkStore(t) > fuzzMaxGroups {
		env.reset(t)
		clear(st.idem)
		env.seedNames(t)
	}
}

// seedNames creates groups whose names fuzzed names may collide with.
func (env *fuzzEnv) seedNames(t testing.TB) {
	t.Helper()
	for _, n := range []string{"Finance", "ÉQUIPE", "Straße", "\u212Aelvin", "ǅungla", "Σίσυφος"} {
		env.create(t, fuzzOrg, n)
	}
}

func fuzzEqualDesc(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func fuzzFmtDesc(d *string) string {
	if d == nil {
		return "null"
	}
	return strconv.Quote(*d)
}

func FuzzCreateGroup(f *testing.F) {
	env := newFuzzEnv(f)
	env.seedNames(f)
	st := &fuzzCreateState{idem: map[string]fuzzIdem{}}
	for _, in := range []fuzzCreateInput{
		{Name: "Marketing"},
		{Name: "  Padded\t", DescMode: 2, Description: "Approves every expense over 1,000 EUR."},
		{Name: "équipe", DescMode: 1},
		{Name: "STRASSE"},
		{Name: "kelvin", Flags: 1},
		{Name: "\u00a0\u2003", DescMode: 2},
		{Name: "bell\a"},
		{Name: strings.Repeat("é", 256)},
		{Name: "Legal", DescMode: 2, Description: "nul\x00"},
		{Name: "Retry", IdempotencyKey: "k-1"},
		{Name: "Retry", IdempotencyKey: "k-1", DescMode: 2, Description: "other"},
		{Name: "Unknown property", Flags: 2},
	} {
		f.Add(in.Name, in.Description, in.DescMode, in.IdempotencyKey, in.Flags)
	}
	f.Fuzz(func(t *testing.T, name, description string, descMode uint8, idempotencyKey string, flags uint8) {
		env.createGroup(t, st, fuzzCreateInput{Name: name, Description: description, DescMode: descMode,
			IdempotencyKey: idempotencyKey, Flags: flags})
	})
}

// ---------------------------------------------------------------------------
// FuzzUpdateGroup: PATCH and PUT against a model of one group.

// fuzzUpdateInput is one input of FuzzUpdateGroup.
type fuzzUpdateInput struct {
	Name, Description string
	// Mode: bits 0-1 name (0 absent, 2 null, else Name); bits 2-3
	// description (0 absent, 1 null, else Description); bit 4 PUT instead of
	// PATCH; bits 5-6 Content-Type (fuzzUpdateTypes); bit 7 address a group
	// of another organization.
	Mode uint8
	// IfMatch is sent when not empty; {etag} is the group's current ETag,
	// {stale} the one before, {v} the current version number.
	IfMatch string
}

var fuzzUpdateTypes = []string{"application/json", "application/merge-patch+json",
	"Application/Merge-Patch+JSON; charset=utf-8", "text/plain"}

// fuzzUpdateState names the group FuzzUpdateGroup changes and the ones it may
// collide with.
type fuzzUpdateState struct{ target, foreign string }

func (env *fuzzEnv) updateSetup(t testing.TB) *fuzzUpdateState {
	t.Helper()
	st := &fuzzUpdateState{target: env.create(t, fuzzOrg, "Target").UUID, foreign: env.create(t, fuzzOtherOrg, "Foreign").UUID}
	for _, n := range []string{"Neighbour", "Straße", "Équipe", "\u212Aelvin"} {
		env.create(t, fuzzOrg, n)
	}
	return st
}

func (env *fuzzEnv) updateGroup(t testing.TB, st *fuzzUpdateState, in fuzzUpdateInput) {
	t.Helper()
	before, ok := env.row(t, st.target)
	if !ok {
		t.Fatalf("the target group %s is gone", st.target)
	}
	nameMode, descMode := in.Mode&3, (in.Mode>>2)&3
	put, foreign := in.Mode&16 != 0, in.Mode&128 != 0
	ct := fuzzUpdateTypes[(in.Mode>>5)&3]
	id := st.target
	if foreign {
		id = st.foreign
	}

	body := map[string]any{}
	var name, desc *string
	switch nameMode {
	case 0:
	case 2:
		body["name"] = nil
	default:
		body["name"] = in.Name
		n := fuzzJSONString(in.Name)
		name = &n
	}
	switch descMode {
	case 0:
	case 1:
		body["description"] = nil
	default:
		body["description"] = in.Description
		d := fuzzJSONString(in.Description)
		desc = &d
	}
	fr := fuzzRequest{method: "PATCH", target: "/api/v2/groups/" + id}
	if put {
		fr.method, fr.target = "PUT", "/api/v2/groups"
		body["uuid"] = id
	}
	fr.body, _ = json.Marshal(body)
	fr.header = [][2]string{{"Authorization", env.bearer(fuzzOrg)}, {"Content-Type", ct}}
	ifMatch := strings.ReplaceAll(in.IfMatch, "{etag}", `"`+strconv.FormatInt(before.Version, 10)+`"`)
	ifMatch = strings.ReplaceAll(ifMatch, "{stale}", `"`+strconv.FormatInt(before.Version-1, 10)+`"`)
	ifMatch = strings.ReplaceAll(ifMatch, "{v}", strconv.FormatInt(before.Version, 10))
	ifMatch = strings.Trim(ifMatch, " \t")
	if ifMatch != "" {
		fr.header = append(fr.header, [2]string{"If-Match", ifMatch})
	}

	// What the server must answer, in the order it checks.
	var want int
	ctOK := ct != "text/plain" && (!put || ct == "application/json")
	invalid := nameMode == 2 || (put && nameMode == 0) || (name != nil && fuzzNameProblem(*name) != "") ||
		(desc != nil && fuzzDescriptionProblem(*desc) != "") || utf8.RuneCountInString(ifMatch) > 1024
	var newName string
	if name != nil {
		newName = strings.TrimFunc(*name, unicode.IsSpace)
	}
	switch {
	case !ctOK:
		want = 415
	case invalid:
		want = 400
	case foreign:
		want = 404
	case !fuzzIfMatchHolds(ifMatch, before.Version):
		want = 412
	case name != nil && len(env.rows(t, "WHERE org = ? AND name_key = ? AND uuid <> ?", fuzzOrg, store.NameKey(newName), st.target)) > 0:
		want = 409
	default:
		want = 200
	}

	res, ok := env.do(t, fr)
	if !ok {
		return
	}
	fuzzStatusIn(t, env, res, want)
	after, _ := env.row(t, st.target)
	if want != 200 {
		if !fuzzEqualRow(before, after) {
			t.Fatalf("a %d changed the group from %+v to %+v\n%s", res.status, before, after, res)
		}
		env.checkStore(t)
		return
	}
	wantRow := before
	if name != nil {
		wantRow.Name, wantRow.NameKey = newName, store.NameKey(newName)
	}
	switch {
	case put && desc == nil:
		wantRow.Description = nil
	case descMode == 1:
		wantRow.Description = nil
	case desc != nil:
		wantRow.Description = desc
	}
	changed := wantRow.Name != before.Name || !fuzzEqualDesc(wantRow.Description, before.Description)
	if changed {
		wantRow.Version++
		wantRow.UpdatedAt = after.UpdatedAt
		if after.UpdatedAt < before.UpdatedAt {
			t.Fatalf("updatedAt went back from %d to %d", before.UpdatedAt, after.UpdatedAt)
		}
	}
	if !fuzzEqualRow(wantRow, after) {
		t.Fatalf("stored %+v, want %+v (before %+v)\n%s", after, wantRow, before, res)
	}
	var g fuzzGroup
	_ = json.Unmarshal(res.body, &g)
	if g.UUID != after.UUID || g.Name != after.Name || !fuzzEqualDesc(g.Description, after.Description) ||
		g.UpdatedAt != fuzzMillis(after.UpdatedAt) ||
		res.header.Get("ETag") != `"`+strconv.FormatInt(after.Version, 10)+`"` {
		t.Fatalf("response %s (ETag %s) does not show the stored group %+v", res.body, res.header.Get("ETag"), after)
	}
	env.checkStore(t)
}

func fuzzEqualRow(a, b fuzzRow) bool {
	return a.UUID == b.UUID && a.Org == b.Org && a.Name == b.Name && a.NameKey == b.NameKey &&
		fuzzEqualDesc(a.Description, b.Description) && a.CreatedAt == b.CreatedAt &&
		a.UpdatedAt == b.UpdatedAt && a.Version == b.Version
}

func FuzzUpdateGroup(f *testing.F) {
	env := newFuzzEnv(f)
	st := env.updateSetup(f)
	for _, in := range []fuzzUpdateInput{
		{Name: "Renamed", Mode: 1, IfMatch: "{etag}"},
		{Name: "target", Mode: 1},
		{Name: "NEIGHBOUR", Mode: 1},
		{Name: "strasse", Mode: 1 | 16},
		{Mode: 2},
		{Mode: 4 | 32},
		{Description: "d", Mode: 8 | 64, IfMatch: "{stale}"},
		{Name: "x", Mode: 1 | 16 | 32},
		{Name: "Other", Mode: 1 | 128},
		{Name: "Tagged", Mode: 1, IfMatch: `W/{etag}, "0"`},
		{Name: "Star", Mode: 1, IfMatch: "*"},
		{Name: " Spaced ", Description: "kept", Mode: 1 | 8 | 16},
		{Mode: 96},
		{Name: "Quoted", Mode: 1, IfMatch: `"{v}"`},
		{Name: "Listed", Mode: 1, IfMatch: `"0", "{v}"`},
	} {
		f.Add(in.Name, in.Description, in.Mode, in.IfMatch)
	}
	f.Fuzz(func(t *testing.T, name, description string, mode uint8, ifMatch string) {
		env.updateGroup(t, st, fuzzUpdateInput{Name: name, Description: description, Mode: mode, IfMatch: ifMatch})
	})
}

// ---------------------------------------------------------------------------
// FuzzListGroups: paging, sorting, filtering and cursors against a model.

// fuzzListInput is one input of FuzzListGroups.
type fuzzListInput struct {
	Page, Size int64
	// Sort is split at ";" into sort parameters ("" sends none).
	Sort, Q, Cursor string
	// Flags: 1 send page, 2 send size, 4 send q, 8 send Cursor, 16 follow
	// page.next once, 32 use /v2 instead of /api/v2, 64 send a real cursor
	// with Cursor (a JSON object) merged into it.
	Flags uint8
}

var fuzzListNames = []string{
	"Finance", "finance ops", "Équipe", "equipe", "E\u0301quipe bis", "Straße", "STRASSEN", "\u212Aelvin", "kelvin-2",
	"Σίσυφος", "ΣΊΣΥΦΟΣ 2", "ǅungla", "100% sure", "under_score", `back\slash`, "İstanbul", "istanbul", "ﬁnances",
	"Zeta", "alpha", "Alpha 2", "日本", "emoji 🎉", `say "hi"`, "<b>&amp;</b>", "line\u2028sep", "\ufffd",
	"Ops", "ops-2", "a", "B", "c", "D",
}

func (env *fuzzEnv) listSetup(t testing.TB) []fuzzRow {
	t.Helper()
	ctx := context.Background()
	for i, n := range fuzzListNames {
		g := env.create(t, fuzzOrg, n)
		if i%4 == 0 { // give updatedAt an order of its own
			time.Sleep(2 * time.Millisecond)
			d := "changed"
			if _, err := env.db.UpdateGroup(ctx, fuzzOrg, g.UUID, store.Changes{SetDescription: true, Description: &d}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	env.create(t, fuzzOtherOrg, "Finance")
	return env.rows(t, "WHERE org = ?", fuzzOrg)
}

var fuzzSortParam = regexp.MustCompile(`^(name|createdAt|updatedAt)(,(asc|desc))?$`)

func (env *fuzzEnv) listGroups(t testing.TB, model []fuzzRow, in fuzzListInput) {
	t.Helper()
	v := url.Values{}
	var bad []string // the parameters the server must name
	exact := true    // whether the model predicts the answer
	page, size := int64(0), int64(20)
	if in.Flags&1 != 0 {
		v.Set("page", strconv.FormatInt(in.Page, 10))
		page = in.Page
		if page < 0 || page > math.MaxInt32 {
			bad = append(bad, "page")
		}
	}
	if in.Flags&2 != 0 {
		v.Set("size", strconv.FormatInt(in.Size, 10))
		size = in.Size
		if size < 1 || size > 1000 {
			bad = append(bad, "size")
		}
	}
	var sorts []string
	if in.Sort != "" {
		sorts = strings.Split(in.Sort, ";")
		seen := map[string]bool{}
		for _, s := range sorts {
			v.Add("sort", s)
			prop, _, _ := strings.Cut(s, ",")
			if !fuzzSortParam.MatchString(s) || seen[prop] {
				bad = append(bad, "sort")
			}
			seen[prop] = true
		}
		if len(sorts) > 3 {
			bad = append(bad, "sort")
		}
	}
	if in.Flags&4 != 0 {
		v.Set("q", in.Q)
		if n := utf8.RuneCountInString(in.Q); n < 1 || n > 255 {
			bad = append(bad, "q")
		}
		if !utf8.ValidString(in.Q) {
			exact = false
		}
	}
	prefix := "/api/v2/groups"
	if in.Flags&32 != 0 {
		prefix = "/v2/groups"
	}
	get := func(v url.Values) *fuzzResponse {
		t.Helper()
		res, ok := env.do(t, fuzzRequest{method: "GET", target: prefix + "?" + v.Encode(),
			header: [][2]string{{"Authorization", env.bearer(fuzzOrg)}}})
		if !ok {
			t.Fatalf("GET %s?%s is not a valid request", prefix, v.Encode())
		}
		return res
	}
	if len(sorts) == 0 {
		sorts = []string{"createdAt"}
	}
	var pos *fuzzRow // the position a cursor continues after
	switch {
	case in.Flags&64 != 0 && len(bad) == 0 && exact:
		// A real cursor for this query with Cursor (a JSON object) merged
		// into it: the fuzzer varies the keys while the query fingerprint
		// stays right.
		first := url.Values{}
		maps.Copy(first, v)
		first.Del("page")
		res := get(first)
		fuzzStatusIn(t, env, res, 200)
		var p fuzzPage
		_ = json.Unmarshal(res.body, &p)
		if p.Page.Next == nil {
			return
		}
		cursor, at, ok := fuzzMergeCursor(*p.Page.Next, in.Cursor, sorts)
		v.Set("cursor", cursor)
		switch {
		case page != 0:
			bad = append(bad, "page")
		case utf8.RuneCountInString(cursor) > 2048:
			bad = append(bad, "cursor")
		case !ok:
			exact = false
		case at.Version > math.MaxInt32: // page.number is an int32
			bad = append(bad, "cursor")
		default:
			pos = &at
		}
	case in.Flags&8 != 0:
		v.Set("cursor", in.Cursor)
		switch {
		case len(in.Cursor) < 1 || utf8.RuneCountInString(in.Cursor) > 2048:
			bad = append(bad, "cursor")
		case page != 0:
			bad = append(bad, "page")
		default:
			exact = false // an arbitrary cursor is 400 or some page
		}
	}
	res := get(v)
	switch {
	case len(bad) > 0:
		fuzzStatusIn(t, env, res, 400)
		var p api.Problem
		_ = json.Unmarshal(res.body, &p)
		named := false
		for _, fe := range fuzzProblemErrors(p) {
			named = named || (fe.Parameter != nil && slices.Contains(bad, *fe.Parameter))
		}
		if !named {
			t.Fatalf("the problem does not name any of the bad parameters %v\n%s", bad, res)
		}
		return
	case !exact:
		fuzzStatusIn(t, env, res, 200, 400)
		return
	}
	fuzzStatusIn(t, env, res, 200)

	// The model's answer: filter, order with the uuid tie-breaker, slice.
	var rows []fuzzRow
	for _, r := range model {
		if in.Flags&4 == 0 || strings.Contains(r.NameKey, store.NameKey(in.Q)) {
			rows = append(rows, r)
		}
	}
	order := func(a, b fuzzRow) int {
		for _, s := range sorts {
			prop, dir, _ := strings.Cut(s, ",")
			var c int
			switch prop {
			case "name":
				c = strings.Compare(a.NameKey, b.NameKey)
			case "createdAt":
				c = cmp.Compare(a.CreatedAt, b.CreatedAt)
			default:
				c = cmp.Compare(a.UpdatedAt, b.UpdatedAt)
			}
			if dir == "desc" {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return strings.Compare(a.UUID, b.UUID)
	}
	slices.SortFunc(rows, order)
	// check compares a page with the first size rows of rest.
	check := func(res *fuzzResponse, rest []fuzzRow, number int64) *string {
		t.Helper()
		var p fuzzPage
		_ = json.Unmarshal(res.body, &p)
		want := rest[:min(size, int64(len(rest)))]
		got := make([]string, len(p.Content))
		for i, g := range p.Content {
			got[i] = g.UUID
		}
		wantIDs := make([]string, len(want))
		for i, r := range want {
			wantIDs[i] = r.UUID
		}
		if !slices.Equal(got, wantIDs) {
			t.Fatalf("page %d holds %v, want %v\n%s", number, got, wantIDs, res)
		}
		for i, g := range p.Content {
			r := want[i]
			if g.Name != r.Name || !fuzzEqualDesc(g.Description, r.Description) ||
				g.CreatedAt != fuzzMillis(r.CreatedAt) || g.UpdatedAt != fuzzMillis(r.UpdatedAt) {
				t.Fatalf("page %d shows %+v for the stored %+v\n%s", number, g, r, res)
			}
		}
		pages := (int64(len(rows)) + size - 1) / size
		if int64(p.Page.Size) != size || int64(p.Page.Number) != number || p.Page.TotalElements != int64(len(rows)) ||
			int64(p.Page.TotalPages) != pages || (p.Page.Next != nil) != (int64(len(rest)) > size) {
			t.Fatalf("page metadata %+v, want size %d number %d total %d pages %d next %t\n%s",
				p.Page, size, number, len(rows), pages, int64(len(rest)) > size, res)
		}
		return p.Page.Next
	}
	if pos != nil {
		var rest []fuzzRow
		for _, r := range rows {
			if order(r, *pos) > 0 {
				rest = append(rest, r)
			}
		}
		check(res, rest, pos.Version)
		return
	}
	from := min(page*size, int64(len(rows)))
	next := check(res, rows[from:], page)
	if in.Flags&16 != 0 && next != nil {
		v.Del("page")
		v.Set("cursor", *next)
		res := get(v)
		fuzzStatusIn(t, env, res, 200)
		check(res, rows[from+size:], page+1)
	}
}

var (
	fuzzCursorInt  = regexp.MustCompile(`^-?[0-9]{1,15}$`)
	fuzzCursorPage = regexp.MustCompile(`^[1-9][0-9]{0,14}$`)
	fuzzCanonUUID  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// fuzzMergeCursor merges patch (a JSON object; null deletes a member) into
// the cursor real, which is base64url JSON {"k": sort keys, "u": uuid, "p":
// page, "f": query fingerprint}. It returns the new cursor and, when its
// members are plainly valid for sorts, the position it continues after as
// a row (Version holding the page number).
func fuzzMergeCursor(real, patch string, sorts []string) (string, fuzzRow, bool) {
	b, err := base64.RawURLEncoding.DecodeString(real)
	var c map[string]json.RawMessage
	if err != nil || json.Unmarshal(b, &c) != nil {
		return real, fuzzRow{}, false // an opaque format this test does not know
	}
	f := c["f"]
	var p map[string]json.RawMessage
	if json.Unmarshal([]byte(patch), &p) == nil {
		for k, v := range p {
			if string(v) == "null" {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
	}
	b, _ = json.Marshal(c)
	cursor := base64.RawURLEncoding.EncodeToString(b)

	var at fuzzRow
	var keys []json.RawMessage
	var u string
	if !bytes.Equal(c["f"], f) || json.Unmarshal(c["k"], &keys) != nil || len(keys) != len(sorts) ||
		json.Unmarshal(c["u"], &u) != nil || !fuzzCanonUUID.MatchString(u) || !fuzzCursorPage.Match(c["p"]) {
		return cursor, at, false
	}
	at.UUID = u
	at.Version, _ = strconv.ParseInt(string(c["p"]), 10, 64)
	for i, s := range sorts {
		prop, _, _ := strings.Cut(s, ",")
		k := bytes.TrimSpace(keys[i])
		if prop == "name" {
			if json.Unmarshal(k, &at.NameKey) != nil || k[0] != '"' {
				return cursor, at, false
			}
			continue
		}
		if !fuzzCursorInt.Match(k) {
			return cursor, at, false
		}
		n, _ := strconv.ParseInt(string(k), 10, 64)
		if prop == "createdAt" {
			at.CreatedAt = n
		} else {
			at.UpdatedAt = n
		}
	}
	return cursor, at, true
}

// fuzzMillis is the wire form of a stored timestamp.
func fuzzMillis(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") }

func fuzzProblemErrors(p api.Problem) []api.ProblemFieldError {
	if p.Errors == nil {
		return nil
	}
	return *p.Errors
}

func FuzzListGroups(f *testing.F) {
	env := newFuzzEnv(f)
	model := env.listSetup(f)
	for _, in := range []fuzzListInput{
		{},
		{Page: 1, Size: 7, Flags: 1 | 2 | 16},
		{Size: 5, Sort: "name,desc", Flags: 2 | 16},
		{Size: 4, Sort: "updatedAt,desc;name", Flags: 2 | 16 | 32},
		{Sort: "createdAt,desc;updatedAt;name,asc", Flags: 0},
		{Q: "FIN", Flags: 4},
		{Q: "%", Flags: 4},
		{Q: "_", Sort: "name", Flags: 4},
		{Q: "straße", Flags: 4},
		{Page: -1, Size: 1001, Flags: 1 | 2},
		{Sort: "name;name,desc"},
		{Sort: "color"},
		{Cursor: "eyJrIjpbMV0sInUiOiIwIiwicCI6MX0", Flags: 8},
		{Page: 2, Cursor: "x", Flags: 1 | 8},
		{Page: math.MaxInt32, Size: 1000, Flags: 1 | 2},
		{Size: 3, Sort: "name", Cursor: `{"k":["f"]}`, Flags: 2 | 64},
		{Size: 3, Sort: "updatedAt,desc", Cursor: `{"k":[0],"u":"00000000-0000-0000-0000-000000000000"}`, Flags: 2 | 64},
		{Size: 2, Cursor: `{"p":7}`, Flags: 2 | 64},
		{Size: 2, Cursor: `{"p":2147483648}`, Flags: 2 | 64},
		{Size: 2, Cursor: `{"k":["x"]}`, Flags: 2 | 64},
		{Q: `"fin"`, Flags: 4},
		{Q: "fin*", Flags: 4},
		{Q: "a OR b", Flags: 4},
		{Q: "NEAR(a b)", Flags: 4},
		{Q: "name:fin", Flags: 4},
		{Q: "é", Flags: 4},
		{Q: "ss", Flags: 4},
	} {
		f.Add(in.Page, in.Size, in.Sort, in.Q, in.Cursor, in.Flags)
	}
	f.Fuzz(func(t *testing.T, page, size int64, sort, q, cursor string, flags uint8) {
		env.listGroups(t, model, fuzzListInput{Page: page, Size: size, Sort: sort, Q: q, Cursor: cursor, Flags: flags})
	})
}

// ---------------------------------------------------------------------------
// FuzzScenario: sequences of operations against a model of the organization.

// fuzzScenarioNames are names that collide, or nearly, under NFC and
// Unicode case folding.
var fuzzScenarioNames = []string{
	"Finance", "finance", "  FINANCE\u2003", "Équipe", "ÉQUIPE", "E\u0301quipe", "Straße", "STRASSE",
	"\u212Aelvin", "kelvin", "ﬁnance", "Σίσυφος", "ΣΊΣΥΦΟΣ", "ǅ", "ǆ", "\u00a0Ops\u2003", "Ops\u200b", "ops",
}

// fuzzModelGroup is the model's view of one group.
type fuzzModelGroup struct {
	uuid, name string
	desc       *string
	version    int64
	live       bool
}

// fuzzModel predicts the organization's state.
type fuzzModel struct {
	groups []*fuzzModelGroup
	idem   map[string]fuzzIdem
}

func (m *fuzzModel) taken(name string, except *fuzzModelGroup) bool {
	k := store.NameKey(strings.TrimFunc(name, unicode.IsSpace))
	for _, g := range m.groups {
		if g.live && g != except && store.NameKey(g.name) == k {
			return true
		}
	}
	return false
}

func (m *fuzzModel) live() int {
	n := 0
	for _, g := range m.groups {
		if g.live {
			n++
		}
	}
	return n
}

// scenario runs program, three bytes per operation (opcode, a, b), from an
// empty database.
func (env *fuzzEnv) scenario(t testing.TB, program []byte) {
	t.Helper()
	env.reset(t)
	m := &fuzzModel{idem: map[string]fuzzIdem{}}
	auth := [2]string{"Authorization", env.bearer(fuzzOrg)}
	jsonCT := [2]string{"Content-Type", "application/json"}
	send := func(method, target string, body any, header ...[2]string) *fuzzResponse {
		t.Helper()
		fr := fuzzRequest{method: method, target: target, header: header}
		if !slices.ContainsFunc(header, func(h [2]string) bool { return h[0] == auth[0] }) {
			fr.header = append([][2]string{auth}, header...)
		}
		if body != nil {
			fr.body, _ = json.Marshal(body)
			if !slices.ContainsFunc(header, func(h [2]string) bool { return h[0] == jsonCT[0] }) {
				fr.header = append(fr.header, jsonCT)
			}
		}
		res, ok := env.do(t, fr)
		if !ok {
			t.Fatalf("%s %s is not a valid request", method, target)
		}
		return res
	}
	// pick returns a group the model knows (live or deleted), or a
	// never-created one (nil).
	pick := func(b byte) (*fuzzModelGroup, string) {
		if len(m.groups) == 0 || int(b)%(len(m.groups)+1) == len(m.groups) {
			return nil, "0193a1f4-6c2e-7d8a-9b1c-2f3e4d5a6b7c"
		}
		g := m.groups[int(b)%(len(m.groups)+1)]
		return g, g.uuid
	}
	// expectGroup checks a 200/201 against the model's group.
	expectGroup := func(res *fuzzResponse, g *fuzzModelGroup) {
		t.Helper()
		var got fuzzGroup
		_ = json.Unmarshal(res.body, &got)
		if got.UUID != g.uuid || got.Name != g.name || !fuzzEqualDesc(got.Description, g.desc) ||
			res.header.Get("ETag") != `"`+strconv.FormatInt(g.version, 10)+`"` {
			t.Fatalf("got %s ETag %s, the model has %q %s version %d\n%s", res.body, res.header.Get("ETag"),
				g.name, fuzzFmtDesc(g.desc), g.version, res)
		}
	}
	names := fuzzScenarioNames
	for i := 0; i+2 < len(program) && i < 3*24; i += 3 {
		op, a, b := program[i]%10, program[i+1], program[i+2]
		switch op {
		case 0, 1: // create; 1 with an Idempotency-Key
			name := names[int(a)%len(names)]
			var key string
			hdr := [][2]string{}
			if op == 1 {
				key = "key-" + strconv.Itoa(int(b)%3)
				hdr = append(hdr, [2]string{"Idempotency-Key", key})
			}
			res := send("POST", "/api/v2/groups", map[string]string{"name": name}, hdr...)
			prev, used := m.idem[key]
			switch {
			case op == 1 && used && prev.fingerprint != name:
				fuzzStatusIn(t, env, res, 422)
			case op == 1 && used:
				fuzzStatusIn(t, env, res, prev.status)
				if !res.replayed() || !bytes.Equal(res.body, prev.body) {
					t.Fatalf("not a replay of\n%s\n%s", prev.body, res)
				}
			case m.taken(name, nil):
				fuzzStatusIn(t, env, res, 409)
			default:
				fuzzStatusIn(t, env, res, 201)
				var got fuzzGroup
				_ = json.Unmarshal(res.body, &got)
				g := &fuzzModelGroup{uuid: got.UUID, name: strings.TrimFunc(name, unicode.IsSpace), version: 1, live: true}
				expectGroup(res, g)
				m.groups = append(m.groups, g)
			}
			if op == 1 && !used {
				m.idem[key] = fuzzIdem{fingerprint: name, status: res.status, body: bytes.Clone(res.body)}
			}
		case 2, 8: // rename with PATCH; 8 with If-Match, stale when b >= 128
			g, id := pick(a)
			name := names[int(b)%len(names)]
			var hdr [][2]string
			stale := false
			if op == 8 {
				v := int64(0)
				if g != nil {
					v = g.version
				}
				if stale = b >= 128; stale {
					v--
				}
				hdr = append(hdr, [2]string{"If-Match", `"` + strconv.FormatInt(v, 10) + `"`})
			}
			res := send("PATCH", "/api/v2/groups/"+id, map[string]string{"name": name}, hdr...)
			switch {
			case g == nil || !g.live:
				fuzzStatusIn(t, env, res, 404)
			case stale:
				fuzzStatusIn(t, env, res, 412)
			case m.taken(name, g):
				fuzzStatusIn(t, env, res, 409)
			default:
				fuzzStatusIn(t, env, res, 200)
				if n := strings.TrimFunc(name, unicode.IsSpace); n != g.name {
					g.name = n
					g.version++
				}
				expectGroup(res, g)
			}
		case 3: // set or clear the description with PATCH
			g, id := pick(a)
			var desc *string
			if b%3 != 0 {
				d := "desc " + strconv.Itoa(int(b)%2)
				desc = &d
			}
			res := send("PATCH", "/api/v2/groups/"+id, map[string]*string{"description": desc},
				[2]string{"Content-Type", "application/merge-patch+json"})
			if g == nil || !g.live {
				fuzzStatusIn(t, env, res, 404)
				break
			}
			fuzzStatusIn(t, env, res, 200)
			if !fuzzEqualDesc(desc, g.desc) {
				g.desc = desc
				g.version++
			}
			expectGroup(res, g)
		case 4: // replace with PUT, without a description
			g, id := pick(a)
			name := names[int(b)%len(names)]
			res := send("PUT", "/api/v2/groups", map[string]string{"uuid": id, "name": name})
			switch {
			case g == nil || !g.live:
				fuzzStatusIn(t, env, res, 404)
			case m.taken(name, g):
				fuzzStatusIn(t, env, res, 409)
			default:
				fuzzStatusIn(t, env, res, 200)
				if n := strings.TrimFunc(name, unicode.IsSpace); n != g.name || g.desc != nil {
					g.name, g.desc = n, nil
					g.version++
				}
				expectGroup(res, g)
			}
		case 5: // delete; b%3: 1 with the current ETag, 2 with a stale one
			g, id := pick(a)
			var hdr [][2]string
			if b%3 != 0 && g != nil {
				v := g.version
				if b%3 == 2 {
					v--
				}
				hdr = append(hdr, [2]string{"If-Match", `"` + strconv.FormatInt(v, 10) + `"`})
			}
			res := send("DELETE", "/api/v2/groups/"+id, nil, hdr...)
			switch {
			case g == nil || !g.live:
				fuzzStatusIn(t, env, res, 404)
			case b%3 == 2:
				fuzzStatusIn(t, env, res, 412)
			default:
				fuzzStatusIn(t, env, res, 204)
				g.live = false
			}
		case 6: // get; odd b with If-None-Match of the current ETag
			g, id := pick(a)
			var hdr [][2]string
			if b%2 == 1 && g != nil {
				hdr = append(hdr, [2]string{"If-None-Match", `"` + strconv.FormatInt(g.version, 10) + `"`})
			}
			res := send("GET", "/v2/groups/"+id, nil, hdr...)
			switch {
			case g == nil || !g.live:
				fuzzStatusIn(t, env, res, 404)
			case b%2 == 1:
				fuzzStatusIn(t, env, res, 304)
			default:
				fuzzStatusIn(t, env, res, 200)
				expectGroup(res, g)
			}
		case 7: // list everything, or filtered by a name
			v := url.Values{"size": {"1000"}, "sort": {"name"}}
			q := ""
			if a%2 == 1 {
				q = names[int(b)%len(names)]
				v.Set("q", q)
			}
			res := send("GET", "/api/v2/groups?"+v.Encode(), nil)
			fuzzStatusIn(t, env, res, 200)
			var p fuzzPage
			_ = json.Unmarshal(res.body, &p)
			var want []string
			for _, g := range m.groups {
				if g.live && strings.Contains(store.NameKey(g.name), store.NameKey(q)) {
					want = append(want, g.name)
				}
			}
			slices.SortFunc(want, func(x, y string) int { return strings.Compare(store.NameKey(x), store.NameKey(y)) })
			var got []string
			for _, g := range p.Content {
				got = append(got, g.Name)
			}
			if !slices.Equal(got, want) || p.Page.TotalElements != int64(len(want)) {
				t.Fatalf("list q=%q holds %q (total %d), the model %q\n%s", q, got, p.Page.TotalElements, want, res)
			}
		case 9: // another organization sees nothing
			_, id := pick(a)
			var res *fuzzResponse
			other := [2]string{"Authorization", env.bearer(fuzzOtherOrg)}
			switch b % 3 {
			case 0:
				res = send("GET", "/api/v2/groups/"+id, nil, other)
			case 1:
				res = send("PATCH", "/api/v2/groups/"+id, map[string]string{"name": "Stolen"}, other)
			default:
				res = send("DELETE", "/api/v2/groups/"+id, nil, other)
			}
			fuzzStatusIn(t, env, res, 404)
		}
	}
	if n := env.checkStore(t); n != m.live() {
		t.Fatalf("the store holds %d groups, the model %d", n, m.live())
	}
}

func FuzzScenario(f *testing.F) {
	env := newFuzzEnv(f)
	for _, p := range [][]byte{
		{0, 0, 0, 0, 1, 0, 0, 2, 0, 7, 0, 0},             // Finance, finance (409), "  FINANCE\u2003" (409), list
		{0, 3, 0, 0, 4, 0, 0, 5, 0, 7, 1, 3},             // Équipe vs ÉQUIPE vs NFD
		{0, 6, 0, 0, 7, 0, 5, 0, 0, 0, 7, 0},             // Straße, STRASSE (409), delete, STRASSE
		{0, 0, 0, 0, 17, 0, 2, 1, 0, 2, 1, 17},           // rename into a taken name, then back
		{1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1},             // idempotent create, replay, reuse with another body
		{0, 8, 0, 8, 0, 5, 8, 0, 133, 5, 0, 2, 5, 0, 1},  // If-Match current, stale; delete stale, current
		{0, 15, 0, 3, 0, 1, 3, 0, 0, 4, 0, 16, 6, 0, 1},  // descriptions, PUT clears, If-None-Match
		{0, 11, 0, 9, 0, 0, 9, 0, 1, 9, 0, 2, 6, 0, 0},   // another organization
		{0, 13, 0, 0, 14, 0, 0, 10, 0, 7, 1, 1, 2, 0, 9}, // ǅ/ǆ, ﬁnance vs finance, Kelvin
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, program []byte) {
		env.scenario(t, program)
	})
}
