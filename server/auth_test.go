package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

func TestUnauthenticatedRequestsGet401First(t *testing.T) {
	e := newEnv(t, store.SQLite)
	g, _ := e.create("acme", "Finance")
	revoked, secret, _ := e.db.CreateAPIKey(bg, "acme", "old")
	if _, err := e.db.RevokeAPIKey(bg, revoked.ID); err != nil {
		t.Fatal(err)
	}
	random := "gk_0123456789ab_" + strings.Repeat("Z", 43)
	authHeaders := map[string][]string{
		"NoHeader":      nil,
		"Basic":         {"Authorization", "Basic dXNlcjpwYXNz"},
		"BearerNoToken": {"Authorization", "Bearer"},
		"BearerBlank":   {"Authorization", "Bearer "},
		"RandomToken":   {"Authorization", "Bearer " + random},
		"NotAKey":       {"Authorization", "Bearer hello"},
		"RevokedKey":    {"Authorization", "Bearer " + secret},
		// RFC 9110 5.5: whitespace around a field value is not part of it (Go's
		// server strips it), so "KEY " on the wire is KEY; a key followed by
		// more text is a different token and must fail. The store test
		// TestAPIKeys checks that the secret plus a space is rejected.
		"KeyThenSpaceAndMore": {"Authorization", "Bearer " + e.keys["acme"] + " x"},
		"KeyWithTab":          {"Authorization", "Bearer " + e.keys["acme"] + "\tx"},
		"KeyWithoutScheme":    {"Authorization", e.keys["acme"]},
	}
	big := `{"name":"` + strings.Repeat("a", 2<<20) + `"}`
	requests := []struct{ name, method, path, body, ct string }{
		{"List", "GET", "/api/v2/groups", "", ""},
		{"Get", "GET", "/api/v2/groups/" + g.Uuid.String(), "", ""},
		{"Create", "POST", "/v2/groups", `{"name":"Sneaky"}`, "application/json"},
		{"Patch", "PATCH", "/api/v2/groups/" + g.Uuid.String(), `{"name":"Sneaky"}`, "application/merge-patch+json"},
		{"Put", "PUT", "/api/v2/groups", `{"uuid":"` + g.Uuid.String() + `","name":"Sneaky"}`, "application/json"},
		{"Delete", "DELETE", "/v2/groups/" + g.Uuid.String(), "", ""},
		{"Would400", "GET", "/api/v2/groups?size=0", "", ""},
		{"Would404", "GET", "/api/v2/groups/01939d2e-0000-7000-8000-000000000000", "", ""},
		{"Would404Route", "GET", "/v2/nope", "", ""},
		{"Would405", "DELETE", "/api/v2/groups", "", ""},
		{"Would413", "POST", "/api/v2/groups", big, "application/json"},
		{"Would415", "POST", "/api/v2/groups", `{"name":"x"}`, "text/plain"},
	}
	for hname, h := range authHeaders {
		for _, rq := range requests {
			t.Run(hname+"/"+rq.name, func(t *testing.T) {
				headers := append([]string{}, h...)
				if rq.ct != "" {
					headers = append(headers, "Content-Type", rq.ct)
				}
				resp, body := e.do(rq.method, rq.path, rq.body, headers...)
				p := problem(t, resp, body, http.StatusUnauthorized, api.UNAUTHORIZED)
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
				}
				// The body never says which kind of failure it was.
				if p.Detail != "a valid API key is required: send Authorization: Bearer <key>" || p.Errors != nil {
					t.Fatalf("detail varies: %q", p.Detail)
				}
			})
		}
	}
	t.Run("NothingReachedAHandler", func(t *testing.T) {
		got, err := e.db.GetGroup(bg, "acme", g.Uuid.String())
		if err != nil || got.Name != "Finance" || got.Version != 1 {
			t.Fatalf("group changed: %+v %v", got, err)
		}
		p, _ := e.db.ListGroups(bg, "acme", store.ListQuery{Size: 10})
		if p.Total != 1 {
			t.Fatalf("total = %d", p.Total)
		}
	})
	t.Run("SchemeIsCaseInsensitive", func(t *testing.T) {
		for _, scheme := range []string{"bearer", "BEARER", "Bearer", "Bearer "} { // RFC 9110 allows 1*SP after the scheme
			resp, body := e.do("GET", "/api/v2/groups", "", "Authorization", scheme+" "+e.keys["acme"])
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", scheme, resp.StatusCode, body)
			}
		}
	})
	t.Run("PublicPathsNeedNoKey", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz", "/openapi.yaml", "/openapi.json"} {
			if resp, _ := e.do("GET", p, ""); resp.StatusCode != 200 {
				t.Fatalf("%s: %d", p, resp.StatusCode)
			}
		}
	})
}

// TestOrganizationIsolation: org B's key never sees or touches org A's
// groups, and a foreign uuid answers exactly like a missing one.
func TestOrganizationIsolation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		a, etagA := e.create("acme", "Finance")
		e.create("acme", "Secret Project")
		b, _ := e.create("globex", "Finance") // same name in another org is fine
		missing := "01939d2e-0000-7000-8000-000000000000"
		json := []string{"Content-Type", "application/json"}

		type req struct{ method, path, body string }
		ops := func(id string) []req {
			return []req{
				{"GET", "/api/v2/groups/" + id, ""},
				{"PATCH", "/api/v2/groups/" + id, `{"name":"Hijacked"}`},
				{"PUT", "/api/v2/groups", `{"uuid":"` + id + `","name":"Hijacked"}`},
				{"DELETE", "/api/v2/groups/" + id, ""},
			}
		}
		for i, op := range ops(a.Uuid.String()) {
			t.Run(op.method, func(t *testing.T) {
				for _, ifMatch := range []string{"", etagA, "*"} {
					h := append(e.auth("globex"), json...)
					if ifMatch != "" {
						h = append(h, "If-Match", ifMatch)
					}
					resp, body := e.do(op.method, op.path, op.body, h...)
					foreign := problem(t, resp, body, 404, api.NOTFOUND)
					m := ops(missing)[i]
					resp, body = e.do(m.method, m.path, m.body, h...)
					absent := problem(t, resp, body, 404, api.NOTFOUND)
					// Same shape and wording, modulo the uuid and request id.
					norm := func(p api.Problem) string {
						return strings.ReplaceAll(strings.ReplaceAll(p.Detail+"|"+p.Title+"|"+p.Type+"|"+string(p.Code),
							a.Uuid.String(), "ID"), missing, "ID")
					}
					if norm(foreign) != norm(absent) {
						t.Fatalf("foreign %q differs from missing %q", norm(foreign), norm(absent))
					}
				}
			})
		}
		t.Run("ListQAndSortSeeOnlyOwnGroups", func(t *testing.T) {
			for _, query := range []string{"", "?q=secret", "?q=fin", "?sort=name,desc", "?sort=updatedAt&size=1000", "?page=0&size=1"} {
				resp, body := e.do("GET", "/api/v2/groups"+query, "", e.auth("globex")...)
				if resp.StatusCode != 200 || strings.Contains(string(body), a.Uuid.String()) || strings.Contains(string(body), "Secret") {
					t.Fatalf("%s leaks org A: %s", query, body)
				}
			}
			r, _ := e.api("globex").ListGroupsWithResponse(bg, nil)
			if r.JSON200.Page.TotalElements != 1 || r.JSON200.Content[0].Uuid != b.Uuid {
				t.Fatalf("globex list: %s", r.Body)
			}
		})
		t.Run("OrgAUnchanged", func(t *testing.T) {
			r, _ := e.api("acme").GetGroupWithResponse(bg, a.Uuid, nil)
			if r.StatusCode() != 200 || r.JSON200.Name != "Finance" || r.HTTPResponse.Header.Get("ETag") != `"1"` {
				t.Fatalf("org A's group changed: %s", r.Body)
			}
			lr, _ := e.api("acme").ListGroupsWithResponse(bg, nil)
			if lr.JSON200.Page.TotalElements != 2 {
				t.Fatalf("org A total = %d", lr.JSON200.Page.TotalElements)
			}
		})
	})
}

// TestRevocationReachesRunningServer revokes a key through a second store
// handle (as the CLI does, from another process) while the server runs.
func TestRevocationReachesRunningServer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		if resp, _ := e.do("GET", "/api/v2/groups", "", e.auth("acme")...); resp.StatusCode != 200 {
			t.Fatalf("before revoke: %d", resp.StatusCode)
		}
		cli := storetest.OpenURL(t, e.dbURL, store.Options{})
		if _, err := cli.RevokeAPIKey(bg, e.keys["acme"]); err != nil {
			t.Fatal(err)
		}
		revokedAt := time.Now()
		for {
			resp, _ := e.do("GET", "/api/v2/groups", "", e.auth("acme")...)
			if resp.StatusCode == 401 {
				break
			}
			if time.Since(revokedAt) > time.Second {
				t.Fatalf("revoked key still accepted after %s", time.Since(revokedAt))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if resp, _ := e.do("GET", "/api/v2/groups", "", e.auth("globex")...); resp.StatusCode != 200 {
			t.Fatalf("other org's key: %d", resp.StatusCode)
		}
	})
}

func TestAuthDisabledMapsToDefaultOrg(t *testing.T) {
	e := newEnv(t, store.SQLite, func(c *server.Config) { c.Auth = nil })
	resp, body := e.do("POST", "/api/v2/groups", `{"name":"Anon"}`, "Content-Type", "application/json")
	if resp.StatusCode != 201 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	p, _ := e.db.ListGroups(bg, server.DefaultOrg, store.ListQuery{Size: 5})
	if p.Total != 1 {
		t.Fatalf("default org total = %d", p.Total)
	}
}
