package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/groupsd/groupsd/server"
)

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

// fuzzRoles picks a scoped key of fuzzEnv.scoped by mode>>3%8; "" keeps
// the key that mode%8 picks.
var fuzzRoles = [8]string{"", "admin", "otherAdmin", "hooks", "reader", "tiny", "", ""}

// fuzzAuth is the Authorization header for mode ("" for none), what the
// server must make of it, and the role of the scoped key it uses, if any.
func (env *fuzzEnv) fuzzAuth(mode uint8, raw string) (string, int, string) {
	if role := fuzzRoles[mode>>3%8]; role != "" {
		return "Bearer " + env.scoped[role], fuzzAuthValid, role
	}
	h, want := env.fuzzAuthMode(mode, raw)
	return h, want, ""
}

func (env *fuzzEnv) fuzzAuthMode(mode uint8, raw string) (string, int) {
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
		s = strings.ReplaceAll(s, "{etag}", server.ETag(a.Version))
		s = strings.ReplaceAll(s, "{v}", strconv.FormatInt(a.Version, 10))
		if strings.Contains(s, "{other}") {
			s = strings.ReplaceAll(s, "{other}", env.anchor(t, fuzzOtherOrg).UUID)
		}
		if strings.Contains(s, "{key}") {
			s = strings.ReplaceAll(s, "{key}", env.victim(t, fuzzOrg))
		}
		if strings.Contains(s, "{otherkey}") {
			s = strings.ReplaceAll(s, "{otherkey}", env.victim(t, fuzzOtherOrg))
		}
		return s
	}
	fr := fuzzRequest{method: in.Method, target: subst(in.Path), chunked: in.Flags&1 != 0, strict: in.Flags&2 != 0}
	if in.Query != "" {
		fr.target += "?" + subst(in.Query)
	}
	authz, authWant, role := env.fuzzAuth(in.Auth, in.AuthRaw)
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
	// A rate-limited key is refused (429) before its body is read.
	case res.status != 401 && res.status != 429 && len(fr.body) > server.MaxBodyBytes && res.status != 413:
		t.Fatalf("a %d-byte body got %d, want 413\n%s", len(fr.body), res.status, res)
	case len(fr.body) <= server.MaxBodyBytes && res.status == 413:
		t.Fatalf("a %d-byte body got 413\n%s", len(fr.body), res)
	case authWant == fuzzAuthValid && res.req.Header.Get("Content-Type") == "" && len(fr.body) > 0 && fuzzCleanParameters(res.req) &&
		len(fr.body) <= server.MaxBodyBytes && slices.Contains([]string{"createGroup", "updateGroup", "replaceGroup", "changeMembers", "putReference"}, res.op) &&
		res.status != 415:
		t.Fatalf("a body without Content-Type got %d, want 415\n%s", res.status, res)
	}
	if protected && res.status < 400 {
		switch scopes := env.opScopes[res.op]; {
		// OPTIONS (res.op "") is no operation of the spec: it answers a
		// path's Allow list, which the published spec states anyway, to any
		// valid key, whatever its scopes.
		case role == "hooks" && res.op != "":
			t.Fatalf("a key holding only webhooks:manage got %d\n%s", res.status, res)
		case role == "reader" && res.op != "" && !slices.Equal(scopes, []string{"groups:read"}):
			t.Fatalf("a key holding only groups:read got %d from %s, which requires %v\n%s", res.status, res.op, scopes, res)
		case role == "tiny":
			if env.tinyUses++; env.tinyUses > 1 {
				t.Fatalf("a key limited to one request per 11 days got %d a second time\n%s", res.status, res)
			}
		}
	}
	if res.status == 201 && res.op == "createApiKey" {
		// Keys made by inputs are revoked at once: the store stays small.
		var k struct{ Id string }
		if err := json.Unmarshal(res.body, &k); err != nil {
			t.Fatal(err)
		}
		if _, err := env.db.RevokeAPIKey(context.Background(), k.Id); err != nil {
			t.Fatal(err)
		}
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
		{Method: "PUT", Path: "/api/v2/groups/{uuid}/members/user-42", Flags: 4},
		{Method: "PUT", Path: "/v2/groups/{other}/members/user-42", Flags: 4},
		{Method: "PUT", Path: "/api/v2/groups/{uuid}/members/-dash", Flags: 4},
		{Method: "GET", Path: "/api/v2/groups/{uuid}/members/user-42", Flags: 4},
		{Method: "GET", Path: "/api/v2/groups/{uuid}/members", Query: "size=2&page=1", Flags: 4},
		{Method: "GET", Path: "/api/v2/groups/{uuid}/members", Query: "cursor=eyJrIjpbInUiXX0", Flags: 4},
		{Method: "PATCH", Path: "/api/v2/groups/{uuid}/members", ContentType: "application/json", IdempotencyKey: "m1", Body: []byte(`{"add":["a","B"],"remove":["user-42"]}`)},
		{Method: "PATCH", Path: "/api/v2/groups/{uuid}/members", ContentType: "application/json", Body: []byte(`{"add":["a","b","a"],"remove":["b"]}`)},
		{Method: "PATCH", Path: "/v2/groups/{uuid}/members", Body: []byte(`{"add":["a"]}`)},
		{Method: "DELETE", Path: "/api/v2/groups/{uuid}/members/a", Flags: 4},
		{Method: "GET", Path: "/api/v2/users/user-42/groups", Query: "sort=name,desc&size=1", Flags: 4},
		{Method: "GET", Path: "/v2/users/%2Da/groups", Flags: 4},
		{Method: "PATCH", Path: "/api/v2/groups/{uuid}", ContentType: "application/merge-patch+json", IfMatch: "{etag}", Body: []byte(`{"status":"ARCHIVED"}`)},
		{Method: "PATCH", Path: "/api/v2/groups/{uuid}", ContentType: "application/json", Body: []byte(`{"status":"ACTIVE","name":"Back"}`)},
		{Method: "PUT", Path: "/api/v2/groups", ContentType: "application/json", IfMatch: "{etag}", Body: []byte(`{"uuid":"{uuid}","name":"Anchor","status":"ARCHIVED","archivedAt":null,"referenceCount":3}`)},
		{Method: "POST", Path: "/api/v2/groups", ContentType: "application/json", Body: []byte(`{"name":"Born archived","status":"ARCHIVED"}`)},
		{Method: "GET", Path: "/api/v2/groups", Query: "status=ARCHIVED&size=1", Flags: 4},
		{Method: "GET", Path: "/api/v2/users/user-42/groups", Query: "status=ALL", Flags: 4},
		{Method: "PUT", Path: "/api/v2/groups/{uuid}/references/chain-7", ContentType: "application/json", Body: []byte(`{"kind":"approval-chain","displayName":"Travel","url":"https://a.example/7"}`)},
		{Method: "PUT", Path: "/api/v2/groups/{uuid}/references/chain-7", ContentType: "application/json", Body: []byte(`{"kind":"Bad","displayName":"x","url":"http://a"}`)},
		{Method: "PUT", Path: "/v2/groups/{other}/references/r", ContentType: "application/json", Body: []byte(`{"kind":"budget","displayName":"B"}`)},
		{Method: "GET", Path: "/api/v2/groups/{uuid}/references/chain-7", Flags: 4},
		{Method: "GET", Path: "/api/v2/groups/{uuid}/references", Query: "size=1", Flags: 4},
		{Method: "DELETE", Path: "/api/v2/groups/{uuid}/references/chain-7", Flags: 4},
		{Method: "DELETE", Path: "/api/v2/groups/{uuid}", Query: "dryRun=true", Flags: 4},
		{Method: "DELETE", Path: "/api/v2/groups/{uuid}", Query: "dryRun=true", Flags: 6},
		{Method: "GET", Path: "/api/v2/deleted-groups", Query: "size=2", Flags: 4},
		{Method: "GET", Path: "/api/v2/deleted-groups/{uuid}", Flags: 4},
		{Method: "POST", Path: "/api/v2/deleted-groups/{uuid}/restore", ContentType: "application/json", Body: []byte(`{"name":"Restored"}`)},
		{Method: "POST", Path: "/api/v2/deleted-groups/{uuid}/restore", Flags: 4},
		{Method: "DELETE", Path: "/api/v2/deleted-groups/{uuid}", Flags: 4},
		// API keys (Auth 8: the admin key of fuzzOrg; 16: keys:manage of
		// fuzzOtherOrg; 24: webhooks:manage only; 32: groups:read only; 40:
		// one request per 11 days).
		{Method: "POST", Path: "/api/v2/api-keys", ContentType: "application/json", Auth: 8, Body: []byte(`{"name":"report","scopes":["groups:read"],"rateLimit":{"perSecond":5,"burst":10}}`)},
		{Method: "POST", Path: "/api/v2/api-keys", ContentType: "application/json", Auth: 8, Body: []byte(`{"name":"x","scopes":["groups:read"],"expiresAt":"2001-01-01T00:00:00Z"}`)},
		{Method: "POST", Path: "/api/v2/api-keys", ContentType: "application/json", Auth: 8, Body: []byte(`{"name":"x","scopes":[]}`)},
		{Method: "POST", Path: "/v2/api-keys", ContentType: "application/json", Auth: 16, Body: []byte(`{"name":"escalation","scopes":["groups:write"]}`)},
		{Method: "POST", Path: "/api/v2/api-keys", ContentType: "text/plain", Auth: 8, Body: []byte(`{"name":"x","scopes":["groups:read"]}`)},
		{Method: "GET", Path: "/api/v2/api-keys", Query: "size=1", Auth: 8, Flags: 4},
		{Method: "GET", Path: "/api/v2/api-keys", Query: "cursor=not-a-cursor", Auth: 8, Flags: 4},
		{Method: "GET", Path: "/api/v2/api-keys/{key}", Auth: 8, Flags: 4},
		{Method: "GET", Path: "/api/v2/api-keys/{otherkey}", Auth: 8, Flags: 4},
		{Method: "GET", Path: "/api/v2/api-keys/not-a-key", Auth: 8, Flags: 4},
		{Method: "PATCH", Path: "/api/v2/api-keys/{key}", ContentType: "application/merge-patch+json", Auth: 8, Body: []byte(`{"name":"renamed","rateLimit":{"perSecond":0.5,"burst":1}}`)},
		{Method: "PATCH", Path: "/api/v2/api-keys/{key}", ContentType: "application/json", Auth: 8, Body: []byte(`{"rateLimit":null}`)},
		{Method: "PATCH", Path: "/api/v2/api-keys/{key}", ContentType: "application/merge-patch+json", Auth: 8, Body: []byte(`{"scopes":["keys:manage"]}`)},
		{Method: "POST", Path: "/api/v2/api-keys/{key}/rotate", ContentType: "application/json", Auth: 8, Body: []byte(`{"gracePeriod":3600}`)},
		{Method: "POST", Path: "/api/v2/api-keys/{key}/rotate", ContentType: "application/json", Auth: 8, Body: []byte(`{"gracePeriod":604801}`)},
		{Method: "POST", Path: "/api/v2/api-keys/{otherkey}/rotate", ContentType: "application/json", Auth: 8, Body: []byte(`{}`)},
		{Method: "DELETE", Path: "/api/v2/api-keys/{key}", Auth: 8, Flags: 4},
		{Method: "DELETE", Path: "/api/v2/api-keys/{key}", Auth: 16, Flags: 4},
		{Method: "GET", Path: "/api/v2/api-keys", Auth: 24, Flags: 4},
		{Method: "POST", Path: "/api/v2/groups", ContentType: "application/json", Auth: 24, Body: []byte(`{"name":"hooks"}`)},
		{Method: "DELETE", Path: "/api/v2/groups/{uuid}", Auth: 32, Flags: 4},
		{Method: "GET", Path: "/api/v2/groups/{uuid}", Auth: 32, Flags: 4},
		{Method: "GET", Path: "/api/v2/groups", Auth: 40, Flags: 4},
		{Method: "POST", Path: "/api/v2/api-keys/{key}/rotate", ContentType: "application/json", Auth: 40, Body: []byte(`{}`)},
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

// fuzzCleanParameters reports whether every header and query parameter of r
// is valid UTF-8 without NUL: the spec checks that before the body's type
// (openapi.yaml info.description), so only then is a 415 owed.
func fuzzCleanParameters(r *http.Request) bool {
	for _, h := range []string{"If-Match", "If-None-Match", "Idempotency-Key"} {
		for _, v := range r.Header.Values(h) {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				return false
			}
		}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return false
	}
	for k, vs := range q {
		if !utf8.ValidString(k) || strings.ContainsRune(k, 0) {
			return false
		}
		for _, v := range vs {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				return false
			}
		}
	}
	return true
}
