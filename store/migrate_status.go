package store

import (
	"context"
	"fmt"
	"path"
	"time"

	"github.com/pressly/goose/v3"
)

// Migration is one schema migration and whether the database has it.
type Migration struct {
	Version   int64
	Name      string    // the file name, such as 00004_members.sql
	Applied   bool      // false: pending
	AppliedAt time.Time // zero when pending
}

// Migrations lists every migration this binary knows, oldest first, with
// its state in the database. It changes nothing: open the database with
// Options.SkipMigrations to see what Migrate would apply.
func (db *DB) Migrations(ctx context.Context) ([]Migration, error) {
	p, err := db.migrator()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status of the %s database: %w", db.dialect, err)
	}
	out := make([]Migration, 0, len(st))
	for _, s := range st {
		m := Migration{Version: s.Source.Version, Name: path.Base(s.Source.Path), Applied: s.State == goose.StateApplied}
		if m.Applied {
			m.AppliedAt = s.AppliedAt.UTC()
		}
		out = append(out, m)
	}
	return out, nil
}
