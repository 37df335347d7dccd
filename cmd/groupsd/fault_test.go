package main

// Fault tests: the real groupsd process under crashes (kill -9), database
// outages, unwritable SQLite files, several replicas on one Postgres and
// schema migrations. They share the reference model and load generator of
// server/apitest: what the API acknowledged, and the writes whose outcome
// nobody can know (in flight when the process died, or answered 503),
// checked against what the database holds afterwards. This file holds what
// only the fault tests share: the organization, kill -9 and SQLite's
// integrity check; each fault has a file of its own.
//
//	go test -race -run 'TestFault' ./cmd/groupsd

import (
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // integrity_check on the crashed file
)

// faultOrg is the organization every fault test works in.
const faultOrg = "fault"

// integrityCheck runs PRAGMA integrity_check on the SQLite file at path.
func integrityCheck(t testing.TB, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	assertIntegrity(t, db)
}

// assertIntegrity fails t unless PRAGMA integrity_check on db says "ok".
func assertIntegrity(t testing.TB, db *sql.DB) {
	t.Helper()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	defer rows.Close()
	var res []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		res = append(res, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res, []string{"ok"}) {
		t.Fatalf("integrity_check: %s", strings.Join(res, "; "))
	}
}

// kill9 kills p with SIGKILL, as a crash would, and waits for it to be gone.
func kill9(t testing.TB, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9: %v", err)
	}
	if err := p.Wait(10 * time.Second); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("groupsd after kill -9: %v, want signal: killed", err)
	}
}
