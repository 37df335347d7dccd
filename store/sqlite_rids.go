package store

import (
	"fmt"

	"gorm.io/gorm"
)

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
