package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/groupsd/groupsd/store"
)

// TestMigrateStatus: `groupsd migrate status` lists every migration as
// applied or pending, and applies none itself.
func TestMigrateStatus(t *testing.T) {
	database := "sqlite:" + filepath.Join(t.TempDir(), "g.db")
	status := func() (applied, pending []string) {
		t.Helper()
		out, errOut, err := runCmd(t, "migrate", "status", "--database", database)
		if err != nil {
			t.Fatalf("migrate status: %v\n%s", err, errOut)
		}
		row := regexp.MustCompile(`(?m)^(\d+)\s+(applied|pending)\s+(\S+)\s+(\d{5}_\w+\.sql)$`)
		for _, m := range row.FindAllStringSubmatch(out, -1) {
			if m[2] == "applied" {
				applied = append(applied, m[1])
			} else {
				pending = append(pending, m[1])
				if m[3] != "-" {
					t.Errorf("pending migration %s shows applied at %q", m[1], m[3])
				}
			}
		}
		if !strings.HasPrefix(out, "VERSION") || !strings.Contains(out, " applied, ") {
			t.Errorf("migrate status output:\n%s", out)
		}
		return applied, pending
	}

	// A new database file: everything pending, and status applied nothing.
	applied, pending := status()
	if len(applied) != 0 || len(pending) < 4 {
		t.Fatalf("new database: applied %v, pending %v; want none applied, all (at least 4) pending", applied, pending)
	}
	all := len(pending)
	if a, p := status(); len(a) != 0 || len(p) != all {
		t.Fatalf("status applied migrations: now %v applied", a)
	}

	// Part way: the first migration only.
	db, err := store.Open(context.Background(), database, store.Options{SkipMigrations: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MigrateTo(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if a, p := status(); strings.Join(a, ",") != "1" || len(p) != all-1 {
		t.Fatalf("after migrating to 1: applied %v, pending %v", a, p)
	}

	// groupsd migrate: nothing pending.
	if _, errOut, err := runCmd(t, "migrate", "--database", database); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut)
	}
	if a, p := status(); len(a) != all || len(p) != 0 {
		t.Fatalf("after migrate: applied %v, pending %v", a, p)
	}

	if _, _, err := runCmd(t, "migrate", "sideways", "--database", database); exitCode(err) != 2 {
		t.Errorf("migrate sideways: %v, want a usage error", err)
	}
}
