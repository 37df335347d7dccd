package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
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
	// in memory. Afterwards the writer gets back the cache it had, which is
	// the size Open chose (read here, not copied, so the two cannot drift).
	if db.dialect == SQLite {
		var prev int64
		if err := db.w.WithContext(ctx).Raw(`PRAGMA cache_size`).Scan(&prev).Error; err != nil {
			return translate(err)
		}
		if err := db.w.WithContext(ctx).Exec(`PRAGMA cache_size = -262144`).Error; err != nil {
			return translate(err)
		}
		defer db.w.Exec(fmt.Sprintf(`PRAGMA cache_size = %d`, prev))
	}
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
