package server_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// Details of the contract that hostile or careless clients reach: header
// ambiguity, Allow lists, pointers, error amplification, replays and
// caching. Each runs on both databases.
func TestContractDetails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		g, _ := e.create("acme", "Details")
		id := g.Uuid.String()
		jsonCT := []string{"Content-Type", "application/json"}

		t.Run("TwoAuthorizationHeadersAreRejected", func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.srv.URL+"/api/v2/groups", nil)
			req.Header.Add("Authorization", "Bearer "+e.keys["acme"])
			req.Header.Add("Authorization", "Bearer "+e.keys["globex"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			p := problem(t, resp, body, http.StatusBadRequest, api.VALIDATIONERROR)
			if p.Errors == nil || *(*p.Errors)[0].Parameter != "Authorization" {
				t.Fatalf("problem %+v does not name Authorization", p)
			}
		})

		t.Run("AllowListsHead", func(t *testing.T) {
			for _, path := range []string{"/api/v2/groups", "/api/v2/groups/" + id, "/v2/groups"} {
				resp, _ := e.do("OPTIONS", path, "", e.auth("acme")...)
				if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "HEAD") || !strings.Contains(allow, "GET") {
					t.Errorf("OPTIONS %s: Allow = %q, want GET and HEAD", path, allow)
				}
			}
			resp, body := e.do("TRACE", "/api/v2/groups/"+id, "", e.auth("acme")...)
			problem(t, resp, body, http.StatusMethodNotAllowed, api.METHODNOTALLOWED)
			if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "HEAD") || strings.Count(allow, "HEAD") != 1 {
				t.Errorf("405: Allow = %q, want HEAD once", allow)
			}
		})

		t.Run("PointersUseDecodedKeys", func(t *testing.T) {
			for body, want := range map[string]string{
				`{"name":"p","e\"f":1}`:     `/e"f`,
				`{"name":"p","t\tb":1}`:     "/t\tb",
				`{"name":"p","a/b~c":1}`:    "/a~1b~0c",
				`{"name":"p","\u00e9\\":1}`: `/é\`,
			} {
				resp, rb := e.do("POST", "/api/v2/groups", body, append(e.auth("acme"), jsonCT...)...)
				p := problem(t, resp, rb, http.StatusBadRequest, api.VALIDATIONERROR)
				if p.Errors == nil || (*p.Errors)[0].Pointer == nil || *(*p.Errors)[0].Pointer != want {
					t.Errorf("%s: errors %+v, want pointer %q", body, p.Errors, want)
				}
			}
		})

		t.Run("FieldErrorsAreCapped", func(t *testing.T) {
			var b strings.Builder
			b.WriteString(`{"name":"cap"`)
			const unknown = 20000
			for i := range unknown {
				b.WriteString(`,"x` + strconv.Itoa(i) + `":1`)
			}
			b.WriteString("}")
			resp, rb := e.do("POST", "/api/v2/groups", b.String(), append(e.auth("acme"), jsonCT...)...)
			p := problem(t, resp, rb, http.StatusBadRequest, api.VALIDATIONERROR)
			if p.Errors == nil || len(*p.Errors) != server.MaxFieldErrors {
				t.Fatalf("errors has %d entries, want %d", lenErrors(p), server.MaxFieldErrors)
			}
			if want := strconv.Itoa(unknown-server.MaxFieldErrors) + " more were not listed"; !strings.Contains(p.Detail, want) {
				t.Fatalf("detail %q does not say %q", p.Detail, want)
			}
			if len(rb) > 64<<10 {
				t.Fatalf("problem is %d bytes", len(rb))
			}
		})

		// A replay repeats the first answer byte for byte, so its body names
		// the first request's id; X-Request-Id names the replay's own.
		t.Run("ReplayKeepsFirstRequestID", func(t *testing.T) {
			send := func(rid string) (*http.Response, []byte) {
				return e.do("POST", "/api/v2/groups", `{"name":"Details"}`,
					append(e.auth("acme"), "Content-Type", "application/json", "Idempotency-Key", "replay-rid", "X-Request-Id", rid)...)
			}
			resp1, b1 := send("first-request")
			p1 := problem(t, resp1, b1, http.StatusConflict, api.NAMECONFLICT)
			resp2, b2 := send("second-request")
			if resp2.StatusCode != http.StatusConflict || resp2.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replay: %d %q", resp2.StatusCode, resp2.Header.Get("Idempotent-Replayed"))
			}
			if string(b1) != string(b2) || p1.RequestId != "first-request" || resp2.Header.Get("X-Request-Id") != "second-request" {
				t.Fatalf("replay body %s (header %q), first %s", b2, resp2.Header.Get("X-Request-Id"), b1)
			}
		})

		t.Run("SuccessfulGetsHaveACachePolicy", func(t *testing.T) {
			for _, path := range []string{"/api/v2/groups", "/api/v2/groups/" + id, "/v2/groups/" + id} {
				for _, m := range []string{"GET", "HEAD"} {
					resp, _ := e.do(m, path, "", e.auth("acme")...)
					if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "private, no-cache" {
						t.Errorf("%s %s: %d Cache-Control %q", m, path, resp.StatusCode, resp.Header.Get("Cache-Control"))
					}
				}
			}
			resp, body := e.do("GET", "/api/v2/groups/"+id, "", append(e.auth("acme"), "If-None-Match", `"`+"1"+`"`)...)
			if resp.StatusCode != http.StatusNotModified || resp.Header.Get("Cache-Control") != "private, no-cache" {
				t.Errorf("304: %d Cache-Control %q %s", resp.StatusCode, resp.Header.Get("Cache-Control"), body)
			}
			resp, _ = e.do("GET", "/api/v2/groups/00000000-0000-7000-8000-000000000000", "", e.auth("acme")...)
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("404: Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
		})

		t.Run("DrainingReadyzSaysWhenToRetry", func(t *testing.T) {
			s, h, err := server.New(server.Config{Store: e.db})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			s.Drain()
			resp, err := http.Get(srv.URL + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			problem(t, resp, body, http.StatusServiceUnavailable, api.SERVICEUNAVAILABLE)
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("503 from /readyz has no Retry-After")
			}
		})
	})
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func lenErrors(p api.Problem) int {
	if p.Errors == nil {
		return 0
	}
	return len(*p.Errors)
}

// Cursors are authenticated and bound to the organization, sort and q:
// an edited, forged or foreign cursor is a clean 400 naming cursor, and a
// cursor works on another server that shares the key.
func TestCursorsAreAuthenticated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		url := storetest.URL(t, d)
		key := []byte("0123456789abcdef0123456789abcdef")
		withKey := func(db *store.DB) func(*server.Config) {
			return func(c *server.Config) { c.Store = db }
		}
		e := newEnvURL(t, url)
		shared := storetest.OpenURL(t, url, store.Options{CursorKey: key})
		e2 := startEnv(t, url, e.keys, withKey(shared))
		shared2 := storetest.OpenURL(t, url, store.Options{CursorKey: key})
		e3 := startEnv(t, url, e.keys, withKey(shared2))
		for _, n := range []string{"c1", "c2", "c3"} {
			e.create("acme", n)
			e.create("globex", n)
		}
		first := func(env *env, org, query string) string {
			t.Helper()
			resp, body := env.do("GET", "/api/v2/groups?size=1"+query, "", env.auth(org)...)
			var p struct {
				Page struct{ Next string } `json:"page"`
			}
			if resp.StatusCode != 200 || jsonUnmarshal(body, &p) != nil || p.Page.Next == "" {
				t.Fatalf("list: %d %s", resp.StatusCode, body)
			}
			return p.Page.Next
		}
		bad := func(env *env, org, query string) {
			t.Helper()
			resp, body := env.do("GET", "/api/v2/groups?size=1"+query, "", env.auth(org)...)
			p := problem(t, resp, body, http.StatusBadRequest, api.VALIDATIONERROR)
			if p.Errors == nil || (*p.Errors)[0].Parameter == nil || *(*p.Errors)[0].Parameter != "cursor" {
				t.Fatalf("%s: problem %+v does not name cursor", query, p)
			}
		}
		c := first(e, "acme", "&sort=name")
		bad(e, "globex", "&sort=name&cursor="+c) // another organization
		payload, mac, _ := strings.Cut(c, ".")
		raw, _ := base64.RawURLEncoding.DecodeString(payload)
		edited := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"c1"`, `"c0"`, 1)))
		bad(e, "acme", "&sort=name&cursor="+edited+"."+mac) // an edited sort key
		bad(e, "acme", "&sort=name&cursor="+payload)        // unsigned, the old format
		bad(e, "acme", "&sort=name,desc&cursor="+c)         // another sort
		bad(e, "acme", "&sort=name&cursor="+c+"&q=c")       // another q
		bad(e2, "acme", "&sort=name&cursor="+c)             // a server with another key
		c2 := first(e2, "acme", "&sort=name")               // replicas sharing a key
		resp, body := e3.do("GET", "/api/v2/groups?size=1&sort=name&cursor="+c2, "", e3.auth("acme")...)
		if resp.StatusCode != 200 {
			t.Fatalf("cursor on a replica with the same key: %d %s", resp.StatusCode, body)
		}
		// Without a configured key, every process of one database shares
		// the key kept in it: a second process (a replica, or the same
		// server after a restart) accepts the first one's cursor.
		e4 := startEnv(t, url, e.keys, withKey(storetest.OpenURL(t, url, store.Options{})))
		resp, body = e4.do("GET", "/api/v2/groups?size=1&sort=name&cursor="+c, "", e4.auth("acme")...)
		if resp.StatusCode != 200 {
			t.Fatalf("cursor on another process of the same database: %d %s", resp.StatusCode, body)
		}
	})
}
