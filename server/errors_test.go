package server_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// TestStoreErrors checks the problems that store errors map to: the facts
// come from the typed errors' fields.
func TestStoreErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		json := []string{"Content-Type", "application/json"}
		post := func(body string, headers ...string) ([]string, string) {
			return append(append(e.auth("acme"), json...), headers...), body
		}
		e.create("acme", "Finance")

		t.Run("DuplicateNameIs409NamingTheName", func(t *testing.T) {
			h, body := post(`{"name":"  FINANCE "}`)
			resp, b := e.do("POST", "/api/v2/groups", body, h...)
			p := problem(t, resp, b, 409, api.NAMECONFLICT)
			if want := `a group named "FINANCE" already exists in this organization`; p.Detail != want {
				t.Fatalf("detail = %q, want %q", p.Detail, want)
			}
		})
		t.Run("BadCursorIs400NamingCursor", func(t *testing.T) {
			resp, b := e.do("GET", "/api/v2/groups?cursor=garbage", "", e.auth("acme")...)
			p := problem(t, resp, b, 400, api.VALIDATIONERROR)
			if p.Detail != "cursor is malformed" || p.Errors == nil || len(*p.Errors) != 1 {
				t.Fatalf("problem = %+v", p)
			}
			fe := (*p.Errors)[0]
			if fe.Parameter == nil || *fe.Parameter != "cursor" || fe.Detail != "cursor is malformed" {
				t.Fatalf("errors[0] = %+v, want parameter cursor", fe)
			}
		})
		t.Run("MissingGroupIs404NamingTheGroup", func(t *testing.T) {
			const id = "0190a6c6-9f2e-7b1a-8c3d-4e5f60718293"
			resp, b := e.do("GET", "/api/v2/groups/"+id, "", e.auth("acme")...)
			p := problem(t, resp, b, 404, api.NOTFOUND)
			if want := "group " + id + " not found"; p.Detail != want {
				t.Fatalf("detail = %q, want %q", p.Detail, want)
			}
		})
		t.Run("IdempotentReplayIsTheFirstResponse", func(t *testing.T) {
			for _, tc := range []struct {
				name, body string
				status     int
			}{
				{"Created", `{"name":"Travel","description":"trips"}`, 201},
				{"NameTaken", `{"name":"finance"}`, 409},
			} {
				t.Run(tc.name, func(t *testing.T) {
					key := "replay-" + tc.name
					h, body := post(tc.body, "Idempotency-Key", key)
					r1, b1 := e.do("POST", "/api/v2/groups", body, h...)
					// The retry takes the other prefix and carries its own
					// request id: the replay still names the first's.
					h = append(h, "X-Request-Id", "retry-"+key)
					r2, b2 := e.do("POST", "/v2/groups", body, h...)
					if r1.StatusCode != tc.status || r2.StatusCode != tc.status {
						t.Fatalf("status %d then %d, want %d: %s", r1.StatusCode, r2.StatusCode, tc.status, b2)
					}
					if !bytes.Equal(b1, b2) {
						t.Fatalf("replay differs:\n%s\n%s", b1, b2)
					}
					if tc.status == 409 && !strings.Contains(string(b1), `a group named \"finance\"`) {
						t.Fatalf("conflict does not name the name: %s", b1)
					}
					if r1.Header.Get("Idempotent-Replayed") != "" || r2.Header.Get("Idempotent-Replayed") != "true" {
						t.Fatalf("Idempotent-Replayed: %q then %q", r1.Header.Get("Idempotent-Replayed"), r2.Header.Get("Idempotent-Replayed"))
					}
					for _, name := range []string{"Content-Type", "Cache-Control", "Location", "ETag"} {
						if r1.Header.Get(name) != r2.Header.Get(name) {
							t.Fatalf("%s: %q then %q", name, r1.Header.Get(name), r2.Header.Get(name))
						}
					}
				})
			}
		})
	})
}
