package store

import (
	"container/list"
	"context"
	"sync"
)

// On SQLite, results that cost time proportional to an organization's size
// are kept between requests: the number of names matching a search, and
// the positions of every sampleStep-th group in a sort order (so that a deep
// offset page starts from the nearest sample instead of stepping over every
// row before it). Each is tagged with the organization's generation
// (org_rids.gen, which triggers advance in the same transaction as every
// change to its groups) and used only by a read transaction that sees that
// same generation: a reused result is exactly what recomputing it in that
// snapshot would give, never stale. Any write to an organization retires
// its entries; they are recomputed on demand.

const (
	// sampleStep is the distance between sampled positions.
	sampleStep = 1000
	// minSampledOffset is the smallest offset served from samples; below
	// it, stepping over the rows is cheap enough.
	minSampledOffset = 10 * sampleStep
	// Cache sizes: a count is a few dozen bytes, a sample set up to about
	// 150 bytes per sampleStep groups of the organization.
	maxCachedCounts  = 16384
	maxCachedSamples = 32
)

type cacheKey struct{ org, key string }

// searchCount is a cached search count.
type searchCount struct {
	gen            int64
	matches, total int64
}

// offsetSamples are the sort keys of the rows at positions sampleStep-1,
// 2*sampleStep-1, ... of one organization in one order, at generation gen.
// mu is held while extending them, so concurrent deep requests wait for one
// walk instead of each doing their own.
type offsetSamples struct {
	gen   int64
	mu    sync.Mutex
	marks []cursor
	end   bool // the last sample is the last full step of the collection
}

// lru is a small mutex-guarded least-recently-used map.
type lru[V any] struct {
	mu  sync.Mutex
	max int
	ll  list.List
	m   map[cacheKey]*list.Element
}

type lruItem[V any] struct {
	k cacheKey
	v V
}

func newLRU[V any](capacity int) *lru[V] {
	return &lru[V]{max: capacity, m: make(map[cacheKey]*list.Element)}
}

func (c *lru[V]) get(k cacheKey) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruItem[V]).v, true
	}
	var zero V
	return zero, false
}

func (c *lru[V]) put(k cacheKey, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		e.Value.(*lruItem[V]).v = v
		c.ll.MoveToFront(e)
		return
	}
	c.m[k] = c.ll.PushFront(&lruItem[V]{k: k, v: v})
	if c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*lruItem[V]).k)
	}
}

// orgGen reads org's generation, and its number of archived groups, in the
// read transaction q.
func (a *sqliteAccel) orgGen(ctx context.Context, q querier, org string) (gen, archived int64, err error) {
	err = a.db.queryInts(ctx, q, []*int64{&gen, &archived},
		`SELECT (SELECT gen FROM org_rids WHERE org = ?), (SELECT archived FROM group_counts WHERE org = ?)`, org, org)
	return gen, archived, err
}

// cachedSearchCounts is searchCounts, reused within a generation.
func (a *sqliteAccel) cachedSearchCounts(ctx context.Context, q querier, org, key string, gen int64) (matches, total int64, err error) {
	k := cacheKey{org, key}
	if c, ok := a.counts.get(k); ok && c.gen == gen {
		return c.matches, c.total, nil
	}
	if matches, total, err = a.searchCounts(ctx, q, org, key); err != nil {
		return 0, 0, err
	}
	a.counts.put(k, searchCount{gen: gen, matches: matches, total: total})
	return matches, total, nil
}

// offsetStart turns a deep offset into "after this sampled row, then skip
// rest rows". where is "" when no sample precedes offset. It runs in the
// read transaction q, whose snapshot is at generation gen.
func (a *sqliteAccel) offsetStart(ctx context.Context, q querier, org string, sorts []Sort, sig string, gen, offset int64) (where string, args []any, rest int64, err error) {
	need := int(offset / sampleStep) // samples wholly before offset
	k := cacheKey{org, sig}
	s, ok := a.samples.get(k)
	if !ok || s.gen != gen {
		s = &offsetSamples{gen: gen}
		a.samples.put(k, s)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	order := orderBy(sorts)
	for len(s.marks) < need && !s.end {
		w, wa := "", []any{org}
		if n := len(s.marks); n > 0 {
			kw, ka, err := keyset(sorts, s.marks[n-1])
			if err != nil {
				return "", nil, 0, err
			}
			w, wa = " AND "+kw, append(wa, ka...)
		}
		rows, err := a.db.queryGroups(ctx, q, 1, `SELECT `+groupColumns+` FROM groups WHERE org = ?`+w+
			` ORDER BY `+order+` LIMIT 1 OFFSET ?`, append(wa, sampleStep-1)...)
		if err != nil {
			return "", nil, 0, err
		}
		if len(rows) == 0 {
			s.end = true
			break
		}
		s.marks = append(s.marks, cursorAt(rows[0], sorts))
	}
	use := min(need, len(s.marks))
	if use == 0 {
		return "", nil, offset, nil
	}
	where, args, err = keyset(sorts, s.marks[use-1])
	return where, args, offset - int64(use)*sampleStep, err
}
