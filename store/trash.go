package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// DeletedGroup is a group in the trash: the group as it was when deleted,
// when that was, and when PurgeExpired will purge it (Unix milliseconds).
type DeletedGroup struct {
	Group
	DeletedAt, PurgeAt int64
}

// DeletedPage is one page of the trash, newest deletion first.
type DeletedPage struct {
	Groups []DeletedGroup
	Number int
	Total  int64
	// Next is the cursor of the following page, "" on the last page.
	Next string
}

// deletedColumns are the columns of a deleted group.
const deletedColumns = groupColumns + ", deleted_at, purge_at"

func scanDeleted(rows interface{ Scan(...any) error }) (DeletedGroup, error) {
	var r groupRow
	var d DeletedGroup
	if err := rows.Scan(&r.UUID, &r.Org, &r.Name, &r.NameKey, &r.Description, &r.CreatedAt, &r.UpdatedAt, &r.Version, &r.MemberCount,
		&r.ArchivedAt, &r.ReferenceCount, &d.DeletedAt, &d.PurgeAt); err != nil {
		return DeletedGroup{}, err
	}
	d.Group = r.group()
	return d, nil
}

// GetDeletedGroup returns the group id of org from the trash. Returns
// *NotFoundError (Kind "deleted group") if org's trash has no such group.
func (db *DB) GetDeletedGroup(ctx context.Context, org, id string) (DeletedGroup, error) {
	id = canonicalUUID(id)
	d, err := scanDeleted(db.rsql.QueryRowContext(ctx, db.bind(`SELECT `+deletedColumns+` FROM deleted_groups WHERE org = ? AND uuid = ?`), org, id))
	if errors.Is(err, sql.ErrNoRows) {
		return DeletedGroup{}, &NotFoundError{Kind: "deleted group", ID: id}
	}
	if err != nil {
		return DeletedGroup{}, translate(err)
	}
	return d, nil
}

// ListDeletedGroups returns one page of org's trash, newest deletion first
// (ties by uuid ascending), with the number of groups in it, read in one
// snapshot. Returns *InvalidError (Field "cursor") for a malformed cursor or
// one of another list.
func (db *DB) ListDeletedGroups(ctx context.Context, org string, q PageQuery) (DeletedPage, error) {
	fp := queryFingerprint(nil, "trash")
	number, offset := q.Page, int64(q.Page)*int64(q.Size)
	where, args := `org = ?`, []any{org}
	if q.Cursor != "" {
		c, err := decodeCursor(db.cursorKey, org, q.Cursor)
		if err != nil {
			return DeletedPage{}, err
		}
		if c.Query != fp || len(c.Keys) != 1 {
			return DeletedPage{}, invalid("cursor", "belongs to another list")
		}
		var at int64
		if err := json.Unmarshal(c.Keys[0], &at); err != nil {
			return DeletedPage{}, errMalformedCursor
		}
		where, args = where+` AND deleted_at <= ? AND (deleted_at < ? OR uuid > ?)`, append(args, at, at, c.UUID)
		number, offset = c.Page, 0
	}
	tx, err := db.readTx(ctx)
	if err != nil {
		return DeletedPage{}, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	page := DeletedPage{Number: number, Groups: make([]DeletedGroup, 0, min(q.Size, 128))}
	if err := tx.QueryRowContext(ctx, db.bind(`SELECT COUNT(*) FROM deleted_groups WHERE org = ?`), org).Scan(&page.Total); err != nil {
		return DeletedPage{}, translate(err)
	}
	rows, err := tx.QueryContext(ctx, db.bind(`SELECT `+deletedColumns+` FROM deleted_groups WHERE `+where+
		` ORDER BY deleted_at DESC, uuid ASC LIMIT ? OFFSET ?`), append(args, q.Size+1, offset)...)
	if err != nil {
		return DeletedPage{}, translate(err)
	}
	defer rows.Close()
	more := false
	for rows.Next() {
		if len(page.Groups) == q.Size {
			more = true
			break
		}
		d, err := scanDeleted(rows)
		if err != nil {
			return DeletedPage{}, translate(err)
		}
		page.Groups = append(page.Groups, d)
	}
	if err := rows.Err(); err != nil {
		return DeletedPage{}, translate(err)
	}
	if more {
		last := page.Groups[len(page.Groups)-1]
		k, _ := json.Marshal(last.DeletedAt)
		page.Next = encodeCursor(db.cursorKey, org, cursor{Keys: []json.RawMessage{k}, UUID: last.UUID, Page: number + 1, Query: fp})
	}
	return page, nil
}

// RestoreGroup takes the group id of org out of the trash, under newName
// when it is not nil. The group keeps its uuid, status, created_at,
// memberships and references; the restore is a change, so updated_at and
// version move. Returns *NotFoundError (Kind "deleted group") if org's trash
// has no such group, *NameTakenError (Restoring set) if another group of org
// has the name meanwhile (the group stays in the trash), *InvalidError for
// a blank new name.
func (db *DB) RestoreGroup(ctx context.Context, org, id string, newName *string) (Group, error) {
	id = canonicalUUID(id)
	var name string
	if newName != nil {
		var err error
		if name, err = CleanName(*newName); err != nil {
			return Group{}, err
		}
	}
	var out Group
	err := db.write(ctx, func(tx *gorm.DB) error {
		out = Group{}
		q := `SELECT ` + groupColumns + ` FROM deleted_groups WHERE org = ? AND uuid = ?`
		if db.dialect == Postgres {
			q += ` FOR UPDATE`
		}
		var rows []groupRow
		if err := tx.Raw(q, org, id).Scan(&rows).Error; err != nil {
			return translate(err)
		}
		if len(rows) == 0 {
			return &NotFoundError{Kind: "deleted group", ID: id}
		}
		r := rows[0]
		if newName != nil {
			r.Name, r.NameKey = name, NameKey(name)
		}
		r.UpdatedAt, r.Version = db.nowMillis(), r.Version+1
		ok, err := db.insertRows(tx, []groupRow{r})
		if err != nil {
			return err
		}
		if !ok[0] {
			return &NameTakenError{Name: r.Name, Restoring: true}
		}
		if err := tx.Exec(`DELETE FROM deleted_groups WHERE org = ? AND uuid = ?`, org, id).Error; err != nil {
			return translate(err)
		}
		var archived int64
		if r.ArchivedAt != nil {
			archived = 1
		}
		if err := addCounts(tx, org, 1, archived); err != nil {
			return err
		}
		out = r.group()
		return nil
	})
	return out, err
}

// PurgeGroup deletes the group id of org from the trash for good, with its
// memberships and references. Returns *NotFoundError (Kind "deleted group")
// if org's trash has no such group.
func (db *DB) PurgeGroup(ctx context.Context, org, id string) error {
	id = canonicalUUID(id)
	return db.write(ctx, func(tx *gorm.DB) error {
		var gone []string
		if err := tx.Raw(`DELETE FROM deleted_groups WHERE org = ? AND uuid = ? RETURNING uuid`, org, id).Scan(&gone).Error; err != nil {
			return translate(err)
		}
		if len(gone) == 0 {
			return &NotFoundError{Kind: "deleted group", ID: id}
		}
		return purgeRows(tx, org, id)
	})
}

// purgeRows deletes what a purged group leaves behind.
func purgeRows(tx *gorm.DB, org, id string) error {
	if err := tx.Exec(`DELETE FROM members WHERE org = ? AND group_uuid = ?`, org, id).Error; err != nil {
		return translate(err)
	}
	return translate(tx.Exec(`DELETE FROM group_references WHERE org = ? AND group_uuid = ?`, org, id).Error)
}

// purgeBatch bounds the groups one PurgeExpired transaction purges.
const purgeBatch = 100

// PurgeExpired purges every trashed group whose purge time has passed, of
// every organization, in transactions of at most purgeBatch groups, and
// returns how many it purged. Each batch is one DELETE ... RETURNING, so
// when several processes purge at once (replicas on one Postgres) each
// group is purged, and counted, by exactly one of them; on Postgres they
// skip each other's locked rows instead of waiting.
func (db *DB) PurgeExpired(ctx context.Context) (int, error) {
	total := 0
	for {
		var purged []struct{ Org, UUID string }
		lock := ""
		if db.dialect == Postgres {
			lock = ` FOR UPDATE SKIP LOCKED`
		}
		err := db.write(ctx, func(tx *gorm.DB) error {
			purged = nil
			if err := tx.Raw(`DELETE FROM deleted_groups WHERE uuid IN (
				SELECT uuid FROM deleted_groups WHERE purge_at <= ? ORDER BY purge_at LIMIT ?`+lock+`)
				RETURNING org, uuid`, db.nowMillis(), purgeBatch).Scan(&purged).Error; err != nil {
				return translate(err)
			}
			for _, p := range purged {
				if err := purgeRows(tx, p.Org, p.UUID); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("purge the trash: %w", err)
		}
		total += len(purged)
		if len(purged) < purgeBatch {
			return total, nil
		}
	}
}

// DeleteCheck is what deleting a group would do (CheckDelete).
type DeleteCheck struct {
	// Deletable says whether DeleteGroup would succeed now.
	Deletable   bool
	MemberCount int64
	// TotalReferences is the group's reference count; References the
	// first of them (at most 20) by ID.
	TotalReferences int64
	References      []Reference
}

// CheckDelete reports, without changing anything, whether DeleteGroup with
// cond would delete the group id of org, from one snapshot. Returns
// *NotFoundError if org has no such group and ErrPreconditionFailed
// (wrapped) if cond does not hold, exactly as DeleteGroup would.
func (db *DB) CheckDelete(ctx context.Context, org, id string, cond *Condition) (DeleteCheck, error) {
	id = canonicalUUID(id)
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	var out DeleteCheck
	err := db.r.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []groupRow
		if err := tx.Raw(`SELECT `+groupColumns+` FROM groups WHERE org = ? AND uuid = ?`, org, id).Scan(&rows).Error; err != nil {
			return translate(err)
		}
		if len(rows) == 0 {
			return &NotFoundError{Kind: "group", ID: id}
		}
		g := rows[0]
		if !cond.matches(g.Version) {
			return fmt.Errorf("%w: group %s", ErrPreconditionFailed, id)
		}
		refs, err := db.firstReferences(tx, org, id)
		if err != nil {
			return err
		}
		out = DeleteCheck{Deletable: g.ReferenceCount == 0, MemberCount: g.MemberCount, TotalReferences: g.ReferenceCount, References: refs}
		return nil
	}, opts)
	return out, translate(err)
}
