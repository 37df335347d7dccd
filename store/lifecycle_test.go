package store_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

func status(s store.Status) *store.Status { return &s }

func TestArchive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})

		t.Run("RoundTripWithIfMatch", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Round trip")
			if _, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Status: status(store.StatusArchived)},
				&store.Condition{Versions: []int64{g.Version + 7}}); !errors.Is(err, store.ErrPreconditionFailed) {
				t.Fatalf("stale If-Match: %v", err)
			}
			a, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Status: status(store.StatusArchived)},
				&store.Condition{Versions: []int64{g.Version}})
			if err != nil || a.Status() != store.StatusArchived || a.ArchivedAt == 0 || a.Version != g.Version+1 || a.Name != g.Name {
				t.Fatalf("archive = %+v, %v", a, err)
			}
			again, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Status: status(store.StatusArchived)}, nil)
			if err != nil || again != a {
				t.Fatalf("second archive = %+v, %v; want the no-op %+v", again, err, a)
			}
			r, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Status: status(store.StatusActive)},
				&store.Condition{Versions: []int64{a.Version}})
			if err != nil || r.Status() != store.StatusActive || r.ArchivedAt != 0 || r.Version != a.Version+1 {
				t.Fatalf("reactivate = %+v, %v", r, err)
			}
			if got, _ := db.GetGroup(ctx, "acme", g.UUID); got != r {
				t.Fatalf("get = %+v, want %+v", got, r)
			}
		})

		t.Run("ArchivedRefusesEveryOtherChange", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Frozen")
			db.AddMember(ctx, "acme", g.UUID, "u1")
			a, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Status: status(store.StatusArchived)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var ae *store.ArchivedError
			for name, write := range map[string]func() error{
				"rename": func() error {
					_, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Name: strp("Thawed")}, nil)
					return err
				},
				"describe": func() error {
					_, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{SetDescription: true, Description: strp("x")}, nil)
					return err
				},
				"rename while archiving": func() error {
					_, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Name: strp("Thawed"), Status: status(store.StatusArchived)}, nil)
					return err
				},
				"add member":    func() error { _, _, err := db.AddMember(ctx, "acme", g.UUID, "u2"); return err },
				"re-add member": func() error { _, _, err := db.AddMember(ctx, "acme", g.UUID, "u1"); return err },
				"remove member": func() error { return db.RemoveMember(ctx, "acme", g.UUID, "u1") },
				"change members": func() error {
					_, err := db.ChangeMembers(ctx, "acme", g.UUID, store.MembersChange{Add: []string{"u3"}})
					return err
				},
			} {
				if err := write(); !errors.As(err, &ae) || ae.ID != g.UUID {
					t.Errorf("%s: %v, want *ArchivedError", name, err)
				}
			}
			if got, _ := db.GetGroup(ctx, "acme", g.UUID); got != a {
				t.Fatalf("refused writes changed the group: %+v -> %+v", a, got)
			}
			// A change that alters nothing is still a no-op, and references stay allowed.
			if got, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Name: strp("Frozen")}, nil); err != nil || got != a {
				t.Fatalf("no-op rename = %+v, %v", got, err)
			}
			if _, created, err := db.PutReference(ctx, "acme", g.UUID, "chain-1", store.ReferenceInput{Kind: "approval-chain", DisplayName: "c"}); err != nil || !created {
				t.Fatalf("reference on an archived group: %v %v", created, err)
			}
			// Reactivating and renaming in one change is allowed.
			r, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Name: strp("Thawed"), Status: status(store.StatusActive)}, nil)
			if err != nil || r.Name != "Thawed" || r.Status() != store.StatusActive {
				t.Fatalf("reactivate and rename = %+v, %v", r, err)
			}
		})
	})
}

// listAll pages through org's groups by cursor with lq.
func listAll(t *testing.T, db *store.DB, org string, lq store.ListQuery) (names []string, total int64) {
	t.Helper()
	for {
		p, err := db.ListGroups(ctx, org, lq)
		if err != nil {
			t.Fatalf("list %+v: %v", lq, err)
		}
		for _, g := range p.Groups {
			names = append(names, g.Name)
		}
		total = p.Total
		if p.Next == "" {
			return names, total
		}
		lq.Cursor, lq.Page = p.Next, 0
	}
}

func TestStatusFilter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})
		var active, archived []string
		for i := range 30 {
			name := fmt.Sprintf("team %02d", i)
			g := mustCreate(t, db, "acme", name)
			db.AddMember(ctx, "acme", g.UUID, "user-1")
			if i%3 == 0 {
				if _, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Status: status(store.StatusArchived)}, nil); err != nil {
					t.Fatal(err)
				}
				archived = append(archived, name)
			} else {
				active = append(active, name)
			}
		}
		mustCreate(t, db, "globex", "team 99")
		for _, tc := range []struct {
			status store.StatusFilter
			want   []string
		}{{"", active}, {store.StatusFilterActive, active}, {store.StatusFilterArchived, archived}, {store.StatusFilterAll, append(slices.Clone(active), archived...)}} {
			want := slices.Sorted(slices.Values(tc.want))
			for _, lq := range []store.ListQuery{
				{Size: 4, Status: tc.status},
				{Size: 4, Status: tc.status, Sort: []store.Sort{{Field: store.SortName}}},
				{Size: 3, Status: tc.status, Q: "team"}, // the trigram index on SQLite
				{Size: 3, Status: tc.status, Q: "m 1"},  // 3 characters: indexed too
				{Size: 3, Status: tc.status, Q: "te"},   // too short for the index
				{Size: 4, Status: tc.status, Page: 1},   // offset, then cursors
				{Size: 5, Status: tc.status, Sort: []store.Sort{{Field: store.SortUpdatedAt, Desc: true}}},
			} {
				names, total := listAll(t, db, "acme", lq)
				exp := want
				if lq.Q == "m 1" {
					exp = slices.DeleteFunc(slices.Clone(want), func(n string) bool { return n < "team 10" || n > "team 19" })
				}
				if int(total) != len(exp) {
					t.Errorf("%+v: total %d, want %d", lq, total, len(exp))
				}
				if lq.Page == 0 && !slices.Equal(slices.Sorted(slices.Values(names)), exp) {
					t.Errorf("%+v: got %v, want %v", lq, names, exp)
				}
			}
			p, err := db.ListUserGroups(ctx, "acme", "user-1", store.ListQuery{Size: 100, Status: tc.status})
			if err != nil || int(p.Total) != len(want) || len(p.Groups) != len(want) {
				t.Errorf("user groups %q: %d of %d, %v; want %d", tc.status, len(p.Groups), p.Total, err, len(want))
			}
		}
		t.Run("CursorsAreBoundToTheFilter", func(t *testing.T) {
			p, err := db.ListGroups(ctx, "acme", store.ListQuery{Size: 2, Status: store.StatusFilterArchived})
			if err != nil || p.Next == "" {
				t.Fatal(p, err)
			}
			var ie *store.InvalidError
			for _, s := range []store.StatusFilter{"", store.StatusFilterAll} {
				if _, err := db.ListGroups(ctx, "acme", store.ListQuery{Size: 2, Status: s, Cursor: p.Next}); !errors.As(err, &ie) || ie.Field != "cursor" {
					t.Errorf("archived cursor with status %q: %v", s, err)
				}
			}
		})
		t.Run("NothingArchivedIsTheWholeOrganization", func(t *testing.T) {
			if names, total := listAll(t, db, "globex", store.ListQuery{Size: 1}); total != 1 || len(names) != 1 {
				t.Fatalf("globex: %v %d", names, total)
			}
			if names, total := listAll(t, db, "globex", store.ListQuery{Size: 1, Status: store.StatusFilterArchived}); total != 0 || len(names) != 0 {
				t.Fatalf("globex archived: %v %d", names, total)
			}
		})
	})
}

func TestTrash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		clk := newClock()
		db := storetest.Open(t, d, store.Options{Now: clk.now, TrashRetention: time.Hour, Limits: store.Limits{MaxGroupsPerUser: 2}})
		var nf *store.NotFoundError

		t.Run("DeleteThenRestoreKeepsUUIDStatusAndMembers", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Travel")
			db.ChangeMembers(ctx, "acme", g.UUID, store.MembersChange{Add: []string{"ann", "bob"}})
			g, _ = db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Status: status(store.StatusArchived)}, nil)
			clk.advance(time.Minute)
			if err := db.DeleteGroup(ctx, "acme", g.UUID, &store.Condition{Versions: []int64{g.Version}}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.GetGroup(ctx, "acme", g.UUID); !errors.As(err, &nf) {
				t.Fatalf("get after delete: %v", err)
			}
			if _, err := db.GetMember(ctx, "acme", g.UUID, "ann"); !errors.As(err, &nf) || nf.Kind != "group" {
				t.Fatalf("member of a trashed group: %v", err)
			}
			if p, _ := db.ListUserGroups(ctx, "acme", "ann", store.ListQuery{Size: 10, Status: store.StatusFilterAll}); len(p.Groups) != 0 {
				t.Fatalf("user groups show a trashed group: %+v", p.Groups)
			}
			if _, total := listAll(t, db, "acme", store.ListQuery{Size: 10, Status: store.StatusFilterArchived}); total != 0 {
				t.Fatalf("archived total after delete = %d", total)
			}
			dg, err := db.GetDeletedGroup(ctx, "acme", g.UUID)
			if err != nil || dg.Group != g || dg.DeletedAt != clk.now().UnixMilli() || dg.PurgeAt != dg.DeletedAt+time.Hour.Milliseconds() {
				t.Fatalf("deleted group = %+v, %v (group was %+v)", dg, err, g)
			}
			// The name is free meanwhile, for another organization's group too.
			other := mustCreate(t, db, "acme", "travel")
			db.DeleteGroup(ctx, "acme", other.UUID, nil)
			r, err := db.RestoreGroup(ctx, "acme", g.UUID, nil)
			if err != nil || r.UUID != g.UUID || r.Status() != store.StatusArchived || r.ArchivedAt != g.ArchivedAt || r.MemberCount != 2 ||
				r.CreatedAt != g.CreatedAt || r.Version != g.Version+1 || r.Name != "Travel" {
				t.Fatalf("restore = %+v, %v (was %+v)", r, err, g)
			}
			if got := allMembers(t, db, "acme", g.UUID, 1); !slices.Equal(got, []string{"ann", "bob"}) {
				t.Fatalf("members after restore = %v", got)
			}
			if _, total := listAll(t, db, "acme", store.ListQuery{Size: 10, Status: store.StatusFilterArchived}); total != 1 {
				t.Fatalf("archived total after restore = %d", total)
			}
			if _, err := db.GetDeletedGroup(ctx, "acme", g.UUID); !errors.As(err, &nf) {
				t.Fatalf("restored group still in the trash: %v", err)
			}
			if _, err := db.RestoreGroup(ctx, "acme", g.UUID, nil); !errors.As(err, &nf) {
				t.Fatalf("second restore: %v", err)
			}
		})

		t.Run("RestoreIntoATakenName", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Budget")
			db.DeleteGroup(ctx, "acme", g.UUID, nil)
			mustCreate(t, db, "acme", "BUDGET")
			var nt *store.NameTakenError
			if _, err := db.RestoreGroup(ctx, "acme", g.UUID, nil); !errors.As(err, &nt) || !nt.Restoring || nt.Name != "Budget" {
				t.Fatalf("restore into a taken name: %v", err)
			}
			if _, err := db.GetDeletedGroup(ctx, "acme", g.UUID); err != nil {
				t.Fatalf("a refused restore left the trash: %v", err)
			}
			r, err := db.RestoreGroup(ctx, "acme", g.UUID, strp("  Budget (old) "))
			if err != nil || r.Name != "Budget (old)" {
				t.Fatalf("restore under a new name = %+v, %v", r, err)
			}
		})

		t.Run("ListNewestDeletionFirst", func(t *testing.T) {
			var want []string
			for i := range 5 {
				g := mustCreate(t, db, "paged", fmt.Sprint("p", i))
				clk.advance(time.Duration(i%2) * time.Millisecond) // ties too
				db.DeleteGroup(ctx, "paged", g.UUID, nil)
				want = append([]string{g.UUID}, want...)
			}
			var got []string
			q := store.PageQuery{Size: 2}
			for {
				p, err := db.ListDeletedGroups(ctx, "paged", q)
				if err != nil || p.Total != 5 {
					t.Fatalf("list: %+v %v", p, err)
				}
				for i, g := range p.Groups {
					got = append(got, g.UUID)
					if i > 0 && g.DeletedAt > p.Groups[i-1].DeletedAt {
						t.Fatalf("not newest first: %+v", p.Groups)
					}
				}
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
			}
			if len(got) != 5 || !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
				t.Fatalf("trash = %v, want %v", got, want)
			}
		})

		t.Run("PurgeByRetentionWithAnInjectedClock", func(t *testing.T) {
			// user-9 may belong to 2 groups; a trashed membership still counts.
			a, b, c := mustCreate(t, db, "limits", "A"), mustCreate(t, db, "limits", "B"), mustCreate(t, db, "limits", "C")
			db.AddMember(ctx, "limits", a.UUID, "user-9")
			db.AddMember(ctx, "limits", b.UUID, "user-9")
			db.DeleteGroup(ctx, "limits", a.UUID, nil)
			var le *store.LimitError
			if _, _, err := db.AddMember(ctx, "limits", c.UUID, "user-9"); !errors.As(err, &le) {
				t.Fatalf("add past the limit with a trashed membership: %v", err)
			}
			clk.advance(59 * time.Minute)
			if n, err := db.PurgeExpired(ctx); err != nil || n != 0 {
				t.Fatalf("purge before the retention = %d, %v", n, err)
			}
			clk.advance(2 * time.Hour)
			n, err := db.PurgeExpired(ctx)
			if err != nil || n == 0 {
				t.Fatalf("purge after the retention = %d, %v", n, err)
			}
			if _, err := db.RestoreGroup(ctx, "limits", a.UUID, nil); !errors.As(err, &nf) {
				t.Fatalf("restore after purge: %v", err)
			}
			if _, _, err := db.AddMember(ctx, "limits", c.UUID, "user-9"); err != nil {
				t.Fatalf("the purge kept the membership: %v", err)
			}
		})

		t.Run("PurgeByDelete", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Purged")
			db.DeleteGroup(ctx, "acme", g.UUID, nil)
			if err := db.PurgeGroup(ctx, "globex", g.UUID); !errors.As(err, &nf) {
				t.Fatalf("purge from another organization: %v", err)
			}
			if err := db.PurgeGroup(ctx, "acme", g.UUID); err != nil {
				t.Fatal(err)
			}
			for _, err := range []error{db.PurgeGroup(ctx, "acme", g.UUID), func() error { _, err := db.GetDeletedGroup(ctx, "acme", g.UUID); return err }()} {
				if !errors.As(err, &nf) || nf.Kind != "deleted group" {
					t.Fatalf("after purge: %v", err)
				}
			}
		})

		t.Run("TenantIsolation", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Isolated")
			db.DeleteGroup(ctx, "acme", g.UUID, nil)
			if _, err := db.GetDeletedGroup(ctx, "globex", g.UUID); !errors.As(err, &nf) {
				t.Errorf("get: %v", err)
			}
			if _, err := db.RestoreGroup(ctx, "globex", g.UUID, nil); !errors.As(err, &nf) {
				t.Errorf("restore: %v", err)
			}
			if p, _ := db.ListDeletedGroups(ctx, "globex", store.PageQuery{Size: 100}); p.Total != 0 || len(p.Groups) != 0 {
				t.Errorf("list: %+v", p)
			}
		})
	})
}

func TestPurgeExactlyOnceAcrossReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		clk := newClock()
		url := storetest.URL(t, d)
		opts := store.Options{Now: clk.now, TrashRetention: time.Minute}
		a, b := storetest.OpenURL(t, url, opts), storetest.OpenURL(t, url, opts)
		const n = 250 // several batches
		for i := range n {
			g := mustCreate(t, a, "acme", fmt.Sprint("g", i))
			a.AddMember(ctx, "acme", g.UUID, "u")
			if err := a.DeleteGroup(ctx, "acme", g.UUID, nil); err != nil {
				t.Fatal(err)
			}
		}
		clk.advance(time.Hour)
		var wg sync.WaitGroup
		counts := make([]int, 4)
		for i := range counts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db := []*store.DB{a, b}[i%2]
				c, err := db.PurgeExpired(ctx)
				if err != nil {
					t.Errorf("purge: %v", err)
				}
				counts[i] = c
			}()
		}
		wg.Wait()
		if sum := counts[0] + counts[1] + counts[2] + counts[3]; sum != n {
			t.Fatalf("purged %v = %d groups, want %d exactly", counts, sum, n)
		}
		if p, _ := a.ListDeletedGroups(ctx, "acme", store.PageQuery{Size: 10}); p.Total != 0 {
			t.Fatalf("trash after purge holds %d", p.Total)
		}
	})
}

func TestNoTrash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{NoTrash: true, Limits: store.Limits{MaxGroupsPerUser: 1}})
		g := mustCreate(t, db, "acme", "Gone")
		db.AddMember(ctx, "acme", g.UUID, "u")
		if err := db.DeleteGroup(ctx, "acme", g.UUID, nil); err != nil {
			t.Fatal(err)
		}
		if p, _ := db.ListDeletedGroups(ctx, "acme", store.PageQuery{Size: 10}); p.Total != 0 {
			t.Fatalf("trash holds %d groups without a trash", p.Total)
		}
		h := mustCreate(t, db, "acme", "Next")
		if _, _, err := db.AddMember(ctx, "acme", h.UUID, "u"); err != nil {
			t.Fatalf("the final delete kept the membership: %v", err)
		}
	})
}
