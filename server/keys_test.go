package server_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// fakeClock is a settable clock shared by the store and the server.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingKeys counts the last-use writes that reach the store.
type countingKeys struct {
	server.KeyStore
	touches atomic.Int64
}

func (k *countingKeys) TouchAPIKey(ctx context.Context, id string) error {
	k.touches.Add(1)
	return k.KeyStore.TouchAPIKey(ctx, id)
}

// clockEnv is newEnv with clk as the clock of the store, the server and the
// authenticator, whose cache is off (a frozen clock would keep it forever).
func clockEnv(t *testing.T, d store.Dialect, clk *fakeClock, mod ...func(*server.Config)) (*env, *countingKeys) {
	t.Helper()
	url := storetest.URL(t, d)
	db := storetest.OpenURL(t, url, store.Options{Now: clk.Now})
	e := &env{t: t, db: db, dbURL: url, keys: map[string]string{}}
	ck := &countingKeys{KeyStore: db}
	auth := server.NewAuthenticator(ck, nil)
	auth.Now, auth.CacheTTL = clk.Now, 0
	cfg := server.Config{Store: db, Auth: auth, Now: clk.Now, MaxKeyLifetime: 360 * 24 * time.Hour}
	for _, m := range mod {
		m(&cfg)
	}
	_, h, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e, ck
}

func (e *env) status(key, method, path, body string) int {
	e.t.Helper()
	h := []string{"Authorization", "Bearer " + key}
	if body != "" {
		h = append(h, "Content-Type", "application/json")
	}
	resp, _ := e.do(method, path, body, h...)
	return resp.StatusCode
}

func TestKeyManagementOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		clk := newFakeClock()
		e, _ := clockEnv(t, d, clk)
		e.addKey("admin", "acme", store.ScopeGroupsRead, store.ScopeKeysManage)
		e.addKey("root", "acme", store.Scopes...)
		writerID := e.addKey("writer", "acme", store.ScopeGroupsWrite)
		globexID := e.addKey("globex", "globex", store.ScopeGroupsRead, store.ScopeKeysManage)
		admin := e.api("admin")

		t.Run("CreateShowsTheSecretOnce", func(t *testing.T) {
			r, err := admin.CreateApiKeyWithResponse(bg, api.ApiKeyCreate{Name: "report", Scopes: []api.Scope{"groups:read"}})
			if err != nil || r.JSON201 == nil {
				t.Fatalf("%v %d %s", err, r.StatusCode(), r.Body)
			}
			k := r.JSON201
			if !strings.HasPrefix(k.Secret, "gk_"+k.Id+"_") || r.HTTPResponse.Header.Get("Location") != "/api/v2/api-keys/"+k.Id ||
				r.HTTPResponse.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("created %+v, headers %v", k, r.HTTPResponse.Header)
			}
			// No expiry asked: the server's maximum lifetime applies.
			if k.ExpiresAt == nil || !k.ExpiresAt.Equal(clk.Now().Add(360*24*time.Hour)) {
				t.Fatalf("expiresAt = %v, want now + 360 days", k.ExpiresAt)
			}
			g, _ := admin.GetApiKeyWithResponse(bg, k.Id)
			if g.JSON200 == nil || strings.Contains(string(g.Body), k.Secret[len(k.Secret)-43:]) || strings.Contains(string(g.Body), "secret") {
				t.Fatalf("get: %d %s", g.StatusCode(), g.Body)
			}
			if got := e.status(k.Secret, "GET", "/api/v2/groups", ""); got != 200 {
				t.Fatalf("new read key lists groups: %d", got)
			}
			if got := e.status(k.Secret, "POST", "/api/v2/groups", `{"name":"x"}`); got != 403 {
				t.Fatalf("new read key creates a group: %d", got)
			}
		})
		t.Run("NoEscalation", func(t *testing.T) {
			resp, body := e.do("POST", "/api/v2/api-keys", `{"name":"sneaky","scopes":["groups:read","groups:write"]}`,
				"Authorization", "Bearer "+e.keys["admin"], "Content-Type", "application/json")
			p := problem(t, resp, body, 403, api.INSUFFICIENTSCOPE)
			if !strings.Contains(p.Detail, "groups:write") || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="groups:write"`) {
				t.Fatalf("403 does not name groups:write: %q %q", p.Detail, resp.Header.Get("WWW-Authenticate"))
			}
			for _, op := range []struct{ method, path, body string }{
				{"POST", "/api/v2/api-keys/" + writerID + "/rotate", `{}`},
				{"PATCH", "/api/v2/api-keys/" + writerID, `{"name":"renamed"}`},
				{"DELETE", "/api/v2/api-keys/" + writerID, ""},
			} {
				if got := e.status(e.keys["admin"], op.method, op.path, op.body); got != 403 {
					t.Errorf("%s %s on a more powerful key: %d, want 403", op.method, op.path, got)
				}
			}
			if got := e.status(e.keys["writer"], "GET", "/api/v2/api-keys", ""); got != 403 {
				t.Errorf("writer lists keys: %d", got)
			}
			// The key with every scope may do all of it.
			if got := e.status(e.keys["root"], "POST", "/api/v2/api-keys/"+writerID+"/rotate", `{"gracePeriod":0}`); got != 200 {
				t.Errorf("root rotates: %d", got)
			}
		})
		t.Run("CannotOutliveItself", func(t *testing.T) {
			exp := clk.Now().Add(time.Hour)
			r, err := admin.CreateApiKeyWithResponse(bg, api.ApiKeyCreate{Name: "short", Scopes: []api.Scope{"groups:read", "keys:manage"}, ExpiresAt: &exp})
			if err != nil || r.JSON201 == nil {
				t.Fatalf("%v %s", err, r.Body)
			}
			short := api.ApiKeyCreate{Name: "child", Scopes: []api.Scope{"groups:read"}}
			e.keys["short"] = r.JSON201.Secret
			cr, _ := e.api("short").CreateApiKeyWithResponse(bg, short)
			if cr.JSON201 == nil || cr.JSON201.ExpiresAt == nil || !cr.JSON201.ExpiresAt.Equal(exp.Truncate(time.Millisecond)) {
				t.Fatalf("child of a key expiring at %v: %s", exp, cr.Body)
			}
			later := exp.Add(time.Minute)
			short.ExpiresAt = &later
			cr, _ = e.api("short").CreateApiKeyWithResponse(bg, short)
			if cr.StatusCode() != 400 || !strings.Contains(string(cr.Body), "/expiresAt") {
				t.Fatalf("child outliving its parent: %d %s", cr.StatusCode(), cr.Body)
			}
			tooLate := clk.Now().Add(361 * 24 * time.Hour)
			cr, _ = admin.CreateApiKeyWithResponse(bg, api.ApiKeyCreate{Name: "long", Scopes: []api.Scope{"groups:read"}, ExpiresAt: &tooLate})
			if cr.StatusCode() != 400 || !strings.Contains(string(cr.Body), "360 days") {
				t.Fatalf("past the maximum lifetime: %d %s", cr.StatusCode(), cr.Body)
			}
		})
		t.Run("OtherOrganizationsKeysAreNotFound", func(t *testing.T) {
			for _, op := range []struct{ method, path, body string }{
				{"GET", "/api/v2/api-keys/" + globexID, ""},
				{"PATCH", "/api/v2/api-keys/" + globexID, `{"name":"mine"}`},
				{"POST", "/api/v2/api-keys/" + globexID + "/rotate", `{}`},
				{"DELETE", "/api/v2/api-keys/" + globexID, ""},
			} {
				resp, body := e.do(op.method, op.path, op.body, "Authorization", "Bearer "+e.keys["root"], "Content-Type", "application/json")
				problem(t, resp, body, 404, api.NOTFOUND)
			}
			l, _ := e.api("root").ListApiKeysWithResponse(bg, nil)
			if l.JSON200 == nil || strings.Contains(string(l.Body), globexID) || strings.Contains(string(l.Body), "globex") {
				t.Fatalf("list leaks globex: %s", l.Body)
			}
			if got := e.status(e.keys["globex"], "GET", "/api/v2/api-keys/"+globexID, ""); got != 200 {
				t.Fatalf("globex's own key: %d", got)
			}
		})
		t.Run("ScopesAreValidated", func(t *testing.T) {
			for _, body := range []string{`{"name":"x","scopes":[]}`, `{"name":"x","scopes":["groups:admin"]}`, `{"name":"x"}`,
				`{"name":"x","scopes":["groups:read"],"rateLimit":{"perSecond":0,"burst":1}}`} {
				if got := e.status(e.keys["root"], "POST", "/api/v2/api-keys", body); got != 400 {
					t.Errorf("%s: %d, want 400", body, got)
				}
			}
		})
	})
}

// TestKeyExpiryAndRotationOverHTTP drives an expiring key and a rotation's
// grace period with an injected clock.
func TestKeyExpiryAndRotationOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		clk := newFakeClock()
		e, _ := clockEnv(t, d, clk)
		e.addKey("root", "acme", store.Scopes...)
		exp := clk.Now().Add(time.Hour)
		r, _ := e.api("root").CreateApiKeyWithResponse(bg, api.ApiKeyCreate{Name: "temp", Scopes: []api.Scope{"groups:read", "keys:manage"}, ExpiresAt: &exp})
		if r.JSON201 == nil {
			t.Fatalf("%s", r.Body)
		}
		old := r.JSON201.Secret
		id := r.JSON201.Id
		rot, _ := e.api("root").RotateApiKeyWithResponse(bg, id, api.ApiKeyRotate{GracePeriod: ptr(int32(60))})
		if rot.JSON200 == nil || rot.JSON200.Id != id || rot.JSON200.Secret == old || rot.HTTPResponse.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("rotate: %d %s", rot.StatusCode(), rot.Body)
		}
		fresh := rot.JSON200.Secret
		if got := rot.JSON200.PreviousSecretExpiresAt; got == nil || !got.Equal(clk.Now().Add(time.Minute)) {
			t.Fatalf("previousSecretExpiresAt = %v", got)
		}
		for _, s := range []string{old, fresh} {
			if got := e.status(s, "GET", "/api/v2/groups", ""); got != 200 {
				t.Fatalf("within grace: %d", got)
			}
		}
		clk.Add(time.Minute)
		resp, body := e.do("GET", "/api/v2/groups", "", "Authorization", "Bearer "+old)
		if p := problem(t, resp, body, 401, api.UNAUTHORIZED); strings.Contains(p.Detail, "expired") {
			t.Fatalf("a retired secret is told apart: %q", p.Detail)
		}
		if got := e.status(fresh, "GET", "/api/v2/groups", ""); got != 200 {
			t.Fatalf("new secret after grace: %d", got)
		}
		clk.Add(59 * time.Minute)
		resp, body = e.do("GET", "/api/v2/groups", "", "Authorization", "Bearer "+fresh)
		p := problem(t, resp, body, 401, api.UNAUTHORIZED)
		if !strings.Contains(p.Detail, "expired") || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("expired key: %q %q", p.Detail, resp.Header.Get("WWW-Authenticate"))
		}
		// 401 comes before 403 and 404 for an expired key too.
		if got := e.status(fresh, "DELETE", "/api/v2/api-keys/ffffffffffff", ""); got != 401 {
			t.Fatalf("expired key on a missing key: %d", got)
		}
	})
}

// TestLastUsedAt: the first use shows at once, later ones refresh it at
// most once a minute, with one write per refresh.
func TestLastUsedAt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		clk := newFakeClock()
		e, ck := clockEnv(t, d, clk)
		id := e.addKey("root", "acme", store.Scopes...)
		lastUsed := func() time.Time {
			k, err := e.db.GetAPIKey(bg, "acme", id)
			if err != nil || k.LastUsedAt == nil {
				t.Fatalf("key %+v, %v", k, err)
			}
			return time.UnixMilli(*k.LastUsedAt)
		}
		first := clk.Now()
		g, _ := e.api("root").GetApiKeyWithResponse(bg, id)
		if g.JSON200 == nil || g.JSON200.LastUsedAt == nil || !g.JSON200.LastUsedAt.Equal(first) {
			t.Fatalf("first use does not show at once: %s", g.Body)
		}
		for range 20 {
			clk.Add(time.Second)
			e.status(e.keys["root"], "GET", "/api/v2/groups", "")
		}
		if got := lastUsed(); !got.Equal(first) || ck.touches.Load() != 1 {
			t.Fatalf("after 20 uses in 20 s: lastUsedAt %v (want %v), %d writes (want 1)", got, first, ck.touches.Load())
		}
		clk.Add(41 * time.Second)
		e.status(e.keys["root"], "GET", "/api/v2/groups", "")
		if got := lastUsed(); !got.Equal(clk.Now()) || ck.touches.Load() != 2 {
			t.Fatalf("a minute later: lastUsedAt %v (want %v), %d writes", got, clk.Now(), ck.touches.Load())
		}
	})
}

// TestKeyDeletionReachesEveryReplica deletes a key through one server while
// another, on the same database, keeps its usual cache.
func TestKeyDeletionReachesEveryReplica(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		a := newEnv(t, d)
		victim := a.addKey("victim", "acme", store.ScopeGroupsRead)
		a.addKey("root", "acme", store.Scopes...)
		b := startEnv(t, a.dbURL, a.keys)
		if got := b.status(a.keys["victim"], "GET", "/api/v2/groups", ""); got != 200 {
			t.Fatalf("before: %d", got)
		}
		if got := a.status(a.keys["root"], "DELETE", "/api/v2/api-keys/"+victim, ""); got != 204 {
			t.Fatalf("delete: %d", got)
		}
		start := time.Now()
		for b.status(a.keys["victim"], "GET", "/api/v2/groups", "") != 401 {
			if time.Since(start) > time.Second {
				t.Fatal("deleted key still accepted by the other replica after 1 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := a.status(a.keys["root"], "DELETE", "/api/v2/api-keys/"+victim, ""); got != 404 {
			t.Fatalf("second delete: %d", got)
		}
	})
}
