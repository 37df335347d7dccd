package store_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// allMembers pages through the members of group id by cursor.
func allMembers(t *testing.T, db *store.DB, org, id string, size int) []string {
	t.Helper()
	var out []string
	q := store.MemberQuery{Size: size}
	for {
		p, err := db.ListMembers(ctx, org, id, q)
		if err != nil {
			t.Fatalf("list members: %v", err)
		}
		for _, m := range p.Members {
			out = append(out, m.UserID)
		}
		if p.Next == "" {
			return out
		}
		q.Cursor = p.Next
	}
}

func TestMembers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})

		t.Run("AddIsIdempotentAndCounts", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Add")
			m, created, err := db.AddMember(ctx, "acme", g.UUID, "user-1")
			if err != nil || !created || m.UserID != "user-1" || m.AddedAt == 0 {
				t.Fatalf("first add = %+v, %v, %v", m, created, err)
			}
			again, created, err := db.AddMember(ctx, "acme", g.UUID, "user-1")
			if err != nil || created || again != m {
				t.Fatalf("second add = %+v, %v, %v; want %+v, false", again, created, err, m)
			}
			got, _ := db.GetGroup(ctx, "acme", g.UUID)
			if got.MemberCount != 1 || got.Version != g.Version+1 || got.UpdatedAt < g.UpdatedAt {
				t.Fatalf("group after add = %+v (before %+v)", got, g)
			}
		})

		t.Run("UserIDsAreCaseSensitive", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Case")
			for _, u := range []string{"Alice", "alice", "ALICE"} {
				if _, created, err := db.AddMember(ctx, "acme", g.UUID, u); err != nil || !created {
					t.Fatalf("add %s: %v %v", u, created, err)
				}
			}
			if got := allMembers(t, db, "acme", g.UUID, 2); !slices.Equal(got, []string{"ALICE", "Alice", "alice"}) {
				t.Fatalf("members = %v, want byte order", got)
			}
		})

		t.Run("GetDistinguishesMissingMemberFromMissingGroup", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Get")
			var nf *store.NotFoundError
			if _, err := db.GetMember(ctx, "acme", g.UUID, "nobody"); !errors.As(err, &nf) || nf.Kind != "member" {
				t.Fatalf("missing member: %v", err)
			}
			if _, err := db.GetMember(ctx, "acme", "01939d2e-0000-7000-8000-000000000000", "nobody"); !errors.As(err, &nf) || nf.Kind != "group" {
				t.Fatalf("missing group: %v", err)
			}
			// Another organization's group is a missing group.
			if _, _, err := db.AddMember(ctx, "globex", g.UUID, "u"); !errors.As(err, &nf) || nf.Kind != "group" {
				t.Fatalf("foreign group: %v", err)
			}
		})

		t.Run("RemoveOfNonMemberChangesNothing", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Remove")
			db.AddMember(ctx, "acme", g.UUID, "u1")
			before, _ := db.GetGroup(ctx, "acme", g.UUID)
			if err := db.RemoveMember(ctx, "acme", g.UUID, "u2"); err != nil {
				t.Fatal(err)
			}
			if after, _ := db.GetGroup(ctx, "acme", g.UUID); after != before {
				t.Fatalf("no-op remove changed the group: %+v -> %+v", before, after)
			}
			if err := db.RemoveMember(ctx, "acme", g.UUID, "u1"); err != nil {
				t.Fatal(err)
			}
			if after, _ := db.GetGroup(ctx, "acme", g.UUID); after.MemberCount != 0 || after.Version != before.Version+1 {
				t.Fatalf("after remove: %+v", after)
			}
		})

		t.Run("ChangeSortsEveryID", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Change")
			db.AddMember(ctx, "acme", g.UUID, "a")
			db.AddMember(ctx, "acme", g.UUID, "b")
			res, err := db.ChangeMembers(ctx, "acme", g.UUID, store.MembersChange{Add: []string{"c", "a", "d"}, Remove: []string{"b", "x"}})
			if err != nil {
				t.Fatal(err)
			}
			want := store.MembersResult{Added: []string{"c", "d"}, AlreadyMembers: []string{"a"}, Removed: []string{"b"}, NotMembers: []string{"x"}}
			if fmt.Sprint(res) != fmt.Sprint(want) {
				t.Fatalf("result = %+v, want %+v", res, want)
			}
			got, _ := db.GetGroup(ctx, "acme", g.UUID)
			if got.MemberCount != 3 || !slices.Equal(allMembers(t, db, "acme", g.UUID, 1), []string{"a", "c", "d"}) {
				t.Fatalf("count %d, members %v", got.MemberCount, allMembers(t, db, "acme", g.UUID, 10))
			}
			// A change that changes nothing keeps the version.
			res, err = db.ChangeMembers(ctx, "acme", g.UUID, store.MembersChange{Add: []string{"a"}, Remove: []string{"zz"}})
			if err != nil || len(res.AlreadyMembers) != 1 || len(res.NotMembers) != 1 {
				t.Fatalf("no-op change = %+v, %v", res, err)
			}
			if again, _ := db.GetGroup(ctx, "acme", g.UUID); again.Version != got.Version {
				t.Fatalf("no-op change moved the version %d -> %d", got.Version, again.Version)
			}
		})

		t.Run("PagingByOffsetAndCursorAgree", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Paging")
			var ids []string
			for i := range 57 {
				ids = append(ids, fmt.Sprintf("user-%03d", i))
			}
			if _, err := db.ChangeMembers(ctx, "acme", g.UUID, store.MembersChange{Add: ids}); err != nil {
				t.Fatal(err)
			}
			if got := allMembers(t, db, "acme", g.UUID, 10); !slices.Equal(got, ids) {
				t.Fatalf("cursor paging = %v", got)
			}
			p, err := db.ListMembers(ctx, "acme", g.UUID, store.MemberQuery{Size: 10, Page: 5})
			if err != nil || p.Total != 57 || p.Number != 5 || len(p.Members) != 7 || p.Members[0].UserID != "user-050" || p.Next != "" {
				t.Fatalf("page 5 = %+v, %v", p, err)
			}
			// A cursor of one group is not valid for another.
			first, _ := db.ListMembers(ctx, "acme", g.UUID, store.MemberQuery{Size: 10})
			other := mustCreate(t, db, "acme", "Paging other")
			var ie *store.InvalidError
			if _, err := db.ListMembers(ctx, "acme", other.UUID, store.MemberQuery{Size: 10, Cursor: first.Next}); !errors.As(err, &ie) || ie.Field != "cursor" {
				t.Fatalf("foreign cursor: %v", err)
			}
		})

		t.Run("UserGroupsFollowMembershipAndDelete", func(t *testing.T) {
			var want []string
			for i := range 5 {
				g := mustCreate(t, db, "acme", fmt.Sprintf("UG %d", i))
				if i != 2 {
					db.AddMember(ctx, "acme", g.UUID, "ug-user")
					want = append(want, g.UUID)
				}
			}
			mustCreate(t, db, "globex", "UG globex")
			p, err := db.ListUserGroups(ctx, "acme", "ug-user", store.ListQuery{Size: 2})
			if err != nil || p.Total != 4 || len(p.Groups) != 2 || p.Next == "" {
				t.Fatalf("page = %+v, %v", p, err)
			}
			var got []string
			for q := (store.ListQuery{Size: 3}); ; {
				p, err := db.ListUserGroups(ctx, "acme", "ug-user", q)
				if err != nil {
					t.Fatal(err)
				}
				for _, g := range p.Groups {
					got = append(got, g.UUID)
				}
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("user groups = %v, want %v", got, want)
			}
			// Search applies within the user's groups.
			p, err = db.ListUserGroups(ctx, "acme", "ug-user", store.ListQuery{Size: 10, Q: "ug 3"})
			if err != nil || p.Total != 1 || p.Groups[0].UUID != want[2] {
				t.Fatalf("search = %+v, %v", p, err)
			}
			// Deleting a group removes its memberships at once.
			if err := db.DeleteGroup(ctx, "acme", want[0], nil); err != nil {
				t.Fatal(err)
			}
			p, err = db.ListUserGroups(ctx, "acme", "ug-user", store.ListQuery{Size: 10})
			if err != nil || p.Total != 3 {
				t.Fatalf("after delete = %+v, %v", p, err)
			}
			// Another organization's user of the same id is another user.
			p, err = db.ListUserGroups(ctx, "globex", "ug-user", store.ListQuery{Size: 10})
			if err != nil || p.Total != 0 || len(p.Groups) != 0 {
				t.Fatalf("globex = %+v, %v", p, err)
			}
			// A cursor of one user's list is not valid for another user.
			p, _ = db.ListUserGroups(ctx, "acme", "ug-user", store.ListQuery{Size: 1})
			if _, err := db.ListUserGroups(ctx, "acme", "someone-else", store.ListQuery{Size: 1, Cursor: p.Next}); !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("foreign cursor: %v", err)
			}
		})

		t.Run("ConcurrentAddsOfOneUserCreateOne", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Race")
			var wg sync.WaitGroup
			var mu sync.Mutex
			created := 0
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, c, err := db.AddMember(ctx, "acme", g.UUID, "racer")
					if err != nil {
						t.Error(err)
					}
					if c {
						mu.Lock()
						created++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			got, _ := db.GetGroup(ctx, "acme", g.UUID)
			if created != 1 || got.MemberCount != 1 {
				t.Fatalf("created %d times, count %d", created, got.MemberCount)
			}
		})

		t.Run("ConcurrentChangesKeepCountExact", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Overlap")
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var add, remove []string
					for j := range 30 {
						u := fmt.Sprintf("o-%02d", (i*7+j)%60)
						if j%3 == 0 {
							remove = append(remove, u)
						} else {
							add = append(add, u)
						}
					}
					res, err := db.ChangeMembers(ctx, "acme", g.UUID, store.MembersChange{Add: add, Remove: remove})
					if err != nil {
						t.Error(err)
						return
					}
					if len(res.Added)+len(res.AlreadyMembers) != len(add) || len(res.Removed)+len(res.NotMembers) != len(remove) {
						t.Errorf("result %+v does not add up to %d adds, %d removes", res, len(add), len(remove))
					}
				}()
			}
			wg.Wait()
			got, _ := db.GetGroup(ctx, "acme", g.UUID)
			if n := len(allMembers(t, db, "acme", g.UUID, 7)); int64(n) != got.MemberCount {
				t.Fatalf("memberCount %d, but %d rows", got.MemberCount, n)
			}
		})
	})
}

func TestMemberLimits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{Limits: store.Limits{MaxMembersPerGroup: 3, MaxGroupsPerUser: 2}})
		a, b, c := mustCreate(t, db, "acme", "A"), mustCreate(t, db, "acme", "B"), mustCreate(t, db, "acme", "C")

		var le *store.LimitError
		if _, err := db.ChangeMembers(ctx, "acme", a.UUID, store.MembersChange{Add: []string{"1", "2", "3", "4"}}); !errors.As(err, &le) || le.Kind != store.LimitMembersPerGroup {
			t.Fatalf("4 into a group of 3: %v", err)
		}
		if got, _ := db.GetGroup(ctx, "acme", a.UUID); got.MemberCount != 0 || got.Version != a.Version {
			t.Fatalf("a refused change changed the group: %+v", got)
		}
		db.ChangeMembers(ctx, "acme", a.UUID, store.MembersChange{Add: []string{"1", "2", "3"}})
		if _, _, err := db.AddMember(ctx, "acme", a.UUID, "4"); !errors.As(err, &le) || le.Kind != store.LimitMembersPerGroup {
			t.Fatalf("4th member: %v", err)
		}
		// Swapping one member for another stays within the limit.
		if _, err := db.ChangeMembers(ctx, "acme", a.UUID, store.MembersChange{Add: []string{"4"}, Remove: []string{"1"}}); err != nil {
			t.Fatalf("swap: %v", err)
		}
		// User "2" is in a; one more group is fine, a third is not.
		if _, _, err := db.AddMember(ctx, "acme", b.UUID, "2"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.AddMember(ctx, "acme", c.UUID, "2"); !errors.As(err, &le) || le.Kind != store.LimitGroupsPerUser || le.UserID != "2" {
			t.Fatalf("third group: %v", err)
		}
		if _, err := db.ChangeMembers(ctx, "acme", c.UUID, store.MembersChange{Add: []string{"9", "2"}}); !errors.As(err, &le) || le.UserID != "2" {
			t.Fatalf("third group by change: %v", err)
		}
		if got, _ := db.GetGroup(ctx, "acme", c.UUID); got.MemberCount != 0 {
			t.Fatalf("refused change added members: %+v", got)
		}
		// Concurrent adds of one user to many groups never pass the limit.
		var gs []store.Group
		for i := range 8 {
			gs = append(gs, mustCreate(t, db, "acme", fmt.Sprintf("L%d", i)))
		}
		var wg sync.WaitGroup
		for _, g := range gs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db.AddMember(ctx, "acme", g.UUID, "busy")
			}()
		}
		wg.Wait()
		p, err := db.ListUserGroups(ctx, "acme", "busy", store.ListQuery{Size: 100})
		if err != nil || p.Total != 2 {
			t.Fatalf("busy user in %d groups (%v), limit 2", p.Total, err)
		}
	})
}

func TestChangeMembersIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})
		g := mustCreate(t, db, "acme", "Idem")
		in := store.IdempotentChange{Key: "k1", Fingerprint: []byte("fp1"), Meta: []byte("m1"), GroupID: g.UUID,
			Change: store.MembersChange{Add: []string{"u1", "u2"}}}
		first, err := db.ChangeMembersIdempotent(ctx, "acme", in)
		if err != nil || first.Replayed || len(first.Result.Added) != 2 {
			t.Fatalf("first = %+v, %v", first, err)
		}
		in.Meta = []byte("m2")
		again, err := db.ChangeMembersIdempotent(ctx, "acme", in)
		if err != nil || !again.Replayed || fmt.Sprint(again.Result) != fmt.Sprint(first.Result) || string(again.Meta) != "m1" {
			t.Fatalf("replay = %+v, %v", again, err)
		}
		if got, _ := db.GetGroup(ctx, "acme", g.UUID); got.MemberCount != 2 {
			t.Fatalf("replay changed the count: %d", got.MemberCount)
		}
		in.Fingerprint = []byte("other")
		if _, err := db.ChangeMembersIdempotent(ctx, "acme", in); !errors.Is(err, store.ErrIdempotencyMismatch) {
			t.Fatalf("reuse with another body: %v", err)
		}
		// A missing group is not an outcome: the key is free again.
		in2 := store.IdempotentChange{Key: "k2", Fingerprint: []byte("fp"), GroupID: "01939d2e-0000-7000-8000-000000000000"}
		if _, err := db.ChangeMembersIdempotent(ctx, "acme", in2); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("missing group: %v", err)
		}
		in2.GroupID = g.UUID
		if out, err := db.ChangeMembersIdempotent(ctx, "acme", in2); err != nil || out.Replayed {
			t.Fatalf("retry after not found = %+v, %v", out, err)
		}
	})
}

func TestDeleteGroupWithManyMembers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})
		g := mustCreate(t, db, "acme", "Big")
		for i := range 5 {
			ids := make([]string, 1000)
			for j := range ids {
				ids[j] = fmt.Sprintf("u%d-%04d", i, j)
			}
			if _, err := db.ChangeMembers(ctx, "acme", g.UUID, store.MembersChange{Add: ids}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.DeleteGroup(ctx, "acme", g.UUID, nil); err != nil {
			t.Fatal(err)
		}
		// The memberships went with the group: a new group reusing nothing
		// of it, and the users are in no group.
		p, err := db.ListUserGroups(ctx, "acme", "u3-0999", store.ListQuery{Size: 10})
		if err != nil || p.Total != 0 {
			t.Fatalf("after delete: %+v, %v", p, err)
		}
	})
}
