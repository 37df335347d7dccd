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
	t.Run("RejectsBadInput", func(t *testing.T) {
		for _, args := range [][]string{
			{"keys", "create", "--database", database},
			{"keys", "create", "--org", "Not A Slug", "--database", database},
			{"keys", "revoke", "--database", database},
			{"keys", "revoke", "ffffffffffff", "--database", database},
			{"keys", "frobnicate"},
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
