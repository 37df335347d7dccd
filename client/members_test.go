package client_test

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/groupsd/groupsd/client"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// memberIDs collects a member listing, failing the test on an error.
func memberIDs(t *testing.T, c *client.Client, group uuid.UUID, opts client.MemberListOptions) []string {
	t.Helper()
	var ids []string
	for m, err := range c.Members.List(bg, group, opts) {
		if err != nil {
			t.Fatalf("List members: %v", err)
		}
		ids = append(ids, m.UserID)
	}
	return ids
}

func groupNames(t *testing.T, c *client.Client, userID string, opts client.ListOptions) []string {
	t.Helper()
	var names []string
	for g, err := range c.Members.UserGroups(bg, userID, opts) {
		if err != nil {
			t.Fatalf("UserGroups(%q): %v", userID, err)
		}
		names = append(names, g.Name)
	}
	return names
}

func mustCreate(t *testing.T, c *client.Client, name string) client.Group {
	t.Helper()
	g, err := c.Groups.Create(bg, client.NewGroup{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestMembers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		c := startGroupsd(t, d).client(t)
		g := mustCreate(t, c, "Finance")
		missing := uuid.UUID{7}

		t.Run("AddReportsCreatedThenAlreadyThere", func(t *testing.T) {
			first, created, err := c.Members.Add(bg, g.UUID, "user-42")
			if err != nil || !created || first.UserID != "user-42" || first.AddedAt.IsZero() {
				t.Fatalf("first Add = %+v, %v, %v; want created", first, created, err)
			}
			again, created, err := c.Members.Add(bg, g.UUID, "user-42")
			if err != nil || created || !again.AddedAt.Equal(first.AddedAt) {
				t.Fatalf("second Add = %+v, %v, %v; want not created, original addedAt %v", again, created, err, first.AddedAt)
			}
		})
		t.Run("GetFindsTheMemberAndTellsMissingApart", func(t *testing.T) {
			m, err := c.Members.Get(bg, g.UUID, "user-42")
			if err != nil || m.UserID != "user-42" {
				t.Fatalf("Get = %+v, %v", m, err)
			}
			_, err = c.Members.Get(bg, g.UUID, "user-43")
			assertOnly(t, err, client.ErrMemberNotFound)
			_, err = c.Members.Get(bg, missing, "user-42")
			assertOnly(t, err, client.ErrNotFound)
			_, err = c.Members.Get(bg, g.UUID, "-not-an-id")
			assertOnly(t, err, client.ErrValidation)
		})
		t.Run("AddToAMissingGroupIsNotFound", func(t *testing.T) {
			_, _, err := c.Members.Add(bg, missing, "user-42")
			assertOnly(t, err, client.ErrNotFound)
		})
		t.Run("ChangeSortsEveryID", func(t *testing.T) {
			_, err := c.Members.Change(bg, g.UUID, client.MembersChange{
				Add: []string{"user-7", "user-42", "B", "a"}, Remove: []string{"user-42", "nobody"}})
			if err == nil {
				t.Fatal("an id in both lists was accepted")
			}
			var e *client.Error
			if !errors.As(err, &e) || !errors.Is(err, client.ErrValidation) || len(e.Errors) != 1 || e.Errors[0].Pointer != "/remove/0" {
				t.Fatalf("id in both lists: %v, want one FieldError at /remove/0", err)
			}
			res, err := c.Members.Change(bg, g.UUID, client.MembersChange{
				Add: []string{"user-7", "user-42", "B", "a"}, Remove: []string{"nobody"}})
			if err != nil {
				t.Fatal(err)
			}
			want := client.MembersChangeResult{Added: []string{"user-7", "B", "a"}, AlreadyMembers: []string{"user-42"},
				Removed: []string{}, NotMembers: []string{"nobody"}}
			if fmt.Sprint(res) != fmt.Sprint(want) {
				t.Fatalf("Change = %+v, want %+v", res, want)
			}
			_, err = c.Members.Change(bg, missing, client.MembersChange{Add: []string{"x"}})
			assertOnly(t, err, client.ErrNotFound)
		})
		t.Run("ListFollowsCursorsInByteOrder", func(t *testing.T) {
			want := []string{"B", "a", "user-42", "user-7"}
			for _, size := range []int{0, 1, 3} {
				if got := memberIDs(t, c, g.UUID, client.MemberListOptions{PageSize: size}); !slices.Equal(got, want) {
					t.Errorf("PageSize %d: members %q, want %q", size, got, want)
				}
			}
			got, err := c.Groups.Get(bg, g.UUID)
			if err != nil || got.MemberCount != len(want) {
				t.Fatalf("Get group: MemberCount %d, %v; want %d", got.MemberCount, err, len(want))
			}
			for m, err := range c.Members.List(bg, missing, client.MemberListOptions{}) {
				assertOnly(t, err, client.ErrNotFound)
				if m != (client.Member{}) {
					t.Errorf("member %+v yielded with the error", m)
				}
			}
		})
		t.Run("RemoveIsDoneEvenWhenNotAMember", func(t *testing.T) {
			if err := c.Members.Remove(bg, g.UUID, "a"); err != nil {
				t.Fatal(err)
			}
			if err := c.Members.Remove(bg, g.UUID, "a"); err != nil {
				t.Fatalf("second Remove: %v, want nil", err)
			}
			assertOnly(t, c.Members.Remove(bg, missing, "a"), client.ErrNotFound)
			if _, err := c.Members.Get(bg, g.UUID, "a"); !errors.Is(err, client.ErrMemberNotFound) {
				t.Fatalf("Get after Remove: %v", err)
			}
		})
		t.Run("UserGroupsListsTheUsersGroups", func(t *testing.T) {
			for _, name := range []string{"Sales", "Engineering", "Audit"} {
				h := mustCreate(t, c, name)
				if _, _, err := c.Members.Add(bg, h.UUID, "user-7"); err != nil {
					t.Fatal(err)
				}
			}
			mustCreate(t, c, "Nobody's")
			want := []string{"Audit", "Engineering", "Finance", "Sales"}
			if got := groupNames(t, c, "user-7", client.ListOptions{PageSize: 3, Sort: []string{"name"}}); !slices.Equal(got, want) {
				t.Errorf("groups of user-7 = %q, want %q", got, want)
			}
			if got := groupNames(t, c, "user-7", client.ListOptions{Query: "in"}); !slices.Equal(got, []string{"Finance", "Engineering"}) {
				t.Errorf("groups of user-7 matching \"in\" = %q", got)
			}
			if got := groupNames(t, c, "stranger", client.ListOptions{}); len(got) != 0 {
				t.Errorf("groups of an unknown user = %q, want none", got)
			}
			for h, err := range c.Members.UserGroups(bg, "user-7", client.ListOptions{Sort: []string{"colour"}}) {
				assertOnly(t, err, client.ErrValidation)
				if h.Name != "" {
					t.Errorf("group %+v yielded with the error", h)
				}
			}
		})
	})
}

func TestMemberLimits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{Limits: store.Limits{MaxMembersPerGroup: 2, MaxGroupsPerUser: 1}})
		url, key, err := serve(db, "acme")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stopServing(url) })
		c := newClient(t, url, key)
		g, h := mustCreate(t, c, "Small"), mustCreate(t, c, "Other")
		if _, err := c.Members.Change(bg, g.UUID, client.MembersChange{Add: []string{"u1", "u2"}}); err != nil {
			t.Fatal(err)
		}
		_, _, err = c.Members.Add(bg, g.UUID, "u3")
		assertOnly(t, err, client.ErrMemberLimitExceeded)
		_, err = c.Members.Change(bg, g.UUID, client.MembersChange{Add: []string{"u3"}, Remove: []string{"u4"}})
		assertOnly(t, err, client.ErrMemberLimitExceeded)
		_, _, err = c.Members.Add(bg, h.UUID, "u1")
		assertOnly(t, err, client.ErrGroupLimitExceeded)
		_, err = c.Members.Change(bg, h.UUID, client.MembersChange{Add: []string{"u2"}})
		assertOnly(t, err, client.ErrGroupLimitExceeded)
		if got := memberIDs(t, c, h.UUID, client.MemberListOptions{}); len(got) != 0 {
			t.Errorf("members after refused writes = %q, want none", got)
		}
	})
}

// TestChangeRetriesThroughFaultsApplyOnce: a change whose answer is lost is
// retried with the same Idempotency-Key and answered with the first result,
// not with "already members".
func TestChangeRetriesThroughFaultsApplyOnce(t *testing.T) {
	plans := map[string][]fault{
		"AppliedButAnswerLost":      {dropAfter},
		"AnswerLostThenUnavailable": {dropAfter, unavailable, dropAfter},
		"DroppedBeforeTheServer":    {dropBefore, unavailable},
	}
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		srv := startGroupsd(t, d)
		direct := srv.client(t)
		for name, plan := range plans {
			t.Run(name, func(t *testing.T) {
				g := mustCreate(t, direct, "Retry "+name)
				if _, _, err := direct.Members.Add(bg, g.UUID, "gone"); err != nil {
					t.Fatal(err)
				}
				proxy, url := newFaultProxy(t, srv.url, map[string][]fault{http.MethodPatch: append([]fault(nil), plan...)})
				c := newClient(t, url, srv.key)
				res, err := c.Members.Change(bg, g.UUID, client.MembersChange{Add: []string{"u1", "u2"}, Remove: []string{"gone"}})
				if err != nil {
					t.Fatalf("Change through faults %v: %v", plan, err)
				}
				want := client.MembersChangeResult{Added: []string{"u1", "u2"}, AlreadyMembers: []string{}, Removed: []string{"gone"}, NotMembers: []string{}}
				if fmt.Sprint(res) != fmt.Sprint(want) {
					t.Fatalf("Change = %+v, want the first attempt's %+v", res, want)
				}
				if attempts, _ := proxy.count(http.MethodPatch); attempts != len(plan)+1 {
					t.Errorf("attempts = %d, want %d", attempts, len(plan)+1)
				}
				keys := proxy.keys[http.MethodPatch]
				for _, k := range keys {
					if k == "" || k != keys[0] {
						t.Fatalf("Idempotency-Keys %q: want one key on every attempt", keys)
					}
				}
				if got := memberIDs(t, direct, g.UUID, client.MemberListOptions{}); !slices.Equal(got, []string{"u1", "u2"}) {
					t.Errorf("members = %q, want [u1 u2]", got)
				}
				if got, err := direct.Groups.Get(bg, g.UUID); err != nil || got.MemberCount != 2 {
					t.Errorf("MemberCount = %d, %v; want 2", got.MemberCount, err)
				}
			})
		}
	})
}
