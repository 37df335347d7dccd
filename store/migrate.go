package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations
var migrations embed.FS

// Migrate applies pending migrations. On Postgres a session advisory lock
// serializes concurrent callers, so replicas starting together do not race;
// on SQLite the database's own write lock does.
func (db *DB) Migrate(ctx context.Context) error {
	p, err := db.migrator()
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate %s database: %w", db.dialect, err)
	}
	return nil
}

// MigrateTo applies migrations up to and including version (tests use it to
// build a database at an earlier schema).
func (db *DB) MigrateTo(ctx context.Context, version int64) error {
	p, err := db.migrator()
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// SchemaVersion reports the applied migration version.
func (db *DB) SchemaVersion(ctx context.Context) (int64, error) {
	p, err := db.migrator()
	if err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}

func (db *DB) migrator() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations/"+string(db.dialect))
	if err != nil {
		return nil, err
	}
	sqlDB, err := db.w.DB()
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if db.dialect == Postgres {
		dialect = goose.DialectPostgres
		opts = append(opts, goose.WithSessionLocker(advisoryLock{}))
	}
	return goose.NewProvider(dialect, sqlDB, sub, opts...)
}

// migrationLockWait bounds how long a process waits for another's migrations.
const migrationLockWait = 5 * time.Minute

// advisoryLock serializes migrations across processes with a Postgres
// session advisory lock, which Postgres releases if its holder dies. It waits
// inside pg_advisory_lock instead of polling like goose's own locker (every
// 5 s, at least 1 s, and replicas starting together poll in step, so N of
// them need N periods): each waiting replica starts the moment the one
// before it is done. It uses goose's lock id, so the goose CLI serializes
// with it too.
type advisoryLock struct{}

func (advisoryLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, migrationLockWait)
	defer cancel()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", lock.DefaultLockID); err != nil {
		return fmt.Errorf("waiting for the migration lock: %w", err)
	}
	return nil
}

func (advisoryLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	var released bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", lock.DefaultLockID).Scan(&released); err != nil {
		return err
	}
	if !released {
		return errors.New("the migration lock was not held")
	}
	return nil
}
