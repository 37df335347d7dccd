package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// Reference is another system's registered dependency on a group (an
// approval chain, a budget, ...). The store keeps it as opaque data; its one
// effect is that a group with references cannot be deleted (*InUseError).
type Reference struct {
	// ID is the caller's identifier, unique within the group, compared
	// byte for byte.
	ID          string
	Kind        string
	DisplayName string
	// URL is nil when none was given.
	URL *string
	// CreatedAt and UpdatedAt are Unix milliseconds.
	CreatedAt, UpdatedAt int64
}

// ReferenceInput is the caller's part of a Reference (PutReference).
type ReferenceInput struct {
	Kind        string
	DisplayName string
	URL         *string
}

// PageQuery selects one page of a list ordered by one key (references, the
// trash).
type PageQuery struct {
	// Size is the page size (at least 1).
	Size int
	// Page is the zero-based offset page; ignored when Cursor is set.
	Page int
	// Cursor is a Next from an earlier call for the same list.
	Cursor string
}

// ReferencePage is one page of a group's references with its reference count.
type ReferencePage struct {
	References []Reference
	Number     int
	Total      int64
	// Next is the cursor of the following page, "" on the last page.
	Next string
}

const referenceColumns = "reference_id, kind, display_name, url, created_at, updated_at"

func scanReference(rows interface{ Scan(...any) error }) (Reference, error) {
	var r Reference
	err := rows.Scan(&r.ID, &r.Kind, &r.DisplayName, &r.URL, &r.CreatedAt, &r.UpdatedAt)
	return r, err
}

// PutReference registers the reference refID on the group id of org, or
// replaces the one with that ID, and reports whether it is new. A new
// reference changes the group's reference count, updated_at and version in
// the same transaction; a replacement keeps created_at and moves updated_at
// only when a value changes. Archived groups accept references. The group
// is locked first (lockGroupRow), so a concurrent DeleteGroup either sees
// the new reference or removed the group before it: then this returns
// *NotFoundError (Kind "group"), as for a group org does not have.
func (db *DB) PutReference(ctx context.Context, org, id, refID string, in ReferenceInput) (ref Reference, created bool, err error) {
	id = canonicalUUID(id)
	err = db.write(ctx, func(tx *gorm.DB) error {
		ref, created = Reference{}, false
		g, err := db.lockGroupRow(tx, org, id)
		if err != nil {
			return err
		}
		now := db.nowMillis()
		var old []struct {
			Kind, DisplayName string
			URL               *string
			CreatedAt         int64
			UpdatedAt         int64
		}
		if err := tx.Raw(`SELECT kind, display_name, url, created_at, updated_at FROM group_references
			WHERE org = ? AND group_uuid = ? AND reference_id = ?`, org, id, refID).Scan(&old).Error; err != nil {
			return translate(err)
		}
		ref = Reference{ID: refID, Kind: in.Kind, DisplayName: in.DisplayName, URL: in.URL, CreatedAt: now, UpdatedAt: now}
		if len(old) == 0 {
			if err := tx.Exec(`INSERT INTO group_references (org, group_uuid, `+referenceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				org, id, refID, in.Kind, in.DisplayName, in.URL, now, now).Error; err != nil {
				return translate(err)
			}
			created = true
			return translate(tx.Exec(`UPDATE groups SET reference_count = ?, updated_at = ?, version = version + 1
				WHERE org = ? AND uuid = ?`, g.ReferenceCount+1, now, org, id).Error)
		}
		o := old[0]
		ref.CreatedAt = o.CreatedAt
		if o.Kind == in.Kind && o.DisplayName == in.DisplayName && equalPtr(o.URL, in.URL) {
			ref.UpdatedAt = o.UpdatedAt
			return nil
		}
		return translate(tx.Exec(`UPDATE group_references SET kind = ?, display_name = ?, url = ?, updated_at = ?
			WHERE org = ? AND group_uuid = ? AND reference_id = ?`, in.Kind, in.DisplayName, in.URL, now, org, id, refID).Error)
	})
	return ref, created, err
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// GetReference returns the reference refID of the group id of org. Returns
// *NotFoundError with Kind "reference" if the group exists but has no such
// reference, Kind "group" if org has no such group.
func (db *DB) GetReference(ctx context.Context, org, id, refID string) (Reference, error) {
	id = canonicalUUID(id)
	// The join keeps a trashed group's references out of sight.
	r, err := scanReference(db.rsql.QueryRowContext(ctx, db.bind(`SELECT r.reference_id, r.kind, r.display_name, r.url, r.created_at, r.updated_at
		FROM group_references r JOIN groups g ON g.org = r.org AND g.uuid = r.group_uuid
		WHERE r.org = ? AND r.group_uuid = ? AND r.reference_id = ?`), org, id, refID))
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Reference{}, translate(err)
	}
	if _, err := db.GetGroup(ctx, org, id); err != nil {
		return Reference{}, err
	}
	return Reference{}, &NotFoundError{Kind: "reference", ID: refID}
}

// DeleteReference removes the reference refID from the group id of org;
// removing one that does not exist changes nothing and is not an error. A
// removal changes the group's reference count, updated_at and version in
// the same transaction. Returns *NotFoundError (Kind "group") if org has no
// such group.
func (db *DB) DeleteReference(ctx context.Context, org, id, refID string) error {
	id = canonicalUUID(id)
	return db.write(ctx, func(tx *gorm.DB) error {
		g, err := db.lockGroupRow(tx, org, id)
		if err != nil {
			return err
		}
		res := tx.Exec(`DELETE FROM group_references WHERE org = ? AND group_uuid = ? AND reference_id = ?`, org, id, refID)
		if res.Error != nil {
			return translate(res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		return translate(tx.Exec(`UPDATE groups SET reference_count = ?, updated_at = ?, version = version + 1
			WHERE org = ? AND uuid = ?`, g.ReferenceCount-res.RowsAffected, db.nowMillis(), org, id).Error)
	})
}

// firstReferences returns the first maxInUseReferences references of the
// group id of org, by ID, read in tx.
func (db *DB) firstReferences(tx *gorm.DB, org, id string) ([]Reference, error) {
	var rows []struct {
		ReferenceID, Kind, DisplayName string
		URL                            *string
		CreatedAt, UpdatedAt           int64
	}
	if err := tx.Raw(`SELECT `+referenceColumns+` FROM group_references WHERE org = ? AND group_uuid = ?
		ORDER BY reference_id LIMIT ?`, org, id, maxInUseReferences).Scan(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]Reference, len(rows))
	for i, r := range rows {
		out[i] = Reference{ID: r.ReferenceID, Kind: r.Kind, DisplayName: r.DisplayName, URL: r.URL, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	}
	return out, nil
}

// ListReferences returns one page of the references of the group id of org,
// in byte order of their IDs; Total is the group's reference count, read in
// the same snapshot as the page. Returns *NotFoundError (Kind "group") if
// org has no such group, *InvalidError (Field "cursor") for a malformed
// cursor or one of another list.
func (db *DB) ListReferences(ctx context.Context, org, id string, q PageQuery) (ReferencePage, error) {
	id = canonicalUUID(id)
	fp := queryFingerprint(nil, "references\x00"+id)
	number, offset, after := q.Page, int64(q.Page)*int64(q.Size), ""
	if q.Cursor != "" {
		c, err := decodeCursor(db.cursorKey, org, q.Cursor)
		if err != nil {
			return ReferencePage{}, err
		}
		if c.Query != fp || c.UUID != id || len(c.Keys) != 1 {
			return ReferencePage{}, invalid("cursor", "belongs to another list")
		}
		if err := json.Unmarshal(c.Keys[0], &after); err != nil || after == "" {
			return ReferencePage{}, errMalformedCursor
		}
		number, offset = c.Page, 0
	}
	tx, err := db.readTx(ctx)
	if err != nil {
		return ReferencePage{}, err
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	var total int64
	if err := tx.QueryRowContext(ctx, db.bind(`SELECT reference_count FROM groups WHERE org = ? AND uuid = ?`), org, id).Scan(&total); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return ReferencePage{}, &NotFoundError{Kind: "group", ID: id}
		}
		return ReferencePage{}, translate(err)
	}
	query, args := `SELECT `+referenceColumns+` FROM group_references WHERE org = ? AND group_uuid = ?`, []any{org, id}
	if after != "" {
		query, args = query+` AND reference_id > ?`, append(args, after)
	}
	rows, err := tx.QueryContext(ctx, db.bind(query+` ORDER BY reference_id LIMIT ? OFFSET ?`), append(args, q.Size+1, offset)...)
	if err != nil {
		return ReferencePage{}, translate(err)
	}
	defer rows.Close()
	page := ReferencePage{Number: number, Total: total, References: make([]Reference, 0, min(q.Size, 128))}
	more := false
	for rows.Next() {
		if len(page.References) == q.Size {
			more = true
			break
		}
		r, err := scanReference(rows)
		if err != nil {
			return ReferencePage{}, translate(err)
		}
		page.References = append(page.References, r)
	}
	if err := rows.Err(); err != nil {
		return ReferencePage{}, translate(err)
	}
	if more {
		last, _ := json.Marshal(page.References[len(page.References)-1].ID)
		page.Next = encodeCursor(db.cursorKey, org, cursor{Keys: []json.RawMessage{last}, UUID: id, Page: number + 1, Query: fp})
	}
	return page, nil
}

// readTx begins a read-only transaction on the reader pool whose reads all
// see one snapshot (repeatable read on Postgres; a SQLite read transaction
// always does).
func (db *DB) readTx(ctx context.Context) (*sql.Tx, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := db.rsql.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", translate(err))
	}
	return tx, nil
}
