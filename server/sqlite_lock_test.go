package server_test

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// While another process holds the SQLite write lock, a write answers 503
// once its request deadline passes, not after the writer's whole busy
// timeout (5 s): the wait for the lock listens to the request.
func TestSQLiteLockedWriteAnswersWithinTheDeadline(t *testing.T) {
	url := storetest.URL(t, store.SQLite)
	e := newEnvURL(t, url, func(c *server.Config) { c.RequestTimeout = time.Second })

	g, etag := e.create("acme", "Target")
	keyID := e.addKey("admin", "acme", store.ScopeKeysManage)

	other, err := sql.Open("sqlite3", strings.TrimPrefix(url, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	for _, tc := range []struct {
		name, method, path, body string
		headers                  []string
	}{
		{"Create", "POST", "/api/v2/groups", `{"name":"Locked out"}`, nil},
		{"IdempotentCreate", "POST", "/api/v2/groups", `{"name":"Locked out"}`, []string{"Idempotency-Key", "k1"}},
		{"Patch", "PATCH", "/api/v2/groups/" + g.Uuid.String(), `{"description":"d"}`, []string{"Content-Type", "application/merge-patch+json", "If-Match", etag}},
		{"Delete", "DELETE", "/api/v2/groups/" + g.Uuid.String(), "", nil},
		{"RevokeKey", "DELETE", "/api/v2/api-keys/" + keyID, "", []string{"Authorization", "Bearer " + e.keys["admin"]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := append(e.auth("acme"), "Content-Type", "application/json")
			start := time.Now()
			resp, body := e.do(tc.method, tc.path, tc.body, append(h, tc.headers...)...)
			took := time.Since(start)
			problem(t, resp, body, http.StatusServiceUnavailable, api.SERVICEUNAVAILABLE)
			if took > 2*time.Second {
				t.Errorf("answered after %v, want about the 1s request deadline", took)
			}
		})
	}
}
