package store

import (
	"context"

	"gorm.io/gorm"
)

// sqliteAccel is the SQLite accelerator. Every group gets a rid that keeps
// its organization's groups in one contiguous rowid range (sqlite_rids.go),
// which lets the FTS5 trigram index count and find an organization's
// matches (sqlite_search.go); and results that cost time proportional to an
// organization's size are reused while its generation is unchanged
// (sqlite_cache.go).
type sqliteAccel struct {
	db      *DB
	counts  *lru[searchCount]
	samples *lru[*offsetSamples]
}

func newSQLiteAccel(db *DB) *sqliteAccel {
	return &sqliteAccel{db: db, counts: newLRU[searchCount](maxCachedCounts), samples: newLRU[*offsetSamples](maxCachedSamples)}
}

// insertKeys numbers the rows with rids (assignRIDs).
func (a *sqliteAccel) insertKeys(tx *gorm.DB, rows []groupRow) (string, []int64, error) {
	rids, err := assignRIDs(tx, rows)
	return "rid", rids, err
}

// listRows serves a search through the trigram index and a deep offset page
// from the offset samples; everything else takes the portable query.
//
// Both run as one read transaction that first reads the organization's
// generation: what they reuse from earlier requests (sqlite_cache.go) is
// valid for exactly the snapshot they read the page from.
func (a *sqliteAccel) listRows(ctx context.Context, pq pageQuery) ([]groupRow, int64, error) {
	indexed := pq.key != "" && indexable(pq.key)
	deep := pq.key == "" && pq.after == "" && pq.offset >= minSampledOffset
	if !indexed && !deep {
		return a.db.pageRows(ctx, a.db.rsql, pq)
	}
	tx, err := a.db.rsql.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, translate(err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	gen, archived, err := a.orgGen(ctx, tx, pq.org)
	if err != nil {
		return nil, 0, err
	}
	if pq.statusCond(archived) != "" {
		// The index's counts and the offset samples cover the whole
		// organization; a status filter that drops groups takes the
		// portable query (archived groups are expected to be few).
		return a.db.pageRows(ctx, tx, pq)
	}
	if indexed {
		// The count comes from the index (or an earlier request at this
		// generation) and decides how to find the page (searchRows).
		matches, orgTotal, err := a.cachedSearchCounts(ctx, tx, pq.org, pq.key, gen)
		if err != nil || matches == 0 {
			return nil, 0, err
		}
		rows, err := a.searchRows(ctx, tx, pq.org, pq.key, pq.sorts, pq.after, pq.afterArgs, pq.size, pq.offset, matches, orgTotal)
		return rows, matches, err
	}
	w, args, rest, err := a.offsetStart(ctx, tx, pq.org, pq.sorts, pq.fp, gen, pq.offset)
	if err != nil {
		return nil, 0, err
	}
	if w != "" {
		pq.after, pq.afterArgs, pq.offset = w, args, rest
	}
	return a.db.pageRows(ctx, tx, pq)
}
