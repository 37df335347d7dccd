package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

var chain = store.ReferenceInput{Kind: "approval-chain", DisplayName: "Travel approvals", URL: strp("https://approvals.example.com/7")}

func TestReferences(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})
		var nf *store.NotFoundError

		t.Run("PutCreatesThenReplaces", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Referenced")
			r, created, err := db.PutReference(ctx, "acme", g.UUID, "chain-7", chain)
			if err != nil || !created || r.ID != "chain-7" || r.Kind != chain.Kind || *r.URL != *chain.URL || r.CreatedAt != r.UpdatedAt {
				t.Fatalf("first put = %+v, %v, %v", r, created, err)
			}
			after, _ := db.GetGroup(ctx, "acme", g.UUID)
			if after.ReferenceCount != 1 || after.Version != g.Version+1 {
				t.Fatalf("group after a new reference: %+v", after)
			}
			same, created, err := db.PutReference(ctx, "acme", g.UUID, "chain-7", chain)
			if err != nil || created || same != r {
				t.Fatalf("same put = %+v, %v, %v", same, created, err)
			}
			changed, created, err := db.PutReference(ctx, "acme", g.UUID, "chain-7", store.ReferenceInput{Kind: "budget", DisplayName: "B"})
			if err != nil || created || changed.URL != nil || changed.CreatedAt != r.CreatedAt || changed.Kind != "budget" {
				t.Fatalf("replacing put = %+v, %v, %v", changed, created, err)
			}
			if again, _ := db.GetGroup(ctx, "acme", g.UUID); again != after {
				t.Fatalf("a replacement changed the group: %+v -> %+v", after, again)
			}
			if got, err := db.GetReference(ctx, "acme", g.UUID, "chain-7"); err != nil || got != changed {
				t.Fatalf("get = %+v, %v", got, err)
			}
			if _, err := db.GetReference(ctx, "acme", g.UUID, "Chain-7"); !errors.As(err, &nf) || nf.Kind != "reference" {
				t.Fatalf("IDs are case-sensitive: %v", err)
			}
			for range 2 {
				if err := db.DeleteReference(ctx, "acme", g.UUID, "chain-7"); err != nil {
					t.Fatal(err)
				}
			}
			if got, _ := db.GetGroup(ctx, "acme", g.UUID); got.ReferenceCount != 0 || got.Version != after.Version+1 {
				t.Fatalf("group after removal: %+v", got)
			}
		})

		t.Run("ListPagesByID", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Listed refs")
			ids := []string{"b", "a", "C", "c:1", "a.b", "z-9"}
			for _, id := range ids {
				db.PutReference(ctx, "acme", g.UUID, id, chain)
			}
			var got []string
			q := store.PageQuery{Size: 4}
			for {
				p, err := db.ListReferences(ctx, "acme", g.UUID, q)
				if err != nil || p.Total != 6 {
					t.Fatalf("list: %+v %v", p, err)
				}
				for _, r := range p.References {
					got = append(got, r.ID)
				}
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
			}
			if fmt.Sprint(got) != "[C a a.b b c:1 z-9]" {
				t.Fatalf("references = %v, want byte order", got)
			}
			h := mustCreate(t, db, "acme", "Other refs")
			p, _ := db.ListReferences(ctx, "acme", g.UUID, store.PageQuery{Size: 1})
			var ie *store.InvalidError
			if _, err := db.ListReferences(ctx, "acme", h.UUID, store.PageQuery{Size: 1, Cursor: p.Next}); !errors.As(err, &ie) {
				t.Fatalf("another group's cursor: %v", err)
			}
		})

		t.Run("DeleteIsRefusedWhileReferenced", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "In use")
			db.AddMember(ctx, "acme", g.UUID, "u")
			for i := range 25 {
				db.PutReference(ctx, "acme", g.UUID, fmt.Sprintf("ref-%02d", 24-i), chain)
			}
			g, _ = db.GetGroup(ctx, "acme", g.UUID)
			c, err := db.CheckDelete(ctx, "acme", g.UUID, nil)
			if err != nil || c.Deletable || c.MemberCount != 1 || c.TotalReferences != 25 || len(c.References) != 20 || c.References[0].ID != "ref-00" {
				t.Fatalf("check = %+v, %v", c, err)
			}
			var iu *store.InUseError
			if err := db.DeleteGroup(ctx, "acme", g.UUID, nil); !errors.As(err, &iu) || iu.Total != 25 || len(iu.References) != 20 || iu.References[19].ID != "ref-19" {
				t.Fatalf("delete of a referenced group: %v", err)
			}
			if got, _ := db.GetGroup(ctx, "acme", g.UUID); got != g {
				t.Fatalf("a refused delete changed the group: %+v", got)
			}
			if _, err := db.CheckDelete(ctx, "acme", g.UUID, &store.Condition{Versions: []int64{1}}); !errors.Is(err, store.ErrPreconditionFailed) {
				t.Fatalf("check with a stale If-Match: %v", err)
			}
			// Archiving stays allowed.
			if _, err := db.UpdateGroup(ctx, "acme", g.UUID, store.Changes{Status: status(store.StatusArchived)}, nil); err != nil {
				t.Fatalf("archive a referenced group: %v", err)
			}
			for i := range 25 {
				db.DeleteReference(ctx, "acme", g.UUID, fmt.Sprintf("ref-%02d", i))
			}
			if c, _ := db.CheckDelete(ctx, "acme", g.UUID, nil); !c.Deletable || c.TotalReferences != 0 || len(c.References) != 0 {
				t.Fatalf("check without references = %+v", c)
			}
			if err := db.DeleteGroup(ctx, "acme", g.UUID, nil); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("TenantIsolation", func(t *testing.T) {
			g := mustCreate(t, db, "acme", "Theirs")
			db.PutReference(ctx, "acme", g.UUID, "r1", chain)
			if _, _, err := db.PutReference(ctx, "globex", g.UUID, "r2", chain); !errors.As(err, &nf) || nf.Kind != "group" {
				t.Errorf("put: %v", err)
			}
			if _, err := db.GetReference(ctx, "globex", g.UUID, "r1"); !errors.As(err, &nf) || nf.Kind != "group" {
				t.Errorf("get: %v", err)
			}
			if err := db.DeleteReference(ctx, "globex", g.UUID, "r1"); !errors.As(err, &nf) {
				t.Errorf("delete: %v", err)
			}
			if _, err := db.ListReferences(ctx, "globex", g.UUID, store.PageQuery{Size: 10}); !errors.As(err, &nf) {
				t.Errorf("list: %v", err)
			}
			if _, err := db.CheckDelete(ctx, "globex", g.UUID, nil); !errors.As(err, &nf) {
				t.Errorf("check: %v", err)
			}
			if err := db.DeleteGroup(ctx, "globex", g.UUID, nil); !errors.As(err, &nf) {
				t.Errorf("delete group: %v", err)
			}
			if _, err := db.UpdateGroup(ctx, "globex", g.UUID, store.Changes{Status: status(store.StatusArchived)}, nil); !errors.As(err, &nf) {
				t.Errorf("archive: %v", err)
			}
			if got, _ := db.GetReference(ctx, "acme", g.UUID, "r1"); got.ID != "r1" {
				t.Errorf("acme's reference is gone: %+v", got)
			}
		})
	})
}

// A reference PUT racing a group DELETE: either the PUT finds the group
// gone (404) or the DELETE finds the reference (409), never both succeeding.
func TestReferenceRacesDelete(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})
		outcomes := map[string]int{}
		for i := range 40 {
			g := mustCreate(t, db, "acme", fmt.Sprint("race ", i))
			var putErr, delErr error
			var wg sync.WaitGroup
			start := make(chan struct{})
			wg.Add(2)
			go func() { defer wg.Done(); <-start; _, _, putErr = db.PutReference(ctx, "acme", g.UUID, "chain", chain) }()
			go func() { defer wg.Done(); <-start; delErr = db.DeleteGroup(ctx, "acme", g.UUID, nil) }()
			close(start)
			wg.Wait()
			switch {
			case putErr == nil && errors.Is(delErr, store.ErrInUse):
				outcomes["put first"]++
				if g2, _ := db.GetGroup(ctx, "acme", g.UUID); g2.ReferenceCount != 1 {
					t.Fatalf("round %d: group after put-first: %+v", i, g2)
				}
			case errors.Is(putErr, store.ErrNotFound) && delErr == nil:
				outcomes["delete first"]++
				dg, err := db.GetDeletedGroup(ctx, "acme", g.UUID)
				if err != nil || dg.ReferenceCount != 0 {
					t.Fatalf("round %d: trashed group %+v, %v", i, dg, err)
				}
				if _, err := db.RestoreGroup(ctx, "acme", g.UUID, nil); err != nil {
					t.Fatal(err)
				}
				if p, err := db.ListReferences(ctx, "acme", g.UUID, store.PageQuery{Size: 10}); err != nil || p.Total != 0 || len(p.References) != 0 {
					t.Fatalf("round %d: a reference landed on a deleted group: %+v %v", i, p, err)
				}
			default:
				t.Fatalf("round %d: put %v, delete %v", i, putErr, delErr)
			}
		}
		t.Logf("outcomes: %v", outcomes)
	})
}
