package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

func TestETags(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		g, tag := e.create("acme", "Finance")
		id := g.Uuid.String()
		path := "/api/v2/groups/" + id
		mp := []string{"Content-Type", "application/merge-patch+json"}
		h := func(extra ...string) []string { return append(append(e.auth("acme"), mp...), extra...) }

		t.Run("IfNoneMatchGives304WithETagAndNoBody", func(t *testing.T) {
			for _, inm := range []string{tag, `"9", ` + tag, "W/" + tag, "*"} {
				resp, body := e.do("GET", path, "", append(e.auth("acme"), "If-None-Match", inm)...)
				if resp.StatusCode != 304 || len(body) != 0 || resp.Header.Get("ETag") != tag {
					t.Fatalf("If-None-Match %s: %d %q etag %q", inm, resp.StatusCode, body, resp.Header.Get("ETag"))
				}
			}
			resp, _ := e.do("GET", path, "", append(e.auth("acme"), "If-None-Match", `"999"`)...)
			if resp.StatusCode != 200 {
				t.Fatalf("non-matching If-None-Match: %d", resp.StatusCode)
			}
		})
		t.Run("StaleIfMatchIs412AndChangesNothing", func(t *testing.T) {
			for _, im := range []string{`"2"`, `"x"`, "W/" + tag, `"2", "3"`} {
				resp, body := e.do("PATCH", path, `{"name":"Changed"}`, h("If-Match", im)...)
				problem(t, resp, body, 412, api.PRECONDITIONFAILED)
				resp, body = e.do("PUT", "/api/v2/groups", `{"uuid":"`+id+`","name":"Changed"}`, append(e.auth("acme"), "Content-Type", "application/json", "If-Match", im)...)
				problem(t, resp, body, 412, api.PRECONDITIONFAILED)
				resp, body = e.do("DELETE", path, "", append(e.auth("acme"), "If-Match", im)...)
				problem(t, resp, body, 412, api.PRECONDITIONFAILED)
			}
			got, _ := e.db.GetGroup(bg, "acme", id)
			if got.Name != "Finance" || got.Version != 1 {
				t.Fatalf("row changed: %+v", got)
			}
		})
		t.Run("MatchingIfMatchWritesAndChangesTheETag", func(t *testing.T) {
			resp, body := e.do("PATCH", path, `{"name":"Finance 2"}`, h("If-Match", `"7", `+tag)...)
			if resp.StatusCode != 200 || resp.Header.Get("ETag") != `"2"` {
				t.Fatalf("%d %s %q", resp.StatusCode, body, resp.Header.Get("ETag"))
			}
			resp, body = e.do("PUT", "/api/v2/groups", `{"uuid":"`+id+`","name":"Finance 3"}`, append(e.auth("acme"), "Content-Type", "application/json", "If-Match", "*")...)
			if resp.StatusCode != 200 || resp.Header.Get("ETag") != `"3"` {
				t.Fatalf("PUT *: %d %s", resp.StatusCode, body)
			}
			// A no-op keeps the ETag.
			resp, _ = e.do("PUT", "/api/v2/groups", `{"uuid":"`+id+`","name":"Finance 3"}`, append(e.auth("acme"), "Content-Type", "application/json", "If-Match", `"3"`)...)
			if resp.StatusCode != 200 || resp.Header.Get("ETag") != `"3"` {
				t.Fatalf("no-op PUT: %d etag %s", resp.StatusCode, resp.Header.Get("ETag"))
			}
			r, _ := e.api("acme").GetGroupWithResponse(bg, g.Uuid, nil)
			if r.HTTPResponse.Header.Get("ETag") != `"3"` {
				t.Fatalf("GET etag %q", r.HTTPResponse.Header.Get("ETag"))
			}
		})
		t.Run("MissingGroupIs404Not412", func(t *testing.T) {
			other := "/api/v2/groups/01939d2e-0000-7000-8000-000000000000"
			for _, im := range []string{`"1"`, "*"} {
				resp, body := e.do("PATCH", other, `{}`, h("If-Match", im)...)
				problem(t, resp, body, 404, api.NOTFOUND)
				resp, body = e.do("DELETE", other, "", append(e.auth("acme"), "If-Match", im)...)
				problem(t, resp, body, 404, api.NOTFOUND)
			}
		})
		t.Run("DeleteWithIfMatch", func(t *testing.T) {
			resp, _ := e.do("DELETE", path, "", append(e.auth("acme"), "If-Match", `"3"`)...)
			if resp.StatusCode != 204 {
				t.Fatalf("%d", resp.StatusCode)
			}
		})
	})
}

func TestRequireIfMatch(t *testing.T) {
	e := newEnv(t, store.SQLite, func(c *server.Config) { c.RequireIfMatch = true })
	g, tag := e.create("acme", "Finance")
	id := g.Uuid.String()
	json := []string{"Content-Type", "application/json"}
	for _, rq := range []struct{ method, path, body string }{
		{"PATCH", "/api/v2/groups/" + id, `{"name":"x"}`},
		{"PUT", "/v2/groups", `{"uuid":"` + id + `","name":"x"}`},
		{"DELETE", "/api/v2/groups/" + id, ""},
	} {
		resp, body := e.do(rq.method, rq.path, rq.body, append(e.auth("acme"), json...)...)
		problem(t, resp, body, 428, api.PRECONDITIONREQUIRED)
	}
	if got, _ := e.db.GetGroup(bg, "acme", id); got.Version != 1 {
		t.Fatalf("428 changed the row: %+v", got)
	}
	resp, body := e.do("PATCH", "/api/v2/groups/"+id, `{"name":"x"}`, append(e.auth("acme"), append(json, "If-Match", tag)...)...)
	if resp.StatusCode != 200 {
		t.Fatalf("with If-Match: %d %s", resp.StatusCode, body)
	}
	// Off by default.
	e2 := newEnv(t, store.SQLite)
	g2, _ := e2.create("acme", "Finance")
	resp, _ = e2.do("DELETE", "/api/v2/groups/"+g2.Uuid.String(), "", e2.auth("acme")...)
	if resp.StatusCode != 204 {
		t.Fatalf("default server: %d", resp.StatusCode)
	}
}

// lostUpdateRace has 20 writers PATCH one group with the same ETag, spread
// over the given servers: exactly one wins and the row holds its change.
func lostUpdateRace(t *testing.T, servers []*env) {
	e := servers[0]
	g, tag := e.create("acme", "Shared")
	const n = 20
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := servers[i%len(servers)]
			resp, _ := s.do("PATCH", "/api/v2/groups/"+g.Uuid.String(), fmt.Sprintf(`{"description":"writer %d"}`, i),
				append(s.auth("acme"), "Content-Type", "application/merge-patch+json", "If-Match", tag)...)
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	winner := -1
	for i, s := range statuses {
		switch {
		case s == 200 && winner >= 0:
			t.Fatalf("two winners: %d and %d (%v)", winner, i, statuses)
		case s == 200:
			winner = i
		case s != 412:
			t.Fatalf("writer %d got %d", i, s)
		}
	}
	if winner < 0 {
		t.Fatalf("no winner: %v", statuses)
	}
	got, _ := e.db.GetGroup(bg, "acme", g.Uuid.String())
	if got.Description == nil || *got.Description != fmt.Sprintf("writer %d", winner) || got.Version != 2 {
		t.Fatalf("final row %+v, want writer %d's change at version 2", got, winner)
	}
}

func TestLostUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		lostUpdateRace(t, []*env{newEnv(t, d)})
	})
	t.Run("TwoInstancesOnOnePostgres", func(t *testing.T) {
		url := storetest.PostgresURL(t)
		a := newEnvURL(t, url)
		b := sharedEnv(t, a)
		lostUpdateRace(t, []*env{a, b})
	})
}

// sharedEnv starts a second server (its own store handle and pool, as
// another process would have) on a's database, with a's keys.
func sharedEnv(t *testing.T, a *env) *env {
	t.Helper()
	return startEnv(t, a.dbURL, a.keys)
}

func TestIdempotentCreate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		post := func(e *env, org, key, body string) (*http.Response, []byte) {
			return e.do("POST", "/api/v2/groups", body, append(e.auth(org), "Content-Type", "application/json", "Idempotency-Key", key)...)
		}

		t.Run("ConcurrentRetriesCreateOnce", func(t *testing.T) {
			const n = 20
			type result struct {
				status int
				body   []byte
				hdr    http.Header
			}
			results := make([]result, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, body := post(e, "acme", "key-1", `{"name":"Payroll","description":"d"}`)
					results[i] = result{resp.StatusCode, body, resp.Header}
				}()
			}
			wg.Wait()
			var first []byte
			created := 0
			for _, r := range results {
				switch r.status {
				case 201:
					created++
					if first == nil {
						first = r.body
					} else if !bytes.Equal(first, r.body) {
						t.Fatalf("201 bodies differ:\n%s\n%s", first, r.body)
					}
				case 409:
					var p api.Problem
					_ = jsonUnmarshal(r.body, &p)
					if p.Code != api.IDEMPOTENCYINFLIGHT {
						t.Fatalf("409 with code %s: %s", p.Code, r.body)
					}
				default:
					t.Fatalf("status %d: %s", r.status, r.body)
				}
			}
			if created == 0 {
				t.Fatal("no 201 at all")
			}
			p, _ := e.db.ListGroups(bg, "acme", store.ListQuery{Size: 10, Q: "payroll"})
			if p.Total != 1 {
				t.Fatalf("%d groups created, want 1", p.Total)
			}
		})
		t.Run("ReplayIsByteForByte", func(t *testing.T) {
			r1, b1 := post(e, "acme", "key-2", `{"name":"Travel"}`)
			r2, b2 := post(e, "acme", "key-2", `{ "name" : "Travel" }`)
			if r1.StatusCode != 201 || r2.StatusCode != 201 || !bytes.Equal(b1, b2) {
				t.Fatalf("%d %s / %d %s", r1.StatusCode, b1, r2.StatusCode, b2)
			}
			if r1.Header.Get("Idempotent-Replayed") != "" || r2.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("Idempotent-Replayed: %q then %q", r1.Header.Get("Idempotent-Replayed"), r2.Header.Get("Idempotent-Replayed"))
			}
			for _, h := range []string{"Location", "ETag", "Content-Type"} {
				if r1.Header.Get(h) == "" || r1.Header.Get(h) != r2.Header.Get(h) {
					t.Fatalf("%s: %q vs %q", h, r1.Header.Get(h), r2.Header.Get(h))
				}
			}
		})
		t.Run("DifferentBodyIs422", func(t *testing.T) {
			resp, body := post(e, "acme", "key-2", `{"name":"Travel","description":"other"}`)
			problem(t, resp, body, 422, api.IDEMPOTENCYKEYREUSED)
		})
		t.Run("KeysArePerOrganization", func(t *testing.T) {
			ra, ba := post(e, "acme", "shared-key", `{"name":"Ops"}`)
			rb, bb := post(e, "globex", "shared-key", `{"name":"Ops"}`)
			if ra.StatusCode != 201 || rb.StatusCode != 201 || bytes.Equal(ba, bb) || rb.Header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("acme %d %s / globex %d %s", ra.StatusCode, ba, rb.StatusCode, bb)
			}
		})
		t.Run("ConflictOutcomeIsStoredToo", func(t *testing.T) {
			r1, b1 := post(e, "acme", "key-3", `{"name":"ops"}`)
			r2, b2 := post(e, "acme", "key-3", `{"name":"ops"}`)
			problem(t, r1, b1, 409, api.NAMECONFLICT)
			if r2.StatusCode != 409 || !bytes.Equal(b1, b2) || r2.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replayed conflict: %d %s", r2.StatusCode, b2)
			}
		})
		t.Run("ReplaysAfterRestart", func(t *testing.T) {
			r1, b1 := post(e, "acme", "key-4", `{"name":"Restart"}`)
			e.srv.Close()
			e.db.Close()
			e2 := sharedEnv(t, e)
			r2, b2 := post(e2, "acme", "key-4", `{"name":"Restart"}`)
			if r1.StatusCode != 201 || r2.StatusCode != 201 || !bytes.Equal(b1, b2) || r2.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("after restart: %d %s", r2.StatusCode, b2)
			}
		})
	})
}
