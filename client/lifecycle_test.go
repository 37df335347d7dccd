package client_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/groupsd/groupsd/client"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// referenceIDs collects a reference listing, failing the test on an error.
func referenceIDs(t *testing.T, c *client.Client, group uuid.UUID, opts client.ReferenceListOptions) []string {
	t.Helper()
	var ids []string
	for r, err := range c.References.List(bg, group, opts) {
		if err != nil {
			t.Fatalf("List references: %v", err)
		}
		ids = append(ids, r.ID)
	}
	return ids
}

func listedNames(t *testing.T, c *client.Client, opts client.ListOptions) []string {
	t.Helper()
	var names []string
	for g, err := range c.Groups.List(bg, opts) {
		if err != nil {
			t.Fatalf("List(%+v): %v", opts, err)
		}
		names = append(names, g.Name)
	}
	return names
}

func TestLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		c := startGroupsd(t, d).client(t)
		missing := uuid.UUID{7}

		t.Run("ArchiveAndReactivateRoundTrip", func(t *testing.T) {
			g := mustCreate(t, c, "Travel")
			if g.Status != client.StatusActive || g.ArchivedAt != nil || g.ReferenceCount != 0 {
				t.Fatalf("new group: %+v", g)
			}
			if _, _, err := c.Members.Add(bg, g.UUID, "ann"); err != nil {
				t.Fatal(err)
			}
			a, err := c.Groups.Archive(bg, g.UUID)
			if err != nil || a.Status != client.StatusArchived || a.ArchivedAt == nil || a.MemberCount != 1 || a.ETag == "" {
				t.Fatalf("Archive = %+v, %v", a, err)
			}
			again, err := c.Groups.Archive(bg, g.UUID)
			if err != nil || again.ETag != a.ETag {
				t.Fatalf("a second Archive changed the group: %+v, %v (was %s)", again, err, a.ETag)
			}
			// Every other change is refused, and says so with its sentinel.
			_, err = c.Groups.Update(bg, g.UUID, func(g *client.Group) error { g.Name = "Renamed"; return nil })
			assertOnly(t, err, client.ErrGroupArchived)
			_, _, err = c.Members.Add(bg, g.UUID, "bob")
			assertOnly(t, err, client.ErrGroupArchived)
			err = c.Members.Remove(bg, g.UUID, "ann")
			assertOnly(t, err, client.ErrGroupArchived)
			_, err = c.Groups.Replace(bg, client.Group{UUID: g.UUID, Name: "Renamed", ETag: a.ETag})
			assertOnly(t, err, client.ErrGroupArchived)
			// A group as read replaces itself without change.
			if same, err := c.Groups.Replace(bg, a); err != nil || same.ETag != a.ETag || same.Status != client.StatusArchived {
				t.Fatalf("Replace of the group as read = %+v, %v", same, err)
			}
			r, err := c.Groups.Reactivate(bg, g.UUID)
			if err != nil || r.Status != client.StatusActive || r.ArchivedAt != nil || r.ETag == a.ETag {
				t.Fatalf("Reactivate = %+v, %v", r, err)
			}
			// Archive by Replace with the read ETag; a stale one is refused.
			a.Status = client.StatusActive
			_, err = c.Groups.Replace(bg, a)
			assertOnly(t, err, client.ErrPreconditionFailed)
			r.Status = client.StatusArchived
			if a2, err := c.Groups.Replace(bg, r); err != nil || a2.Status != client.StatusArchived {
				t.Fatalf("archive by Replace = %+v, %v", a2, err)
			}
			// Reactivate and rename in one Update.
			u, err := c.Groups.Update(bg, g.UUID, func(g *client.Group) error {
				g.Status, g.Name = client.StatusActive, "Travel & Events"
				return nil
			})
			if err != nil || u.Status != client.StatusActive || u.Name != "Travel & Events" {
				t.Fatalf("Update reactivating and renaming = %+v, %v", u, err)
			}
			_, err = c.Groups.Archive(bg, missing)
			assertOnly(t, err, client.ErrNotFound)
		})

		t.Run("ListFiltersByStatus", func(t *testing.T) {
			for i := range 5 {
				g := mustCreate(t, c, fmt.Sprintf("Filtered %d", i))
				if _, _, err := c.Members.Add(bg, g.UUID, "filter-user"); err != nil {
					t.Fatal(err)
				}
				if i%2 == 1 {
					if _, err := c.Groups.Archive(bg, g.UUID); err != nil {
						t.Fatal(err)
					}
				}
			}
			for status, want := range map[client.Status][]string{
				"":                    {"Filtered 0", "Filtered 2", "Filtered 4"},
				client.StatusActive:   {"Filtered 0", "Filtered 2", "Filtered 4"},
				client.StatusArchived: {"Filtered 1", "Filtered 3"},
				client.StatusAll:      {"Filtered 0", "Filtered 1", "Filtered 2", "Filtered 3", "Filtered 4"},
			} {
				opts := client.ListOptions{PageSize: 1, Query: "filtered", Sort: []string{"name"}, Status: status}
				if got := listedNames(t, c, opts); !slices.Equal(got, want) {
					t.Errorf("List status %q = %q, want %q", status, got, want)
				}
				if got := groupNames(t, c, "filter-user", opts); !slices.Equal(got, want) {
					t.Errorf("UserGroups status %q = %q, want %q", status, got, want)
				}
			}
			for _, err := range c.Groups.List(bg, client.ListOptions{Status: "DELETED"}) {
				assertOnly(t, err, client.ErrValidation)
			}
		})

		t.Run("ReferencesGuardDelete", func(t *testing.T) {
			g := mustCreate(t, c, "Approvals")
			in := client.Reference{ID: "chain-7", Kind: "approval-chain", DisplayName: "Travel approvals", URL: "https://approvals.example.com/7"}
			r, created, err := c.References.Put(bg, g.UUID, in)
			if err != nil || !created || r.ID != "chain-7" || r.URL != in.URL || r.CreatedAt.IsZero() {
				t.Fatalf("first Put = %+v, %v, %v", r, created, err)
			}
			in.DisplayName = "Travel approvals (EU)"
			r2, created, err := c.References.Put(bg, g.UUID, in)
			if err != nil || created || !r2.CreatedAt.Equal(r.CreatedAt) || r2.DisplayName != in.DisplayName {
				t.Fatalf("second Put = %+v, %v, %v", r2, created, err)
			}
			for i := range 22 {
				if _, _, err := c.References.Put(bg, g.UUID, client.Reference{ID: fmt.Sprintf("budget-%02d", i), Kind: "budget", DisplayName: "B"}); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := c.References.Get(bg, g.UUID, "chain-7"); err != nil || got != r2 {
				t.Fatalf("Get = %+v, %v; want %+v", got, err, r2)
			}
			_, err = c.References.Get(bg, g.UUID, "nope")
			assertOnly(t, err, client.ErrReferenceNotFound)
			_, err = c.References.Get(bg, missing, "chain-7")
			assertOnly(t, err, client.ErrNotFound)
			_, _, err = c.References.Put(bg, g.UUID, client.Reference{ID: "r", Kind: "Bad Kind", DisplayName: "x"})
			assertOnly(t, err, client.ErrValidation)
			ids := referenceIDs(t, c, g.UUID, client.ReferenceListOptions{PageSize: 5})
			if len(ids) != 23 || ids[0] != "budget-00" || ids[22] != "chain-7" || !slices.IsSorted(ids) {
				t.Fatalf("List = %q", ids)
			}
			if got, _ := c.Groups.Get(bg, g.UUID); got.ReferenceCount != len(ids) {
				t.Fatalf("referenceCount %d, %d listed", got.ReferenceCount, len(ids))
			}

			err = c.Groups.Delete(bg, g.UUID)
			assertOnly(t, err, client.ErrGroupInUse)
			var apiErr *client.Error
			if !errors.As(err, &apiErr) || apiErr.TotalReferences != 23 || len(apiErr.References) != 20 || apiErr.References[0].ID != "budget-00" {
				t.Fatalf("GROUP_IN_USE error: %#v", err)
			}
			check, err := c.Groups.CheckDelete(bg, g.UUID)
			if err != nil || check.Deletable || check.TotalReferences != 23 || len(check.References) != 20 {
				t.Fatalf("CheckDelete = %+v, %v", check, err)
			}
			if _, err := c.Groups.Archive(bg, g.UUID); err != nil {
				t.Fatalf("archiving a referenced group: %v", err)
			}
			for _, id := range ids {
				for range 2 { // removing twice is a success
					if err := c.References.Delete(bg, g.UUID, id); err != nil {
						t.Fatal(err)
					}
				}
			}
			err = c.References.Delete(bg, missing, "chain-7")
			assertOnly(t, err, client.ErrNotFound)
			check, err = c.Groups.CheckDelete(bg, g.UUID)
			if err != nil || !check.Deletable || check.TotalReferences != 0 || len(check.References) != 0 {
				t.Fatalf("CheckDelete without references = %+v, %v", check, err)
			}
			_, err = c.Groups.CheckDelete(bg, missing)
			assertOnly(t, err, client.ErrNotFound)
			if err := c.Groups.Delete(bg, g.UUID); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("TrashRestoreAndPurge", func(t *testing.T) {
			g := mustCreate(t, c, "Trashable")
			if _, _, err := c.Members.Add(bg, g.UUID, "ann"); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.References.Put(bg, g.UUID, client.Reference{ID: "r1", Kind: "budget", DisplayName: "B"}); err != nil {
				t.Fatal(err)
			}
			if err := c.References.Delete(bg, g.UUID, "r1"); err != nil {
				t.Fatal(err)
			}
			if err := c.Groups.Delete(bg, g.UUID); err != nil {
				t.Fatal(err)
			}
			_, err := c.Groups.Get(bg, g.UUID)
			assertOnly(t, err, client.ErrNotFound)
			other := mustCreate(t, c, "Also trashed")
			if err := c.Groups.Delete(bg, other.UUID); err != nil {
				t.Fatal(err)
			}
			var trashed []uuid.UUID
			for dg, err := range c.Trash.List(bg, client.TrashListOptions{PageSize: 1}) {
				if err != nil {
					t.Fatal(err)
				}
				trashed = append(trashed, dg.UUID)
			}
			if i, j := slices.Index(trashed, other.UUID), slices.Index(trashed, g.UUID); i < 0 || j < 0 || i > j {
				t.Fatalf("trash %v: want %s (deleted last) before %s", trashed, other.UUID, g.UUID)
			}
			dg, err := c.Trash.Get(bg, g.UUID)
			if err != nil || dg.Name != "Trashable" || dg.MemberCount != 1 || !dg.PurgeAt.After(dg.DeletedAt) || dg.ETag != "" {
				t.Fatalf("Trash.Get = %+v, %v", dg, err)
			}
			_, err = c.Trash.Get(bg, missing)
			assertOnly(t, err, client.ErrNotFound)

			// Its name is free; restoring into it is ErrNameTaken, and a new name works.
			taker := mustCreate(t, c, "TRASHABLE")
			_, err = c.Trash.Restore(bg, g.UUID, client.RestoreOptions{})
			assertOnly(t, err, client.ErrNameTaken)
			_, err = c.Trash.Restore(bg, g.UUID, client.RestoreOptions{Name: "  "})
			assertOnly(t, err, client.ErrValidation)
			back, err := c.Trash.Restore(bg, g.UUID, client.RestoreOptions{Name: "Trashable (restored)"})
			if err != nil || back.UUID != g.UUID || back.Name != "Trashable (restored)" || back.MemberCount != 1 || back.ETag == "" || !back.CreatedAt.Equal(g.CreatedAt) {
				t.Fatalf("Restore = %+v, %v", back, err)
			}
			if _, err := c.Members.Get(bg, g.UUID, "ann"); err != nil {
				t.Fatalf("membership lost by delete and restore: %v", err)
			}
			_, err = c.Trash.Restore(bg, g.UUID, client.RestoreOptions{})
			assertOnly(t, err, client.ErrNotFound)

			if err := c.Trash.Purge(bg, other.UUID); err != nil {
				t.Fatal(err)
			}
			err = c.Trash.Purge(bg, other.UUID)
			assertOnly(t, err, client.ErrNotFound)
			_, err = c.Trash.Get(bg, other.UUID)
			assertOnly(t, err, client.ErrNotFound)
			if err := c.Groups.Delete(bg, taker.UUID); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("ConcurrentArchivesAndRenamesLoseNothing", func(t *testing.T) {
			g := mustCreate(t, c, "Contended")
			errs := make(chan error, 2)
			go func() {
				_, err := c.Groups.Update(bg, g.UUID, func(g *client.Group) error {
					d := "described"
					g.Description = &d
					return nil
				})
				errs <- err
			}()
			go func() { _, err := c.Groups.Archive(bg, g.UUID); errs <- err }()
			for range 2 {
				if err := <-errs; err != nil && !errors.Is(err, client.ErrGroupArchived) {
					t.Fatal(err)
				}
			}
			got, _ := c.Groups.Get(bg, g.UUID)
			if got.Status != client.StatusArchived {
				t.Fatalf("archive lost: %+v", got)
			}
		})
	})
}
