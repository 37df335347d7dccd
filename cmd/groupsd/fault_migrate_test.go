package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // raw SQL on the test schema
	"github.com/pressly/goose/v3/lock"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server/apitest"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// latestMigration reads the newest version in store/migrations/<dialect>,
// independently of the code under test.
func latestMigration(t testing.TB, d store.Dialect) int64 {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("..", "..", "store", "migrations", string(d)))
	if err != nil {
		t.Fatal(err)
	}
	var latest int64
	re := regexp.MustCompile(`^(\d+)_.*\.sql$`)
	for _, e := range entries {
		if m := re.FindStringSubmatch(e.Name()); m != nil {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			latest = max(latest, v)
		}
	}
	if latest == 0 {
		t.Fatalf("no migrations for %s", d)
	}
	return latest
}

// previousMigration is the newest version below latest: versions may have
// gaps, when migrations land out of number order from parallel branches.
func previousMigration(t testing.TB, d store.Dialect, latest int64) int64 {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("..", "..", "store", "migrations", string(d)))
	if err != nil {
		t.Fatal(err)
	}
	var prev int64
	re := regexp.MustCompile(`^(\d+)_.*\.sql$`)
	for _, e := range entries {
		if m := re.FindStringSubmatch(e.Name()); m != nil {
			if v, _ := strconv.ParseInt(m[1], 10, 64); v < latest {
				prev = max(prev, v)
			}
		}
	}
	return prev
}

// rawDB opens database (a groupsd URL) with database/sql for direct SQL.
func rawDB(t testing.TB, database string) *sql.DB {
	t.Helper()
	d, dsn, err := store.ParseURL(database)
	if err != nil {
		t.Fatal(err)
	}
	driver := "pgx"
	if d == store.SQLite {
		driver, dsn = "sqlite3", "file:"+dsn+"?_busy_timeout=5000"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// migrateOutput runs `groupsd migrate` and returns the version it reports.
func migrateOutput(t testing.TB, database string) int64 {
	t.Helper()
	out, errOut, err := groupsdCmd(t, "migrate", "--database", database)
	if err != nil {
		t.Fatalf("groupsd migrate: %v\n%s%s", err, out, errOut)
	}
	var v int64
	if _, err := fmt.Sscanf(strings.TrimSpace(out), "schema at version %d", &v); err != nil {
		t.Fatalf("groupsd migrate printed %q", out)
	}
	return v
}

// oldGroup is a row as the first schema (00001) stores it.
type oldGroup struct{ uuid, name string }

// seedV1 writes groups and their count the way a version-1 server did,
// with raw SQL against the version-1 columns (that shape never changes).
func seedV1(t testing.TB, database string, n int) []oldGroup {
	t.Helper()
	db := rawDB(t, database)
	ph := func(s string) string { return s }
	if strings.HasPrefix(database, "postgres") {
		ph = func(s string) string {
			for i := 1; strings.Contains(s, "?"); i++ {
				s = strings.Replace(s, "?", "$"+strconv.Itoa(i), 1)
			}
			return s
		}
	}
	var out []oldGroup
	now := time.Now().UnixMilli()
	for i := range n {
		id := uuid.Must(uuid.NewV7()).String()
		name := fmt.Sprintf("Älteste Gruppe %02d", i)
		if _, err := db.Exec(ph(`INSERT INTO groups (uuid, org, name, name_key, description, created_at, updated_at, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, 1)`), id, faultOrg, name, store.NameKey(name), "seeded at v1", now+int64(i), now+int64(i)); err != nil {
			t.Fatalf("seeding a version-1 row: %v", err)
		}
		out = append(out, oldGroup{id, name})
	}
	if _, err := db.Exec(ph(`INSERT INTO group_counts (org, n) VALUES (?, ?)`), faultOrg, n); err != nil {
		t.Fatalf("seeding the count: %v", err)
	}
	return out
}

// checkServes checks that the server at url holds the seeded groups (GET,
// list totals, name search) and accepts new writes under the same rules.
func checkServes(t testing.TB, url, key string, seeded []oldGroup) {
	t.Helper()
	ctx := context.Background()
	c := apitest.NewClient(t, url+"/api", key, nil)
	for _, g := range seeded {
		r, err := c.GetGroupWithResponse(ctx, apitest.MustParseUUID(g.uuid), nil)
		if err != nil || r.JSON200 == nil || r.JSON200.Name != g.name || r.HTTPResponse.Header.Get("ETag") != `"1"` {
			t.Fatalf("GET seeded %s: %v %v", g.uuid, err, r)
		}
	}
	all := apitest.ListAll(t, ctx, c)
	if len(all) != len(seeded) {
		t.Errorf("list holds %d groups, want the %d seeded", len(all), len(seeded))
	}
	q := "ältESTE gruppe 0" // search must find rows written before its index existed
	if r, err := c.ListGroupsWithResponse(ctx, &api.ListGroupsParams{Q: &q}); err != nil || r.JSON200 == nil ||
		r.JSON200.Page.TotalElements != int64(min(len(seeded), 10)) || len(r.JSON200.Content) != min(len(seeded), 10) {
		t.Errorf("q=%q: %v %v, want %d matches", q, err, r, min(len(seeded), 10))
	}
	if len(seeded) > 0 {
		r, err := c.CreateGroupWithResponse(ctx, nil, api.CreateGroupJSONRequestBody{Name: strings.ToUpper(seeded[0].name)})
		if err != nil || r.StatusCode() != http.StatusConflict {
			t.Errorf("create a case variant of a seeded name: %v %v, want 409", err, r)
		}
	}
	r, err := c.CreateGroupWithResponse(ctx, nil, api.CreateGroupJSONRequestBody{Name: "after the migration"})
	if err != nil || r.StatusCode() != http.StatusCreated {
		t.Fatalf("create after migrating: %v %v", err, r)
	}
	q = "AFTER the"
	if l, err := c.ListGroupsWithResponse(ctx, &api.ListGroupsParams{Q: &q}); err != nil || l.JSON200 == nil || l.JSON200.Page.TotalElements != 1 {
		t.Errorf("q=%q after a create: %v %v, want 1 match", q, err, l)
	}
}

// TestFaultMigrations checks the versioned migrations through the binary:
// `groupsd migrate` on an empty database and on one at the previous
// version (with data written by that version), `serve` upgrading at start,
// and concurrent `serve` starts of several replicas on an empty Postgres
// schema, which the migration lock must serialize.
func TestFaultMigrations(t *testing.T) {
	ctx := context.Background()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			latest := latestMigration(t, d)

			t.Run("EmptyDatabase", func(t *testing.T) {
				database := storetest.URL(t, d)
				if v := migrateOutput(t, database); v != latest {
					t.Fatalf("groupsd migrate reports version %d, want %d", v, latest)
				}
				if v := migrateOutput(t, database); v != latest { // a second run is a no-op
					t.Fatalf("second groupsd migrate reports version %d, want %d", v, latest)
				}
				key := newKey(t, database, faultOrg)
				p := startGroupsd(t, nil, "--database", database, "--migrate=false")
				checkServes(t, p.URL, key, nil)
			})

			// The previous version is the database the last release left behind.
			prev := previousMigration(t, d, latest)
			if prev < 1 {
				t.Logf("only one migration exists: nothing to upgrade from")
				return
			}
			atPrevious := func(t *testing.T) (string, []oldGroup) {
				database := storetest.URL(t, d)
				db, err := store.Open(ctx, database, store.Options{SkipMigrations: true})
				if err != nil {
					t.Fatal(err)
				}
				if err := db.MigrateTo(ctx, 1); err != nil {
					t.Fatal(err)
				}
				seeded := seedV1(t, database, 25)
				if err := db.MigrateTo(ctx, prev); err != nil {
					t.Fatal(err)
				}
				if v, err := db.SchemaVersion(ctx); err != nil || v != prev {
					t.Fatalf("schema at %d (%v), want %d", v, err, prev)
				}
				db.Close()
				return database, seeded
			}

			t.Run("MigrateFromPreviousVersion", func(t *testing.T) {
				database, seeded := atPrevious(t)
				if v := migrateOutput(t, database); v != latest {
					t.Fatalf("groupsd migrate from %d reports version %d, want %d", prev, v, latest)
				}
				key := newKey(t, database, faultOrg)
				p := startGroupsd(t, nil, "--database", database, "--migrate=false")
				checkServes(t, p.URL, key, seeded)
				if d == store.SQLite {
					kill9(t, p)
					integrityCheck(t, strings.TrimPrefix(database, "sqlite:"))
				}
			})

			t.Run("ServeUpgradesAtStart", func(t *testing.T) {
				database, seeded := atPrevious(t)
				// The key comes after serve is up: keys create migrates too, and
				// serve must be the one that upgrades.
				p := startGroupsd(t, nil, "--database", database)
				key := newKey(t, database, faultOrg)
				checkServes(t, p.URL, key, seeded)
				if v := migrateOutput(t, database); v != latest {
					t.Errorf("after serve, schema at %d, want %d", v, latest)
				}
			})
		})
	}

	t.Run("ConcurrentReplicaStarts", func(t *testing.T) {
		const replicas = 4
		database := storetest.PostgresURL(t)
		latest := latestMigration(t, store.Postgres)
		// Hold the migration lock while the replicas start, so they all
		// contend for it at once: none may come up before it is released.
		groupsdBinary(t) // built beforehand, so the replicas start at once
		conn, err := rawDB(t, database).Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", lock.DefaultLockID); err != nil {
			t.Fatal(err)
		}
		procs := make([]*proc, replicas)
		var up sync.WaitGroup
		var early atomic.Int64
		for i := range replicas {
			up.Add(1)
			go func() {
				defer up.Done()
				procs[i] = startGroupsd(goroutineTB{t}, nil, "--database", database)
				early.Add(1)
			}()
		}
		time.Sleep(1500 * time.Millisecond)
		if n := early.Load(); n > 0 {
			t.Errorf("%d replicas came up while another session held the migration lock", n)
		}
		released := time.Now()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", lock.DefaultLockID); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		up.Wait()
		for i, p := range procs {
			if p == nil {
				t.Fatalf("replica %d did not start", i)
			}
		}
		t.Logf("%d replicas waiting for the migration lock were all up %s after its release", replicas, time.Since(released).Round(time.Millisecond))
		db := rawDB(t, database)
		var dups, top int64
		if err := db.QueryRow(`SELECT count(*) FROM (SELECT version_id FROM goose_db_version
			WHERE is_applied GROUP BY version_id HAVING count(*) > 1) d`).Scan(&dups); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow(`SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&top); err != nil {
			t.Fatal(err)
		}
		if dups != 0 || top != latest {
			t.Errorf("goose_db_version: %d versions applied twice, latest %d; want 0 and %d", dups, top, latest)
		}
		key := newKey(t, database, faultOrg)
		for i, p := range procs {
			c := apitest.NewClient(t, p.URL+"/api", key, nil)
			r, err := c.CreateGroupWithResponse(ctx, nil, api.CreateGroupJSONRequestBody{Name: fmt.Sprintf("from replica %d", i)})
			if err != nil || r.StatusCode() != http.StatusCreated {
				t.Errorf("replica %d: create: %v %v", i, err, r)
			}
		}
		checkSearch := "FROM REPLICA"
		c := apitest.NewClient(t, procs[0].URL+"/api", key, nil)
		if l, err := c.ListGroupsWithResponse(ctx, &api.ListGroupsParams{Q: &checkSearch}); err != nil || l.JSON200 == nil || l.JSON200.Page.TotalElements != replicas {
			t.Errorf("q=%q: %v %v, want %d", checkSearch, err, l, replicas)
		}
	})
}

// goroutineTB lets a shared helper that fails with t.Fatal run on a goroutine
// of its own: Fatal reports the failure and ends only that goroutine.
type goroutineTB struct{ testing.TB }

func (g goroutineTB) Fatal(args ...any) {
	g.TB.Helper()
	g.TB.Error(args...)
	runtime.Goexit()
}

func (g goroutineTB) Fatalf(format string, args ...any) {
	g.TB.Helper()
	g.TB.Errorf(format, args...)
	runtime.Goexit()
}
