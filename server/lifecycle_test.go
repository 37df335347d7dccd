package server_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

const mergePatch = "application/merge-patch+json"

// Status, archive, the trash and references through the full stack, on
// both databases.
func TestLifecycleAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		c := e.api("acme")
		json := func(extra ...string) []string {
			return append(append([]string{"Content-Type", "application/json"}, e.auth("acme")...), extra...)
		}

		t.Run("ArchiveAndReactivateWithIfMatch", func(t *testing.T) {
			g, tag := e.create("acme", "Archivable")
			path := "/api/v2/groups/" + g.Uuid.String()
			if g.Status != api.GroupStatusACTIVE || !g.ArchivedAt.IsNull() || g.ReferenceCount != 0 {
				t.Fatalf("new group: %+v", g)
			}
			resp, body := e.do("PATCH", path, `{"status":"ARCHIVED"}`, append(json("If-Match", `"999"`), "Content-Type", mergePatch)...)
			problem(t, resp, body, 412, api.PRECONDITIONFAILED)
			resp, body = e.do("PATCH", path, `{"status":"ARCHIVED"}`, append(json("If-Match", tag), "Content-Type", mergePatch)...)
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"ARCHIVED"`) || strings.Contains(string(body), `"archivedAt":null`) {
				t.Fatalf("archive: %d %s", resp.StatusCode, body)
			}
			archivedTag := resp.Header.Get("ETag")
			again, body2 := e.do("PATCH", path, `{"status":"ARCHIVED"}`, json("If-Match", archivedTag)...)
			if again.StatusCode != 200 || again.Header.Get("ETag") != archivedTag || string(body2) != string(body) {
				t.Fatalf("repeated archive is not a no-op: %d %s", again.StatusCode, body2)
			}
			// Every other write is refused with GROUP_ARCHIVED.
			for _, w := range []struct{ method, path, body string }{
				{"PATCH", path, `{"name":"Renamed"}`},
				{"PATCH", path, `{"description":"x"}`},
				{"PUT", "/api/v2/groups", `{"uuid":"` + g.Uuid.String() + `","name":"Renamed"}`},
				{"PUT", path + "/members/u1", ""},
				{"DELETE", path + "/members/u1", ""},
				{"PATCH", path + "/members", `{"add":["u1"]}`},
			} {
				resp, body := e.do(w.method, w.path, w.body, json()...)
				p := problem(t, resp, body, 409, api.GROUPARCHIVED)
				if !strings.Contains(p.Detail, `"status": "ACTIVE"`) {
					t.Errorf("%s %s: detail does not say how to reactivate: %q", w.method, w.path, p.Detail)
				}
			}
			// PUT the archived group back as read: a no-op.
			got, _ := c.GetGroupWithResponse(bg, g.Uuid, nil)
			if resp, body := e.do("PUT", "/api/v2/groups", string(got.Body), json("If-Match", archivedTag)...); resp.StatusCode != 200 || resp.Header.Get("ETag") != archivedTag {
				t.Fatalf("PUT of the group as read: %d %s", resp.StatusCode, body)
			}
			resp, body = e.do("PUT", "/api/v2/groups", `{"uuid":"`+g.Uuid.String()+`","name":"Reactivated","status":"ACTIVE"}`, json("If-Match", archivedTag)...)
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"ACTIVE"`) || !strings.Contains(string(body), `"archivedAt":null`) {
				t.Fatalf("reactivate by PUT: %d %s", resp.StatusCode, body)
			}
		})

		t.Run("CreateTakesOnlyActive", func(t *testing.T) {
			if resp, body := e.do("POST", "/api/v2/groups", `{"name":"Born active","status":"ACTIVE"}`, json()...); resp.StatusCode != 201 {
				t.Fatalf("create ACTIVE: %d %s", resp.StatusCode, body)
			}
			resp, body := e.do("POST", "/api/v2/groups", `{"name":"Born archived","status":"ARCHIVED"}`, json()...)
			problem(t, resp, body, 400, api.VALIDATIONERROR)
		})

		t.Run("StatusFilterWithCursors", func(t *testing.T) {
			f := newEnv(t, d)
			for i := range 7 {
				g, _ := f.create("acme", fmt.Sprint("filtered ", i))
				if i%2 == 1 {
					resp, body := f.do("PATCH", "/v2/groups/"+g.Uuid.String(), `{"status":"ARCHIVED"}`, append(f.auth("acme"), "Content-Type", mergePatch)...)
					if resp.StatusCode != 200 {
						t.Fatalf("archive: %s", body)
					}
				}
			}
			fc := f.api("acme")
			for status, want := range map[api.StatusFilter]int{"": 4, api.StatusFilterACTIVE: 4, api.StatusFilterARCHIVED: 3, api.StatusFilterALL: 7} {
				params := &api.ListGroupsParams{Size: ptr(int32(2))}
				if status != "" {
					params.Status = &status
				}
				var names []string
				for {
					r, err := fc.ListGroupsWithResponse(bg, params)
					if err != nil || r.JSON200 == nil || int(r.JSON200.Page.TotalElements) != want {
						t.Fatalf("%q: %v %d %s", status, err, r.StatusCode(), r.Body)
					}
					for _, g := range r.JSON200.Content {
						names = append(names, g.Name)
						if (g.Status == api.GroupStatusARCHIVED) != (g.Name == "filtered 1" || g.Name == "filtered 3" || g.Name == "filtered 5") {
							t.Fatalf("%q: %+v", status, g)
						}
					}
					if r.JSON200.Page.Next.IsNull() {
						break
					}
					params.Cursor = ptr(r.JSON200.Page.Next.MustGet())
				}
				if len(names) != want {
					t.Fatalf("%q: %v", status, names)
				}
			}
			r, _ := fc.ListGroupsWithResponse(bg, &api.ListGroupsParams{Size: ptr(int32(1)), Status: ptr(api.StatusFilterARCHIVED)})
			resp, body := f.do("GET", "/api/v2/groups?size=1&cursor="+r.JSON200.Page.Next.MustGet(), "", f.auth("acme")...)
			problem(t, resp, body, 400, api.VALIDATIONERROR)
			resp, body = f.do("GET", "/api/v2/groups?status=DELETED", "", f.auth("acme")...)
			problem(t, resp, body, 400, api.VALIDATIONERROR)
		})

		t.Run("TrashDeleteRestorePurge", func(t *testing.T) {
			g, _ := e.create("acme", "Trashable")
			c.AddMemberWithResponse(bg, g.Uuid, "ann")
			g2, _ := c.GetGroupWithResponse(bg, g.Uuid, nil)
			tag := g2.HTTPResponse.Header.Get("ETag")
			if r, err := c.DeleteGroupWithResponse(bg, g.Uuid, &api.DeleteGroupParams{IfMatch: &tag}); err != nil || r.StatusCode() != 204 {
				t.Fatalf("delete: %v %d %s", err, r.StatusCode(), r.Body)
			}
			resp, body := e.do("GET", "/api/v2/groups/"+g.Uuid.String(), "", e.auth("acme")...)
			problem(t, resp, body, 404, api.NOTFOUND)
			resp, body = e.do("GET", "/api/v2/groups/"+g.Uuid.String()+"/members/ann", "", e.auth("acme")...)
			problem(t, resp, body, 404, api.NOTFOUND)
			if u, _ := c.ListUserGroupsWithResponse(bg, "ann", nil); u.JSON200 == nil || len(u.JSON200.Content) != 0 {
				t.Fatalf("user groups show a trashed group: %s", u.Body)
			}
			dg, err := c.GetDeletedGroupWithResponse(bg, g.Uuid)
			if err != nil || dg.JSON200 == nil || dg.JSON200.Uuid != g.Uuid || dg.JSON200.MemberCount != 1 || !dg.JSON200.PurgeAt.After(dg.JSON200.DeletedAt.Time) {
				t.Fatalf("get deleted: %v %d %s", err, dg.StatusCode(), dg.Body)
			}
			list, err := c.ListDeletedGroupsWithResponse(bg, nil)
			if err != nil || list.JSON200 == nil || list.JSON200.Page.TotalElements < 1 || list.JSON200.Content[0].Uuid != g.Uuid {
				t.Fatalf("list deleted: %v %s", err, list.Body)
			}
			// The name is free: a new group takes it, and a restore must rename.
			e.create("acme", "TRASHABLE")
			resp, body = e.do("POST", "/api/v2/deleted-groups/"+g.Uuid.String()+"/restore", "", e.auth("acme")...)
			p := problem(t, resp, body, 409, api.NAMECONFLICT)
			if !strings.Contains(p.Detail, `"name"`) {
				t.Fatalf("restore conflict does not say to pass a name: %q", p.Detail)
			}
			r, err := c.RestoreDeletedGroupWithResponse(bg, g.Uuid, api.RestoreRequest{Name: ptr("Trashable (restored)")})
			if err != nil || r.JSON200 == nil || r.JSON200.Uuid != g.Uuid || r.JSON200.MemberCount != 1 || r.JSON200.Name != "Trashable (restored)" ||
				r.HTTPResponse.Header.Get("ETag") == "" || r.HTTPResponse.Header.Get("Location") != "/api/v2/groups/"+g.Uuid.String() {
				t.Fatalf("restore: %v %d %s", err, r.StatusCode(), r.Body)
			}
			if m, _ := c.GetMemberWithResponse(bg, g.Uuid, "ann"); m.JSON200 == nil {
				t.Fatalf("membership lost by delete and restore: %s", m.Body)
			}
			// Purge by DELETE on the trash.
			c.DeleteGroupWithResponse(bg, g.Uuid, nil)
			if r, _ := c.PurgeDeletedGroupWithResponse(bg, g.Uuid); r.StatusCode() != 204 {
				t.Fatalf("purge: %d %s", r.StatusCode(), r.Body)
			}
			for _, m := range []string{"DELETE", "GET"} {
				resp, body := e.do(m, "/api/v2/deleted-groups/"+g.Uuid.String(), "", e.auth("acme")...)
				problem(t, resp, body, 404, api.NOTFOUND)
			}
			resp, body = e.do("POST", "/api/v2/deleted-groups/"+g.Uuid.String()+"/restore", `{"name":"x"}`, json()...)
			problem(t, resp, body, 404, api.NOTFOUND)
		})

		t.Run("ReferencesGuardDelete", func(t *testing.T) {
			g, _ := e.create("acme", "Approvals")
			base := "/api/v2/groups/" + g.Uuid.String()
			in := api.ReferenceInput{Kind: "approval-chain", DisplayName: "Travel approvals", Url: ptr("https://approvals.example.com/7")}
			r1, err := c.PutReferenceWithResponse(bg, g.Uuid, "chain-7", in)
			if err != nil || r1.JSON201 == nil || r1.HTTPResponse.Header.Get("Location") != base+"/references/chain-7" {
				t.Fatalf("put: %v %d %s", err, r1.StatusCode(), r1.Body)
			}
			r2, err := c.PutReferenceWithResponse(bg, g.Uuid, "chain-7", in)
			if err != nil || r2.JSON200 == nil || *r2.JSON200 != *r1.JSON201 && r2.JSON200.CreatedAt != r1.JSON201.CreatedAt {
				t.Fatalf("second put: %v %d %s", err, r2.StatusCode(), r2.Body)
			}
			for i := range 22 {
				c.PutReferenceWithResponse(bg, g.Uuid, fmt.Sprintf("budget-%02d", i), api.ReferenceInput{Kind: "budget", DisplayName: "B"})
			}
			if got, _ := c.GetGroupWithResponse(bg, g.Uuid, nil); got.JSON200.ReferenceCount != 23 {
				t.Fatalf("referenceCount = %d", got.JSON200.ReferenceCount)
			}
			resp, body := e.do("DELETE", base, "", e.auth("acme")...)
			p := problem(t, resp, body, 409, api.GROUPINUSE)
			if p.TotalReferences == nil || *p.TotalReferences != 23 || p.References == nil || len(*p.References) != 20 || (*p.References)[0].ReferenceId != "budget-00" {
				t.Fatalf("GROUP_IN_USE problem: %s", body)
			}
			dry, err := c.DeleteGroupWithResponse(bg, g.Uuid, &api.DeleteGroupParams{DryRun: ptr(true)})
			if err != nil || dry.JSON200 == nil || dry.JSON200.Deletable || dry.JSON200.TotalReferences != 23 || len(dry.JSON200.References) != 20 {
				t.Fatalf("dry run: %v %d %s", err, dry.StatusCode(), dry.Body)
			}
			// Archiving stays allowed, and so do references on the archived group.
			resp, body = e.do("PATCH", base, `{"status":"ARCHIVED"}`, json()...)
			if resp.StatusCode != 200 {
				t.Fatalf("archive a referenced group: %s", body)
			}
			resp, body = e.do("GET", base+"/references/nope", "", e.auth("acme")...)
			problem(t, resp, body, 404, api.REFERENCENOTFOUND)
			for _, bad := range []string{`{"kind":"Approval","displayName":"x"}`, `{"kind":"a","displayName":""}`, `{"kind":"a","displayName":"x","url":"http://x"}`,
				`{"kind":"a","displayName":"x","url":"https://"}`, `{"kind":"a"}`} {
				resp, body := e.do("PUT", base+"/references/r", bad, json()...)
				problem(t, resp, body, 400, api.VALIDATIONERROR)
			}
			resp, body = e.do("PUT", base+"/references/-bad", `{"kind":"a","displayName":"x"}`, json()...)
			problem(t, resp, body, 400, api.VALIDATIONERROR)
			var ids []string
			params := &api.ListReferencesParams{Size: ptr(int32(10))}
			for {
				l, err := c.ListReferencesWithResponse(bg, g.Uuid, params)
				if err != nil || l.JSON200 == nil || l.JSON200.Page.TotalElements != 23 {
					t.Fatalf("list: %v %s", err, l.Body)
				}
				for _, r := range l.JSON200.Content {
					ids = append(ids, r.ReferenceId)
				}
				if l.JSON200.Page.Next.IsNull() {
					break
				}
				params.Cursor = ptr(l.JSON200.Page.Next.MustGet())
			}
			if len(ids) != 23 || ids[0] != "budget-00" || ids[22] != "chain-7" {
				t.Fatalf("references = %v", ids)
			}
			for _, id := range ids {
				for range 2 {
					if r, _ := c.DeleteReferenceWithResponse(bg, g.Uuid, id); r.StatusCode() != 204 {
						t.Fatalf("delete reference: %d %s", r.StatusCode(), r.Body)
					}
				}
			}
			dry, _ = c.DeleteGroupWithResponse(bg, g.Uuid, &api.DeleteGroupParams{DryRun: ptr(true)})
			if dry.JSON200 == nil || !dry.JSON200.Deletable || dry.JSON200.References == nil {
				t.Fatalf("dry run without references: %s", dry.Body)
			}
			if r, _ := c.DeleteGroupWithResponse(bg, g.Uuid, nil); r.StatusCode() != 204 {
				t.Fatalf("delete: %d %s", r.StatusCode(), r.Body)
			}
		})

		t.Run("TenantIsolation", func(t *testing.T) {
			g, _ := e.create("acme", "Acme only")
			c.PutReferenceWithResponse(bg, g.Uuid, "r1", api.ReferenceInput{Kind: "budget", DisplayName: "B"})
			h, _ := e.create("acme", "Acme trash")
			c.DeleteGroupWithResponse(bg, h.Uuid, nil)
			gp, hp := "/api/v2/groups/"+g.Uuid.String(), "/api/v2/deleted-groups/"+h.Uuid.String()
			other := append([]string{"Content-Type", "application/json"}, e.auth("globex")...)
			for _, w := range []struct{ method, path, body string }{
				{"PATCH", gp, `{"status":"ARCHIVED"}`},
				{"DELETE", gp + "?dryRun=true", ""},
				{"DELETE", gp, ""},
				{"GET", gp + "/references", ""},
				{"GET", gp + "/references/r1", ""},
				{"PUT", gp + "/references/r2", `{"kind":"budget","displayName":"B"}`},
				{"DELETE", gp + "/references/r1", ""},
				{"GET", hp, ""},
				{"POST", hp + "/restore", ""},
				{"DELETE", hp, ""},
			} {
				resp, body := e.do(w.method, w.path, w.body, other...)
				problem(t, resp, body, 404, api.NOTFOUND)
			}
			if l, _ := e.api("globex").ListDeletedGroupsWithResponse(bg, nil); l.JSON200 == nil || len(l.JSON200.Content) != 0 {
				t.Fatalf("globex sees acme's trash: %s", l.Body)
			}
			if r, _ := c.GetReferenceWithResponse(bg, g.Uuid, "r1"); r.JSON200 == nil {
				t.Fatalf("acme's reference changed: %s", r.Body)
			}
		})

		t.Run("ReferencePutRacesDelete", func(t *testing.T) {
			for i := range 10 {
				g, _ := e.create("acme", fmt.Sprint("http race ", i))
				var put, del int
				var wg sync.WaitGroup
				wg.Add(2)
				go func() {
					defer wg.Done()
					r, _ := c.PutReferenceWithResponse(bg, g.Uuid, "chain", api.ReferenceInput{Kind: "a", DisplayName: "x"})
					put = r.StatusCode()
				}()
				go func() { defer wg.Done(); r, _ := c.DeleteGroupWithResponse(bg, g.Uuid, nil); del = r.StatusCode() }()
				wg.Wait()
				if !(put == 201 && del == 409 || put == 404 && del == 204) {
					t.Fatalf("round %d: PUT %d, DELETE %d", i, put, del)
				}
			}
		})
	})
}
