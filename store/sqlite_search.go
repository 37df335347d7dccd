package store

import (
	"context"
	"strings"
)

// The FTS5 trigram index (groups_search, migration 00002) answers name
// searches on SQLite: it counts an organization's matches without reading a
// row (rids keep an organization's groups in one rowid range) and hands out
// the matching rows, and searchRows picks, from that count, the cheapest way
// to find a page.

// ftsPhrase quotes key as one FTS5 phrase: the trigram tokenizer turns it
// into its consecutive trigrams, and a phrase matches only where they occur
// consecutively, which is exactly "contains key".
func ftsPhrase(key string) string {
	return `"` + strings.ReplaceAll(key, `"`, `""`) + `"`
}

// orgRange is the SQL bounding an organization's rids, as the two ends of a
// BETWEEN; an organization without groups has no number and the bounds are
// NULL, so nothing matches.
const orgRange = `(SELECT id << 40 FROM org_rids WHERE org = ?) AND (SELECT (id << 40) + 1099511627775 FROM org_rids WHERE org = ?)`

// searchCounts returns, on SQLite, how many of org's groups contain the
// indexable key (from the index alone: no row is read) and how many groups
// org has.
func (a *sqliteAccel) searchCounts(ctx context.Context, q querier, org, key string) (matches, total int64, err error) {
	err = a.db.queryInts(ctx, q, []*int64{&matches, &total}, `SELECT
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
func (a *sqliteAccel) searchRows(ctx context.Context, q querier, org, key string, sorts []Sort, ksWhere string, ksArgs []any,
	size int, offset, matches, orgTotal int64) ([]groupRow, error) {
	order := orderBy(sorts)
	limit := int64(size) + 1
	ks, ksA := "", []any(nil)
	if ksWhere != "" {
		ks, ksA = " AND "+ksWhere, ksArgs
	}
	read := func() ([]groupRow, error) {
		w, wa := searchCandidates(org, key)
		return a.db.queryGroups(ctx, q, int(min(limit, 128)), `SELECT `+groupColumns+` FROM groups WHERE +org = ? AND `+w+ks+
			` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(append(append([]any{org}, wa...), ksA...), limit, offset)...)
	}
	walk := func(window int64) ([]groupRow, error) {
		w, wa := a.db.matchName(key)
		if window <= 0 {
			return a.db.queryGroups(ctx, q, int(min(limit, 128)), `SELECT `+groupColumns+` FROM groups WHERE org = ? AND `+w+ks+
				` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(append(append([]any{org}, wa...), ksA...), limit, offset)...)
		}
		// The first offset+limit matches among the first window entries of
		// the (default) order, walked on its covering index, which stops as
		// soon as it has them; then only those rows are read. If the window
		// holds that many matches they are the first overall.
		inner := `SELECT rid, name_key, created_at, uuid FROM groups WHERE org = ?` + ks + ` ORDER BY ` + order + ` LIMIT ?`
		return a.db.queryGroups(ctx, q, int(min(limit, 128)), `SELECT `+groupColumns+` FROM groups WHERE rid IN (
			SELECT rid FROM (`+inner+`) WHERE `+w+` ORDER BY `+order+` LIMIT ?) ORDER BY `+order+` LIMIT ? OFFSET ?`,
			append(append(append(append([]any{org}, ksA...), window), wa...), offset+limit, limit, offset)...)
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
