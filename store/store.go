// Package store persists groups, API keys and idempotency records with GORM on
// SQLite (the embedded default) or Postgres. It speaks in its own types and
// errors (errors.go); nothing of GORM or of the HTTP API leaves it.
//
// The package reads as a portable core and SQLite accelerators. The core
// (store.go, errors.go, groups.go, list.go, idempotency.go, keys.go,
// migrate.go, batcher.go) is plain SQL that runs on both databases. The
// sqlite_*.go files hold what only SQLite needs or can do (rids, the FTS5
// trigram index, offset samples and generation-tagged caches) behind the
// accelerator interface; Postgres uses the portable implementation.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names the database engine behind a DB.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Options tune Open. The zero value is usable.
type Options struct {
	// Now is the clock; tests inject one. Defaults to time.Now.
	Now func() time.Time
	// MaxConns bounds the Postgres pool (and the SQLite reader pool). Default 16.
	MaxConns int
	// SkipMigrations opens the database without applying pending migrations.
	SkipMigrations bool
	// ReadOnly opens SQLite read-only (for diagnostics; writes fail).
	ReadOnly bool
	// Limits are the membership limits; zero fields take the defaults
	// (DefaultMaxMembersPerGroup, DefaultMaxGroupsPerUser).
	Limits Limits
	// CursorKey authenticates page cursors (HMAC-SHA256). Empty: the key
	// kept in the database itself (made on first use), which every process
	// serving that database shares and which survives restarts. Set it only
	// to manage the key outside the database; then every process of one
	// database needs the same key, or a cursor from one is a 400 on another.
	CursorKey []byte
	// TrashRetention is how long a deleted group stays restorable in the
	// trash before PurgeExpired purges it. 0 means DefaultTrashRetention.
	TrashRetention time.Duration
	// NoTrash makes DeleteGroup immediate and final, memberships included
	// (--trash-retention=0): nothing goes to the trash.
	NoTrash bool
}

// DefaultTrashRetention is how long deleted groups stay restorable unless
// Options.TrashRetention says otherwise: 30 days.
const DefaultTrashRetention = 30 * 24 * time.Hour

// Limits bound memberships. A write that would pass one fails with
// *LimitError and changes nothing.
type Limits struct {
	MaxMembersPerGroup int
	MaxGroupsPerUser   int
}

// DB is the store. It is safe for concurrent use.
type DB struct {
	dialect Dialect
	// w serializes writes on SQLite through a single connection: SQLite has one
	// writer at a time anyway, and one connection avoids SQLITE_BUSY storms and
	// lets the batcher group many writes into one fsync. On Postgres w == r.
	w, r *gorm.DB
	// rsql is r's database/sql pool: hot read paths query it directly
	// (queryGroups).
	rsql *sql.DB
	now  func() time.Time
	// binds caches queries rewritten to Postgres placeholders.
	binds sync.Map
	// cursorKey authenticates page cursors (list.go).
	cursorKey []byte
	// accel is the dialect's accelerator: sqliteAccel on SQLite, portable
	// on Postgres.
	accel accelerator

	creates *batcher
	limits  Limits
	// retention is Options.TrashRetention; noTrash is Options.NoTrash.
	retention time.Duration
	noTrash   bool
}

// ParseURL splits a database URL into its dialect and the driver DSN.
// Accepted: "sqlite:PATH", "sqlite://PATH", "postgres://..." and "postgresql://...".
func ParseURL(raw string) (Dialect, string, error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, err := url.Parse(raw); err != nil {
			return "", "", fmt.Errorf("database URL: %w", err)
		}
		return Postgres, raw, nil
	case strings.HasPrefix(raw, "sqlite:"):
		p := strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite:"), "//")
		if p == "" {
			return "", "", fmt.Errorf("database URL %q: missing file path", raw)
		}
		return SQLite, p, nil
	default:
		return "", "", fmt.Errorf("database URL %q: want sqlite:PATH or postgres://user@host:5432/db", raw)
	}
}

// Open connects to the database named by rawURL and, unless opts.SkipMigrations,
// applies pending migrations.
func Open(ctx context.Context, rawURL string, opts Options) (*DB, error) {
	dialect, dsn, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 16
	}
	cfg := &gorm.Config{
		Logger:                 logger.Discard,
		TranslateError:         true,
		SkipDefaultTransaction: true,
		PrepareStmt:            false,
		NowFunc:                func() time.Time { return opts.Now().UTC() },
	}
	if opts.Limits.MaxMembersPerGroup <= 0 {
		opts.Limits.MaxMembersPerGroup = DefaultMaxMembersPerGroup
	}
	if opts.Limits.MaxGroupsPerUser <= 0 {
		opts.Limits.MaxGroupsPerUser = DefaultMaxGroupsPerUser
	}
	if opts.TrashRetention <= 0 {
		opts.TrashRetention = DefaultTrashRetention
	}
	db := &DB{dialect: dialect, now: opts.Now, limits: opts.Limits, cursorKey: opts.CursorKey,
		retention: opts.TrashRetention, noTrash: opts.NoTrash}
	switch dialect {
	case SQLite:
		if err := db.openSQLite(dsn, cfg, opts); err != nil {
			return nil, err
		}
	case Postgres:
		g, err := gorm.Open(postgres.Open(withConnectTimeout(dsn)), cfg)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", unavailable(err))
		}
		sqlDB, _ := g.DB()
		sqlDB.SetMaxOpenConns(opts.MaxConns)
		sqlDB.SetMaxIdleConns(opts.MaxConns)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		db.w, db.r = g, g
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	if !opts.SkipMigrations && !opts.ReadOnly {
		if err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	if len(db.cursorKey) == 0 {
		if db.cursorKey, err = db.sharedCursorKey(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	db.rsql, _ = db.r.DB()
	db.accel = portable{db}
	if dialect == SQLite {
		db.accel = newSQLiteAccel(db)
	}
	db.creates = newBatcher(db)
	return db, nil
}

// defaultConnectTimeout bounds each new Postgres connection (dial, TLS,
// authentication) when the URL sets no connect_timeout. Requests are bounded
// by their own deadline anyway, but startup, migrations and background work
// are not: without it a database that accepts TCP and never answers (a
// network partition) hangs them forever instead of failing.
const defaultConnectTimeout = "5"

// withConnectTimeout adds connect_timeout to a postgres:// URL that has none.
func withConnectTimeout(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	if q.Get("connect_timeout") != "" {
		return dsn
	}
	q.Set("connect_timeout", defaultConnectTimeout)
	u.RawQuery = q.Encode()
	return u.String()
}

func (db *DB) openSQLite(path string, cfg *gorm.Config, opts Options) error {
	if !opts.ReadOnly {
		if dir := filepath.Dir(path); dir != "" {
			st, err := os.Stat(dir)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return fmt.Errorf("open sqlite %s: directory %s does not exist", path, dir)
			case err != nil:
				return fmt.Errorf("open sqlite %s: %w", path, err)
			case !st.IsDir():
				return fmt.Errorf("open sqlite %s: %s is not a directory", path, dir)
			}
		}
	}
	// WAL lets readers run beside the writer. synchronous=FULL makes every
	// acknowledged commit survive power loss; the create batcher amortizes its
	// fsync over many requests. busy_timeout covers other processes (the keys
	// CLI) holding the write lock. _txlock=immediate takes the write lock at
	// BEGIN, so a transaction never fails half-way on a lock upgrade.
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", strconv.Itoa(busyTimeoutMillis))
	q.Set("_synchronous", "FULL")
	q.Set("_foreign_keys", "1")
	q.Set("_txlock", "immediate")
	// Each connection keeps its recent prepared statements: parsing and
	// planning a query costs more than running a point lookup.
	q.Set("_stmt_cache_size", stmtCacheSize)
	// Page caches are per connection. The writer's is 8 MiB: a group-commit
	// batch touches random leaves of the name index and the search index's
	// newest segments, and keeping them cached saves about a fifth of each
	// batch's CPU. Readers keep 1 MiB each, enough for the interior pages of
	// every index; the leaves a random read needs are rarely still cached at
	// any affordable size, and every reader must fit the memory budget.
	q.Set("_cache_size", "-8192")
	mode := "rwc"
	if opts.ReadOnly {
		mode = "ro"
	}
	q.Set("mode", mode)
	dsn := "file:" + path + "?" + q.Encode()
	w, err := gorm.Open(sqlite.Open(dsn), cfg)
	if err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	wdb, _ := w.DB()
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)

	rq := url.Values{}
	rq.Set("_busy_timeout", strconv.Itoa(busyTimeoutMillis))
	rq.Set("_query_only", "1")
	rq.Set("_stmt_cache_size", stmtCacheSize)
	rq.Set("_cache_size", "-1024")
	rq.Set("mode", mode)
	r, err := gorm.Open(sqlite.Open("file:"+path+"?"+rq.Encode()), cfg)
	if err != nil {
		wdb.Close()
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	rdb, _ := r.DB()
	// A SQLite read is CPU work in this process, not a wait on a server:
	// readers beyond a couple per core only time-slice against each other
	// (measured: fewer readers, higher throughput and lower tail latency).
	readers := min(opts.MaxConns, max(4, 2*runtime.GOMAXPROCS(0)))
	rdb.SetMaxOpenConns(readers)
	rdb.SetMaxIdleConns(readers)
	rdb.SetConnMaxIdleTime(0)
	db.w, db.r = w, r
	return nil
}

// busyTimeoutMillis is how long a SQLite connection waits for another
// process's lock before SQLITE_BUSY, unless boundedWrite cuts it shorter.
const busyTimeoutMillis = 5000

// boundedWrite runs fn on the writer, with SQLite's wait for another
// process's write lock cut to what is left of ctx. SQLite's busy wait does
// not listen to a context (an interrupt does not end it), so without this a
// request with a 1 s deadline would wait the whole busy timeout while, say,
// the keys CLI holds the lock. The writer is one connection: it is pinned
// while the shorter timeout is set, so nothing else (migrations, the keys
// CLI's own writes) ever runs with it, and restored before it is released.
// On Postgres fn gets the writer as it is.
func (db *DB) boundedWrite(ctx context.Context, fn func(w *gorm.DB) error) error {
	w := db.w.WithContext(ctx)
	d, ok := ctx.Deadline()
	if db.dialect != SQLite || !ok {
		return fn(w)
	}
	wait := time.Until(d).Milliseconds()
	if wait >= busyTimeoutMillis {
		return fn(w) // the usual wait ends first
	}
	if wait <= 0 {
		return ctx.Err()
	}
	sqlDB, err := db.w.DB()
	if err != nil {
		return err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", wait)); err != nil {
		return err
	}
	defer func() {
		restore := fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeoutMillis)
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), restore); err != nil {
			// Never hand the shorter timeout to the next user: drop the connection.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	w.Statement.ConnPool = conn
	return fn(w)
}

// boundedStatement is boundedWrite for one statement whose result (say
// RowsAffected) the caller reads.
func (db *DB) boundedStatement(ctx context.Context, stmt func(w *gorm.DB) *gorm.DB) *gorm.DB {
	var res *gorm.DB
	err := db.boundedWrite(ctx, func(w *gorm.DB) error {
		res = stmt(w)
		return res.Error
	})
	if res == nil {
		return &gorm.DB{Error: err}
	}
	return res
}

// Dialect reports the database engine.
func (db *DB) Dialect() Dialect { return db.dialect }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	for _, g := range []*gorm.DB{db.w, db.r} {
		sqlDB, err := g.DB()
		if err != nil {
			return err
		}
		if err := sqlDB.PingContext(ctx); err != nil {
			return unavailable(err)
		}
		if db.dialect == Postgres {
			break
		}
	}
	return nil
}

// Stats reports the connection pool statistics of the read and write pools.
func (db *DB) Stats() (read, write sql.DBStats) {
	r, _ := db.r.DB()
	w, _ := db.w.DB()
	return r.Stats(), w.Stats()
}

// Close flushes pending writes, checkpoints the SQLite WAL into the main file
// and closes every connection.
func (db *DB) Close() error {
	if db.creates != nil {
		db.creates.close()
	}
	var errs []error
	if db.dialect == SQLite && db.w != nil {
		if err := db.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error; err != nil {
			errs = append(errs, err)
		}
	}
	seen := map[*sql.DB]bool{}
	for _, g := range []*gorm.DB{db.w, db.r} {
		if g == nil {
			continue
		}
		if sqlDB, err := g.DB(); err == nil && !seen[sqlDB] {
			seen[sqlDB] = true
			errs = append(errs, sqlDB.Close())
		}
	}
	return errors.Join(errs...)
}

func (db *DB) nowMillis() int64 { return db.now().UnixMilli() }

// Queries. Ordinary queries go through GORM with SQL text (Raw and Exec).
// The hot read paths (get, list, search) are the exception: they query
// database/sql directly and scan into fields by position, because GORM's
// statement building and reflection-based scanning cost as much CPU as
// SQLite's own work for a point lookup (in-process profile
// Server/get in cmd/groupsbench/profile_test.go; README "Performance",
// "Read paths without reflection").

// stmtCacheSize is how many prepared statements each SQLite connection keeps.
const stmtCacheSize = "64"

// bind rewrites q's ? placeholders for the dialect: Postgres (pgx) takes
// $1, $2, ... The queries passed here have no ? inside string literals.
func (db *DB) bind(q string) string {
	if db.dialect != Postgres {
		return q
	}
	if b, ok := db.binds.Load(q); ok {
		return b.(string)
	}
	var sb strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			sb.WriteByte('$')
			sb.WriteString(strconv.Itoa(n))
			continue
		}
		sb.WriteByte(q[i])
	}
	b := sb.String()
	db.binds.Store(q, b)
	return b
}

// querier is the reader pool or a read transaction on it.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queryGroups runs a SELECT of groupColumns through q; capHint is the
// number of rows expected.
func (db *DB) queryGroups(ctx context.Context, q querier, capHint int, query string, args ...any) ([]groupRow, error) {
	rows, err := q.QueryContext(ctx, db.bind(query), args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := make([]groupRow, 0, capHint)
	for rows.Next() {
		var r groupRow
		if err := rows.Scan(&r.UUID, &r.Org, &r.Name, &r.NameKey, &r.Description, &r.CreatedAt, &r.UpdatedAt, &r.Version, &r.MemberCount,
			&r.ArchivedAt, &r.ReferenceCount); err != nil {
			return nil, translate(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// queryInts runs a query returning one row of integers through q; a NULL
// reads as 0 and no row as all zeros.
func (db *DB) queryInts(ctx context.Context, q querier, dest []*int64, query string, args ...any) error {
	vals := make([]sql.NullInt64, len(dest))
	ptrs := make([]any, len(dest))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	err := q.QueryRowContext(ctx, db.bind(query), args...).Scan(ptrs...)
	if err == sql.ErrNoRows {
		err = nil
	}
	if err != nil {
		return translate(err)
	}
	for i := range dest {
		*dest[i] = vals[i].Int64
	}
	return nil
}

// sharedCursorKey returns the cursor key kept in the settings table, making
// it on first use; racing processes agree on the first one written. A
// database without the table (opened without migrations, or read-only)
// gets a key of this process only.
func (db *DB) sharedCursorKey(ctx context.Context) ([]byte, error) {
	read := func() ([]byte, error) {
		var keys [][]byte
		err := db.w.WithContext(ctx).Raw(`SELECT value FROM settings WHERE name = 'cursor_key'`).Scan(&keys).Error
		if err != nil || len(keys) == 0 {
			return nil, err
		}
		return keys[0], nil
	}
	key, err := read()
	if err != nil {
		// No settings table: not migrated to it yet.
		return NewCursorKey(), nil
	}
	if key != nil {
		return key, nil
	}
	if err := db.w.WithContext(ctx).Exec(`INSERT INTO settings (name, value) VALUES ('cursor_key', ?) ON CONFLICT DO NOTHING`,
		NewCursorKey()).Error; err != nil {
		return NewCursorKey(), nil // read-only: this process's own key
	}
	if key, err = read(); err != nil || key == nil {
		return nil, fmt.Errorf("read the cursor key: %w", translate(err))
	}
	return key, nil
}
