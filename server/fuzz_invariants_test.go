package server_test

// The invariants every fuzz target checks on every input, and the rules of
// openapi.yaml they check against.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/server/apitest"
	"github.com/groupsd/groupsd/store"
)

var (
	fuzzRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	fuzzTimestamp = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)
	fuzzUserID    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,254}$`)
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
	api.MEMBERNOTFOUND: 404, api.MEMBERLIMITEXCEEDED: 422, api.GROUPLIMITEXCEEDED: 422,
	api.GROUPARCHIVED: 409, api.GROUPINUSE: 409, api.REFERENCENOTFOUND: 404,
	api.INSUFFICIENTSCOPE: 403, api.RATELIMITED: 429,
}

var (
	fuzzKeyID     = regexp.MustCompile(`^[0-9a-f]{12}$`)
	fuzzRateLimit = regexp.MustCompile(`^"key";r=\d+;t=\d+$`)
	fuzzRatePol   = regexp.MustCompile(`^"key";q=\d+;w=\d+$`)
)

// fuzzCheckKey checks a key's metadata as the spec and docs/keys.md state it.
func fuzzCheckKey(k api.ApiKey, fail func(string, ...any)) {
	if !fuzzKeyID.MatchString(k.Id) {
		fail("key id %q breaks the pattern", k.Id)
	}
	if len(k.Scopes) == 0 {
		fail("key %s has no scopes", k.Id)
	}
	if k.ExpiresAt != nil && !k.ExpiresAt.After(k.CreatedAt.Time) {
		fail("key %s expires at %s, not after its creation %s", k.Id, k.ExpiresAt.Time, k.CreatedAt.Time)
	}
}

// checkKeyResponse checks a 2xx of an API key operation.
func (env *fuzzEnv) checkKeyResponse(res *fuzzResponse, fail func(string, ...any)) {
	if res.header.Get("Cache-Control") != "no-store" {
		fail("%s answered Cache-Control %q, want no-store", res.op, res.header.Get("Cache-Control"))
	}
	switch res.op {
	case "createApiKey", "rotateApiKey":
		var k api.ApiKeyWithSecret
		if err := json.Unmarshal(res.body, &k); err != nil {
			fail("key with secret does not decode into api.ApiKeyWithSecret: %v", err)
		}
		if !strings.HasPrefix(k.Secret, "gk_"+k.Id+"_") {
			fail("secret of key %s does not carry its id", k.Id)
		}
		if res.op == "createApiKey" && res.header.Get("Location") != "/api/v2/api-keys/"+k.Id {
			fail("Location %q, want the canonical path of key %s", res.header.Get("Location"), k.Id)
		}
		if res.op == "rotateApiKey" && (k.RotatedAt == nil || k.PreviousSecretExpiresAt == nil) {
			fail("a rotated key without rotatedAt and previousSecretExpiresAt")
		}
	case "listApiKeys":
		var p api.ApiKeyPage
		if err := json.Unmarshal(res.body, &p); err != nil {
			fail("key page does not decode into api.ApiKeyPage: %v", err)
		}
		fuzzCheckPage(len(p.Content), p.Page.Size, p.Page.TotalPages, p.Page.TotalElements, fail)
		for _, k := range p.Content {
			fuzzCheckKey(k, fail)
		}
	case "getApiKey", "updateApiKey":
		var k api.ApiKey
		if err := json.Unmarshal(res.body, &k); err != nil {
			fail("key does not decode into api.ApiKey: %v", err)
		}
		fuzzCheckKey(k, fail)
		if res.params["keyId"] != k.Id {
			fail("asked for key %s, got %s", res.params["keyId"], k.Id)
		}
	case "deleteApiKey":
		if len(res.body) != 0 {
			fail("a 204 with a body")
		}
	}
	if res.op != "createApiKey" && res.op != "rotateApiKey" && bytes.Contains(res.body, []byte("gk_")) {
		fail("%s shows a secret", res.op)
	}
}

var fuzzReferenceID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,254}$`)

func (env *fuzzEnv) checkResponse(t testing.TB, res *fuzzResponse, route *routers.Route) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\n%s\nserver log:\n%s", fmt.Sprintf(format, args...), res, env.log.Take())
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
	case res.status/100 == 2 && strings.Contains(res.op, "ApiKey"):
		env.checkKeyResponse(res, fail)
	case res.status == 304:
		env.sawVersion(t, res, res.params["uuid"], fail)
	case res.status == 200 && res.op == "deleteGroup":
		var c api.DeleteCheck
		if err := json.Unmarshal(res.body, &c); err != nil {
			fail("dry run does not decode into api.DeleteCheck: %v", err)
		}
		fuzzCheckReferences(c.References, fail)
		if c.Deletable != (c.TotalReferences == 0) || int64(len(c.References)) != min(c.TotalReferences, 20) {
			fail("dry run: deletable %v with %d references, %d listed", c.Deletable, c.TotalReferences, len(c.References))
		}
	case res.status/100 == 2 && slices.Contains([]string{"deleteGroup", "removeMember", "deleteReference", "purgeDeletedGroup"}, res.op):
		// 204: no body (the validator checked).
	case res.status == 200 && res.op == "listReferences":
		var p api.ReferencePage
		if err := json.Unmarshal(res.body, &p); err != nil {
			fail("reference page does not decode into api.ReferencePage: %v", err)
		}
		fuzzCheckReferences(p.Content, fail)
		fuzzCheckPage(len(p.Content), p.Page.Size, p.Page.TotalPages, p.Page.TotalElements, fail)
	case res.status/100 == 2 && (res.op == "putReference" || res.op == "getReference"):
		var r api.Reference
		if err := json.Unmarshal(res.body, &r); err != nil {
			fail("reference does not decode into api.Reference: %v", err)
		}
		fuzzCheckReferences([]api.Reference{r}, fail)
		if r.ReferenceId != res.params["referenceId"] {
			fail("reference %q answered for referenceId %q", r.ReferenceId, res.params["referenceId"])
		}
		if loc := res.header.Get("Location"); res.status == 201 && loc != "/api/v2/groups/"+strings.ToLower(res.params["uuid"])+"/references/"+r.ReferenceId {
			fail("Location %q, want the canonical path of the reference", loc)
		}
	case res.status == 200 && res.op == "listDeletedGroups":
		var p api.DeletedGroupPage
		if err := json.Unmarshal(res.body, &p); err != nil {
			fail("trash page does not decode into api.DeletedGroupPage: %v", err)
		}
		for i, d := range p.Content {
			fuzzCheckDeleted(d, fail)
			if i > 0 && p.Content[i-1].DeletedAt.Before(d.DeletedAt.Time) {
				fail("trash not newest deletion first: %s before %s", p.Content[i-1].DeletedAt.Time, d.DeletedAt.Time)
			}
		}
		fuzzCheckPage(len(p.Content), p.Page.Size, p.Page.TotalPages, p.Page.TotalElements, fail)
	case res.status == 200 && res.op == "getDeletedGroup":
		var d api.DeletedGroup
		if err := json.Unmarshal(res.body, &d); err != nil {
			fail("deleted group does not decode into api.DeletedGroup: %v", err)
		}
		fuzzCheckDeleted(d, fail)
	case res.status == 200 && (res.op == "listGroups" || res.op == "listUserGroups"):
		var p fuzzPage
		if err := json.Unmarshal(res.body, &p); err != nil {
			fail("page: %v", err)
		}
		for _, g := range p.Content {
			fuzzCheckGroup(g, fail)
		}
		fuzzCheckPage(len(p.Content), p.Page.Size, p.Page.TotalPages, p.Page.TotalElements, fail)
	case res.status == 200 && res.op == "listMembers":
		var p api.MemberPage
		if err := json.Unmarshal(res.body, &p); err != nil {
			fail("member page does not decode into api.MemberPage: %v", err)
		}
		for i, m := range p.Content {
			fuzzCheckMember(m, fail)
			if i > 0 && p.Content[i-1].UserId >= m.UserId {
				fail("members %q, %q out of byte order", p.Content[i-1].UserId, m.UserId)
			}
		}
		fuzzCheckPage(len(p.Content), p.Page.Size, p.Page.TotalPages, p.Page.TotalElements, fail)
	case res.status/100 == 2 && (res.op == "addMember" || res.op == "getMember"):
		var m api.Member
		if err := json.Unmarshal(res.body, &m); err != nil {
			fail("member does not decode into api.Member: %v", err)
		}
		fuzzCheckMember(m, fail)
		if m.UserId != res.params["userId"] {
			fail("member %q answered for userId %q", m.UserId, res.params["userId"])
		}
		if loc := res.header.Get("Location"); res.status == 201 && loc != "/api/v2/groups/"+strings.ToLower(res.params["uuid"])+"/members/"+m.UserId {
			fail("Location %q, want the canonical path of the membership", loc)
		}
	case res.status == 200 && res.op == "changeMembers":
		var r api.MembersChangeResult
		if err := json.Unmarshal(res.body, &r); err != nil {
			fail("change result does not decode into api.MembersChangeResult: %v", err)
		}
		var ch api.MembersChange
		_ = json.Unmarshal(res.sent, &ch)
		sent := slices.Concat(fuzzDeref(ch.Add), fuzzDeref(ch.Remove))
		got := slices.Concat(r.Added, r.AlreadyMembers, r.Removed, r.NotMembers)
		slices.Sort(sent)
		slices.Sort(got)
		if !slices.Equal(sent, got) {
			fail("change result lists %q, the request sent %q", got, sent)
		}
	case res.status/100 == 2:
		var g fuzzGroup
		if err := json.Unmarshal(res.body, &g); err != nil {
			fail("group: %v", err)
		}
		fuzzCheckGroup(g, fail)
		if (res.status == 201 || res.op == "restoreDeletedGroup") && res.header.Get("Location") != "/api/v2/groups/"+g.UUID {
			fail("Location %q, want the canonical path of %s", res.header.Get("Location"), g.UUID)
		}
		var typed api.Group
		if err := json.Unmarshal(res.body, &typed); err != nil {
			fail("group does not decode into api.Group: %v", err)
		}
		if !res.replayed() { // a replay repeats the ETag of its time
			env.sawVersion(t, res, g.UUID, fail)
		}
	}
}

// fuzzCheckReferences checks references as listed: valid ids in byte
// order, kinds and URLs as the spec allows, timestamps in whole milliseconds.
func fuzzCheckReferences(rs []api.Reference, fail func(string, ...any)) {
	for i, r := range rs {
		if !fuzzReferenceID.MatchString(r.ReferenceId) {
			fail("referenceId %q breaks the ReferenceId pattern", r.ReferenceId)
		}
		if i > 0 && rs[i-1].ReferenceId >= r.ReferenceId {
			fail("references %q, %q out of byte order", rs[i-1].ReferenceId, r.ReferenceId)
		}
		if r.Url != nil && !strings.HasPrefix(*r.Url, "https://") {
			fail("reference url %q is not https", *r.Url)
		}
		if r.UpdatedAt.Before(r.CreatedAt.Time) || !r.CreatedAt.Equal(r.CreatedAt.Truncate(time.Millisecond)) {
			fail("reference timestamps %s, %s", r.CreatedAt.Time, r.UpdatedAt.Time)
		}
	}
}

// fuzzCheckDeleted checks a trashed group: the group's own rules, and it
// was deleted after its last change and is purged after its deletion.
func fuzzCheckDeleted(d api.DeletedGroup, fail func(string, ...any)) {
	var g fuzzGroup
	b, _ := json.Marshal(d)
	_ = json.Unmarshal(b, &g)
	fuzzCheckGroup(g, fail)
	if d.DeletedAt.Before(d.UpdatedAt.Time) || !d.PurgeAt.After(d.DeletedAt.Time) {
		fail("deleted group %s: updatedAt %s, deletedAt %s, purgeAt %s", d.Uuid, d.UpdatedAt.Time, d.DeletedAt.Time, d.PurgeAt.Time)
	}
}

// fuzzCheckPage checks a page's envelope against its content.
func fuzzCheckPage(n int, size, totalPages int32, total int64, fail func(string, ...any)) {
	if size < 1 || n > int(size) {
		fail("%d items on a page of size %d", n, size)
	}
	if want := (total + int64(size) - 1) / int64(size); int64(totalPages) != want {
		fail("totalPages %d, want %d", totalPages, want)
	}
}

func fuzzCheckMember(m api.Member, fail func(string, ...any)) {
	if !fuzzUserID.MatchString(m.UserId) {
		fail("member userId %q breaks the UserId pattern", m.UserId)
	}
	if !m.AddedAt.Equal(m.AddedAt.Truncate(time.Millisecond)) || m.AddedAt.Year() < 2000 {
		fail("addedAt %s: want a recent time in whole milliseconds", m.AddedAt.Time)
	}
}

func fuzzDeref[T any](p *[]T) []T {
	if p == nil {
		return nil
	}
	return *p
}

// sawVersion checks the response's ETag against the highest version seen
// for the group, and records it.
func (env *fuzzEnv) sawVersion(t testing.TB, res *fuzzResponse, uuid string, fail func(string, ...any)) int64 {
	t.Helper()
	v, err := apitest.VersionOf(res.header.Get("ETag"))
	if err != nil {
		fail("ETag %q is not a strong version tag", res.header.Get("ETag"))
	}
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
	case 403:
		if h := res.header.Get("WWW-Authenticate"); !strings.Contains(h, `error="insufficient_scope"`) || !strings.Contains(h, `scope="`) {
			fail("403 with WWW-Authenticate %q, want error=\"insufficient_scope\" and the scope (RFC 6750 3.1)", h)
		}
	case 405:
		if res.header.Get("Allow") == "" {
			fail("405 without Allow")
		}
	case 429:
		if n, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || n < 1 {
			fail("429 with Retry-After %q, want whole seconds, at least 1", res.header.Get("Retry-After"))
		}
		if !fuzzRatePol.MatchString(res.header.Get("RateLimit-Policy")) || !fuzzRateLimit.MatchString(res.header.Get("RateLimit")) {
			fail("429 with RateLimit-Policy %q, RateLimit %q", res.header.Get("RateLimit-Policy"), res.header.Get("RateLimit"))
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
	for _, fe := range apitest.ProblemErrors(p) {
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
	UUID           string  `json:"uuid"`
	Name           string  `json:"name"`
	Description    *string `json:"description"`
	Status         string  `json:"status"`
	ArchivedAt     *string `json:"archivedAt"`
	MemberCount    int32   `json:"memberCount"`
	ReferenceCount int32   `json:"referenceCount"`
	CreatedAt      string  `json:"createdAt"`
	UpdatedAt      string  `json:"updatedAt"`
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
	switch {
	case g.Status != "ACTIVE" && g.Status != "ARCHIVED":
		fail("group status %q", g.Status)
	case (g.Status == "ARCHIVED") != (g.ArchivedAt != nil):
		fail("group status %s with archivedAt %v", g.Status, g.ArchivedAt)
	case g.ArchivedAt != nil && (!fuzzTimestamp.MatchString(*g.ArchivedAt) || *g.ArchivedAt < g.CreatedAt):
		fail("archivedAt %q (createdAt %s)", *g.ArchivedAt, g.CreatedAt)
	case g.MemberCount < 0 || g.ReferenceCount < 0:
		fail("memberCount %d, referenceCount %d", g.MemberCount, g.ReferenceCount)
	}
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
	// group_counts.archived is the number of the organization's archived
	// live groups (the lists' fast paths trust it).
	ac, err := env.raw.Query(`SELECT c.org, c.archived, (SELECT COUNT(*) FROM groups g WHERE g.org = c.org AND g.archived_at IS NOT NULL)
		FROM group_counts c WHERE c.archived != (SELECT COUNT(*) FROM groups g WHERE g.org = c.org AND g.archived_at IS NOT NULL)`)
	if err != nil {
		t.Fatal(err)
	}
	for ac.Next() {
		var org string
		var stored, real int64
		if err := ac.Scan(&org, &stored, &real); err != nil {
			ac.Close()
			t.Fatal(err)
		}
		ac.Close()
		fail("group_counts says %d archived groups for %s, the table holds %d", stored, org, real)
	}
	ac.Close()
	// memberCount and referenceCount are exact: every group's (live or
	// trashed) member_count and reference_count are the numbers of its rows,
	// and no membership or reference outlives its group (a trashed group
	// keeps both until it is purged).
	mc, err := env.raw.Query(`WITH g AS (SELECT org, uuid, member_count, reference_count FROM groups
			UNION ALL SELECT org, uuid, member_count, reference_count FROM deleted_groups)
		SELECT g.uuid, 'member', g.member_count, (SELECT COUNT(*) FROM members m WHERE m.org = g.org AND m.group_uuid = g.uuid) FROM g
		WHERE g.member_count != (SELECT COUNT(*) FROM members m WHERE m.org = g.org AND m.group_uuid = g.uuid)
		UNION ALL SELECT g.uuid, 'reference', g.reference_count, (SELECT COUNT(*) FROM group_references r WHERE r.org = g.org AND r.group_uuid = g.uuid) FROM g
		WHERE g.reference_count != (SELECT COUNT(*) FROM group_references r WHERE r.org = g.org AND r.group_uuid = g.uuid)
		UNION ALL SELECT m.group_uuid, 'member', -1, COUNT(*) FROM members m
		WHERE NOT EXISTS (SELECT 1 FROM g WHERE g.org = m.org AND g.uuid = m.group_uuid) GROUP BY m.group_uuid
		UNION ALL SELECT r.group_uuid, 'reference', -1, COUNT(*) FROM group_references r
		WHERE NOT EXISTS (SELECT 1 FROM g WHERE g.org = r.org AND g.uuid = r.group_uuid) GROUP BY r.group_uuid
		UNION ALL SELECT d.uuid, 'trashed and live', -2, 0 FROM deleted_groups d JOIN groups l ON l.uuid = d.uuid`)
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	for mc.Next() {
		var uuid, what string
		var count, listed int64
		if err := mc.Scan(&uuid, &what, &count, &listed); err != nil {
			t.Fatal(err)
		}
		switch count {
		case -1:
			fail("%d %ss of group %s, which does not exist", listed, what, uuid)
		case -2:
			fail("group %s is both in the trash and live", uuid)
		}
		fail("group %s has %sCount %d and %d %s rows", uuid, what, count, listed, what)
	}
	return len(rows)
}

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

// fuzzIfMatchHolds is RFC 9110 13.1.1 for a group at version: "*" or a
// listed entity tag equal, character for character, to the group's strong
// ETag. A blank header is no condition.
func fuzzIfMatchHolds(h string, version int64) bool {
	h = strings.Trim(h, " \t")
	if h == "" || h == "*" {
		return true
	}
	tag := server.ETag(version)
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

// fuzzMillis is the wire form of a stored timestamp.
func fuzzMillis(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z") }

func fuzzStatusIn(t testing.TB, env *fuzzEnv, res *fuzzResponse, want ...int) {
	t.Helper()
	if !slices.Contains(want, res.status) {
		t.Fatalf("status %d, want one of %v\n%s\nserver log:\n%s", res.status, want, res, env.log.Take())
	}
}
