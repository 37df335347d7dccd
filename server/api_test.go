package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/oapi-codegen/nullable"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

var stamp = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestOperations(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		for _, prefix := range []string{"/api", ""} {
			t.Run("prefix="+prefix, func(t *testing.T) {
				c := e.client("acme", prefix)
				name := "Finance" + prefix

				// create
				cr, err := c.CreateGroupWithResponse(bg, nil, api.GroupCreate{Name: "  " + name + " ", Description: nullable.NewNullableWithValue("money")})
				if err != nil || cr.StatusCode() != http.StatusCreated {
					t.Fatalf("create: %v %d %s", err, cr.StatusCode(), cr.Body)
				}
				g := *cr.JSON201
				if g.Name != name || g.Description.MustGet() != "money" {
					t.Fatalf("created %+v", g)
				}
				if loc := cr.HTTPResponse.Header.Get("Location"); loc != "/api/v2/groups/"+g.Uuid.String() {
					t.Fatalf("Location = %q, want the canonical /api/v2 path", loc)
				}
				if cr.HTTPResponse.Header.Get("ETag") != `"1"` {
					t.Fatalf("ETag = %q", cr.HTTPResponse.Header.Get("ETag"))
				}
				var raw map[string]any
				_ = json.Unmarshal(cr.Body, &raw)
				for _, k := range []string{"createdAt", "updatedAt"} {
					if s, _ := raw[k].(string); !stamp.MatchString(s) {
						t.Fatalf("%s = %v, want RFC 3339 UTC with 3 fractional digits", k, raw[k])
					}
				}

				// get
				gr, err := c.GetGroupWithResponse(bg, g.Uuid, nil)
				if err != nil || gr.StatusCode() != 200 || gr.JSON200.Name != name || gr.HTTPResponse.Header.Get("ETag") != `"1"` {
					t.Fatalf("get: %v %d %s", err, gr.StatusCode(), gr.Body)
				}

				// list
				lr, err := c.ListGroupsWithResponse(bg, &api.ListGroupsParams{Q: &name})
				if err != nil || lr.StatusCode() != 200 || len(lr.JSON200.Content) != 1 || lr.JSON200.Page.TotalElements != 1 {
					t.Fatalf("list: %v %d %s", err, lr.StatusCode(), lr.Body)
				}

				// patch (merge patch) clears the description
				pr, err := c.UpdateGroupWithApplicationMergePatchPlusJSONBodyWithResponse(bg, g.Uuid, nil,
					api.GroupPatch{Description: nullable.NewNullNullable[string]()})
				if err != nil || pr.StatusCode() != 200 || !pr.JSON200.Description.IsNull() || pr.JSON200.Name != name {
					t.Fatalf("patch: %v %d %s", err, pr.StatusCode(), pr.Body)
				}
				if pr.HTTPResponse.Header.Get("ETag") != `"2"` || !pr.JSON200.UpdatedAt.After(g.UpdatedAt.Time) && pr.JSON200.UpdatedAt != g.UpdatedAt {
					t.Fatalf("patch ETag %q", pr.HTTPResponse.Header.Get("ETag"))
				}
				// patch with application/json, renaming
				pr, err = c.UpdateGroupWithResponse(bg, g.Uuid, nil, api.GroupPatch{Name: ptr(name + " 2")})
				if err != nil || pr.StatusCode() != 200 || pr.JSON200.Name != name+" 2" {
					t.Fatalf("json patch: %v %d %s", err, pr.StatusCode(), pr.Body)
				}
				// {} is a no-op that keeps updatedAt and the ETag
				before := *pr.JSON200
				resp, body := e.do("PATCH", prefix+"/v2/groups/"+g.Uuid.String(), `{}`, append(e.auth("acme"), "Content-Type", "application/merge-patch+json")...)
				var after api.Group
				_ = json.Unmarshal(body, &after)
				if resp.StatusCode != 200 || after.UpdatedAt != before.UpdatedAt || resp.Header.Get("ETag") != `"3"` {
					t.Fatalf("no-op patch: %d %s etag %s", resp.StatusCode, body, resp.Header.Get("ETag"))
				}

				// put: GET, edit, PUT back (createdAt/updatedAt accepted and ignored)
				gr, _ = c.GetGroupWithResponse(bg, g.Uuid, nil)
				rep := map[string]any{}
				_ = json.Unmarshal(gr.Body, &rep)
				rep["name"] = name
				delete(rep, "description")
				rep["createdAt"] = "2001-01-01T00:00:00Z"
				b, _ := json.Marshal(rep)
				resp, body = e.do("PUT", prefix+"/v2/groups", string(b), append(e.auth("acme"), "Content-Type", "application/json")...)
				var put api.Group
				_ = json.Unmarshal(body, &put)
				if resp.StatusCode != 200 || put.Name != name || !put.Description.IsNull() || put.CreatedAt != g.CreatedAt {
					t.Fatalf("put: %d %s", resp.StatusCode, body)
				}
				// PUT never creates
				rr, err := c.ReplaceGroupWithResponse(bg, nil, api.GroupReplace{Uuid: mustParse("01939d2e-0000-7000-8000-000000000000"), Name: "x"})
				if err != nil || rr.StatusCode() != 404 {
					t.Fatalf("put unknown: %v %d", err, rr.StatusCode())
				}

				// delete
				dr, err := c.DeleteGroupWithResponse(bg, g.Uuid, nil)
				if err != nil || dr.StatusCode() != http.StatusNoContent || len(dr.Body) != 0 {
					t.Fatalf("delete: %v %d %q", err, dr.StatusCode(), dr.Body)
				}
				gr, _ = c.GetGroupWithResponse(bg, g.Uuid, nil)
				if gr.StatusCode() != 404 || gr.ApplicationproblemJSON404 == nil {
					t.Fatalf("get after delete: %d %s", gr.StatusCode(), gr.Body)
				}
				dr, _ = c.DeleteGroupWithResponse(bg, g.Uuid, nil)
				if dr.StatusCode() != 404 {
					t.Fatalf("second delete: %d", dr.StatusCode())
				}
			})
		}
	})
}

func TestMalformedRequests(t *testing.T) {
	e := newEnv(t, store.SQLite)
	g, _ := e.create("acme", "Existing")
	e.create("acme", "Taken")
	id := g.Uuid.String()
	json := []string{"Content-Type", "application/json"}
	big := `{"name":"x","description":"` + strings.Repeat("a", 1<<20) + `"}`
	cases := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code                     api.ProblemCode
		pointer, parameter       string
	}{
		{"InvalidJSON", "POST", "/api/v2/groups", `{"name":`, json, 400, api.VALIDATIONERROR, "", ""},
		{"EmptyBody", "POST", "/api/v2/groups", ``, json, 400, api.VALIDATIONERROR, "", ""},
		{"NotAnObject", "POST", "/api/v2/groups", `[1]`, json, 400, api.VALIDATIONERROR, "", ""},
		{"MissingName", "POST", "/api/v2/groups", `{"description":"d"}`, json, 400, api.VALIDATIONERROR, "/name", ""},
		{"NameWrongType", "POST", "/api/v2/groups", `{"name":5}`, json, 400, api.VALIDATIONERROR, "/name", ""},
		{"NameNull", "POST", "/api/v2/groups", `{"name":null}`, json, 400, api.VALIDATIONERROR, "/name", ""},
		{"EmptyName", "POST", "/api/v2/groups", `{"name":""}`, json, 400, api.VALIDATIONERROR, "/name", ""},
		{"BlankName", "POST", "/api/v2/groups", `{"name":" \u3000\t"}`, json, 400, api.VALIDATIONERROR, "/name", ""},
		{"NameTooLong", "POST", "/api/v2/groups", `{"name":"` + strings.Repeat("é", 256) + `"}`, json, 400, api.VALIDATIONERROR, "/name", ""},
		{"NameControlChar", "POST", "/api/v2/groups", `{"name":"a\u0007b"}`, json, 400, api.VALIDATIONERROR, "/name", ""},
		{"NameDEL", "POST", "/api/v2/groups", `{"name":"a` + "\x7f" + `b"}`, json, 400, api.VALIDATIONERROR, "/name", ""},
		{"NameC1Control", "POST", "/api/v2/groups", `{"name":"a\u0085b"}`, json, 400, api.VALIDATIONERROR, "/name", ""},
		{"DescriptionTooLong", "POST", "/api/v2/groups", `{"name":"n","description":"` + strings.Repeat("a", 2001) + `"}`, json, 400, api.VALIDATIONERROR, "/description", ""},
		{"DescriptionNUL", "POST", "/api/v2/groups", `{"name":"n","description":"a\u0000b"}`, json, 400, api.VALIDATIONERROR, "/description", ""},
		{"UnknownProperty", "POST", "/api/v2/groups", `{"name":"n","colour":"red"}`, json, 400, api.VALIDATIONERROR, "/colour", ""},
		{"ServerAssignedUUID", "POST", "/api/v2/groups", `{"name":"n","uuid":"` + id + `"}`, json, 400, api.VALIDATIONERROR, "/uuid", ""},
		{"ServerAssignedCreatedAt", "POST", "/api/v2/groups", `{"name":"n","createdAt":"2026-01-01T00:00:00.000Z"}`, json, 400, api.VALIDATIONERROR, "/createdAt", ""},
		{"DuplicateName", "POST", "/api/v2/groups", `{"name":"TAKEN"}`, json, 409, api.NAMECONFLICT, "", ""},
		{"MissingContentType", "POST", "/api/v2/groups", `{"name":"n"}`, nil, 415, api.UNSUPPORTEDMEDIATYPE, "", ""},
		{"TextContentType", "POST", "/api/v2/groups", `{"name":"n"}`, []string{"Content-Type", "text/plain"}, 415, api.UNSUPPORTEDMEDIATYPE, "", ""},
		{"MergePatchOnPost", "POST", "/api/v2/groups", `{"name":"n"}`, []string{"Content-Type", "application/merge-patch+json"}, 415, api.UNSUPPORTEDMEDIATYPE, "", ""},
		{"TooLarge", "POST", "/api/v2/groups", big, json, 413, api.PAYLOADTOOLARGE, "", ""},
		{"PatchNameNull", "PATCH", "/api/v2/groups/" + id, `{"name":null}`, []string{"Content-Type", "application/merge-patch+json"}, 400, api.VALIDATIONERROR, "/name", ""},
		{"PatchBlankName", "PATCH", "/api/v2/groups/" + id, `{"name":"  "}`, json, 400, api.VALIDATIONERROR, "/name", ""},
		{"PatchUnknownProperty", "PATCH", "/api/v2/groups/" + id, `{"uuid":"` + id + `"}`, json, 400, api.VALIDATIONERROR, "/uuid", ""},
		{"PatchToTakenName", "PATCH", "/api/v2/groups/" + id, `{"name":"taken"}`, json, 409, api.NAMECONFLICT, "", ""},
		{"PatchTextPlain", "PATCH", "/api/v2/groups/" + id, `{}`, []string{"Content-Type", "text/plain"}, 415, api.UNSUPPORTEDMEDIATYPE, "", ""},
		{"PatchUnknownGroup", "PATCH", "/api/v2/groups/01939d2e-0000-7000-8000-000000000000", `{}`, json, 404, api.NOTFOUND, "", ""},
		{"PutMissingUUID", "PUT", "/api/v2/groups", `{"name":"n"}`, json, 400, api.VALIDATIONERROR, "/uuid", ""},
		{"PutBadUUID", "PUT", "/api/v2/groups", `{"uuid":"nope","name":"n"}`, json, 400, api.VALIDATIONERROR, "/uuid", ""},
		{"PutMissingName", "PUT", "/api/v2/groups", `{"uuid":"` + id + `"}`, json, 400, api.VALIDATIONERROR, "/name", ""},
		{"PutBadTimestamp", "PUT", "/api/v2/groups", `{"uuid":"` + id + `","name":"n","createdAt":"yesterday"}`, json, 400, api.VALIDATIONERROR, "/createdAt", ""},
		{"BadUUIDInPath", "GET", "/api/v2/groups/not-a-uuid", ``, nil, 400, api.VALIDATIONERROR, "", "uuid"},
		{"BadUUIDInPathDelete", "DELETE", "/v2/groups/1234", ``, nil, 400, api.VALIDATIONERROR, "", "uuid"},
		{"UnknownGroup", "GET", "/api/v2/groups/01939d2e-0000-7000-8000-000000000000", ``, nil, 404, api.NOTFOUND, "", ""},
		{"NegativePage", "GET", "/api/v2/groups?page=-1", ``, nil, 400, api.VALIDATIONERROR, "", "page"},
		{"PageNotANumber", "GET", "/api/v2/groups?page=x", ``, nil, 400, api.VALIDATIONERROR, "", "page"},
		{"PageTooLarge", "GET", "/api/v2/groups?page=99999999999", ``, nil, 400, api.VALIDATIONERROR, "", "page"},
		{"SizeZero", "GET", "/api/v2/groups?size=0", ``, nil, 400, api.VALIDATIONERROR, "", "size"},
		{"SizeTooLarge", "GET", "/api/v2/groups?size=1001", ``, nil, 400, api.VALIDATIONERROR, "", "size"},
		{"SizeFloat", "GET", "/api/v2/groups?size=1.5", ``, nil, 400, api.VALIDATIONERROR, "", "size"},
		{"SortUnknownProperty", "GET", "/api/v2/groups?sort=uuid", ``, nil, 400, api.VALIDATIONERROR, "", "sort"},
		{"SortBadDirection", "GET", "/api/v2/groups?sort=name,up", ``, nil, 400, api.VALIDATIONERROR, "", "sort"},
		{"SortTwice", "GET", "/api/v2/groups?sort=name&sort=name,desc", ``, nil, 400, api.VALIDATIONERROR, "", "sort"},
		{"EmptyQ", "GET", "/api/v2/groups?q=", ``, nil, 400, api.VALIDATIONERROR, "", "q"},
		{"BadCursor", "GET", "/api/v2/groups?cursor=garbage", ``, nil, 400, api.VALIDATIONERROR, "", "cursor"},
		{"CursorWithPage", "GET", "/api/v2/groups?cursor=abc&page=2", ``, nil, 400, api.VALIDATIONERROR, "", "page"},
		{"IdempotencyKeyTooLong", "POST", "/api/v2/groups", `{"name":"idem"}`, append([]string{"Idempotency-Key", strings.Repeat("k", 256)}, json...), 400, api.VALIDATIONERROR, "", "Idempotency-Key"},
		{"SizeTwice", "GET", "/api/v2/groups?size=1&size=2", ``, nil, 400, api.VALIDATIONERROR, "", "size"},
		{"PageTwice", "GET", "/api/v2/groups?page=0&page=0", ``, nil, 400, api.VALIDATIONERROR, "", "page"},
		{"InvalidUTF8Body", "POST", "/api/v2/groups", "{\"name\":\"a\xff\xfeb\"}", json, 400, api.VALIDATIONERROR, "", ""},
		{"LoneSurrogate", "POST", "/api/v2/groups", `{"name":"a\ud800b"}`, json, 400, api.VALIDATIONERROR, "", ""},
		{"LoneLowSurrogate", "POST", "/api/v2/groups", `{"name":"n","description":"\udc00"}`, json, 400, api.VALIDATIONERROR, "", ""},
		{"InvalidUTF8Patch", "PATCH", "/api/v2/groups/" + id, "{\"description\":\"\xc3\"}", json, 400, api.VALIDATIONERROR, "", ""},
		{"UnknownRoute", "GET", "/api/v2/nothing", ``, nil, 404, api.NOTFOUND, "", ""},
		{"UnknownRouteNoPrefix", "GET", "/nothing", ``, nil, 404, api.NOTFOUND, "", ""},
		{"ExtraPathSegment", "GET", "/api/v2/groups/" + id + "/extra", ``, nil, 404, api.NOTFOUND, "", ""},
		{"ExtraPathSegments", "DELETE", "/v2/groups/x/y/z", ``, nil, 404, api.NOTFOUND, "", ""},
		{"WrongMethod", "DELETE", "/api/v2/groups", ``, nil, 405, api.METHODNOTALLOWED, "", ""},
		{"WrongMethodItem", "POST", "/v2/groups/" + id, `{}`, json, 405, api.METHODNOTALLOWED, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			headers := append(e.auth("acme"), tc.headers...)
			resp, body := e.do(tc.method, tc.path, tc.body, headers...)
			p := problem(t, resp, body, tc.status, tc.code)
			wantInstance := strings.SplitN(tc.path, "?", 2)[0]
			if p.Instance != wantInstance {
				t.Errorf("instance = %q, want %q", p.Instance, wantInstance)
			}
			if tc.status == 405 && resp.Header.Get("Allow") == "" {
				t.Errorf("405 without Allow")
			}
			if tc.pointer != "" || tc.parameter != "" {
				if p.Errors == nil {
					t.Fatalf("no errors array: %s", body)
				}
				found := false
				for _, fe := range *p.Errors {
					if (tc.pointer != "" && fe.Pointer != nil && *fe.Pointer == tc.pointer) ||
						(tc.parameter != "" && fe.Parameter != nil && *fe.Parameter == tc.parameter) {
						found = fe.Detail != ""
					}
				}
				if !found {
					t.Errorf("errors %s lack pointer %q / parameter %q", body, tc.pointer, tc.parameter)
				}
			}
		})
	}
	t.Run("EveryFailedCheckIsReported", func(t *testing.T) {
		resp, body := e.do("POST", "/api/v2/groups", `{"name":"","description":5,"x":1}`, append(e.auth("acme"), json...)...)
		p := problem(t, resp, body, 400, api.VALIDATIONERROR)
		if p.Errors == nil || len(*p.Errors) != 3 {
			t.Fatalf("want 3 errors, got %s", body)
		}
	})
	t.Run("NothingWasStored", func(t *testing.T) {
		p, err := e.db.ListGroups(bg, "acme", store.ListQuery{Size: 100})
		if err != nil || p.Total != 2 {
			t.Fatalf("total = %d, %v; malformed requests must store nothing", p.Total, err)
		}
	})
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, store.SQLite)
	h := append(e.auth("acme"), "Content-Type", "application/json")
	// Exactly 1 MiB, padded with JSON whitespace, is accepted.
	body := `{"name":"exact"}`
	exact := body + strings.Repeat(" ", (1<<20)-len(body))
	if resp, b := e.do("POST", "/api/v2/groups", exact, h...); resp.StatusCode != 201 {
		t.Fatalf("1 MiB body: %d %s", resp.StatusCode, b)
	}
	resp, b := e.do("POST", "/api/v2/groups", exact+" ", h...)
	problem(t, resp, b, 413, api.PAYLOADTOOLARGE)

	t.Run("ChunkedBodiesAreCounted", func(t *testing.T) {
		for _, size := range []int{1 << 20, 1<<20 + 1} {
			pr, pw := ioPipe()
			go func() {
				body := fmt.Sprintf(`{"name":"chunked %d"}`, size)
				pw.Write([]byte(body + strings.Repeat(" ", size-len(body))))
				pw.Close()
			}()
			req, _ := http.NewRequest("POST", e.srv.URL+"/api/v2/groups", pr)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+e.keys["acme"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := 201
			if size > 1<<20 {
				want = 413
			}
			if resp.StatusCode != want || req.ContentLength != 0 && req.ContentLength != -1 {
				t.Fatalf("chunked %d bytes: %d, want %d", size, resp.StatusCode, want)
			}
		}
	})
}

func TestSurrogatePairsAreAccepted(t *testing.T) {
	e := newEnv(t, store.SQLite)
	resp, body := e.do("POST", "/api/v2/groups", `{"name":"emoji \ud83d\ude00 \\ud800 literal"}`,
		append(e.auth("acme"), "Content-Type", "application/json")...)
	var g api.Group
	_ = json.Unmarshal(body, &g)
	if resp.StatusCode != 201 || g.Name != "emoji 😀 \\ud800 literal" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

func TestHeadIsServedWhereGetIs(t *testing.T) {
	e := newEnv(t, store.SQLite)
	g, tag := e.create("acme", "Finance")
	for _, path := range []string{"/api/v2/groups/" + g.Uuid.String(), "/v2/groups", "/healthz"} {
		resp, body := e.do("HEAD", path, "", e.auth("acme")...)
		if resp.StatusCode != 200 || len(body) != 0 {
			t.Fatalf("HEAD %s: %d %q", path, resp.StatusCode, body)
		}
	}
	resp, _ := e.do("HEAD", "/api/v2/groups/"+g.Uuid.String(), "", e.auth("acme")...)
	if resp.Header.Get("ETag") != tag || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("HEAD headers: %v", resp.Header)
	}
	resp, body := e.do("HEAD", "/api/v2/groups", "")
	if resp.StatusCode != 401 || len(body) != 0 {
		t.Fatalf("unauthenticated HEAD: %d %q", resp.StatusCode, body)
	}
}

func TestRequestID(t *testing.T) {
	e := newEnv(t, store.SQLite)
	resp, _ := e.do("GET", "/api/v2/groups", "", append(e.auth("acme"), "X-Request-Id", "trace-123:abc.DEF_9")...)
	if got := resp.Header.Get("X-Request-Id"); got != "trace-123:abc.DEF_9" {
		t.Fatalf("echoed id = %q", got)
	}
	for _, bad := range []string{"has space", strings.Repeat("a", 129), "semi;colon"} {
		resp, _ := e.do("GET", "/healthz", "", "X-Request-Id", bad)
		if got := resp.Header.Get("X-Request-Id"); got == bad || got == "" {
			t.Fatalf("bad id %q: got %q, want a generated one", bad, got)
		}
	}
	resp, _ = e.do("GET", "/nothing", "")
	if resp.Header.Get("X-Request-Id") == "" {
		t.Fatal("404 without X-Request-Id")
	}
}

func TestPublicEndpoints(t *testing.T) {
	e := newEnv(t, store.SQLite)
	for path, ct := range map[string]string{"/healthz": "application/json", "/readyz": "application/json",
		"/openapi.yaml": "application/yaml", "/openapi.json": "application/json"} {
		resp, body := e.do("GET", path, "")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ct) || len(body) == 0 {
			t.Errorf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	_, body := e.do("GET", "/openapi.json", "")
	var spec map[string]any
	if err := json.Unmarshal(body, &spec); err != nil || spec["openapi"] != "3.0.3" {
		t.Fatalf("openapi.json: %v", err)
	}
}

func TestCreateRaceHasOneWinner(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		c := e.api("acme")
		const n = 25
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := []string{"Budget", "BUDGET", " budget "}[i%3]
				r, err := c.CreateGroupWithResponse(bg, nil, api.GroupCreate{Name: name})
				if err != nil {
					t.Error(err)
					return
				}
				statuses[i] = r.StatusCode()
			}()
		}
		wg.Wait()
		count := map[int]int{}
		for _, s := range statuses {
			count[s]++
		}
		if count[201] != 1 || count[409] != n-1 {
			t.Fatalf("statuses %v, want one 201 and %d 409", count, n-1)
		}
	})
}

func TestPagingIsStable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		const total = 23
		for i := range total {
			e.create("acme", fmt.Sprintf("g%02d", (i*7)%total))
		}
		c := e.api("acme")
		for _, sort := range [][]string{nil, {"name"}, {"name,desc"}, {"createdAt,desc"}, {"updatedAt,asc", "name,desc"}} {
			for _, size := range []int32{1, 5, 23, 50} {
				seen := map[string]int{}
				// offset paging
				for page := int32(0); ; page++ {
					params := &api.ListGroupsParams{Page: &page, Size: &size}
					if sort != nil {
						params.Sort = &sort
					}
					r, err := c.ListGroupsWithResponse(bg, params)
					if err != nil || r.StatusCode() != 200 {
						t.Fatalf("list: %v %s", err, r.Body)
					}
					pg := r.JSON200.Page
					wantPages := (total + size - 1) / size
					if pg.TotalElements != total || pg.TotalPages != wantPages || pg.Number != page || pg.Size != size {
						t.Fatalf("page metadata %+v", pg)
					}
					if len(r.JSON200.Content) == 0 {
						if page != wantPages {
							t.Fatalf("empty page %d, want first empty page %d", page, wantPages)
						}
						break
					}
					for _, g := range r.JSON200.Content {
						seen[g.Uuid.String()]++
					}
				}
				// cursor paging
				var cursor *string
				for {
					params := &api.ListGroupsParams{Size: &size, Cursor: cursor}
					if sort != nil {
						params.Sort = &sort
					}
					r, err := c.ListGroupsWithResponse(bg, params)
					if err != nil || r.StatusCode() != 200 {
						t.Fatalf("cursor list: %v %s", err, r.Body)
					}
					for _, g := range r.JSON200.Content {
						seen[g.Uuid.String()] += 100
					}
					if r.JSON200.Page.Next.IsNull() {
						break
					}
					next := r.JSON200.Page.Next.MustGet()
					cursor = &next
				}
				if len(seen) != total {
					t.Fatalf("sort %v size %d: saw %d groups, want %d", sort, size, len(seen), total)
				}
				for id, n := range seen {
					if n != 101 {
						t.Fatalf("sort %v size %d: group %s seen %d times by offset and %d by cursor", sort, size, id, n%100, n/100)
					}
				}
			}
		}
		// An empty organization has zero pages.
		r, _ := e.api("globex").ListGroupsWithResponse(bg, nil)
		if r.JSON200.Page.TotalPages != 0 || r.JSON200.Page.TotalElements != 0 || len(r.JSON200.Content) != 0 || !r.JSON200.Page.Next.IsNull() {
			t.Fatalf("empty org page: %s", r.Body)
		}
		// q is literal: % matches only a literal percent sign.
		e.create("acme", "100% done")
		q := "%"
		r, _ = c.ListGroupsWithResponse(bg, &api.ListGroupsParams{Q: &q})
		if r.JSON200.Page.TotalElements != 1 || r.JSON200.Content[0].Name != "100% done" {
			t.Fatalf("q=%%: %s", r.Body)
		}
	})
}
