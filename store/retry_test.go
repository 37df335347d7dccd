package store

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// A deadlock or serialization failure is retried a bounded number of
// times; one that persists becomes ErrUnavailable (503, Retry-After), never
// an unexpected error (500).
func TestTransientConflictsAreRetriedThenUnavailable(t *testing.T) {
	for _, code := range []string{"40P01", "40001"} {
		calls := 0
		err := withRetry(context.Background(), func() error {
			calls++
			return &pgconn.PgError{Code: code}
		})
		if calls != conflictRetries {
			t.Errorf("%s: %d attempts, want %d", code, calls, conflictRetries)
		}
		if err = translate(err); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: translated to %v, want ErrUnavailable", code, err)
		}
		calls = 0
		_ = withRetry(context.Background(), func() error {
			calls++
			if calls < 3 {
				return &pgconn.PgError{Code: code}
			}
			return nil
		})
		if calls != 3 {
			t.Errorf("%s: %d attempts, want 3 (stop at the first success)", code, calls)
		}
	}
}
