package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
	"gorm.io/gorm"
)

// Group is a stored group. Times are Unix milliseconds, UTC.
type Group struct {
	UUID        string
	Org         string
	Name        string
	Description *string
	CreatedAt   int64
	UpdatedAt   int64
	// Version starts at 1 and grows by one with every change, membership
	// changes included; ETags derive from it.
	Version int64
	// MemberCount is the number of members, kept exact in the same
	// transaction as every membership change.
	MemberCount int64
	// ArchivedAt is when the group was archived, 0 while it is active.
	ArchivedAt int64
	// ReferenceCount is the number of references, kept exact in the same
	// transaction as every reference change.
	ReferenceCount int64
}

// Status is a group's lifecycle status.
type Status string

// The lifecycle statuses.
const (
	StatusActive   Status = "ACTIVE"
	StatusArchived Status = "ARCHIVED"
)

// Status reports whether g is active or archived.
func (g Group) Status() Status {
	if g.ArchivedAt != 0 {
		return StatusArchived
	}
	return StatusActive
}

// groupRow is the GORM mapping of the groups table. The schema itself lives in
// the migrations; GORM never migrates.
type groupRow struct {
	UUID        string `gorm:"column:uuid;primaryKey"`
	Org         string `gorm:"column:org"`
	Name        string `gorm:"column:name"`
	NameKey     string `gorm:"column:name_key"`
	Description *string
	CreatedAt   int64 `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt   int64 `gorm:"column:updated_at;autoUpdateTime:false"`
	Version     int64
	MemberCount int64 `gorm:"column:member_count"`
	// ArchivedAt is NULL while the group is active.
	ArchivedAt     *int64 `gorm:"column:archived_at"`
	ReferenceCount int64  `gorm:"column:reference_count"`
}

func (groupRow) TableName() string { return "groups" }

func (r groupRow) group() Group {
	g := Group{UUID: r.UUID, Org: r.Org, Name: r.Name, Description: r.Description,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Version: r.Version, MemberCount: r.MemberCount,
		ReferenceCount: r.ReferenceCount}
	if r.ArchivedAt != nil {
		g.ArchivedAt = *r.ArchivedAt
	}
	return g
}

// groupColumns are the columns of a group, in groupRow's order; the trash
// (deleted_groups) has the same ones, so rows move between the two tables
// with INSERT ... SELECT groupColumns.
const groupColumns = "uuid, org, name, name_key, description, created_at, updated_at, version, member_count, archived_at, reference_count"

var folder = cases.Fold()

// NameKey is the uniqueness and search key of a name: NFC-normalized, then
// Unicode case-folded, then NFC again (folding can denormalize). Computed in
// Go so SQLite and Postgres agree exactly.
func NameKey(name string) string {
	return norm.NFC.String(folder.String(norm.NFC.String(name)))
}

// CleanName trims leading and trailing Unicode whitespace. Returns
// *InvalidError (Field "name") when nothing remains or the name is not UTF-8.
func CleanName(name string) (string, error) {
	n := strings.TrimFunc(name, unicode.IsSpace)
	if n == "" {
		return "", invalid("name", "must not be blank")
	}
	if !utf8.ValidString(n) {
		return "", invalid("name", "must be valid UTF-8")
	}
	return n, nil
}

// Condition is an If-Match precondition on a write. A nil *Condition means
// unconditional.
type Condition struct {
	// Any matches every existing row (If-Match: *).
	Any bool
	// Versions lists the acceptable versions.
	Versions []int64
}

func (c *Condition) matches(version int64) bool {
	if c == nil || c.Any {
		return true
	}
	for _, v := range c.Versions {
		if v == version {
			return true
		}
	}
	return false
}

// NewGroup is the input of CreateGroup.
type NewGroup struct {
	Name        string
	Description *string
}

// CreateGroup stores a new group in org. Concurrent creates are committed
// together in one transaction (group commit). Returns *NameTakenError if
// the normalized name is used in org, *InvalidError for a blank name, an
// error matching ErrUnavailable when the database cannot be written.
func (db *DB) CreateGroup(ctx context.Context, org string, in NewGroup) (Group, error) {
	row, err := db.newRow(org, in)
	if err != nil {
		return Group{}, err
	}
	return db.creates.submit(ctx, row)
}

func (db *DB) newRow(org string, in NewGroup) (groupRow, error) {
	name, err := CleanName(in.Name)
	if err != nil {
		return groupRow{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return groupRow{}, err
	}
	now := db.nowMillis()
	return groupRow{UUID: id.String(), Org: org, Name: name, NameKey: NameKey(name),
		Description: in.Description, CreatedAt: now, UpdatedAt: now, Version: 1}, nil
}

// insertRow inserts one group inside tx. It reports *NameTakenError instead of
// failing the transaction, so one conflict never aborts a whole batch.
func (db *DB) insertRow(tx *gorm.DB, r groupRow) error {
	ok, err := db.insertRows(tx, []groupRow{r})
	if err != nil {
		return err
	}
	if !ok[0] {
		return &NameTakenError{Name: r.Name}
	}
	return nil
}

// insertRows inserts rows inside tx in one statement and reports which were
// stored; a row whose normalized name is taken (by an existing group or an
// earlier row of the same call) is skipped, not an error. One statement per
// batch matters on SQLite: each statement flushes the search index's pending
// terms into a new segment.
func (db *DB) insertRows(tx *gorm.DB, rows []groupRow) ([]bool, error) {
	cols, width := groupColumns, 11
	col, keys, err := db.accel.insertKeys(tx, rows)
	if err != nil {
		return nil, err
	}
	if col != "" {
		cols, width = col+", "+groupColumns, 12
	}
	var sb strings.Builder
	sb.WriteString("INSERT INTO groups (" + cols + ") VALUES ")
	args := make([]any, 0, len(rows)*width)
	for i, r := range rows {
		if i > 0 {
			sb.WriteString(", ")
		}
		if keys != nil {
			sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, keys[i])
		} else {
			sb.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		}
		args = append(args, r.UUID, r.Org, r.Name, r.NameKey, r.Description, r.CreatedAt, r.UpdatedAt, r.Version, r.MemberCount,
			r.ArchivedAt, r.ReferenceCount)
	}
	sb.WriteString(" ON CONFLICT DO NOTHING RETURNING uuid")
	var ids []string
	if err := tx.Raw(sb.String(), args...).Scan(&ids).Error; err != nil {
		return nil, translate(err)
	}
	stored := make(map[string]bool, len(ids))
	for _, id := range ids {
		stored[id] = true
	}
	ok := make([]bool, len(rows))
	for i, r := range rows {
		ok[i] = stored[r.UUID]
	}
	return ok, nil
}

func addCount(tx *gorm.DB, org string, delta int64) error {
	return translate(tx.Exec(`INSERT INTO group_counts (org, n) VALUES (?, ?)
		ON CONFLICT (org) DO UPDATE SET n = group_counts.n + excluded.n`, org, delta).Error)
}

// addCounts changes org's group count by delta and its archived count by
// archived, in tx.
func addCounts(tx *gorm.DB, org string, delta, archived int64) error {
	return translate(tx.Exec(`INSERT INTO group_counts (org, n, archived) VALUES (?, ?, ?)
		ON CONFLICT (org) DO UPDATE SET n = group_counts.n + excluded.n, archived = group_counts.archived + excluded.archived`,
		org, delta, archived).Error)
}

// GetGroup returns the group uuid of org. Returns *NotFoundError if org has
// no such group.
func (db *DB) GetGroup(ctx context.Context, org, id string) (Group, error) {
	rows, err := db.queryGroups(ctx, db.rsql, 1, `SELECT `+groupColumns+` FROM groups WHERE org = ? AND uuid = ?`, org, canonicalUUID(id))
	if err != nil {
		return Group{}, err
	}
	if len(rows) == 0 {
		return Group{}, &NotFoundError{Kind: "group", ID: id}
	}
	return rows[0].group(), nil
}

// Changes is the input of UpdateGroup. Nil fields are left as they are.
type Changes struct {
	Name *string
	// SetDescription says whether Description applies (nil then clears it).
	SetDescription bool
	Description    *string
	// Status, when set, archives (StatusArchived) or reactivates
	// (StatusActive) the group.
	Status *Status
}

// UpdateGroup applies changes to the group uuid of org when cond holds. A
// change that alters nothing leaves updated_at and version as they were.
// A change whose result is an archived group may not alter its name or
// description. Without a status change it is one statement that checks the
// version and writes, so the check cannot race with another writer; a
// status change also moves the organization's archived count, so it runs
// as a transaction that locks the group first. Returns *NotFoundError if
// org has no such group, ErrPreconditionFailed (wrapped) if cond does not
// hold, *ArchivedError if the group is (or would end) archived and the
// change would alter its name or description, *NameTakenError if the new
// name is used by another group of org, *InvalidError for a blank name.
func (db *DB) UpdateGroup(ctx context.Context, org, id string, ch Changes, cond *Condition) (Group, error) {
	id = canonicalUUID(id)
	var name string
	if ch.Name != nil {
		var err error
		if name, err = CleanName(*ch.Name); err != nil {
			return Group{}, err
		}
	}
	if ch.Status != nil {
		return db.updateWithStatus(ctx, org, id, ch, name, cond)
	}
	var sets, diffs []string
	var setArgs, diffArgs []any
	if ch.Name != nil {
		sets = append(sets, "name = ?", "name_key = ?")
		setArgs = append(setArgs, name, NameKey(name))
		diffs = append(diffs, "name IS DISTINCT FROM ?")
		diffArgs = append(diffArgs, name)
	}
	if ch.SetDescription {
		sets = append(sets, "description = ?")
		setArgs = append(setArgs, ch.Description)
		diffs = append(diffs, "description IS DISTINCT FROM ?")
		diffArgs = append(diffArgs, ch.Description)
	}
	if len(sets) > 0 {
		// archived_at IS NULL: an archived group's name and description are
		// frozen; the read below tells that refusal apart.
		q := `UPDATE groups SET ` + strings.Join(sets, ", ") + `, updated_at = ?, version = version + 1
			WHERE org = ? AND uuid = ? AND archived_at IS NULL AND (` + strings.Join(diffs, " OR ") + `)`
		args := append(setArgs, db.nowMillis(), org, id)
		args = append(args, diffArgs...)
		q, args = withCondition(q, args, cond)
		var rows []groupRow
		err := withRetry(ctx, func() error {
			rows = nil
			return db.boundedWrite(ctx, func(w *gorm.DB) error {
				return w.Raw(q+` RETURNING `+groupColumns, args...).Scan(&rows).Error
			})
		})
		if err != nil {
			err = translate(err)
			if errors.Is(err, ErrNameTaken) {
				return Group{}, &NameTakenError{Name: name}
			}
			return Group{}, err
		}
		if len(rows) == 1 {
			return rows[0].group(), nil
		}
	}
	// Nothing was written: the group is missing, the condition failed, it is
	// archived, or the change was a no-op. Reading now only decides which
	// answer to give.
	g, err := db.getForWrite(ctx, org, id)
	if err != nil {
		return Group{}, err
	}
	if !cond.matches(g.Version) {
		return Group{}, fmt.Errorf("%w: group %s is at version %d", ErrPreconditionFailed, id, g.Version)
	}
	if g.ArchivedAt != 0 && alters(g, ch, name) {
		return Group{}, &ArchivedError{ID: id}
	}
	return g, nil
}

// alters reports whether ch (with the cleaned name) would change g's name
// or description.
func alters(g Group, ch Changes, name string) bool {
	if ch.Name != nil && name != g.Name {
		return true
	}
	if ch.SetDescription {
		if (ch.Description == nil) != (g.Description == nil) {
			return true
		}
		return ch.Description != nil && *ch.Description != *g.Description
	}
	return false
}

// updateWithStatus is UpdateGroup for a change that sets the status.
func (db *DB) updateWithStatus(ctx context.Context, org, id string, ch Changes, name string, cond *Condition) (Group, error) {
	var out Group
	err := db.write(ctx, func(tx *gorm.DB) error {
		out = Group{}
		r, err := db.lockGroupRow(tx, org, id)
		if err != nil {
			return err
		}
		g := r.group()
		if !cond.matches(g.Version) {
			return fmt.Errorf("%w: group %s is at version %d", ErrPreconditionFailed, id, g.Version)
		}
		archive := *ch.Status == StatusArchived
		content := alters(g, ch, name)
		if archive && content {
			return &ArchivedError{ID: id}
		}
		flip := archive != (g.ArchivedAt != 0)
		if !content && !flip {
			out = g
			return nil
		}
		now := db.nowMillis()
		sets, args := []string{"updated_at = ?", "version = version + 1"}, []any{now}
		if ch.Name != nil {
			sets, args = append(sets, "name = ?", "name_key = ?"), append(args, name, NameKey(name))
		}
		if ch.SetDescription {
			sets, args = append(sets, "description = ?"), append(args, ch.Description)
		}
		if flip {
			var at *int64
			if archive {
				at = &now
			}
			sets, args = append(sets, "archived_at = ?"), append(args, at)
		}
		var rows []groupRow
		if err := tx.Raw(`UPDATE groups SET `+strings.Join(sets, ", ")+` WHERE org = ? AND uuid = ? RETURNING `+groupColumns,
			append(args, org, id)...).Scan(&rows).Error; err != nil {
			err = translate(err)
			if errors.Is(err, ErrNameTaken) {
				return &NameTakenError{Name: name}
			}
			return err
		}
		if len(rows) != 1 {
			return fmt.Errorf("store: locked group %s not updated", id)
		}
		if flip {
			delta := int64(1)
			if !archive {
				delta = -1
			}
			if err := addCounts(tx, org, 0, delta); err != nil {
				return err
			}
		}
		out = rows[0].group()
		return nil
	})
	return out, err
}

// getForWrite reads through the writer connection so it sees the latest commit.
func (db *DB) getForWrite(ctx context.Context, org, id string) (Group, error) {
	var rows []groupRow
	err := db.w.WithContext(ctx).Raw(`SELECT `+groupColumns+` FROM groups WHERE org = ? AND uuid = ?`, org, id).
		Scan(&rows).Error
	if err != nil {
		return Group{}, translate(err)
	}
	if len(rows) == 0 {
		return Group{}, &NotFoundError{Kind: "group", ID: id}
	}
	return rows[0].group(), nil
}

// lockGroupRow reads the group id of org in tx and, on Postgres, locks its
// row until tx ends (SQLite's one writer serializes writes already). Every
// write that must see the group as it is when it commits (deletes,
// references, status changes, memberships through lockGroup) takes the group
// first, so concurrent writes on one group wait for each other in one order.
// Returns *NotFoundError (Kind "group") if org has no such group.
func (db *DB) lockGroupRow(tx *gorm.DB, org, id string) (groupRow, error) {
	q := `SELECT ` + groupColumns + ` FROM groups WHERE org = ? AND uuid = ?`
	if db.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	var rows []groupRow
	if err := tx.Raw(q, org, id).Scan(&rows).Error; err != nil {
		return groupRow{}, translate(err)
	}
	if len(rows) == 0 {
		return groupRow{}, &NotFoundError{Kind: "group", ID: id}
	}
	return rows[0], nil
}

func withCondition(q string, args []any, cond *Condition) (string, []any) {
	if cond == nil || cond.Any {
		return q, args
	}
	if len(cond.Versions) == 0 {
		return q + " AND 1 = 0", args
	}
	return q + " AND version IN ?", append(args, cond.Versions)
}

// maxInUseReferences is how many references an *InUseError (and a
// DeleteCheck) lists.
const maxInUseReferences = 20

// DeleteGroup deletes the group uuid of org when cond holds and it has no
// references. The group's row moves to the trash (deleted_groups), where it
// stays restorable (RestoreGroup) until PurgeExpired or PurgeGroup removes
// it; its memberships and references stay keyed by its uuid meanwhile. With
// Options.NoTrash the delete is final and removes the memberships too. The
// check and the move run in one transaction that locks the group first, so
// a reference added concurrently (PutReference) either commits before it
// (and the delete fails) or finds the group gone. Returns *NotFoundError if
// org has no such group, ErrPreconditionFailed (wrapped) if cond does not
// hold, *InUseError if the group has references.
func (db *DB) DeleteGroup(ctx context.Context, org, id string, cond *Condition) error {
	id = canonicalUUID(id)
	return db.write(ctx, func(tx *gorm.DB) error {
		r, err := db.lockGroupRow(tx, org, id)
		if err != nil {
			return err
		}
		if !cond.matches(r.Version) {
			return fmt.Errorf("%w: group %s", ErrPreconditionFailed, id)
		}
		if r.ReferenceCount > 0 {
			refs, err := db.firstReferences(tx, org, id)
			if err != nil {
				return err
			}
			return &InUseError{ID: id, Total: r.ReferenceCount, References: refs}
		}
		if db.noTrash {
			if err := tx.Exec(`DELETE FROM members WHERE org = ? AND group_uuid = ?`, org, id).Error; err != nil {
				return translate(err)
			}
		} else {
			now := db.nowMillis()
			if err := tx.Exec(`INSERT INTO deleted_groups (`+groupColumns+`, deleted_at, purge_at)
				SELECT `+groupColumns+`, CAST(? AS BIGINT), CAST(? AS BIGINT) FROM groups WHERE org = ? AND uuid = ?`,
				now, now+db.retention.Milliseconds(), org, id).Error; err != nil {
				return translate(err)
			}
		}
		if err := tx.Exec(`DELETE FROM groups WHERE org = ? AND uuid = ?`, org, id).Error; err != nil {
			return translate(err)
		}
		var archived int64
		if r.ArchivedAt != nil {
			archived = -1
		}
		return addCounts(tx, org, -1, archived)
	})
}

// canonicalUUID lowercases a UUID so lookups match the stored form.
func canonicalUUID(s string) string {
	if u, err := uuid.Parse(s); err == nil {
		return u.String()
	}
	return strings.ToLower(s)
}
