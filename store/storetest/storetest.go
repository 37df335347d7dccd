// Package storetest opens real databases for tests: a fresh SQLite file
// always, and a fresh Postgres schema when GROUPS_TEST_POSTGRES_URL is set.
// With CI=true the Postgres database is required: a missing URL or a failed
// connection fails the test instead of skipping it.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for schema setup

	"github.com/groupsd/groupsd/store"
)

// PostgresEnv names the variable holding the Postgres test server URL.
const PostgresEnv = "GROUPS_TEST_POSTGRES_URL"

// Dialects lists the database kinds to test against.
var Dialects = []store.Dialect{store.SQLite, store.Postgres}

// URL returns the URL of a fresh, empty database of the given dialect that
// is dropped when tb ends. For Postgres it skips (or, in CI, fails) when no
// server is configured.
func URL(tb testing.TB, d store.Dialect) string {
	tb.Helper()
	if d == store.SQLite {
		return "sqlite:" + filepath.Join(tb.TempDir(), "groups.db")
	}
	return PostgresURL(tb)
}

// PostgresURL creates a schema of its own on the configured server and
// returns a URL whose search_path points at it, so runs never see each
// other's rows.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is required when CI=true", PostgresEnv)
		}
		tb.Skipf("SKIPPING Postgres: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run it", PostgresEnv)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "groupsd_test_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("postgres: %v", err)
	}
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		tb.Fatalf("postgres at %s: %v", PostgresEnv, err)
	}
	tb.Cleanup(func() {
		_, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens (and migrates) a fresh database of dialect d, closed when tb ends.
func Open(tb testing.TB, d store.Dialect, opts store.Options) *store.DB {
	tb.Helper()
	return OpenURL(tb, URL(tb, d), opts)
}

// OpenURL opens (and migrates) the database at rawURL, closed when tb ends.
func OpenURL(tb testing.TB, rawURL string, opts store.Options) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), rawURL, opts)
	if err != nil {
		tb.Fatalf("open %s: %v", rawURL, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Each runs fn once per dialect as a subtest named after it.
func Each(t *testing.T, fn func(t *testing.T, d store.Dialect)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(string(d), func(t *testing.T) { fn(t, d) })
	}
}
