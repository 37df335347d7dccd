package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

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
}

func (e *NameTakenError) Error() string { return fmt.Sprintf("name already used: %q", e.Name) }

// Is makes errors.Is(err, ErrNameTaken) hold.
func (e *NameTakenError) Is(target error) bool { return target == ErrNameTaken }

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
