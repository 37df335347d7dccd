package store_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// TestSearch checks q (ListQuery.Q) against a brute-force literal substring
// match of the folded names, through every path: fragments too short for
// the trigram index, indexed fragments matching few names (read from the
// index) and many names (walking the sort order), offset and cursor paging.
func TestSearch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})
		names := []string{
			`100% off`, `100_ off`, `back\slash`, `a"quote"d`, `ÉQUIPE Nord`, `Straße 5`, `STRASSE 6`,
			`αβγδ`, `emoji 🙂 team`, `Tab	less`, `x%_\y`, `''single''`, `a*b?c[d]`, `AND OR NOT`, `NEAR(x y)`,
		}
		for i := 0; len(names) < 240; i++ {
			names = append(names, fmt.Sprintf("grp %03d %s", i, []string{"alpha", "beta", "gamma", "delta"}[i%4]))
		}
		byUUID := map[string]store.Group{}
		for _, n := range names {
			g := mustCreate(t, db, "acme", n)
			byUUID[g.UUID] = g
		}
		// Another organization with the same names must never leak in.
		for _, n := range names[:40] {
			mustCreate(t, db, "other", n)
		}

		check := func(t *testing.T, q string) {
			t.Helper()
			key := store.NameKey(q)
			var want []store.Group
			for _, g := range byUUID {
				if strings.Contains(store.NameKey(g.Name), key) {
					want = append(want, g)
				}
			}
			for _, s := range [][]store.Sort{nil, {{Field: store.SortName, Desc: true}}, {{Field: store.SortUpdatedAt}}} {
				wantOrder := ids(expected(want, s))
				for _, size := range []int{1, 7, 1000} {
					for _, cur := range []bool{false, true} {
						got := walk(t, db, "acme", store.ListQuery{Size: size, Q: q, Sort: s}, cur)
						if ids(got) != wantOrder {
							t.Fatalf("q=%q sort=%v size=%d cursor=%v:\n got %v\nwant %v", q, s, size, cur, names2(got), names2(expected(want, s)))
						}
					}
				}
				p, err := db.ListGroups(ctx, "acme", store.ListQuery{Size: 5, Q: q, Sort: s})
				if err != nil || p.Total != int64(len(want)) {
					t.Fatalf("q=%q: total = %d, %v; want %d", q, p.Total, err, len(want))
				}
			}
		}

		queries := []string{
			"%", "_", `\`, "ss", "gr", // shorter than a trigram: scan
			"100%", "0_ ", `k\s`, `"quote"`, `a"q`, "équipe", "EQUIPE", "STRASSE", "straße", "ΑΒΓ", "🙂 t",
			"\tl", `%_\`, "''", "*b?", "c[d]", "and or", "near(", "(x y)", "nomatch", "grp", "grp 1", "lph", "0 b", "ta",
		}
		for _, q := range queries {
			t.Run(fmt.Sprintf("q=%q", q), func(t *testing.T) { check(t, q) })
		}

		t.Run("RenamesAndDeletesAreSeen", func(t *testing.T) {
			var renamed, deleted store.Group
			for _, g := range byUUID {
				if g.Name == "grp 010 gamma" {
					renamed = g
				}
				if g.Name == "grp 011 delta" {
					deleted = g
				}
			}
			g, err := db.UpdateGroup(ctx, "acme", renamed.UUID, store.Changes{Name: strp("Zebra crossing")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			byUUID[g.UUID] = g
			if err := db.DeleteGroup(ctx, "acme", deleted.UUID, nil); err != nil {
				t.Fatal(err)
			}
			delete(byUUID, deleted.UUID)
			// A case-only rename keeps the key: the index must still find it.
			g, err = db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Name: strp("ZEBRA Crossing")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			byUUID[g.UUID] = g
			for _, q := range []string{"zebra", "crossing", "010", "011", "grp 01", "gamma"} {
				check(t, q)
			}
		})
		t.Run("OrganizationWithoutGroupsFindsNothing", func(t *testing.T) {
			p, err := db.ListGroups(ctx, "nobody", store.ListQuery{Size: 5, Q: "grp"})
			if err != nil || p.Total != 0 || len(p.Groups) != 0 || p.Next != "" {
				t.Fatalf("got %+v, %v", p, err)
			}
		})
	})
}

// TestSeedGroups checks the bulk loader keeps what creates keep: counts,
// uniqueness, search and order.
func TestSeedGroups(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})
		mustCreate(t, db, "acme", "before")
		var ids []string
		err := db.SeedGroups(ctx, "acme", 25, store.SeedOptions{
			Name:    func(i int) string { return fmt.Sprintf("Seeded %02d", i) },
			Created: func(_ int, id string) { ids = append(ids, id) },
		})
		if err != nil {
			t.Fatal(err)
		}
		mustCreate(t, db, "acme", "after")
		p, err := db.ListGroups(ctx, "acme", store.ListQuery{Size: 100, Q: "eded 1"})
		if err != nil || p.Total != 10 {
			t.Fatalf("search: total %d, %v", p.Total, err)
		}
		p, err = db.ListGroups(ctx, "acme", store.ListQuery{Size: 100})
		if err != nil || p.Total != 27 || len(p.Groups) != 27 {
			t.Fatalf("list: total %d, %d groups, %v", p.Total, len(p.Groups), err)
		}
		g, err := db.GetGroup(ctx, "acme", ids[3])
		if err != nil || g.Name != "Seeded 03" || g.Version != 1 || g.CreatedAt != g.UpdatedAt {
			t.Fatalf("get: %+v, %v", g, err)
		}
		if _, err := db.CreateGroup(ctx, "acme", store.NewGroup{Name: "SEEDED 04"}); err == nil {
			t.Fatal("a seeded name must be taken")
		}
	})
}

// TestDeepOffsetPages checks offset pages deep enough to start from sampled
// positions against a cursor walk, for several orders, before and after
// writes that shift every position.
func TestDeepOffsetPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})
		const n = 23456
		if err := db.SeedGroups(ctx, "acme", n, store.SeedOptions{
			Name: func(i int) string { return fmt.Sprintf("Deep %05d", (i*7919)%n) },
		}); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, db, "other", "Deep 00001")
		sorts := [][]store.Sort{nil, {{Field: store.SortCreatedAt, Desc: true}}, {{Field: store.SortName}}, {{Field: store.SortUpdatedAt, Desc: true}}}
		check := func(t *testing.T, label string) {
			t.Helper()
			for _, s := range sorts {
				all := walk(t, db, "acme", store.ListQuery{Size: 1000, Sort: s}, true)
				for _, off := range []int{9990, 10000, 12345, 19999, 20000, len(all) - 7, len(all) + 100} {
					size := 20
					p, err := db.ListGroups(ctx, "acme", store.ListQuery{Size: size, Page: off / size, Sort: s})
					if err != nil {
						t.Fatal(err)
					}
					start := off / size * size
					want := all[min(start, len(all)):min(start+size, len(all))]
					if ids(p.Groups) != ids(want) || p.Total != int64(len(all)) {
						t.Fatalf("%s sort=%v offset=%d: got %v (total %d), want %v", label, s, start, names2(p.Groups), p.Total, names2(want))
					}
				}
			}
		}
		check(t, "seeded")
		// Writes move positions: the samples of the old state must not be used.
		first, err := db.ListGroups(ctx, "acme", store.ListQuery{Size: 3})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteGroup(ctx, "acme", first.Groups[1].UUID, nil); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, db, "acme", "Deep 0000 new")
		if _, err := db.UpdateGroup(ctx, "acme", first.Groups[2].UUID, store.Changes{Name: strp("Zzz renamed")}, nil); err != nil {
			t.Fatal(err)
		}
		check(t, "after writes")
	})
}

// TestSearchCountsFollowWrites checks that totals of a repeated search
// follow every kind of write.
func TestSearchCountsFollowWrites(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})
		total := func() int64 {
			t.Helper()
			p, err := db.ListGroups(ctx, "acme", store.ListQuery{Size: 1, Q: "needle"})
			if err != nil {
				t.Fatal(err)
			}
			return p.Total
		}
		a := mustCreate(t, db, "acme", "Needle a")
		mustCreate(t, db, "acme", "hay")
		steps := []struct {
			do   func()
			want int64
		}{
			{func() {}, 1},
			{func() { mustCreate(t, db, "acme", "NEEDLE b") }, 2},
			{func() { mustCreate(t, db, "other", "needle elsewhere") }, 2},
			{func() {
				if _, err := db.UpdateGroup(ctx, "acme", a.UUID, store.Changes{Name: strp("thread")}, nil); err != nil {
					t.Fatal(err)
				}
			}, 1},
			{func() {
				if _, err := db.UpdateGroup(ctx, "acme", a.UUID, store.Changes{Name: strp("needlework")}, nil); err != nil {
					t.Fatal(err)
				}
			}, 2},
			{func() {
				if err := db.DeleteGroup(ctx, "acme", a.UUID, nil); err != nil {
					t.Fatal(err)
				}
			}, 1},
		}
		for i, st := range steps {
			st.do()
			if got := total(); got != st.want {
				t.Fatalf("step %d: total = %d, want %d", i, got, st.want)
			}
			if got := total(); got != st.want { // and again, from the cache
				t.Fatalf("step %d (repeated): total = %d, want %d", i, got, st.want)
			}
		}
	})
}
