package store_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

func TestSeedMembers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})
		const groups = 30
		ids := make([]string, groups)
		if err := db.SeedGroups(ctx, "acme", groups, store.SeedOptions{Created: func(i int, id string) { ids[i] = id }}); err != nil {
			t.Fatalf("seed groups: %v", err)
		}
		// Group i gets users 0..i-1 (so 0 to 29 members), user u is in
		// groups u+1..29: every group a different count, every user too.
		type pair struct{ g, u int }
		var pairs []pair
		for g := range groups {
			for u := range g {
				pairs = append(pairs, pair{g, u})
			}
		}
		user := func(u int) string { return fmt.Sprintf("user-%02d", u) }
		before, err := db.GetGroup(ctx, "acme", ids[5])
		if err != nil {
			t.Fatal(err)
		}
		err = db.SeedMembers(ctx, "acme", len(pairs), func(i int) (string, string) {
			return ids[pairs[i].g], user(pairs[i].u)
		}, store.SeedMemberOptions{})
		if err != nil {
			t.Fatalf("seed members: %v", err)
		}

		t.Run("MemberCountEqualsRows", func(t *testing.T) {
			for g, id := range ids {
				rows := allMembers(t, db, "acme", id, 7)
				got, err := db.GetGroup(ctx, "acme", id)
				if err != nil {
					t.Fatal(err)
				}
				if got.MemberCount != int64(len(rows)) || len(rows) != g {
					t.Errorf("group %d: member_count %d, %d rows, want %d", g, got.MemberCount, len(rows), g)
				}
			}
		})
		t.Run("UsersSeeTheirGroups", func(t *testing.T) {
			for u := range groups {
				p, err := db.ListUserGroups(ctx, "acme", user(u), store.ListQuery{Size: 100})
				if err != nil {
					t.Fatal(err)
				}
				if want := int64(groups - 1 - u); p.Total != want || int64(len(p.Groups)) != want {
					t.Errorf("%s: total %d, %d groups, want %d", user(u), p.Total, len(p.Groups), want)
				}
			}
		})
		t.Run("GroupChangedLikeAnAdd", func(t *testing.T) {
			after, err := db.GetGroup(ctx, "acme", ids[5])
			if err != nil {
				t.Fatal(err)
			}
			if after.Version == before.Version {
				t.Errorf("version stayed %d after members were seeded", after.Version)
			}
		})
		t.Run("UnknownGroupChangesNothing", func(t *testing.T) {
			stranger := uuid.NewString()
			err := db.SeedMembers(ctx, "acme", 2, func(i int) (string, string) {
				return []string{ids[0], stranger}[i], "new-user"
			}, store.SeedMemberOptions{})
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("seed into a missing group: err = %v, want ErrInvalid", err)
			}
			if got := allMembers(t, db, "acme", ids[0], 10); len(got) != 0 {
				t.Errorf("group 0 has %v after a failed seed, want no members", got)
			}
		})
		t.Run("OtherOrganizationsGroupIsUnknown", func(t *testing.T) {
			err := db.SeedMembers(ctx, "other", 1, func(int) (string, string) { return ids[1], "x" }, store.SeedMemberOptions{})
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("seed into another organization's group: err = %v, want ErrInvalid", err)
			}
		})
		t.Run("ExistingMembershipFails", func(t *testing.T) {
			err := db.SeedMembers(ctx, "acme", 1, func(int) (string, string) { return ids[3], user(0) }, store.SeedMemberOptions{})
			if err == nil {
				t.Fatal("seeding an existing membership succeeded")
			}
			g, _ := db.GetGroup(ctx, "acme", ids[3])
			if g.MemberCount != 3 {
				t.Errorf("member_count %d after a failed seed, want 3", g.MemberCount)
			}
		})
	})
}
