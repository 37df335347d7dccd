package store

import (
	"bytes"
	"context"
	"encoding/json"
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

// IdempotentCreate is the input of CreateGroupIdempotent.
type IdempotentCreate struct {
	// Key is the client's idempotency key; keys are per organization.
	Key string
	// Fingerprint identifies the request's content: a retry with the same
	// Key must bring the same Fingerprint.
	Fingerprint []byte
	// Meta is opaque to the store. It is kept with the outcome and returned
	// with every replay, so the caller can render a replay exactly like the
	// first answer (the server keeps the first request's id and path there).
	Meta []byte
	// Group is the group to create.
	Group NewGroup
}

// OutcomeKind says how an idempotent create ended.
type OutcomeKind string

// The kinds of outcome an idempotency record keeps.
const (
	// OutcomeCreated: the group was created; Outcome.Group is the group as
	// it was created (later changes to it do not show in a replay).
	OutcomeCreated OutcomeKind = "created"
	// OutcomeNameTaken: nothing was created; Outcome.Err is the
	// *NameTakenError the create returned.
	OutcomeNameTaken OutcomeKind = "name_taken"
	// OutcomeRendered: a record written before schema version 3, which kept
	// a rendered response (Outcome.Rendered) instead of the outcome. Such
	// records expire within IdempotencyTTL of the upgrade.
	OutcomeRendered OutcomeKind = "rendered"
)

// Outcome is the recorded outcome of an idempotent create.
type Outcome struct {
	Kind OutcomeKind
	// Group is set for OutcomeCreated.
	Group Group
	// Err is set for OutcomeNameTaken: a *NameTakenError.
	Err error
	// Meta is IdempotentCreate.Meta of the call that recorded the outcome.
	Meta []byte
	// CreatedAt is when that call claimed the key (Unix milliseconds).
	CreatedAt int64
	// Replayed says the outcome was recorded by an earlier call.
	Replayed bool
	// Rendered is set for OutcomeRendered.
	Rendered *RenderedResponse
}

// RenderedResponse is a response as versions before schema version 3 stored
// it, to be replayed as it is.
type RenderedResponse struct {
	Status   int
	Body     []byte
	Location string
	ETag     string
}

// outcomeRecord is the store's encoding of an outcome in the record column:
// the group as created, or (OutcomeNameTaken) only the name that was taken.
type outcomeRecord struct {
	UUID        string  `json:"uuid,omitempty"`
	Name        string  `json:"name"`
	Description *string `json:"description,omitempty"`
	CreatedAt   int64   `json:"createdAt,omitempty"`
	UpdatedAt   int64   `json:"updatedAt,omitempty"`
	Version     int64   `json:"version,omitempty"`
}

type idemRow struct {
	Fingerprint []byte
	Done        int
	Outcome     *string
	Record      []byte
	Meta        []byte
	CreatedAt   int64
	// Rendered responses of records written before schema version 3.
	Status   int
	Body     []byte
	Location *string
	ETag     *string `gorm:"column:etag"`
}

// outcome decodes a finished record of org.
func (r idemRow) outcome(org string) (Outcome, error) {
	out := Outcome{Meta: r.Meta, CreatedAt: r.CreatedAt, Replayed: true}
	if r.Outcome == nil {
		out.Kind = OutcomeRendered
		out.Rendered = &RenderedResponse{Status: r.Status, Body: r.Body, Location: deref(r.Location), ETag: deref(r.ETag)}
		return out, nil
	}
	var rec outcomeRecord
	if err := json.Unmarshal(r.Record, &rec); err != nil {
		return Outcome{}, fmt.Errorf("store: idempotency record: %w", err)
	}
	switch out.Kind = OutcomeKind(*r.Outcome); out.Kind {
	case OutcomeCreated:
		out.Group = Group{UUID: rec.UUID, Org: org, Name: rec.Name, Description: rec.Description,
			CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt, Version: rec.Version}
	case OutcomeNameTaken:
		out.Err = &NameTakenError{Name: rec.Name}
	default:
		return Outcome{}, fmt.Errorf("store: idempotency record of unknown kind %q", out.Kind)
	}
	return out, nil
}

// CreateGroupIdempotent creates a group at most once per (org, in.Key) and
// records the outcome in the same transaction. The first call claims the
// key and returns the outcome it recorded: OutcomeCreated, or
// OutcomeNameTaken when the name is taken (an outcome, not an error, so a
// retry gets the same answer). A later call with the same fingerprint
// returns the recorded outcome with Replayed set. Returns
// ErrIdempotencyMismatch (wrapped) if the key was used with another
// fingerprint, ErrIdempotencyInFlight (wrapped) while the first call is
// unfinished, and, releasing the key, *InvalidError for a blank name or
// any database failure.
func (db *DB) CreateGroupIdempotent(ctx context.Context, org string, in IdempotentCreate) (Outcome, error) {
	now := db.now()
	claimed, err := db.claimKey(ctx, org, in.Key, in.Fingerprint)
	if err != nil {
		return Outcome{}, err
	}
	if !claimed {
		return db.recordedOutcome(ctx, org, in)
	}

	out := Outcome{Meta: in.Meta, CreatedAt: now.UnixMilli()}
	row, err := db.newRow(org, in.Group)
	if err == nil {
		err = withRetry(ctx, func() error {
			out = Outcome{Meta: in.Meta, CreatedAt: now.UnixMilli()} // of an attempt that was rolled back
			return db.boundedWrite(ctx, func(w *gorm.DB) error {
				return w.Transaction(func(tx *gorm.DB) error {
					rec := outcomeRecord{Name: row.Name}
					switch err := db.insertRow(tx, row); {
					case err == nil:
						if err := addCount(tx, org, 1); err != nil {
							return err
						}
						out.Kind, out.Group = OutcomeCreated, row.group()
						g := out.Group
						rec = outcomeRecord{UUID: g.UUID, Name: g.Name, Description: g.Description,
							CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt, Version: g.Version}
					case errors.Is(err, ErrNameTaken):
						out.Kind, out.Err = OutcomeNameTaken, err
					default:
						return err
					}
					b, err := json.Marshal(rec)
					if err != nil {
						return err
					}
					return finishKey(tx, org, in.Key, string(out.Kind), b, in.Meta)
				})
			})
		})
	}
	if err != nil {
		db.releaseClaim(ctx, org, in.Key)
		// BEGIN and COMMIT fail outside the callback, untranslated.
		return Outcome{}, translate(err)
	}
	return out, nil
}

// claimKey claims (org, key) for a request with fingerprint fp: it reports
// true when this call is the first (or takes over an expired record, or an
// unfinished claim of the same request whose lease ran out).
func (db *DB) claimKey(ctx context.Context, org, key string, fp []byte) (bool, error) {
	now := db.now()
	var claimed []string
	err := withRetry(ctx, func() error {
		claimed = nil
		return db.boundedWrite(ctx, func(w *gorm.DB) error {
			return w.Raw(`INSERT INTO idempotency_keys (org, key, fingerprint, done, status, created_at, expires_at)
		VALUES (?, ?, ?, 0, 0, ?, ?)
		ON CONFLICT (org, key) DO UPDATE SET fingerprint = excluded.fingerprint, done = 0, status = 0,
			body = NULL, location = NULL, etag = NULL, outcome = NULL, record = NULL, meta = NULL,
			created_at = excluded.created_at, expires_at = excluded.expires_at
		WHERE idempotency_keys.expires_at < ?
		   OR (idempotency_keys.done = 0 AND idempotency_keys.created_at < ? AND idempotency_keys.fingerprint = excluded.fingerprint)
		RETURNING key`,
				org, key, fp, now.UnixMilli(), now.Add(IdempotencyTTL).UnixMilli(),
				now.UnixMilli(), now.Add(-claimLease).UnixMilli()).Scan(&claimed).Error
		})
	})
	if err != nil {
		return false, translate(err)
	}
	return len(claimed) > 0, nil
}

// recordedRow reads the finished record of a key this call could not
// claim. Returns ErrIdempotencyMismatch (wrapped) if it was claimed with
// another fingerprint, ErrIdempotencyInFlight (wrapped) while unfinished.
func (db *DB) recordedRow(ctx context.Context, org, key string, fp []byte) (idemRow, error) {
	var rows []idemRow
	if err := db.w.WithContext(ctx).Raw(`SELECT fingerprint, done, outcome, record, meta, created_at, status, body, location, etag
		FROM idempotency_keys WHERE org = ? AND key = ?`, org, key).Scan(&rows).Error; err != nil {
		return idemRow{}, translate(err)
	}
	switch {
	case len(rows) == 0: // purged in between: the caller may retry
		return idemRow{}, fmt.Errorf("%w: key %q", ErrIdempotencyInFlight, key)
	case !bytes.Equal(rows[0].Fingerprint, fp):
		return idemRow{}, fmt.Errorf("%w: key %q", ErrIdempotencyMismatch, key)
	case rows[0].Done == 0:
		return idemRow{}, fmt.Errorf("%w: key %q", ErrIdempotencyInFlight, key)
	}
	return rows[0], nil
}

// finishKey records the outcome of the claimed (org, key) inside tx, the
// transaction of the write it describes.
func finishKey(tx *gorm.DB, org, key, kind string, record, meta []byte) error {
	return translate(tx.Exec(`UPDATE idempotency_keys SET done = 1, outcome = ?, record = ?, meta = ?
		WHERE org = ? AND key = ?`, kind, record, meta, org, key).Error)
}

// recordedOutcome answers a call that found the key already claimed.
func (db *DB) recordedOutcome(ctx context.Context, org string, in IdempotentCreate) (Outcome, error) {
	row, err := db.recordedRow(ctx, org, in.Key, in.Fingerprint)
	if err != nil {
		return Outcome{}, err
	}
	return row.outcome(org)
}

// releaseClaim deletes an unfinished claim so a retry can run: a failure is
// not an outcome to keep. It runs within the request's deadline if that has
// time left, else in the background: an unreachable database must not hold
// the request past its deadline, and the claim lease covers a release that
// never lands.
func (db *DB) releaseClaim(ctx context.Context, org, key string) {
	release := func(ctx context.Context) error {
		return db.boundedWrite(ctx, func(w *gorm.DB) error {
			return w.Exec(`DELETE FROM idempotency_keys WHERE org = ? AND key = ? AND done = 0`, org, key).Error
		})
	}
	if ctx.Err() != nil || release(ctx) != nil {
		go func() {
			bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), claimLease)
			defer cancel()
			_ = release(bctx)
		}()
	}
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
