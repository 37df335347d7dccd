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

// translate turns driver errors into the store's vocabulary. Errors it does
// not recognize pass through unchanged and become 500s upstream.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if isUniqueViolation(err) {
		return fmt.Errorf("%w", ErrNameTaken)
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
