package store

import (
	"context"
	"path/filepath"
	"testing"
)

// This test is internal to the package: PRAGMA cache_size is per
// connection, and only the writer connection (db.w) shows what a seed left.

func TestSeedGroupsRestoresWriterCacheSize(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "seed.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	want := writerCacheSize(t, db) // what Open set
	if err := db.SeedGroups(ctx, "acme", 3, SeedOptions{}); err != nil {
		t.Fatalf("seed: %v", err)
	}
	if got := writerCacheSize(t, db); got != want {
		t.Fatalf("writer cache_size after seed = %d, want %d (what Open set)", got, want)
	}
}

func writerCacheSize(t *testing.T, db *DB) int64 {
	t.Helper()
	var n int64
	if err := db.w.Raw(`PRAGMA cache_size`).Scan(&n).Error; err != nil {
		t.Fatalf("PRAGMA cache_size: %v", err)
	}
	return n
}
