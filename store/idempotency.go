package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// IdempotencyTTL is how long an idempotent outcome is kept.
const IdempotencyTTL = 24 * time.Hour

// claimLease is how long an unfinished claim blocks retries. A claim is only
// left unfinished when its process died before committing (the create and
// the outcome commit together), so after the lease a retry may take it over.
const claimLease = time.Minute

// Outcome is a stored response, replayed byte for byte.
type Outcome struct {
	Status   int
	Body     []byte
	Location string
	ETag     string
}

type idemRow struct {
	Fingerprint []byte
	Done        int
	Status      int
	Body        []byte
	Location    *string
	ETag        *string `gorm:"column:etag"`
}

// Render turns the result of an idempotent create into the response to store.
// It returns false for outcomes that must not be stored (the key is released).
type Render func(g Group, err error) (Outcome, bool)

// CreateGroupIdempotent creates a group at most once per (org, key). The first
// call claims the key, creates the group and stores render's outcome in the
// same transaction. A later call with the same fingerprint returns the stored
// outcome (replayed = true); with another fingerprint ErrIdempotencyMismatch;
// while the first is unfinished ErrIdempotencyInFlight.
func (db *DB) CreateGroupIdempotent(ctx context.Context, org, key string, fingerprint []byte, in NewGroup, render Render) (out Outcome, replayed bool, err error) {
	now := db.now()
	var claimed []string
	err = db.w.WithContext(ctx).Raw(`INSERT INTO idempotency_keys (org, key, fingerprint, done, status, created_at, expires_at)
		VALUES (?, ?, ?, 0, 0, ?, ?)
		ON CONFLICT (org, key) DO UPDATE SET fingerprint = excluded.fingerprint, done = 0, status = 0,
			body = NULL, location = NULL, etag = NULL, created_at = excluded.created_at, expires_at = excluded.expires_at
		WHERE idempotency_keys.expires_at < ?
		   OR (idempotency_keys.done = 0 AND idempotency_keys.created_at < ? AND idempotency_keys.fingerprint = excluded.fingerprint)
		RETURNING key`,
		org, key, fingerprint, now.UnixMilli(), now.Add(IdempotencyTTL).UnixMilli(),
		now.UnixMilli(), now.Add(-claimLease).UnixMilli()).Scan(&claimed).Error
	if err != nil {
		return Outcome{}, false, translate(err)
	}
	if len(claimed) == 0 {
		var rows []idemRow
		if err := db.w.WithContext(ctx).Raw(`SELECT fingerprint, done, status, body, location, etag
			FROM idempotency_keys WHERE org = ? AND key = ?`, org, key).Scan(&rows).Error; err != nil {
			return Outcome{}, false, translate(err)
		}
		switch {
		case len(rows) == 0: // purged in between: the caller may retry
			return Outcome{}, false, fmt.Errorf("%w: key %q", ErrIdempotencyInFlight, key)
		case !bytes.Equal(rows[0].Fingerprint, fingerprint):
			return Outcome{}, false, fmt.Errorf("%w: key %q", ErrIdempotencyMismatch, key)
		case rows[0].Done == 0:
			return Outcome{}, false, fmt.Errorf("%w: key %q", ErrIdempotencyInFlight, key)
		}
		r := rows[0]
		return Outcome{Status: r.Status, Body: r.Body, Location: deref(r.Location), ETag: deref(r.ETag)}, true, nil
	}

	row, rowErr := db.newRow(org, in)
	var keep bool
	err = db.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		createErr := rowErr
		if createErr == nil {
			createErr = db.insertRow(tx, row)
			if createErr == nil {
				if err := addCount(tx, org, 1); err != nil {
					return err
				}
			} else if !errors.Is(createErr, ErrNameTaken) {
				return createErr
			}
		}
		out, keep = render(row.group(), createErr)
		if !keep {
			if createErr != nil {
				return createErr
			}
			return errors.New("store: render refused a successful create")
		}
		return translate(tx.Exec(`UPDATE idempotency_keys SET done = 1, status = ?, body = ?, location = ?, etag = ?
			WHERE org = ? AND key = ?`, out.Status, out.Body, out.Location, out.ETag, org, key).Error)
	})
	if err != nil {
		// Release the claim so a retry can run; it is not an outcome to keep.
		// Within the request's deadline if it has time left, else in the
		// background: an unreachable database must not hold the request past
		// its deadline, and the claim lease covers a release that never lands.
		release := func(ctx context.Context) error {
			return db.w.WithContext(ctx).Exec(`DELETE FROM idempotency_keys WHERE org = ? AND key = ? AND done = 0`, org, key).Error
		}
		if ctx.Err() != nil || release(ctx) != nil {
			go func() {
				bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimLease)
				defer cancel()
				_ = release(bctx)
			}()
		}
		// BEGIN and COMMIT fail outside the callback, untranslated.
		return Outcome{}, false, translate(err)
	}
	return out, false, nil
}

// PurgeIdempotencyKeys deletes up to limit expired entries and reports how many.
func (db *DB) PurgeIdempotencyKeys(ctx context.Context, limit int) (int64, error) {
	res := db.w.WithContext(ctx).Exec(`DELETE FROM idempotency_keys WHERE (org, key) IN
		(SELECT org, key FROM idempotency_keys WHERE expires_at < ? LIMIT ?)`, db.nowMillis(), limit)
	return res.RowsAffected, translate(res.Error)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
