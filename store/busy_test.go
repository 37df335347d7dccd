package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"gorm.io/gorm"
)

// boundedWrite cuts the writer's busy timeout to the request's time left
// only for its own work: the next user of the one writer connection (a
// migration, the keys CLI) waits the full busy timeout again.
func TestBoundedWriteRestoresTheBusyTimeout(t *testing.T) {
	db, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "g.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var during, after int
	err = db.boundedWrite(ctx, func(w *gorm.DB) error {
		return w.Raw("PRAGMA busy_timeout").Scan(&during).Error
	})
	if err != nil {
		t.Fatal(err)
	}
	if during <= 0 || during > 1000 {
		t.Errorf("busy_timeout during a write with 1s left = %d ms, want at most 1000", during)
	}
	if err := db.w.Raw("PRAGMA busy_timeout").Scan(&after).Error; err != nil {
		t.Fatal(err)
	}
	if after != busyTimeoutMillis {
		t.Errorf("busy_timeout afterwards = %d ms, want %d", after, busyTimeoutMillis)
	}
}
