package store_test

import (
	"errors"
	"testing"

	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// TestTypedErrors checks that each expected failure carries its facts as
// fields, and still matches its sentinel, on every database.
func TestTypedErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		db := storetest.Open(t, d, store.Options{})
		finance := mustCreate(t, db, "acme", "Finance")
		ops := mustCreate(t, db, "acme", "Ops")
		const missing = "0190a6c6-9f2e-7b1a-8c3d-4e5f60718293"

		tests := []struct {
			name     string
			run      func() error
			sentinel error
			check    func(t *testing.T, err error)
		}{
			{"CreateDuplicateNamesTheName", func() error {
				_, err := db.CreateGroup(ctx, "acme", store.NewGroup{Name: " finance "})
				return err
			}, store.ErrNameTaken, wantNameTaken("finance")},
			{"RenameToTakenNameNamesTheName", func() error {
				_, err := db.UpdateGroup(ctx, "acme", ops.UUID, store.Changes{Name: strp("FINANCE\t")}, nil)
				return err
			}, store.ErrNameTaken, wantNameTaken("FINANCE")},
			{"IdempotentDuplicateIsAnOutcome", func() error {
				out, err := db.CreateGroupIdempotent(ctx, "acme", store.IdempotentCreate{Key: "k", Fingerprint: []byte("f"), Group: store.NewGroup{Name: "Finance"}})
				if err != nil {
					return err
				}
				if out.Kind != store.OutcomeNameTaken {
					t.Fatalf("outcome %+v, want %s", out, store.OutcomeNameTaken)
				}
				return out.Err
			}, store.ErrNameTaken, wantNameTaken("Finance")},
			{"GetMissingNamesTheGroup", func() error {
				_, err := db.GetGroup(ctx, "acme", missing)
				return err
			}, store.ErrNotFound, wantNotFound("group", missing)},
			{"GetOtherOrganizationsGroupIsNotFound", func() error {
				_, err := db.GetGroup(ctx, "globex", finance.UUID)
				return err
			}, store.ErrNotFound, wantNotFound("group", finance.UUID)},
			{"UpdateMissingNamesTheGroup", func() error {
				_, err := db.UpdateGroup(ctx, "acme", missing, store.Changes{Name: strp("x")}, nil)
				return err
			}, store.ErrNotFound, wantNotFound("group", missing)},
			{"DeleteMissingNamesTheGroup", func() error {
				return db.DeleteGroup(ctx, "acme", missing, nil)
			}, store.ErrNotFound, wantNotFound("group", missing)},
			{"BlankNameNamesTheField", func() error {
				_, err := db.CreateGroup(ctx, "acme", store.NewGroup{Name: " \t"})
				return err
			}, store.ErrInvalid, wantInvalid("name", "must not be blank")},
			{"MalformedCursorNamesTheField", func() error {
				_, err := db.ListGroups(ctx, "acme", store.ListQuery{Size: 1, Cursor: "garbage"})
				return err
			}, store.ErrInvalid, wantInvalid("cursor", "is malformed")},
			{"ForeignCursorNamesTheField", func() error {
				p, err := db.ListGroups(ctx, "acme", store.ListQuery{Size: 1})
				if err != nil || p.Next == "" {
					t.Fatalf("first page: %+v %v", p, err)
				}
				_, err = db.ListGroups(ctx, "acme", store.ListQuery{Size: 1, Cursor: p.Next, Q: "fin"})
				return err
			}, store.ErrInvalid, wantInvalid("cursor", "belongs to a different sort or q")},
			{"BadOrganizationNamesTheField", func() error {
				_, _, err := db.CreateAPIKey(ctx, "Not An Org", "")
				return err
			}, store.ErrInvalid, func(t *testing.T, err error) {
				var ie *store.InvalidError
				if !errors.As(err, &ie) || ie.Field != "organization" {
					t.Fatalf("err = %#v, want *InvalidError for organization", err)
				}
			}},
			{"RevokeUnknownKeyNamesTheKey", func() error {
				_, err := db.RevokeAPIKey(ctx, "000000000000")
				return err
			}, store.ErrNotFound, wantNotFound("key", "000000000000")},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.run()
				if !errors.Is(err, tt.sentinel) {
					t.Fatalf("err = %v, want one matching %v", err, tt.sentinel)
				}
				tt.check(t, err)
			})
		}
	})
}

func wantNameTaken(name string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var nt *store.NameTakenError
		if !errors.As(err, &nt) || nt.Name != name {
			t.Fatalf("err = %#v, want *NameTakenError{Name: %q}", err, name)
		}
	}
}

func wantNotFound(kind, id string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var nf *store.NotFoundError
		if !errors.As(err, &nf) || nf.Kind != kind || nf.ID != id {
			t.Fatalf("err = %#v, want *NotFoundError{%q, %q}", err, kind, id)
		}
	}
}

func wantInvalid(field, reason string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var ie *store.InvalidError
		if !errors.As(err, &ie) || ie.Field != field || ie.Reason != reason {
			t.Fatalf("err = %#v, want *InvalidError{%q, %q}", err, field, reason)
		}
	}
}
