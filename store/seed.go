package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// seedChunk is how many rows one seeding statement inserts, and
// seedChunksPerTx how many statements one transaction commits.
const (
	seedChunk       = 10000
	seedChunksPerTx = 10
)

// SeedOptions shape the groups SeedGroups creates.
type SeedOptions struct {
	// Name returns the name of the i-th group (0-based). Names must be
	// unique within the organization after normalization; a duplicate fails
	// the seed.
	Name func(i int) string
	// Start is the creation time of the first group; the others follow one
	// millisecond apart. Zero means n milliseconds before now, so the last
	// group is created about now.
	Start time.Time
	// Progress, when set, is called after each committed transaction with
	// the number of groups stored so far.
	Progress func(done int)
	// Created, when set, is called with the index and uuid of every group.
	Created func(i int, uuid string)
}

// SeedGroups bulk-loads n groups into org (benchmarks, demos): many rows per
// statement and per transaction instead of one request each, with the same
// columns, indexes, search index and per-organization count a create would
// maintain. It is not an API operation: names are trusted to be clean.
func (db *DB) SeedGroups(ctx context.Context, org string, n int, opts SeedOptions) error {
	if !ValidOrg(org) {
		return fmt.Errorf("%w: organization %q", ErrInvalid, org)
	}
	if opts.Name == nil {
		opts.Name = func(i int) string { return fmt.Sprintf("Group %d", i+1) }
	}
	start := opts.Start
	if start.IsZero() {
		start = db.now().Add(-time.Duration(n) * time.Millisecond)
	}
	// A big page cache while loading keeps the name index's random inserts
	// in memory.
	restore, err := db.seedCache(ctx)
	if err != nil {
		return err
	}
	defer restore()
	type seedRow struct {
		RID  int64  `json:"r,omitempty"`
		UUID string `json:"u"`
		Name string `json:"n"`
		Key  string `json:"k"`
		At   int64  `json:"c"`
	}
	rnd := make([]byte, 10*seedChunk)
	rows := make([]seedRow, 0, seedChunk)
	for done := 0; done < n; {
		err := db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			for c := 0; c < seedChunksPerTx && done < n; c++ {
				k := min(seedChunk, n-done)
				var first int64
				if db.dialect == SQLite {
					var got []struct{ ID, Last int64 }
					if err := tx.Raw(`INSERT INTO org_rids (org, last) VALUES (?, ?)
						ON CONFLICT (org) DO UPDATE SET last = last + excluded.last RETURNING id, last`, org, k).
						Scan(&got).Error; err != nil {
						return translate(err)
					}
					first = got[0].ID<<ridShift + got[0].Last - int64(k) + 1
				}
				if _, err := rand.Read(rnd[:10*k]); err != nil {
					return err
				}
				rows = rows[:0]
				for j := range k {
					i := done + j
					name := opts.Name(i)
					at := start.Add(time.Duration(i) * time.Millisecond).UnixMilli()
					r := seedRow{UUID: uuidV7(at, rnd[10*j:10*j+10]), Name: name, Key: NameKey(name), At: at}
					if db.dialect == SQLite {
						r.RID = first + int64(j)
					}
					if opts.Created != nil {
						opts.Created(i, r.UUID)
					}
					rows = append(rows, r)
				}
				b, err := json.Marshal(rows)
				if err != nil {
					return err
				}
				q := `INSERT INTO groups (rid, uuid, org, name, name_key, description, created_at, updated_at, version)
					SELECT value->>'r', value->>'u', ?, value->>'n', value->>'k', NULL, value->>'c', value->>'c', 1
					FROM json_each(?)`
				if db.dialect == Postgres {
					q = `INSERT INTO groups (uuid, org, name, name_key, description, created_at, updated_at, version)
						SELECT (x->>'u')::uuid, ?, x->>'n', x->>'k', NULL, (x->>'c')::bigint, (x->>'c')::bigint, 1
						FROM json_array_elements(?::json) AS x`
				}
				if err := tx.Exec(q, org, string(b)).Error; err != nil {
					return translate(err)
				}
				if err := addCount(tx, org, int64(k)); err != nil {
					return err
				}
				done += k
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed %s: %w", org, err)
		}
		if opts.Progress != nil {
			opts.Progress(done)
		}
	}
	if db.dialect == Postgres {
		// What a DBA does after a bulk load: statistics for the planner, and
		// a visibility map so index-only scans need not visit the heap.
		// (VACUUM cannot run inside a transaction.)
		if err := db.w.WithContext(ctx).Exec(`VACUUM (ANALYZE) groups`).Error; err != nil {
			return fmt.Errorf("seed %s: vacuum: %w", org, translate(err))
		}
	}
	return nil
}

// seedCache gives the SQLite writer a big page cache for a bulk load, and
// returns the function that gives it back the cache it had, which is the
// size Open chose (read here, not copied, so the two cannot drift).
func (db *DB) seedCache(ctx context.Context) (restore func(), err error) {
	if db.dialect != SQLite {
		return func() {}, nil
	}
	var prev int64
	if err := db.w.WithContext(ctx).Raw(`PRAGMA cache_size`).Scan(&prev).Error; err != nil {
		return nil, translate(err)
	}
	if err := db.w.WithContext(ctx).Exec(`PRAGMA cache_size = -262144`).Error; err != nil {
		return nil, translate(err)
	}
	return func() { db.w.Exec(fmt.Sprintf(`PRAGMA cache_size = %d`, prev)) }, nil
}

// SeedMemberOptions shape the memberships SeedMembers creates.
type SeedMemberOptions struct {
	// AddedAt is when every membership was added. Zero means now.
	AddedAt time.Time
	// Progress, when set, is called after each committed transaction with
	// the number of memberships stored so far.
	Progress func(done int)
}

// SeedMembers bulk-loads n memberships into org (benchmarks, demos):
// member(i) names the group (a uuid of org) and the user of the i-th. Like
// SeedGroups it inserts many rows per statement and per transaction, and
// keeps what an add keeps in the same transaction as the rows: each group's
// member_count goes up by exactly the rows inserted for it (and its version
// and updated_at move, as its representation changed). It is not an API
// operation: user ids are trusted to be valid and the membership limits are
// not checked. A membership that already exists, or a group that org does
// not have, fails the seed (the transaction in progress is rolled back).
func (db *DB) SeedMembers(ctx context.Context, org string, n int, member func(i int) (groupUUID, userID string), opts SeedMemberOptions) error {
	if !ValidOrg(org) {
		return fmt.Errorf("%w: organization %q", ErrInvalid, org)
	}
	at := opts.AddedAt
	if at.IsZero() {
		at = db.now()
	}
	added := at.UnixMilli()
	restore, err := db.seedCache(ctx)
	if err != nil {
		return err
	}
	defer restore()

	type memberRow struct {
		G string `json:"g"`
		U string `json:"u"`
	}
	type countRow struct {
		G string `json:"g"`
		D int64  `json:"d"`
	}
	insert := `INSERT INTO members (org, group_uuid, user_id, added_at, group_created_at)
		SELECT ?, value->>'g', value->>'u', ?, COALESCE((SELECT created_at FROM groups WHERE uuid = value->>'g'), 0) FROM json_each(?)`
	count := `UPDATE groups SET member_count = member_count + d.value->>'d', version = version + 1,
		updated_at = max(updated_at, ?)
		FROM json_each(?) AS d WHERE +groups.org = ? AND groups.uuid = d.value->>'g'`
	// A membership of a missing group gets group_created_at 0 here and is
	// refused below, when its group's count cannot be raised.
	// The unary + keeps SQLite from driving the join by the org index (a scan
	// of the organization's groups per count): each count is one lookup by
	// the unique uuid.
	if db.dialect == Postgres {
		insert = `INSERT INTO members (org, group_uuid, user_id, added_at, group_created_at)
			SELECT ?, (x->>'g')::uuid, x->>'u', ?::bigint, COALESCE((SELECT created_at FROM groups WHERE uuid = (x->>'g')::uuid), 0)
			FROM json_array_elements(?::json) AS x`
		count = `UPDATE groups AS g SET member_count = g.member_count + (x->>'d')::bigint, version = g.version + 1,
			updated_at = GREATEST(g.updated_at, ?::bigint)
			FROM json_array_elements(?::json) AS x WHERE g.org = ? AND g.uuid = (x->>'g')::uuid`
	}
	rows := make([]memberRow, 0, seedChunk)
	for done := 0; done < n; {
		err := db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			// The counts change in the transaction that inserts the rows,
			// so member_count is exact at every commit.
			delta := map[string]int64{}
			for c := 0; c < seedChunksPerTx && done < n; c++ {
				k := min(seedChunk, n-done)
				rows = rows[:0]
				for j := range k {
					g, u := member(done + j)
					g = canonicalUUID(g)
					rows = append(rows, memberRow{G: g, U: u})
					delta[g]++
				}
				// In key order, the primary key's inserts are appends to
				// a few places instead of random page splits.
				slices.SortFunc(rows, func(a, b memberRow) int {
					return cmp.Or(strings.Compare(a.G, b.G), strings.Compare(a.U, b.U))
				})
				b, err := json.Marshal(rows)
				if err != nil {
					return err
				}
				if err := tx.Exec(insert, org, added, string(b)).Error; err != nil {
					return translate(err)
				}
				done += k
			}
			counts := make([]countRow, 0, len(delta))
			for g, d := range delta {
				counts = append(counts, countRow{G: g, D: d})
			}
			b, err := json.Marshal(counts)
			if err != nil {
				return err
			}
			res := tx.Exec(count, added, string(b), org)
			if res.Error != nil {
				return translate(res.Error)
			}
			if res.RowsAffected != int64(len(counts)) {
				return fmt.Errorf("%w: %d of the %d groups are not groups of %s", ErrInvalid,
					int64(len(counts))-res.RowsAffected, len(counts), org)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed members of %s: %w", org, err)
		}
		if opts.Progress != nil {
			opts.Progress(done)
		}
	}
	if db.dialect == Postgres {
		if err := db.w.WithContext(ctx).Exec(`VACUUM (ANALYZE) members, groups`).Error; err != nil {
			return fmt.Errorf("seed members of %s: vacuum: %w", org, translate(err))
		}
	}
	return nil
}

// uuidV7 builds a version 7 UUID for the Unix millisecond ms from 10 random
// bytes, so seeded ids sort like their creation times.
func uuidV7(ms int64, rnd []byte) string {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[:8], uint64(ms)<<16)
	copy(u[6:], rnd)
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 4122 variant
	return u.String()
}
