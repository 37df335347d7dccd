package server_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// Membership through the full stack with the generated client, on both
// databases.
func TestMembersAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		c := e.api("acme")
		g, tag := e.create("acme", "Approvers")

		t.Run("AddIs201ThenIdempotent200", func(t *testing.T) {
			r1, err := c.AddMemberWithResponse(bg, g.Uuid, "user-42")
			if err != nil || r1.JSON201 == nil || r1.JSON201.UserId != "user-42" {
				t.Fatalf("add: %v %d %s", err, r1.StatusCode(), r1.Body)
			}
			if loc := r1.HTTPResponse.Header.Get("Location"); loc != "/api/v2/groups/"+g.Uuid.String()+"/members/user-42" {
				t.Fatalf("Location = %q", loc)
			}
			r2, err := c.AddMemberWithResponse(bg, g.Uuid, "user-42")
			if err != nil || r2.JSON200 == nil || *r2.JSON200 != *r1.JSON201 {
				t.Fatalf("second add: %v %d %s", err, r2.StatusCode(), r2.Body)
			}
			// The group's representation changed: count, ETag, updatedAt.
			got, err := c.GetGroupWithResponse(bg, g.Uuid, nil)
			if err != nil || got.JSON200.MemberCount != 1 || got.HTTPResponse.Header.Get("ETag") == tag ||
				!got.JSON200.UpdatedAt.After(g.UpdatedAt.Time) && !got.JSON200.UpdatedAt.Equal(g.UpdatedAt.Time) {
				t.Fatalf("group after add: %+v, ETag %q (was %q)", got.JSON200, got.HTTPResponse.Header.Get("ETag"), tag)
			}
		})

		t.Run("GetMemberAndMissingMember", func(t *testing.T) {
			r, err := c.GetMemberWithResponse(bg, g.Uuid, "user-42")
			if err != nil || r.JSON200 == nil || r.JSON200.UserId != "user-42" {
				t.Fatalf("get: %v %d %s", err, r.StatusCode(), r.Body)
			}
			resp, body := e.do("GET", "/v2/groups/"+g.Uuid.String()+"/members/User-42", "", e.auth("acme")...)
			problem(t, resp, body, 404, api.MEMBERNOTFOUND)
			resp, body = e.do("GET", "/api/v2/groups/01939d2e-0000-7000-8000-000000000000/members/user-42", "", e.auth("acme")...)
			problem(t, resp, body, 404, api.NOTFOUND)
		})

		t.Run("RemoveIs204EvenForNonMembers", func(t *testing.T) {
			c.AddMemberWithResponse(bg, g.Uuid, "to-remove")
			for range 2 {
				r, err := c.RemoveMemberWithResponse(bg, g.Uuid, "to-remove")
				if err != nil || r.StatusCode() != 204 {
					t.Fatalf("remove: %v %d %s", err, r.StatusCode(), r.Body)
				}
			}
			resp, body := e.do("DELETE", "/api/v2/groups/01939d2e-0000-7000-8000-000000000000/members/x", "", e.auth("acme")...)
			problem(t, resp, body, 404, api.NOTFOUND)
		})

		t.Run("ChangeMembersAndListInByteOrder", func(t *testing.T) {
			h, _ := e.create("acme", "Listed")
			add := []string{"b", "a", "C", "c", "a.b@x:y+z-1"}
			r, err := c.ChangeMembersWithResponse(bg, h.Uuid, nil, api.MembersChange{Add: &add, Remove: &[]string{"zz"}})
			if err != nil || r.JSON200 == nil || len(r.JSON200.Added) != 5 || len(r.JSON200.NotMembers) != 1 ||
				len(r.JSON200.AlreadyMembers) != 0 || len(r.JSON200.Removed) != 0 {
				t.Fatalf("change: %v %d %s", err, r.StatusCode(), r.Body)
			}
			var got []string
			params := &api.ListMembersParams{Size: ptr(int32(2))}
			for {
				p, err := c.ListMembersWithResponse(bg, h.Uuid, params)
				if err != nil || p.JSON200 == nil {
					t.Fatalf("list: %v %d %s", err, p.StatusCode(), p.Body)
				}
				if p.JSON200.Page.TotalElements != 5 {
					t.Fatalf("total = %d", p.JSON200.Page.TotalElements)
				}
				for _, m := range p.JSON200.Content {
					got = append(got, m.UserId)
				}
				next, err := p.JSON200.Page.Next.Get()
				if err != nil {
					break
				}
				params.Cursor = &next
			}
			if want := "C a a.b@x:y+z-1 b c"; strings.Join(got, " ") != want {
				t.Fatalf("members %v, want %s", got, want)
			}
		})

		t.Run("ChangeMembersRejectsDuplicatesPerID", func(t *testing.T) {
			resp, body := e.do("PATCH", "/api/v2/groups/"+g.Uuid.String()+"/members",
				`{"add":["a","b","a","c"],"remove":["c","d"]}`, append(e.auth("acme"), "Content-Type", "application/json")...)
			p := problem(t, resp, body, 400, api.VALIDATIONERROR)
			if p.Errors == nil || len(*p.Errors) != 2 || *(*p.Errors)[0].Pointer != "/add/2" || *(*p.Errors)[1].Pointer != "/remove/0" {
				t.Fatalf("errors = %s", body)
			}
			resp, body = e.do("PATCH", "/api/v2/groups/"+g.Uuid.String()+"/members",
				`{"add":["ok","-bad","ok2","has space"]}`, append(e.auth("acme"), "Content-Type", "application/json")...)
			p = problem(t, resp, body, 400, api.VALIDATIONERROR)
			if p.Errors == nil || len(*p.Errors) != 2 || *(*p.Errors)[0].Pointer != "/add/1" || *(*p.Errors)[1].Pointer != "/add/3" {
				t.Fatalf("errors = %s", body)
			}
			many := make([]string, 1001)
			for i := range many {
				many[i] = fmt.Sprintf(""+`"u%d"`, i)
			}
			resp, body = e.do("PATCH", "/api/v2/groups/"+g.Uuid.String()+"/members",
				`{"add":[`+strings.Join(many, ",")+`]}`, append(e.auth("acme"), "Content-Type", "application/json")...)
			problem(t, resp, body, 400, api.VALIDATIONERROR)
			// Nothing of the rejected changes was applied.
			got, _ := c.GetGroupWithResponse(bg, g.Uuid, nil)
			if got.JSON200.MemberCount != 1 {
				t.Fatalf("memberCount = %d", got.JSON200.MemberCount)
			}
		})

		t.Run("BadUserIDIsNamed", func(t *testing.T) {
			for _, bad := range []string{"-x", ".x", "a%20b", strings.Repeat("a", 256), "%C3%A9"} {
				resp, body := e.do("PUT", "/api/v2/groups/"+g.Uuid.String()+"/members/"+bad, "", e.auth("acme")...)
				p := problem(t, resp, body, 400, api.VALIDATIONERROR)
				if !strings.Contains(p.Detail, "userId") {
					t.Errorf("%q: detail %q does not name userId", bad, p.Detail)
				}
			}
		})

		t.Run("ChangeMembersIdempotencyKey", func(t *testing.T) {
			h, _ := e.create("acme", "Idem members")
			path := "/api/v2/groups/" + h.Uuid.String() + "/members"
			hdr := append(e.auth("acme"), "Content-Type", "application/json", "Idempotency-Key", "chg-1")
			r1, b1 := e.do("PATCH", path, `{"add":["x","y"]}`, hdr...)
			r2, b2 := e.do("PATCH", path, `{"add":["x","y"]}`, hdr...)
			if r1.StatusCode != 200 || r2.StatusCode != 200 || string(b1) != string(b2) || r2.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("first %d %s, replay %d %s %v", r1.StatusCode, b1, r2.StatusCode, b2, r2.Header)
			}
			r3, b3 := e.do("PATCH", path, `{"add":["x"]}`, hdr...)
			problem(t, r3, b3, 422, api.IDEMPOTENCYKEYREUSED)
		})

		t.Run("ListUserGroups", func(t *testing.T) {
			for i := range 4 {
				h, _ := e.create("acme", fmt.Sprintf("Team %d", i))
				if i != 1 {
					c.AddMemberWithResponse(bg, h.Uuid, "multi")
				}
			}
			r, err := c.ListUserGroupsWithResponse(bg, "multi", &api.ListUserGroupsParams{Sort: &[]string{"name,desc"}, Q: ptr("team")})
			if err != nil || r.JSON200 == nil || r.JSON200.Page.TotalElements != 3 {
				t.Fatalf("user groups: %v %d %s", err, r.StatusCode(), r.Body)
			}
			if got := []string{r.JSON200.Content[0].Name, r.JSON200.Content[1].Name, r.JSON200.Content[2].Name}; strings.Join(got, ",") != "Team 3,Team 2,Team 0" {
				t.Fatalf("order %v", got)
			}
			// Unknown user: an empty page.
			r, err = c.ListUserGroupsWithResponse(bg, "nobody", nil)
			if err != nil || r.JSON200 == nil || r.JSON200.Page.TotalElements != 0 || len(r.JSON200.Content) != 0 {
				t.Fatalf("nobody: %v %s", err, r.Body)
			}
		})

		t.Run("DeleteGroupRemovesMemberships", func(t *testing.T) {
			h, _ := e.create("acme", "Doomed")
			c.AddMemberWithResponse(bg, h.Uuid, "doomed-user")
			if r, err := c.DeleteGroupWithResponse(bg, h.Uuid, nil); err != nil || r.StatusCode() != 204 {
				t.Fatalf("delete: %v", err)
			}
			r, _ := c.ListUserGroupsWithResponse(bg, "doomed-user", nil)
			if r.JSON200 == nil || r.JSON200.Page.TotalElements != 0 {
				t.Fatalf("after delete: %s", r.Body)
			}
		})
	})
}

// Another organization's key, a foreign group and a user known only in
// another organization all behave as if the thing did not exist.
func TestMembersTenantIsolation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		g, _ := e.create("acme", "Private")
		e.api("acme").AddMemberWithResponse(bg, g.Uuid, "alice")
		base := "/api/v2/groups/" + g.Uuid.String() + "/members"
		json := []string{"Content-Type", "application/json"}
		for _, tc := range []struct{ method, path, body string }{
			{"GET", base, ""},
			{"PATCH", base, `{"add":["mallory"]}`},
			{"GET", base + "/alice", ""},
			{"PUT", base + "/mallory", ""},
			{"DELETE", base + "/alice", ""},
		} {
			resp, body := e.do(tc.method, tc.path, tc.body, append(e.auth("globex"), json...)...)
			problem(t, resp, body, 404, api.NOTFOUND)
		}
		r, err := e.api("globex").ListUserGroupsWithResponse(bg, "alice", nil)
		if err != nil || r.JSON200 == nil || r.JSON200.Page.TotalElements != 0 {
			t.Fatalf("globex sees alice's groups: %s", r.Body)
		}
		// Nothing changed for acme.
		m, _ := e.api("acme").ListMembersWithResponse(bg, g.Uuid, nil)
		if m.JSON200 == nil || len(m.JSON200.Content) != 1 || m.JSON200.Content[0].UserId != "alice" {
			t.Fatalf("acme members: %s", m.Body)
		}
	})
}

// 50 concurrent adds of one user: one 201, 49 × 200, memberCount + 1; 20
// concurrent overlapping changes: memberCount equals the rows listed, and
// every answer accounts for every id it was sent.
func TestMembersConcurrency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		c := e.api("acme")
		g, _ := e.create("acme", "Contended")
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := c.AddMemberWithResponse(bg, g.Uuid, "same-user")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				codes[r.StatusCode()]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if codes[201] != 1 || codes[200] != 49 {
			t.Fatalf("codes = %v, want one 201 and 49 200", codes)
		}
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var add, remove []string
				for j := range 25 {
					u := fmt.Sprintf("u%02d", (i*5+j)%50)
					if j%4 == 0 {
						remove = append(remove, u)
					} else {
						add = append(add, u)
					}
				}
				r, err := c.ChangeMembersWithResponse(bg, g.Uuid, nil, api.MembersChange{Add: &add, Remove: &remove})
				if err != nil || r.JSON200 == nil {
					t.Errorf("change: %v %s", err, r.Body)
					return
				}
				res := r.JSON200
				if len(res.Added)+len(res.AlreadyMembers) != len(add) || len(res.Removed)+len(res.NotMembers) != len(remove) {
					t.Errorf("answer %+v does not account for %d adds and %d removes", res, len(add), len(remove))
				}
			}()
		}
		wg.Wait()
		rows := 0
		params := &api.ListMembersParams{Size: ptr(int32(7))}
		for {
			p, err := c.ListMembersWithResponse(bg, g.Uuid, params)
			if err != nil || p.JSON200 == nil {
				t.Fatalf("list: %v", err)
			}
			rows += len(p.JSON200.Content)
			next, err := p.JSON200.Page.Next.Get()
			if err != nil {
				break
			}
			params.Cursor = &next
		}
		got, _ := c.GetGroupWithResponse(bg, g.Uuid, nil)
		if int(got.JSON200.MemberCount) != rows {
			t.Fatalf("memberCount %d, listed %d", got.JSON200.MemberCount, rows)
		}
	})
}

// Limits answer 422 with their own codes and change nothing.
func TestMemberLimitsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnvOptions(t, d, store.Options{Limits: store.Limits{MaxMembersPerGroup: 2, MaxGroupsPerUser: 1}})
		g, _ := e.create("acme", "Small")
		h, _ := e.create("acme", "Other")
		c := e.api("acme")
		c.AddMemberWithResponse(bg, g.Uuid, "a")
		c.AddMemberWithResponse(bg, g.Uuid, "b")
		resp, body := e.do("PUT", "/api/v2/groups/"+g.Uuid.String()+"/members/c", "", e.auth("acme")...)
		problem(t, resp, body, 422, api.MEMBERLIMITEXCEEDED)
		resp, body = e.do("PUT", "/api/v2/groups/"+h.Uuid.String()+"/members/a", "", e.auth("acme")...)
		problem(t, resp, body, 422, api.GROUPLIMITEXCEEDED)
		resp, body = e.do("PATCH", "/api/v2/groups/"+h.Uuid.String()+"/members", `{"add":["z","a"]}`,
			append(e.auth("acme"), "Content-Type", "application/json")...)
		problem(t, resp, body, 422, api.GROUPLIMITEXCEEDED)
		got, _ := c.GetGroupWithResponse(bg, h.Uuid, nil)
		if got.JSON200.MemberCount != 0 {
			t.Fatalf("a refused change added members: %d", got.JSON200.MemberCount)
		}
	})
}

// newEnvOptions is newEnv on a store opened with opts.
func newEnvOptions(t *testing.T, d store.Dialect, opts store.Options) *env {
	t.Helper()
	db := storetest.Open(t, d, opts)
	e := &env{t: t, db: db, keys: map[string]string{}}
	for _, org := range []string{"acme", "globex"} {
		_, secret, err := db.CreateAPIKey(bg, org, "test")
		if err != nil {
			t.Fatal(err)
		}
		e.keys[org] = secret
	}
	_, h, err := server.New(server.Config{Store: db, Auth: server.NewAuthenticator(db, nil)})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}
