package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"
	"gorm.io/gorm"
)

// The store's error vocabulary. Expected failures that carry a fact are typed
// (*NotFoundError, *NameTakenError, *InvalidError): callers read the fact
// with errors.As, never from the message. Each type also matches its
// sentinel with errors.Is, so callers that only need the class test that.
// Unexpected errors (bugs, driver errors the store does not recognize) pass
// through unchanged.
var (
	// ErrNotFound: no such row in the caller's organization. *NotFoundError
	// matches it.
	ErrNotFound = errors.New("not found")
	// ErrNameTaken: another group of the organization has the same
	// normalized name. *NameTakenError matches it.
	ErrNameTaken = errors.New("name already used")
	// ErrPreconditionFailed: the row's version does not match the caller's condition.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrInvalid: an input the store cannot use (blank name, malformed
	// cursor, ...). *InvalidError matches it.
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable: the database cannot be reached or cannot be written.
	ErrUnavailable = errors.New("database unavailable")
	// ErrNotWritable comes with ErrUnavailable when the database answers but
	// refuses writes: a read-only file or database, or a full disk.
	ErrNotWritable = errors.New("database cannot be written")
	// ErrIdempotencyInFlight: another request with the same idempotency key is still running.
	ErrIdempotencyInFlight = errors.New("idempotency key in flight")
	// ErrIdempotencyMismatch: the idempotency key was used with a different request.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
)

// NotFoundError says that the Kind (for example "group") with ID does not
// exist in the caller's organization. It matches ErrNotFound.
type NotFoundError struct {
	Kind string
	// ID is the identifier as the caller gave it.
	ID string
}

func (e *NotFoundError) Error() string { return e.Kind + " " + e.ID + " not found" }

// Is makes errors.Is(err, ErrNotFound) hold.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// NameTakenError says that another group of the organization already has a
// name with the same NameKey. Name is the (trimmed) name that was asked for.
// It matches ErrNameTaken.
type NameTakenError struct {
	Name string
	// Restoring says the name was asked for by a restore (RestoreGroup),
	// whose caller may pass another one.
	Restoring bool
}

func (e *NameTakenError) Error() string { return fmt.Sprintf("name already used: %q", e.Name) }

// Is makes errors.Is(err, ErrNameTaken) hold.
func (e *NameTakenError) Is(target error) bool { return target == ErrNameTaken }

// ErrArchived: the group is archived and the write is one an archived group
// refuses. *ArchivedError matches it.
var ErrArchived = errors.New("group is archived")

// ArchivedError says that the group ID is archived and refuses the write
// (a change of its name, description or members). Nothing was changed.
type ArchivedError struct {
	ID string
}

func (e *ArchivedError) Error() string { return "group " + e.ID + " is archived" }

// Is makes errors.Is(err, ErrArchived) hold.
func (e *ArchivedError) Is(target error) bool { return target == ErrArchived }

// ErrInUse: the group has references, so it cannot be deleted. *InUseError
// matches it.
var ErrInUse = errors.New("group is in use")

// InUseError says that the group ID has Total references and so was not
// deleted; References holds the first of them (at most 20) by ID.
type InUseError struct {
	ID         string
	Total      int64
	References []Reference
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("group %s has %d references", e.ID, e.Total)
}

// Is makes errors.Is(err, ErrInUse) hold.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// InvalidError says that an input cannot be used. Field names the input
// ("name", "cursor", "organization"); Reason completes a sentence that
// starts with it ("is malformed"). It matches ErrInvalid.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return e.Field + " " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) hold.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, reason string) error { return &InvalidError{Field: field, Reason: reason} }

// translate turns driver errors into the store's vocabulary. Errors it does
// not recognize pass through unchanged and become 500s upstream.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if isUniqueViolation(err) {
		// The caller knows the name and returns *NameTakenError.
		return ErrNameTaken
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return unavailable(err)
}

// transientConflict reports a Postgres serialization failure (40001) or
// deadlock (40P01): the transaction was rolled back only because of a
// concurrent one and the same work may simply run again. Two renames that
// take each other's names wait on each other's unique-index entries, an
// order no statement can fix, so these are retried (withRetry), not
// prevented.
func transientConflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// conflictRetries bounds how often withRetry runs work that keeps losing
// to concurrent transactions.
const conflictRetries = 5

// withRetry runs fn, once more after each transient conflict, at most
// conflictRetries times and never past ctx, with a short jittered pause so
// the transactions that collided do not collide again. fn must be safe to
// repeat: a whole transaction or one statement. When conflicts persist the
// last one is returned; translate makes it ErrUnavailable (503, retry later).
func withRetry(ctx context.Context, fn func() error) error {
	var err error
	for attempt := range conflictRetries {
		if err = fn(); !transientConflict(err) {
			return err
		}
		pause := time.Duration(1+rand.IntN(4<<attempt)) * time.Millisecond //nolint:gosec // jitter, not a secret
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
	return err
}

// unavailable wraps err with ErrUnavailable when it says the database cannot
// be reached, opened or written, so callers answer 503 and clients retry.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch {
		case se.Code == sqlite3.ErrReadonly, se.Code == sqlite3.ErrFull, se.ExtendedCode == sqlite3.ErrIoErrWrite:
			return fmt.Errorf("%w: %w: %w", ErrUnavailable, ErrNotWritable, err)
		}
		switch se.Code {
		case sqlite3.ErrIoErr, sqlite3.ErrCantOpen,
			sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrPerm, sqlite3.ErrAuth:
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "25006", "53100": // read_only_sql_transaction, disk_full
			return fmt.Errorf("%w: %w: %w", ErrUnavailable, ErrNotWritable, err)
		case "40001", "40P01": // still conflicting after withRetry
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		switch pe.Code[:2] {
		case "08", "53", "57", "58", "3D", "25": // connection, resources, shutdown, system, no database, read-only tx
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if msg := err.Error(); containsAny(msg, "conn closed", "unexpected EOF", "connection reset", "broken pipe", "bad connection", "connection refused") {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// isUniqueViolation reports a unique-constraint failure on either database;
// the only unique constraint a client can hit is (org, name_key).
func isUniqueViolation(err error) bool {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// ErrExpired: the API key is genuine but past its expiry. *ExpiredError
// matches it.
var ErrExpired = errors.New("API key expired")

// ExpiredError says that key ID expired at At (Unix milliseconds). The
// store returns it only to a caller that presented the key's secret, so it
// tells nothing to anyone else. It matches ErrExpired.
type ExpiredError struct {
	ID string
	At int64
}

func (e *ExpiredError) Error() string { return "API key " + e.ID + " expired" }

// Is makes errors.Is(err, ErrExpired) hold.
func (e *ExpiredError) Is(target error) bool { return target == ErrExpired }
