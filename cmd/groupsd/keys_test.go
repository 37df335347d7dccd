package main

import (
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var keyFormat = regexp.MustCompile(`^gk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$`)

func TestKeysCLI(t *testing.T) {
	database := "sqlite:" + filepath.Join(t.TempDir(), "new.db") // does not exist yet

	out, errOut, err := groupsdCmd(t, "keys", "create", "--org", "acme", "--name", "ci", "--database", database)
	if err != nil {
		t.Fatalf("keys create on a new file: %v\n%s", err, errOut)
	}
	if lines := strings.Split(strings.TrimRight(out, "\n"), "\n"); len(lines) != 1 || !keyFormat.MatchString(lines[0]) {
		t.Fatalf("stdout must be exactly the key, got %q", out)
	}
	secret := strings.TrimSpace(out)
	id := strings.Split(secret, "_")[1]
	second := newKey(t, database, "globex")

	t.Run("ListShowsIDsNeverSecrets", func(t *testing.T) {
		out, _, err := groupsdCmd(t, "keys", "list", "--database", database)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"ID", "ORG", "LABEL", "CREATED", "LAST USED", "REVOKED", id, "acme", "ci", "globex"} {
			if !strings.Contains(out, want) {
				t.Errorf("list lacks %q:\n%s", want, out)
			}
		}
		for _, s := range []string{secret, second, strings.Split(secret, "_")[2]} {
			if strings.Contains(out, s) {
				t.Fatalf("list shows a secret:\n%s", out)
			}
		}
		out, _, _ = groupsdCmd(t, "keys", "list", "--org", "globex", "--database", database)
		if strings.Contains(out, "acme") {
			t.Fatalf("--org globex lists acme's key:\n%s", out)
		}
	})
	t.Run("ScopesExpiryAndRotation", func(t *testing.T) {
		out, _, err := groupsdCmd(t, "keys", "create", "--org", "acme", "--scopes", "keys:manage,groups:read", "--expires-in", "90d", "--name", "report", "--database", database)
		if lines := strings.Split(strings.TrimRight(out, "\n"), "\n"); err != nil || len(lines) != 1 || !keyFormat.MatchString(lines[0]) {
			t.Fatalf("stdout must be exactly the key, got %q (%v)", out, err)
		}
		rid := strings.Split(strings.TrimSpace(out), "_")[1]
		list, _, _ := groupsdCmd(t, "keys", "list", "--org", "acme", "--database", database)
		var row string
		for _, line := range strings.Split(list, "\n") {
			if strings.HasPrefix(line, rid) {
				row = line
			}
		}
		in90 := time.Now().Add(90 * 24 * time.Hour).UTC().Format("2006-01-02")
		if !strings.Contains(row, "groups:read,keys:manage") || !strings.Contains(row, in90) {
			t.Fatalf("list row %q lacks the scopes or an expiry on %s:\n%s", row, in90, list)
		}
		rotated, errOut, err := groupsdCmd(t, "keys", "rotate", rid, "--grace", "1h", "--database", database)
		if err != nil || !keyFormat.MatchString(strings.TrimSpace(rotated)) || !strings.HasPrefix(strings.TrimSpace(rotated), "gk_"+rid+"_") ||
			strings.TrimSpace(rotated) == strings.TrimSpace(out) {
			t.Fatalf("rotate: %q %v %s", rotated, err, errOut)
		}
		if _, errOut, err := groupsdCmd(t, "keys", "revoke", rid, "--database", database); err != nil {
			t.Fatalf("revoke: %v %s", err, errOut)
		}
	})
	t.Run("RejectsBadInput", func(t *testing.T) {
		for _, args := range [][]string{
			{"keys", "create", "--database", database},
			{"keys", "create", "--org", "Not A Slug", "--database", database},
			{"keys", "revoke", "--database", database},
			{"keys", "revoke", "ffffffffffff", "--database", database},
			{"keys", "frobnicate"},
			{"keys", "create", "--org", "acme", "--scopes", "groups:admin", "--database", database},
			{"keys", "create", "--org", "acme", "--scopes", "", "--database", database},
			{"keys", "create", "--org", "acme", "--expires-in", "361d", "--database", database},
			{"keys", "create", "--org", "acme", "--expires-in", "soon", "--database", database},
			{"keys", "rotate", "ffffffffffff", "--database", database},
			{"keys", "rotate", id, "--grace", "200h", "--database", database},
		} {
			out, errOut, err := groupsdCmd(t, args...)
			if err == nil || out != "" || errOut == "" {
				t.Errorf("%v: err=%v stdout=%q stderr=%q; want a failure explained on stderr", args, err, out, errOut)
			}
		}
	})
	// The server runs in-process; the revoking CLI is a separate process.
	t.Run("RevokeTakesEffectOnARunningServer", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Database, cfg.LogLevel = database, "error"
		p := startServer(t, cfg)
		get := func(key string) int {
			req, _ := http.NewRequest("GET", p.URL+"/api/v2/groups", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if get(secret) != 200 || get(second) != 200 {
			t.Fatal("keys do not work before revocation")
		}
		for _, arg := range []string{id, second} { // by id, then by the secret itself
			key := map[string]string{id: secret, second: second}[arg]
			if _, errOut, err := groupsdCmd(t, "keys", "revoke", arg, "--database", database); err != nil {
				t.Fatalf("revoke %s: %v %s", arg, err, errOut)
			}
			start := time.Now()
			for get(key) != 401 {
				if time.Since(start) > time.Second {
					t.Fatalf("revoked key still accepted after 1s")
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		out, _, _ := groupsdCmd(t, "keys", "list", "--database", database)
		for _, line := range strings.Split(out, "\n")[1:] {
			if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == "-" {
				t.Fatalf("a key is not shown as revoked:\n%s", out)
			}
		}
	})
}
