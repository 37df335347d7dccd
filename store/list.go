package store

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"
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
	// Cursor is a Page.Next from an earlier call with the same Sort, Q and
	// Status.
	Cursor string
	// Status keeps only the groups of one lifecycle status; the zero value
	// is StatusFilterActive.
	Status StatusFilter
}

// StatusFilter selects groups by lifecycle status.
type StatusFilter string

// The status filters.
const (
	StatusFilterActive   StatusFilter = "ACTIVE"
	StatusFilterArchived StatusFilter = "ARCHIVED"
	StatusFilterAll      StatusFilter = "ALL"
)

// Page is one page of groups with the totals of the whole filtered collection.
type Page struct {
	Groups []Group
	Number int
	Total  int64
	// Next is the cursor of the following page, "" on the last page.
	Next string
}

// ListGroups returns one page of org's groups. Returns *InvalidError (Field
// "cursor") for a malformed cursor or one that belongs to another sort or
// filter.
func (db *DB) ListGroups(ctx context.Context, org string, lq ListQuery) (Page, error) {
	pq, err := newPageQuery(db.cursorKey, org, lq, "")
	if err != nil {
		return Page{}, err
	}
	rows, total, err := db.accel.listRows(ctx, pq)
	if err != nil {
		return Page{}, err
	}
	return pq.page(rows, total), nil
}

// pageQuery is a ListQuery resolved against its cursor: what every way of
// finding a page needs.
type pageQuery struct {
	// cursorKey authenticates the cursors this query reads and writes.
	cursorKey []byte
	org       string
	sorts     []Sort
	// key is the NameKey of the search fragment, "" without one.
	key string
	// fp is the fingerprint of the sort and search (queryFingerprint).
	fp     string
	size   int
	number int
	offset int64
	// after is the keyset condition of the cursor ("" without one).
	after     string
	afterArgs []any
	// member, when set, keeps only the groups this user belongs to.
	member string
	// status is the status filter, never "".
	status StatusFilter
}

// newPageQuery resolves lq; member, when not "", restricts the list to the
// groups that user belongs to (and binds the cursor to that user).
func newPageQuery(cursorKey []byte, org string, lq ListQuery, member string) (pageQuery, error) {
	pq := pageQuery{cursorKey: cursorKey, org: org, sorts: lq.Sort, size: lq.Size, number: lq.Page,
		offset: int64(lq.Page) * int64(lq.Size), member: member, status: lq.Status}
	if len(pq.sorts) == 0 {
		pq.sorts = []Sort{{Field: SortCreatedAt}}
	}
	if lq.Q != "" {
		pq.key = NameKey(lq.Q)
	}
	// The default filter (active groups) adds nothing to the fingerprint, so
	// cursors issued before statuses existed stay valid; the others bind
	// their cursors to themselves.
	filter := ""
	switch pq.status {
	case "", StatusFilterActive:
		pq.status = StatusFilterActive
	case StatusFilterArchived, StatusFilterAll:
		filter = "\x00status\x00" + string(pq.status)
	default:
		return pageQuery{}, invalid("status", "must be ACTIVE, ARCHIVED or ALL")
	}
	pq.fp = queryFingerprint(pq.sorts, pq.key+filter)
	if member != "" {
		pq.fp = queryFingerprint(pq.sorts, pq.key+"\x00member\x00"+member+filter)
	}
	if lq.Cursor != "" {
		c, err := decodeCursor(pq.cursorKey, org, lq.Cursor)
		if err != nil {
			return pageQuery{}, err
		}
		if c.Query != pq.fp || len(c.Keys) != len(pq.sorts) {
			return pageQuery{}, invalid("cursor", "belongs to a different sort or q")
		}
		if pq.after, pq.afterArgs, err = keyset(pq.sorts, c); err != nil {
			return pageQuery{}, err
		}
		pq.number, pq.offset = c.Page, 0
	}
	return pq, nil
}

// page builds the Page from up to size+1 rows (the extra row says that a
// next page exists) and the number of groups matching the filter.
func (pq pageQuery) page(rows []groupRow, total int64) Page {
	p := Page{Number: pq.number, Total: total, Groups: make([]Group, 0, min(len(rows), pq.size))}
	for i, r := range rows {
		if i == pq.size {
			break
		}
		p.Groups = append(p.Groups, r.group())
	}
	if len(rows) > pq.size {
		c := cursorAt(rows[pq.size-1], pq.sorts)
		c.Page, c.Query = pq.number+1, pq.fp
		p.Next = encodeCursor(pq.cursorKey, pq.org, c)
	}
	return p
}

// accelerator is what a dialect adds to the portable queries: portable
// (Postgres) adds nothing, sqliteAccel (sqlite_accel.go) the rids, the
// full-text index, offset samples and generation caches.
type accelerator interface {
	// insertKeys returns an extra column and its value for each of rows,
	// which are about to be inserted in tx; col is "" for none.
	insertKeys(tx *gorm.DB, rows []groupRow) (col string, vals []int64, err error)
	// listRows returns up to pq.size+1 rows of the page pq describes and
	// the number of groups matching its filter.
	listRows(ctx context.Context, pq pageQuery) ([]groupRow, int64, error)
}

// portable is the accelerator that adds nothing.
type portable struct{ db *DB }

func (portable) insertKeys(*gorm.DB, []groupRow) (string, []int64, error) { return "", nil, nil }

func (p portable) listRows(ctx context.Context, pq pageQuery) ([]groupRow, int64, error) {
	return p.db.pageRows(ctx, p.db.rsql, pq)
}

// statusCond is the SQL condition of pq's status filter, given the number
// of archived groups of the organization: "" when the filter keeps every
// group (ALL, or ACTIVE while none is archived), so that the query, its
// plan and the accelerators' whole-organization paths stay exactly those
// of an unfiltered list.
func (pq pageQuery) statusCond(archived int64) string {
	switch {
	case pq.status == StatusFilterArchived:
		return "archived_at IS NOT NULL"
	case pq.status == StatusFilterActive && archived > 0:
		return "archived_at IS NULL"
	}
	return ""
}

// pageRows is the portable page query, run through q: one SELECT in the
// requested order (after the cursor, or from the offset) and the count of
// the filter.
func (db *DB) pageRows(ctx context.Context, q querier, pq pageQuery) ([]groupRow, int64, error) {
	filter, args := "org = ?", []any{pq.org}
	// The organization's counts come first: they decide the status
	// condition, and for a list of the whole organization they are the
	// total. A member's list is short (the groups-per-user limit), so it
	// always filters and counts its rows.
	var n, archived int64
	whole := pq.key == "" && pq.member == ""
	if pq.member != "" {
		archived = 1
	} else if whole || pq.status != StatusFilterAll {
		if err := db.queryInts(ctx, q, []*int64{&n, &archived}, `SELECT n, archived FROM group_counts WHERE org = ?`, pq.org); err != nil {
			return nil, 0, err
		}
	}
	if c := pq.statusCond(archived); c != "" {
		filter += " AND " + c
	}
	if pq.key != "" {
		w, a := db.matchName(pq.key)
		filter, args = filter+" AND "+w, append(args, a...)
	}
	where, whereArgs := filter, append([]any(nil), args...)
	if pq.after != "" {
		where, whereArgs = where+" AND "+pq.after, append(whereArgs, pq.afterArgs...)
	}
	from, fromArgs := pq.from()
	rows, err := db.queryGroups(ctx, q, min(pq.size+1, 128), `SELECT `+groupColumns+` FROM `+from+` WHERE `+where+
		` ORDER BY `+orderBy(pq.sorts)+` LIMIT ? OFFSET ?`, append(append(fromArgs, whereArgs...), pq.size+1, pq.offset)...)
	if err != nil {
		return nil, 0, err
	}
	var total int64
	switch {
	case !whole:
		err = db.queryInts(ctx, q, []*int64{&total}, `SELECT COUNT(*) FROM `+from+` WHERE `+filter, append(fromArgs, args...)...)
	case pq.status == StatusFilterActive:
		total = n - archived
	case pq.status == StatusFilterArchived:
		total = archived
	default:
		total = n
	}
	return rows, total, err
}

// from is the relation a page is read from: the groups table, or for a
// member's list the groups that user belongs to. That one is driven by the
// user's memberships (at most the groups-per-user limit), never by a scan
// of the organization's groups; CROSS JOIN fixes that join order on SQLite.
func (pq pageQuery) from() (string, []any) {
	if pq.member == "" {
		return "groups", nil
	}
	// uuid and created_at come from the membership row (equal to the
	// group's), so the default order (created_at, uuid) is the order of the
	// members_user index and a page reads only its own rows.
	return `(SELECT m.group_uuid AS uuid, g.org, g.name, g.name_key, g.description, m.group_created_at AS created_at,
			g.updated_at, g.version, g.member_count, g.archived_at, g.reference_count
		FROM members m CROSS JOIN groups g
		WHERE m.org = ? AND m.user_id = ? AND g.org = m.org AND g.uuid = m.group_uuid) AS groups`, []any{pq.org, pq.member}
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

// Cursors are authenticated: "<payload>.<mac>", both unpadded base64url,
// where payload is the cursor's JSON and mac an HMAC-SHA256 (truncated to
// 128 bits) over a version tag, the organization and the payload. The sort
// and q are bound through the payload's query fingerprint. So a cursor
// cannot be forged or edited, works only for the organization it was
// issued to, and its format can change later (a new tag) without old
// cursors being misread. Every paged list goes through encodeCursor and
// decodeCursor, so every one is signed.
const cursorTag = "groupsd cursor v1"

// NewCursorKey returns a random key for Options.CursorKey.
func NewCursorKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

func cursorMAC(key []byte, org string, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(cursorTag))
	m.Write([]byte{0})
	m.Write([]byte(org))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)[:16]
}

func encodeCursor(key []byte, org string, c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(cursorMAC(key, org, b))
}

// errMalformedCursor is the error for a cursor the store did not write (or
// wrote for another organization, or with another key).
var errMalformedCursor = invalid("cursor", "is malformed")

func decodeCursor(key []byte, org, s string) (cursor, error) {
	var c cursor
	payload, mac, ok := strings.Cut(s, ".")
	if !ok {
		return c, errMalformedCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return c, errMalformedCursor
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil || !hmac.Equal(got, cursorMAC(key, org, b)) {
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
			// A decoded key is text from the client: Postgres refuses NUL
			// with an error, so it is malformed before either database sees it.
			if s.Field != SortName || !utf8.ValidString(x) || strings.ContainsRune(x, 0) {
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

// Name search (ListQuery.Q) is a literal substring match on name_key. Fragments
// of minIndexedRunes or more go through an index (SQLite: the FTS5 trigram
// table groups_search; Postgres: a pg_trgm GIN index); shorter ones, which
// have no complete trigram, scan the organization's names.
const minIndexedRunes = 3

// indexable reports whether key can be searched through the trigram index.
// Keys with control characters (which no valid name contains) keep the scan,
// so the index's query parser never sees them.
func indexable(key string) bool {
	if utf8.RuneCountInString(key) < minIndexedRunes {
		return false
	}
	return strings.IndexFunc(key, unicode.IsControl) < 0
}

// likeContains is a LIKE pattern matching names that contain key literally,
// with the escape character \.
func likeContains(key string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(key) + "%"
}

// matchName is the SQL filter for "name contains key", literally (no LIKE
// wildcards), on folded names. On SQLite the index is used by searchCount
// and searchCandidates instead; this is the row-by-row form.
func (db *DB) matchName(key string) (string, []any) {
	if db.dialect == Postgres {
		if indexable(key) {
			return `name_key LIKE ? ESCAPE '\'`, []any{likeContains(key)}
		}
		return "strpos(name_key, ?) > 0", []any{key}
	}
	return "instr(name_key, ?) > 0", []any{key}
}
