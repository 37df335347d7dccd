package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
)

// The hot read paths (get, list, search) query database/sql directly and
// scan into fields by position: GORM's statement building and
// reflection-based scanning cost as much CPU as SQLite's own work for a point
// lookup. Writes keep GORM.

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
		if err := rows.Scan(&r.UUID, &r.Org, &r.Name, &r.NameKey, &r.Description, &r.CreatedAt, &r.UpdatedAt, &r.Version); err != nil {
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
	for i, v := range vals {
		*dest[i] = v.Int64
	}
	return nil
}
