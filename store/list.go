package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/google/uuid"
)

// SortField is a property groups can be ordered by.
type SortField string

// The sortable properties.
const (
	SortName      SortField = "name"
	SortCreatedAt SortField = "createdAt"
	SortUpdatedAt SortField = "updatedAt"
)

func (f SortField) column() string {
	switch f {
	case SortName:
		return "name_key"
	case SortUpdatedAt:
		return "updated_at"
	default:
		return "created_at"
	}
}

// Sort is one ordering key.
type Sort struct {
	Field SortField
	Desc  bool
}

// ListQuery selects one page of an organization's groups.
type ListQuery struct {
	// Size is the page size (at least 1).
	Size int
	// Page is the zero-based offset page; ignored when Cursor is set.
	Page int
	// Sort is the ordering; empty means createdAt ascending. The uuid breaks
	// ties, ascending, unless name (unique per organization) is a key.
	Sort []Sort
	// Q keeps only names containing it, compared by NameKey.
	Q string
	// Cursor is a Page.Next from an earlier call with the same Sort and Q.
	Cursor string
}

// Page is one page of groups with the totals of the whole filtered collection.
type Page struct {
	Groups []Group
	Number int
	Total  int64
	// Next is the cursor of the following page, "" on the last page.
	Next string
}

// cursor is the decoded form of an opaque page cursor: the sort keys of the
// last row of a page, the page number it leads to, and a fingerprint of the
// query it belongs to.
type cursor struct {
	Keys  []json.RawMessage `json:"k"`
	UUID  string            `json:"u"`
	Page  int               `json:"p"`
	Query string            `json:"f"`
}

func queryFingerprint(sorts []Sort, q string) string {
	h := sha256.New()
	for _, s := range sorts {
		fmt.Fprintf(h, "%s:%t;", s.Field, s.Desc)
	}
	h.Write([]byte{0})
	h.Write([]byte(q))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:9])
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// errMalformedCursor is the error for a cursor the store did not write.
var errMalformedCursor = invalid("cursor", "is malformed")

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, errMalformedCursor
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil || c.Page < 1 || c.Page > math.MaxInt32 {
		return c, errMalformedCursor
	}
	if u, err := uuid.Parse(c.UUID); err != nil || u.String() != c.UUID {
		return c, errMalformedCursor
	}
	return c, nil
}

// ListGroups returns one page of org's groups. Returns ErrInvalid for a
// malformed cursor or one that belongs to another sort or filter.
func (db *DB) ListGroups(ctx context.Context, org string, lq ListQuery) (Page, error) {
	sorts := lq.Sort
	if len(sorts) == 0 {
		sorts = []Sort{{Field: SortCreatedAt}}
	}
	key := ""
	if lq.Q != "" {
		key = NameKey(lq.Q)
	}
	fp := queryFingerprint(sorts, key)

	number := lq.Page
	offset := int64(lq.Page) * int64(lq.Size)
	var ksWhere string
	var ksArgs []any
	if lq.Cursor != "" {
		c, err := decodeCursor(lq.Cursor)
		if err != nil {
			return Page{}, err
		}
		if c.Query != fp || len(c.Keys) != len(sorts) {
			return Page{}, invalid("cursor", "belongs to a different sort or q")
		}
		if ksWhere, ksArgs, err = keyset(sorts, c); err != nil {
			return Page{}, err
		}
		number, offset = c.Page, 0
	}

	// On SQLite, a search or a deep offset page runs as one read
	// transaction that first reads the organization's generation: what it
	// reuses from earlier requests (cache.go) is valid for exactly the
	// snapshot it reads the page from.
	var q querier = db.rsql
	indexed := db.dialect == SQLite && key != "" && indexable(key)
	deep := db.dialect == SQLite && key == "" && ksWhere == "" && offset >= minSampledOffset
	var gen int64
	if indexed || deep {
		tx, err := db.rsql.BeginTx(ctx, nil)
		if err != nil {
			return Page{}, translate(err)
		}
		defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
		q = tx
		if gen, err = db.orgGen(ctx, q, org); err != nil {
			return Page{}, err
		}
	}

	where := []string{"org = ?"}
	args := []any{org}
	var matches, orgTotal int64
	if indexed {
		// The count comes from the index (or an earlier request at this
		// generation) and decides how to find the page (searchRows).
		var err error
		if matches, orgTotal, err = db.cachedSearchCounts(ctx, q, org, key, gen); err != nil {
			return Page{}, err
		}
		if matches == 0 {
			return Page{Number: number, Groups: []Group{}}, nil
		}
	} else if key != "" {
		w, a := db.matchName(key)
		where = append(where, w)
		args = append(args, a...)
	}
	countWhere, countArgs := strings.Join(where, " AND "), append([]any(nil), args...)

	var rows []groupRow
	var err error
	if indexed {
		rows, err = db.searchRows(ctx, q, org, key, sorts, ksWhere, ksArgs, lq.Size, offset, matches, orgTotal)
	} else {
		if ksWhere != "" {
			where = append(where, ksWhere)
			args = append(args, ksArgs...)
		}
		if deep {
			w, a, rest, err := db.offsetStart(ctx, q, org, sorts, fp, gen, offset)
			if err != nil {
				return Page{}, err
			}
			if w != "" {
				where = append(where, w)
				args = append(args, a...)
				offset = rest
			}
		}
		query := `SELECT ` + groupColumns + ` FROM groups WHERE ` + strings.Join(where, " AND ") +
			` ORDER BY ` + orderBy(sorts) + ` LIMIT ? OFFSET ?`
		rows, err = db.queryGroups(ctx, q, min(lq.Size+1, 128), query, append(args, lq.Size+1, offset)...)
	}
	if err != nil {
		return Page{}, err
	}

	total := matches
	if !indexed {
		if total, err = db.count(ctx, q, org, key, countWhere, countArgs); err != nil {
			return Page{}, err
		}
	}

	p := Page{Number: number, Total: total, Groups: make([]Group, 0, min(len(rows), lq.Size))}
	for i, r := range rows {
		if i == lq.Size {
			break
		}
		p.Groups = append(p.Groups, r.group())
	}
	if len(rows) > lq.Size {
		c := cursorAt(rows[lq.Size-1], sorts)
		c.Page, c.Query = number+1, fp
		p.Next = encodeCursor(c)
	}
	return p, nil
}

// orderBy is the ORDER BY of sorts: names are unique per organization, so
// they need no tie-breaker; otherwise the uuid breaks ties.
func orderBy(sorts []Sort) string {
	order := make([]string, 0, len(sorts)+1)
	hasName := false
	for _, s := range sorts {
		dir := "ASC"
		if s.Desc {
			dir = "DESC"
		}
		order = append(order, s.Field.column()+" "+dir)
		hasName = hasName || s.Field == SortName
	}
	if !hasName {
		order = append(order, "uuid ASC")
	}
	return strings.Join(order, ", ")
}

// cursorAt is the position of row r in the order of sorts.
func cursorAt(r groupRow, sorts []Sort) cursor {
	c := cursor{UUID: r.UUID, Keys: make([]json.RawMessage, 0, len(sorts))}
	for _, s := range sorts {
		var v any
		switch s.Field {
		case SortName:
			v = r.NameKey
		case SortUpdatedAt:
			v = r.UpdatedAt
		default:
			v = r.CreatedAt
		}
		b, _ := json.Marshal(v)
		c.Keys = append(c.Keys, b)
	}
	return c
}

// count returns the number of groups matching the filter: the maintained
// per-organization count when there is no filter, a COUNT otherwise.
func (db *DB) count(ctx context.Context, q querier, org, key, where string, args []any) (int64, error) {
	var n int64
	if key == "" {
		return n, db.queryInts(ctx, q, []*int64{&n}, `SELECT n FROM group_counts WHERE org = ?`, org)
	}
	return n, db.queryInts(ctx, q, []*int64{&n}, `SELECT COUNT(*) FROM groups WHERE `+where, args...)
}

// keyset builds the "after this row" condition for cursor c: rows whose sort
// keys come strictly after the cursor's in the query's order. The leading
// bound on the first key lets the database range-scan its index.
func keyset(sorts []Sort, c cursor) (string, []any, error) {
	vals := make([]any, len(sorts))
	for i, s := range sorts {
		dec := json.NewDecoder(bytes.NewReader(c.Keys[i]))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return "", nil, errMalformedCursor
		}
		switch x := v.(type) {
		case string:
			if s.Field != SortName {
				return "", nil, errMalformedCursor
			}
			vals[i] = x
		case json.Number:
			n, err := x.Int64()
			if err != nil || s.Field == SortName {
				return "", nil, errMalformedCursor
			}
			vals[i] = n
		default:
			return "", nil, errMalformedCursor
		}
	}
	op := func(s Sort) string {
		if s.Desc {
			return "<"
		}
		return ">"
	}
	var ors []string
	var args []any
	for i := range sorts {
		var ands []string
		for j := 0; j < i; j++ {
			ands = append(ands, sorts[j].Field.column()+" = ?")
			args = append(args, vals[j])
		}
		ands = append(ands, sorts[i].Field.column()+" "+op(sorts[i])+" ?")
		args = append(args, vals[i])
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	var ands []string
	for j := range sorts {
		ands = append(ands, sorts[j].Field.column()+" = ?")
		args = append(args, vals[j])
	}
	ands = append(ands, "uuid > ?")
	args = append(args, c.UUID)
	ors = append(ors, "("+strings.Join(ands, " AND ")+")")

	first := sorts[0]
	bound := first.Field.column() + " >= ?"
	if first.Desc {
		bound = first.Field.column() + " <= ?"
	}
	return bound + " AND (" + strings.Join(ors, " OR ") + ")", append([]any{vals[0]}, args...), nil
}
