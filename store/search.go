package store

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Name search (ListQuery.Q) is a literal substring match on name_key. Fragments
// of minIndexedRunes or more go through an index (SQLite: the FTS5 trigram
// table groups_search; Postgres: a pg_trgm GIN index); shorter ones, which
// have no complete trigram, scan the organization's names.
const minIndexedRunes = 3

// ridShift splits a SQLite rid into organization number (high bits) and
// per-organization sequence (low 40 bits); see migration 00002.
const ridShift = 40

// maxOrgNumber bounds organization numbers so rids stay positive int64s.
const maxOrgNumber = 1<<(63-ridShift) - 1

// assignRIDs numbers rows for insertion on SQLite: each row gets the next
// sequence numbers of its organization, so an organization's groups keep one
// contiguous rid range. It runs inside the writer's transaction; the single
// writer connection serializes it.
func assignRIDs(tx *gorm.DB, rows []groupRow) ([]int64, error) {
	want := map[string]int64{}
	for _, r := range rows {
		want[r.Org]++
	}
	next := make(map[string]int64, len(want))
	for org, k := range want {
		var got []struct{ ID, Last int64 }
		err := tx.Raw(`INSERT INTO org_rids (org, last) VALUES (?, ?)
			ON CONFLICT (org) DO UPDATE SET last = last + excluded.last RETURNING id, last`, org, k).Scan(&got).Error
		if err != nil {
			return nil, translate(err)
		}
		if len(got) != 1 || got[0].ID > maxOrgNumber || got[0].Last >= 1<<ridShift {
			return nil, fmt.Errorf("store: rid space of organization %q exhausted", org)
		}
		next[org] = got[0].ID<<ridShift + got[0].Last - k + 1
	}
	rids := make([]int64, len(rows))
	for i, r := range rows {
		rids[i] = next[r.Org]
		next[r.Org]++
	}
	return rids, nil
}

// indexable reports whether key can be searched through the trigram index.
// Keys with control characters (which no valid name contains) keep the scan,
// so the index's query parser never sees them.
func indexable(key string) bool {
	if utf8.RuneCountInString(key) < minIndexedRunes {
		return false
	}
	return strings.IndexFunc(key, unicode.IsControl) < 0
}

// ftsPhrase quotes key as one FTS5 phrase: the trigram tokenizer turns it
// into its consecutive trigrams, and a phrase matches only where they occur
// consecutively, which is exactly "contains key".
func ftsPhrase(key string) string {
	return `"` + strings.ReplaceAll(key, `"`, `""`) + `"`
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

// orgRange is the SQL bounding an organization's rids, as the two ends of a
// BETWEEN; an organization without groups has no number and the bounds are
// NULL, so nothing matches.
const orgRange = `(SELECT id << 40 FROM org_rids WHERE org = ?) AND (SELECT (id << 40) + 1099511627775 FROM org_rids WHERE org = ?)`

// searchCounts returns, on SQLite, how many of org's groups contain the
// indexable key (from the index alone: no row is read) and how many groups
// org has.
func (db *DB) searchCounts(ctx context.Context, q querier, org, key string) (matches, total int64, err error) {
	err = db.queryInts(ctx, q, []*int64{&matches, &total}, `SELECT
		(SELECT count(*) FROM groups_search WHERE groups_search MATCH ? AND rowid BETWEEN `+orgRange+`),
		(SELECT n FROM group_counts WHERE org = ?)`,
		ftsPhrase(key), org, org, org)
	return matches, total, err
}

// searchCandidates is the SQLite filter that takes the matching rows from
// the index and reads only those.
func searchCandidates(org, key string) (string, []any) {
	return `rid IN (SELECT rowid FROM groups_search WHERE groups_search MATCH ? AND rowid BETWEEN ` + orgRange + `)`,
		[]any{ftsPhrase(key), org, org}
}

// Costs that choose how searchRows finds a page, relative to reading one
// match through the index (measured at 1M groups).
const (
	// indexStepCost is walking one entry of the default order's index,
	// which carries name_key, and testing it.
	indexStepCost = 0.05
	// rowStepCost is walking one group of another order and testing it.
	rowStepCost = 0.5
	// windowSlack is how many times the expected walk the windowed walk
	// may go before it gives up for reading every match.
	windowSlack = 4
)

// searchRows finds one page (up to size+1 rows from offset, after the
// keyset ksWhere when set) of org's groups whose name contains the
// indexable key, on SQLite, given the number of matches and of groups.
//
// Reading every match from the trigram index and sorting them costs about
// matches; walking the sort order and testing each group costs about
// (offset+size)*orgTotal/matches steps when matches are spread evenly, but
// far more when they cluster late in the order (names numbered in creation
// order, say). So: few matches are read; in the default order, whose index
// carries name_key, many matches are walked for at most windowSlack times
// the expected walk, then read; other orders walk.
func (db *DB) searchRows(ctx context.Context, q querier, org, key string, sorts []Sort, ksWhere string, ksArgs []any,
	size int, offset, matches, orgTotal int64) ([]groupRow, error) {
	order := orderBy(sorts)
	limit := int64(size) + 1
	ks, ksA := "", []any(nil)
	if ksWhere != "" {
		ks, ksA = " AND "+ksWhere, ksArgs
	}
	read := func() ([]groupRow, error) {
		w, a := searchCandidates(org, key)
		return db.queryGroups(ctx, q, int(min(limit, 128)), `SELECT `+groupColumns+` FROM groups WHERE +org = ? AND `+w+ks+
			` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(append(append([]any{org}, a...), ksA...), limit, offset)...)
	}
	walk := func(window int64) ([]groupRow, error) {
		w, a := db.matchName(key)
		if window <= 0 {
			return db.queryGroups(ctx, q, int(min(limit, 128)), `SELECT `+groupColumns+` FROM groups WHERE org = ? AND `+w+ks+
				` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(append(append([]any{org}, a...), ksA...), limit, offset)...)
		}
		// The first offset+limit matches among the first window entries of
		// the (default) order, walked on its covering index, which stops as
		// soon as it has them; then only those rows are read. If the window
		// holds that many matches they are the first overall.
		inner := `SELECT rid, name_key, created_at, uuid FROM groups WHERE org = ?` + ks + ` ORDER BY ` + order + ` LIMIT ?`
		return db.queryGroups(ctx, q, int(min(limit, 128)), `SELECT `+groupColumns+` FROM groups WHERE rid IN (
			SELECT rid FROM (`+inner+`) WHERE `+w+` ORDER BY `+order+` LIMIT ?) ORDER BY `+order+` LIMIT ? OFFSET ?`,
			append(append(append(append([]any{org}, ksA...), window), a...), offset+limit, limit, offset)...)
	}

	expected := float64(offset+limit) * float64(orgTotal) / float64(matches)
	defaultOrder := len(sorts) == 1 && sorts[0] == Sort{Field: SortCreatedAt}
	if !defaultOrder {
		if float64(matches) <= rowStepCost*expected {
			return read()
		}
		return walk(0)
	}
	if float64(matches) <= indexStepCost*expected {
		return read()
	}
	window := int64(windowSlack * expected)
	if window >= orgTotal {
		return walk(0)
	}
	rows, err := walk(window)
	if err != nil || int64(len(rows)) == limit {
		return rows, err
	}
	// Too few matches early in the order (or the end of it): read them all.
	return read()
}
