package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

var ctx = context.Background()

func strp(s string) *string { return &s }

func mustCreate(t *testing.T, db *store.DB, org, name string) store.Group {
	t.Helper()
	g, err := db.CreateGroup(ctx, org, store.NewGroup{Name: name})
	if err != nil {
		t.Fatalf("create %q: %v", name, err)
	}
	return g
}

func TestCreateGroup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})

		t.Run("StoresTrimmedNameAndVersion1", func(t *testing.T) {
			g, err := db.CreateGroup(ctx, "acme", store.NewGroup{Name: "\u3000 Finance\t", Description: strp("money")})
			if err != nil {
				t.Fatal(err)
			}
			if g.Name != "Finance" || g.Version != 1 || g.Description == nil || *g.Description != "money" {
				t.Fatalf("got %+v", g)
			}
			if g.CreatedAt != g.UpdatedAt || g.CreatedAt == 0 {
				t.Fatalf("timestamps %d %d", g.CreatedAt, g.UpdatedAt)
			}
			got, err := db.GetGroup(ctx, "acme", g.UUID)
			if err != nil || !reflect.DeepEqual(got, g) {
				t.Fatalf("get = %+v, %v; want %+v", got, err, g)
			}
		})
		t.Run("BlankNameIsInvalid", func(t *testing.T) {
			_, err := db.CreateGroup(ctx, "acme", store.NewGroup{Name: " \u2003\n"})
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
		t.Run("NamesCollideByUnicodeCaseFolding", func(t *testing.T) {
			mustCreate(t, db, "acme", "ÉQUIPE")
			for _, n := range []string{"équipe", "E\u0301quipe", " Équipe "} {
				if _, err := db.CreateGroup(ctx, "acme", store.NewGroup{Name: n}); !errors.Is(err, store.ErrNameTaken) {
					t.Errorf("create %q: err = %v, want ErrNameTaken", n, err)
				}
			}
			mustCreate(t, db, "acme", "Straße")
			if _, err := db.CreateGroup(ctx, "acme", store.NewGroup{Name: "STRASSE"}); !errors.Is(err, store.ErrNameTaken) {
				t.Errorf("STRASSE: err = %v, want ErrNameTaken (ß folds to ss)", err)
			}
		})
		t.Run("NamesAreUniquePerOrganization", func(t *testing.T) {
			mustCreate(t, db, "org-a", "Finance")
			mustCreate(t, db, "org-b", "Finance")
		})
		t.Run("ConcurrentCreatesOfOneNameHaveOneWinner", func(t *testing.T) {
			const n = 30
			var wg sync.WaitGroup
			errs := make([]error, n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = db.CreateGroup(ctx, "race", store.NewGroup{Name: fmt.Sprintf("Team %s", strings.Repeat("x", 1)+[]string{"", " "}[i%2])})
				}()
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, store.ErrNameTaken):
					t.Fatalf("unexpected error: %v", err)
				}
			}
			if ok != 1 {
				t.Fatalf("%d creates succeeded, want exactly 1", ok)
			}
			p, err := db.ListGroups(ctx, "race", store.ListQuery{Size: 10})
			if err != nil || p.Total != 1 || len(p.Groups) != 1 {
				t.Fatalf("list = %+v, %v", p, err)
			}
		})
	})
}

func TestUpdateGroup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		now := time.UnixMilli(1_700_000_000_000)
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		tick := func() { mu.Lock(); now = now.Add(time.Second); mu.Unlock() }
		db := storetest.Open(t, d, store.Options{Now: clock})
		g := mustCreate(t, db, "acme", "Finance")
		mustCreate(t, db, "acme", "Legal")

		t.Run("NoOpKeepsVersionAndUpdatedAt", func(t *testing.T) {
			tick()
			for _, ch := range []store.Changes{{}, {Name: strp("Finance")}, {SetDescription: true}} {
				got, err := db.UpdateGroup(ctx, "acme", g.UUID, ch, nil)
				if err != nil || got.Version != 1 || got.UpdatedAt != g.UpdatedAt {
					t.Fatalf("%+v: got %+v, %v", ch, got, err)
				}
			}
		})
		t.Run("ChangeBumpsVersionAndUpdatedAt", func(t *testing.T) {
			tick()
			got, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{SetDescription: true, Description: strp("d")}, nil)
			if err != nil || got.Version != 2 || got.UpdatedAt != clock().UnixMilli() || got.CreatedAt != g.CreatedAt {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
		t.Run("RenameToOwnCaseVariantIsAllowed", func(t *testing.T) {
			got, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Name: strp("FINANCE")}, nil)
			if err != nil || got.Name != "FINANCE" || got.Version != 3 {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
		t.Run("RenameToTakenNameIsConflict", func(t *testing.T) {
			_, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Name: strp("legal")}, nil)
			if !errors.Is(err, store.ErrNameTaken) {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("ConditionMismatchIsPreconditionFailedAndChangesNothing", func(t *testing.T) {
			_, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Name: strp("X")}, &store.Condition{Versions: []int64{1, 2}})
			if !errors.Is(err, store.ErrPreconditionFailed) {
				t.Fatalf("err = %v", err)
			}
			cur, _ := db.GetGroup(ctx, "acme", g.UUID)
			if cur.Name != "FINANCE" || cur.Version != 3 {
				t.Fatalf("row changed: %+v", cur)
			}
			// A no-op with a stale condition is still a failed precondition.
			if _, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{}, &store.Condition{Versions: []int64{1}}); !errors.Is(err, store.ErrPreconditionFailed) {
				t.Fatalf("no-op err = %v", err)
			}
		})
		t.Run("ConditionMatchWrites", func(t *testing.T) {
			got, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Name: strp("Finance")}, &store.Condition{Versions: []int64{7, 3}})
			if err != nil || got.Version != 4 {
				t.Fatalf("got %+v, %v", got, err)
			}
			got, err = db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Name: strp("Finance 2")}, &store.Condition{Any: true})
			if err != nil || got.Version != 5 {
				t.Fatalf("any: got %+v, %v", got, err)
			}
		})
		t.Run("MissingOrForeignIsNotFoundEvenWithCondition", func(t *testing.T) {
			for _, org := range []string{"acme", "other"} {
				id := g.UUID
				if org == "acme" {
					id = "01939d2e-0000-7000-8000-000000000000"
				}
				_, err := db.UpdateGroup(ctx, org, id, store.Changes{Name: strp("Y")}, &store.Condition{Versions: []int64{1}})
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("%s: err = %v", org, err)
				}
				if err := db.DeleteGroup(ctx, org, id, &store.Condition{Any: true}); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("%s delete: err = %v", org, err)
				}
			}
		})
		t.Run("ConcurrentConditionalUpdatesHaveOneWinner", func(t *testing.T) {
			cur, _ := db.GetGroup(ctx, "acme", g.UUID)
			var wg sync.WaitGroup
			results := make([]error, 20)
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, results[i] = db.UpdateGroup(ctx, "acme", g.UUID,
						store.Changes{SetDescription: true, Description: strp(fmt.Sprint("writer ", i))},
						&store.Condition{Versions: []int64{cur.Version}})
				}()
			}
			wg.Wait()
			winner := -1
			for i, err := range results {
				switch {
				case err == nil && winner >= 0:
					t.Fatalf("two winners: %d and %d", winner, i)
				case err == nil:
					winner = i
				case !errors.Is(err, store.ErrPreconditionFailed):
					t.Fatalf("writer %d: %v", i, err)
				}
			}
			final, _ := db.GetGroup(ctx, "acme", g.UUID)
			if winner < 0 || *final.Description != fmt.Sprint("writer ", winner) || final.Version != cur.Version+1 {
				t.Fatalf("winner %d, final %+v", winner, final)
			}
		})
	})
}

func TestDeleteGroup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})
		g := mustCreate(t, db, "acme", "Finance")
		if err := db.DeleteGroup(ctx, "acme", g.UUID, &store.Condition{Versions: []int64{2}}); !errors.Is(err, store.ErrPreconditionFailed) {
			t.Fatalf("stale condition: %v", err)
		}
		if err := db.DeleteGroup(ctx, "other", g.UUID, nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("foreign org: %v", err)
		}
		if err := db.DeleteGroup(ctx, "acme", g.UUID, &store.Condition{Versions: []int64{1}}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetGroup(ctx, "acme", g.UUID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := db.DeleteGroup(ctx, "acme", g.UUID, nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		t.Run("FreesTheName", func(t *testing.T) {
			mustCreate(t, db, "acme", "finance")
		})
		p, _ := db.ListGroups(ctx, "acme", store.ListQuery{Size: 5})
		if p.Total != 1 {
			t.Fatalf("total = %d, want 1", p.Total)
		}
	})
}

// walk pages through everything with offset paging or cursors and returns the uuids in order.
func walk(t *testing.T, db *store.DB, org string, q store.ListQuery, useCursor bool) []store.Group {
	t.Helper()
	var out []store.Group
	for i := 0; i < 1000; i++ {
		p, err := db.ListGroups(ctx, org, q)
		if err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		if p.Number != i {
			t.Fatalf("page number = %d, want %d", p.Number, i)
		}
		out = append(out, p.Groups...)
		if useCursor {
			if p.Next == "" {
				return out
			}
			q.Cursor = p.Next
		} else {
			if len(p.Groups) == 0 {
				return out
			}
			q.Page++
		}
	}
	t.Fatal("paging did not end")
	return nil
}

func TestListGroups(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		// Few distinct timestamps, so sorting by time must lean on the uuid tie-breaker.
		var mu sync.Mutex
		ms := int64(1_700_000_000_000)
		n := 0
		clock := func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			n++
			return time.UnixMilli(ms + int64(n/7))
		}
		db := storetest.Open(t, d, store.Options{Now: clock})
		names := []string{"b", "A", "c", "é", "E", "100% off", "under_score", "back\\slash", "ß", "Zed", "zoo", "αβγ", "emoji 🙂"}
		for i := 0; len(names) < 47; i++ {
			names = append(names, fmt.Sprintf("group %02d", i))
		}
		var all []store.Group
		for _, name := range names {
			all = append(all, mustCreate(t, db, "acme", name))
		}
		mustCreate(t, db, "other", "b-other")
		// Some updates so updatedAt differs from createdAt order.
		for i := 0; i < len(all); i += 5 {
			g, err := db.UpdateGroup(ctx, "acme", all[i].UUID, store.Changes{SetDescription: true, Description: strp("u")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			all[i] = g
		}

		sorts := [][]store.Sort{
			nil,
			{{Field: store.SortName}},
			{{Field: store.SortName, Desc: true}},
			{{Field: store.SortCreatedAt, Desc: true}},
			{{Field: store.SortUpdatedAt}},
			{{Field: store.SortUpdatedAt, Desc: true}, {Field: store.SortName}},
			{{Field: store.SortCreatedAt}, {Field: store.SortUpdatedAt, Desc: true}},
		}
		for _, s := range sorts {
			for _, size := range []int{1, 4, 10, 100} {
				name := fmt.Sprintf("sort=%v/size=%d", s, size)
				t.Run(name, func(t *testing.T) {
					want := expected(all, s)
					for _, cur := range []bool{false, true} {
						got := walk(t, db, "acme", store.ListQuery{Size: size, Sort: s}, cur)
						if ids(got) != ids(want) {
							t.Fatalf("cursor=%v: order\n got %v\nwant %v", cur, names2(got), names2(want))
						}
					}
				})
			}
		}

		t.Run("PagePastTheEndHasTrueTotals", func(t *testing.T) {
			p, err := db.ListGroups(ctx, "acme", store.ListQuery{Size: 10, Page: 99})
			if err != nil || len(p.Groups) != 0 || p.Total != int64(len(all)) || p.Next != "" {
				t.Fatalf("got %+v, %v", p, err)
			}
			p, err = db.ListGroups(ctx, "empty-org", store.ListQuery{Size: 10})
			if err != nil || len(p.Groups) != 0 || p.Total != 0 {
				t.Fatalf("empty org: %+v, %v", p, err)
			}
		})
		t.Run("QIsALiteralCaseFoldedSubstring", func(t *testing.T) {
			cases := map[string][]string{
				"%":       {"100% off"},
				"_":       {"under_score"},
				"\\":      {"back\\slash"},
				"É":       {"é", "E"[:0] + "é"},
				"SS":      {"ß"},
				"ΑΒ":      {"αβγ"},
				"GROUP 0": {"group 00", "group 01", "group 02", "group 03", "group 04", "group 05", "group 06", "group 07", "group 08", "group 09"},
				"🙂":       {"emoji 🙂"},
				"nomatch": {},
				"b-oth":   {},
			}
			for q, wantNames := range cases {
				p, err := db.ListGroups(ctx, "acme", store.ListQuery{Size: 100, Q: q, Sort: []store.Sort{{Field: store.SortName}}})
				if err != nil {
					t.Fatalf("q=%q: %v", q, err)
				}
				want := map[string]bool{}
				for _, n := range wantNames {
					want[n] = true
				}
				got := map[string]bool{}
				for _, g := range p.Groups {
					got[g.Name] = true
				}
				if len(got) != len(want) || p.Total != int64(len(want)) {
					t.Errorf("q=%q: got %v (total %d), want %v", q, names2(p.Groups), p.Total, wantNames)
					continue
				}
				for n := range want {
					if !got[n] {
						t.Errorf("q=%q: missing %q in %v", q, n, names2(p.Groups))
					}
				}
			}
		})
		t.Run("QPagesWithCursor", func(t *testing.T) {
			got := walk(t, db, "acme", store.ListQuery{Size: 3, Q: "group"}, true)
			if len(got) != 34 {
				t.Fatalf("got %d groups, want 34", len(got))
			}
		})
		t.Run("CursorOfAnotherQueryIsInvalid", func(t *testing.T) {
			p, _ := db.ListGroups(ctx, "acme", store.ListQuery{Size: 2})
			for _, q := range []store.ListQuery{
				{Size: 2, Cursor: p.Next, Sort: []store.Sort{{Field: store.SortName}}},
				{Size: 2, Cursor: p.Next, Q: "a"},
				{Size: 2, Cursor: "not-a-cursor"},
				{Size: 2, Cursor: "eyJrIjpbXX0"},
			} {
				if _, err := db.ListGroups(ctx, "acme", q); !errors.Is(err, store.ErrInvalid) {
					t.Errorf("%+v: err = %v, want ErrInvalid", q, err)
				}
			}
		})
	})
}

func expected(all []store.Group, s []store.Sort) []store.Group {
	out := append([]store.Group(nil), all...)
	if len(s) == 0 {
		s = []store.Sort{{Field: store.SortCreatedAt}}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		for _, k := range s {
			var c int
			switch k.Field {
			case store.SortName:
				c = strings.Compare(store.NameKey(a.Name), store.NameKey(b.Name))
			case store.SortCreatedAt:
				c = cmpInt(a.CreatedAt, b.CreatedAt)
			case store.SortUpdatedAt:
				c = cmpInt(a.UpdatedAt, b.UpdatedAt)
			}
			if k.Desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return a.UUID < b.UUID
	})
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func ids(gs []store.Group) string {
	var b strings.Builder
	for _, g := range gs {
		b.WriteString(g.UUID)
		b.WriteByte(',')
	}
	return b.String()
}

func names2(gs []store.Group) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.Name)
	}
	return out
}

func TestPurgeIdempotencyKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		db := storetest.Open(t, d, store.Options{Now: clock})
		create := func(key, name string) (store.Outcome, error) {
			return db.CreateGroupIdempotent(ctx, "acme", store.IdempotentCreate{Key: key, Fingerprint: []byte("fp"), Group: store.NewGroup{Name: name}})
		}
		for i := range 5 {
			if _, err := create(fmt.Sprint("k", i), fmt.Sprint("g", i)); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := db.PurgeIdempotencyKeys(ctx, 100); err != nil || n != 0 {
			t.Fatalf("fresh entries purged: %d, %v", n, err)
		}
		mu.Lock()
		now = now.Add(store.IdempotencyTTL + time.Minute)
		mu.Unlock()
		if n, err := db.PurgeIdempotencyKeys(ctx, 3); err != nil || n != 3 {
			t.Fatalf("first batch: %d, %v", n, err)
		}
		if n, err := db.PurgeIdempotencyKeys(ctx, 3); err != nil || n != 2 {
			t.Fatalf("second batch: %d, %v", n, err)
		}
		// An expired key is free again: it creates a new group.
		out, err := create("k0", "fresh")
		if err != nil || out.Replayed || out.Kind != store.OutcomeCreated || out.Group.Name != "fresh" {
			t.Fatalf("reuse after expiry: %+v %v", out, err)
		}
	})
}
