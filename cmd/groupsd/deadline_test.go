package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// TestRequestDeadlineReachesDatabase: --request-timeout bounds the database
// work of a request. Another process holds SQLite's write lock, so groupsd's
// single writer connection is stuck behind it and further writes queue for
// that connection. Those writes must come back as 503 problem+json while the
// lock is still held (the deadline reached the database layer, no hang),
// must not run later (at most the one write already inside SQLite can land),
// and each 503 is logged as an error with its request id.
func TestRequestDeadlineReachesDatabase(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "groups.db")
	cfg := testConfig(t)
	cfg.Database, cfg.Auth, cfg.RequestTimeout = "sqlite:"+dbPath, "none", 300*time.Millisecond
	p := startServer(t, cfg)

	const n = 4
	var ids []string
	for i := range n {
		resp, b := opsDo(t, "POST", p.URL+"/v2/groups", fmt.Sprintf(`{"name":"g%d"}`, i), "Content-Type", "application/json")
		if resp.StatusCode != 201 {
			t.Fatalf("create: %d %s", resp.StatusCode, b)
		}
		var g struct{ UUID string }
		_ = json.Unmarshal(b, &g)
		ids = append(ids, g.UUID)
	}

	// Hold the write lock from outside groupsd.
	locker, err := sql.Open("sqlite3", "file:"+dbPath+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	ctx := context.Background()
	lock, err := locker.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	locked := true
	unlock := func() {
		if locked {
			locked = false
			if _, err := lock.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Error(err)
			}
		}
	}
	defer unlock()

	type answer struct {
		id   string
		resp *http.Response
		body []byte
		err  error
	}
	answers := make(chan answer, n)
	for i, id := range ids {
		go func() {
			rid := fmt.Sprintf("deadline-%d", i)
			resp, b, err := opsTry("PATCH", p.URL+"/v2/groups/"+id, `{"description":"changed"}`,
				"Content-Type", "application/merge-patch+json", "X-Request-Id", rid)
			answers <- answer{id: rid, resp: resp, body: b, err: err}
		}()
	}
	// Every write but the one inside SQLite's busy wait should answer while
	// the lock is held. Give up after 4 s, short of the 5 s busy timeout
	// that would otherwise end the wait.
	var got []answer
	giveUp := time.After(4 * time.Second)
wait:
	for len(got) < n-1 {
		select {
		case a := <-answers:
			got = append(got, a)
		case <-giveUp:
			break wait
		}
	}
	if len(got) < n-1 {
		t.Errorf("only %d of %d writes queued behind a locked database answered within 4 s with --request-timeout 300ms: the deadline does not reach the database", len(got), n-1)
	}
	unlock()
	for len(got) < n {
		select {
		case a := <-answers:
			got = append(got, a)
		case <-time.After(20 * time.Second):
			t.Fatalf("a write did not answer 20 s after the lock was released")
		}
	}

	changed := 0
	for _, id := range ids {
		resp, b := opsDo(t, "GET", p.URL+"/v2/groups/"+id, "")
		var g struct{ Description *string }
		if resp.StatusCode != 200 || json.Unmarshal(b, &g) != nil {
			t.Fatalf("get: %d %s", resp.StatusCode, b)
		}
		if g.Description != nil {
			changed++
		}
	}
	if changed > 1 {
		t.Errorf("%d timed-out writes were applied later; only the one already inside SQLite may land", changed)
	}

	// After Close every line is logged; then read the error lines.
	p.Stop(t)
	failed := map[string]bool{}
	for _, m := range opsLogLines(t, p.Logs) {
		if m["level"] == "WARN" && m["msg"] == "request failed" {
			failed[fmt.Sprint(m["request_id"])] = true
		}
	}
	for _, a := range got {
		if a.err != nil {
			t.Errorf("%s: %v", a.id, a.err)
			continue
		}
		if a.resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s: %d %s, want 503", a.id, a.resp.StatusCode, a.body)
			continue
		}
		if code := opsProblemCode(a.resp, a.body); code != "SERVICE_UNAVAILABLE" {
			t.Errorf("%s: %s", a.id, code)
		}
		if a.resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", a.id)
		}
		if a.resp.Header.Get("X-Request-Id") != a.id {
			t.Errorf("%s: X-Request-Id %q", a.id, a.resp.Header.Get("X-Request-Id"))
		}
		if !failed[a.id] {
			t.Errorf("%s: the 503 was not logged as an error with its request id", a.id)
		}
	}
}
