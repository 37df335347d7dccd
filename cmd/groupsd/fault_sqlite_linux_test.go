package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oapi-codegen/nullable"
	"golang.org/x/sys/unix"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server/apitest"
)

// Tests may run as root, and root ignores file permissions (chmod 0444 stops
// nobody). These tests refuse writes in ways root cannot bypass:
//
//   - disk full: RLIMIT_FSIZE set to 0 on the running groupsd (prlimit), so
//     the kernel fails every write to a regular file with EFBIG, exactly as a
//     full disk fails them with ENOSPC. Lifting it is the disk freed again.
//   - read-only file: the immutable attribute (chattr +i), which stops root
//     too; SQLite then opens the file read-only, as it does for a non-root
//     user without write permission (which is used instead when not root).
//     Skipped when the filesystem or the container does not allow chattr.

// writeAttempts sends one write of each kind to the group victim, with the
// ETag the server gave it, and checks that each is refused with a 503
// problem carrying Retry-After.
func writeAttempts(t *testing.T, c *api.ClientWithResponses, victim, tag string) {
	t.Helper()
	ctx := context.Background()
	key := "while-unwritable"
	id := apitest.MustParseUUID(victim)
	attempts := []struct {
		op   string
		send func() (*http.Response, []byte, error)
	}{
		{"POST", func() (*http.Response, []byte, error) {
			r, err := c.CreateGroupWithResponse(ctx, nil, api.CreateGroupJSONRequestBody{Name: "never stored"})
			return raw(r, err)
		}},
		{"POST with Idempotency-Key", func() (*http.Response, []byte, error) {
			r, err := c.CreateGroupWithResponse(ctx, &api.CreateGroupParams{IdempotencyKey: &key}, api.CreateGroupJSONRequestBody{Name: "never stored either"})
			return raw(r, err)
		}},
		{"PATCH", func() (*http.Response, []byte, error) {
			r, err := c.UpdateGroupWithApplicationMergePatchPlusJSONBodyWithResponse(ctx, id, &api.UpdateGroupParams{IfMatch: &tag},
				api.GroupPatch{Description: nullable.NewNullableWithValue("never stored")})
			return raw(r, err)
		}},
		{"DELETE", func() (*http.Response, []byte, error) {
			r, err := c.DeleteGroupWithResponse(ctx, id, &api.DeleteGroupParams{IfMatch: &tag})
			return raw(r, err)
		}},
	}
	for _, a := range attempts {
		r, body, err := a.send()
		switch {
		case err != nil:
			t.Fatalf("%s: %v", a.op, err)
		case r.StatusCode != http.StatusServiceUnavailable:
			t.Errorf("%s on an unwritable database: %d, want 503: %s", a.op, r.StatusCode, body)
		default:
			if msg := apitest.Check503(r, body); msg != "" {
				t.Errorf("%s: %s", a.op, msg)
			}
			if a.op == "POST" {
				t.Logf("a write on an unwritable database answers: %s", strings.TrimSpace(string(body)))
			}
		}
	}
}

// raw returns the HTTP response and body of any generated response.
func raw(r interface{ StatusCode() int }, err error) (*http.Response, []byte, error) {
	if err != nil {
		return nil, nil, err
	}
	switch v := r.(type) {
	case *api.CreateGroupResponse:
		return v.HTTPResponse, v.Body, nil
	case *api.UpdateGroupResponse:
		return v.HTTPResponse, v.Body, nil
	case *api.DeleteGroupResponse:
		return v.HTTPResponse, v.Body, nil
	}
	return nil, nil, fmt.Errorf("unexpected response type %T", r)
}

// checkReads checks that every group of m reads back as acknowledged.
func checkReads(t *testing.T, p *proc, c *api.ClientWithResponses, m *apitest.Model) {
	t.Helper()
	ctx := context.Background()
	m.Verify(t, ctx, c)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
		resp, err := http.Get(p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d (reads still work)", path, resp.StatusCode, want)
		}
	}
}

func setFsize(t *testing.T, pid int, limit uint64) {
	t.Helper()
	// Only the soft limit moves; the hard one stays, so lifting needs no privilege.
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, nil, &old); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	if err := unix.Prlimit(pid, unix.RLIMIT_FSIZE, &unix.Rlimit{Cur: limit, Max: old.Max}, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
}

// TestFaultSQLiteUnwritable checks that a database file the process cannot
// write answers every write with a 503 problem (Retry-After) and stores
// nothing, while reads, /healthz and /readyz keep working; and that writes
// work again, in the same process, once the disk has room.
func TestFaultSQLiteUnwritable(t *testing.T) {
	t.Run("DiskFull", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "groups.db")
		database := "sqlite:" + path
		key := newKey(t, database, faultOrg)
		p := startGroupsd(t, nil, "--database", database, "--request-timeout", "2s")
		c := apitest.NewClient(t, p.URL+"/api", key, nil)
		m := apitest.NewModel()
		groups := m.Seed(t, c, 20)

		setFsize(t, p.cmd.Process.Pid, 0)
		start := time.Now()
		writeAttempts(t, c, groups[0].UUID, groups[0].Cur.ETag)
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("four refused writes took %s: they must fail fast", d)
		}
		// A write refused before its commit changed nothing: the model stays.
		checkReads(t, p, c, m)

		setFsize(t, p.cmd.Process.Pid, unix.RLIM_INFINITY)
		more := m.Seed(t, c, 1) // the disk has room again: same process, no restart
		ctx := context.Background()
		key2 := "while-unwritable" // its claim never landed, so it is free
		r, err := c.CreateGroupWithResponse(ctx, &api.CreateGroupParams{IdempotencyKey: &key2}, api.CreateGroupJSONRequestBody{Name: "never stored either"})
		if err != nil || r.StatusCode() != http.StatusCreated || r.HTTPResponse.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("retrying the refused idempotent create: %v %v, want a fresh 201", err, r)
		}
		s, _ := apitest.SnapshotOf(*r.JSON201, r.HTTPResponse.Header.Get("ETag"))
		m.Add(&apitest.Tracked{UUID: r.JSON201.Uuid.String(), Cur: s})
		g := more[0]
		tag := g.Cur.ETag
		pr, err := c.UpdateGroupWithApplicationMergePatchPlusJSONBodyWithResponse(ctx, apitest.MustParseUUID(g.UUID), &api.UpdateGroupParams{IfMatch: &tag},
			api.GroupPatch{Description: nullable.NewNullableWithValue("after the disk was freed")})
		if err != nil || pr.JSON200 == nil {
			t.Fatalf("patch after the disk was freed: %v %v", err, pr)
		}
		g.Cur, _ = apitest.SnapshotOf(*pr.JSON200, pr.HTTPResponse.Header.Get("ETag"))

		kill9(t, p)
		integrityCheck(t, path)
		p = startGroupsd(t, nil, "--database", database)
		m.Verify(t, ctx, apitest.NewClient(t, p.URL+"/api", key, nil))
	})

	t.Run("ReadOnlyFile", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "groups.db")
		database := "sqlite:" + path
		key := newKey(t, database, faultOrg)
		m := apitest.NewModel()
		p := startGroupsd(t, nil, "--database", database)
		m.Seed(t, apitest.NewClient(t, p.URL+"/api", key, nil), 20)
		// A clean stop checkpoints the WAL into the file and removes it.
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(20 * time.Second); err != nil {
			t.Fatalf("groupsd after SIGTERM: %v\n%s", err, p.stderr.String())
		}
		makeReadOnly(t, path)

		p = startGroupsd(t, nil, "--database", database, "--request-timeout", "2s")
		c := apitest.NewClient(t, p.URL+"/api", key, nil)
		live := m.Live()
		writeAttempts(t, c, live[0].UUID, live[0].Cur.ETag)
		checkReads(t, p, c, m)
	})
}

// makeReadOnly makes the file at path unwritable for this process's
// children: chmod when not root, chattr +i (undone at cleanup) when root.
func makeReadOnly(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(path, 0o444); err != nil {
			t.Fatal(err)
		}
		return
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("SKIPPING: running as root and chattr +i is not available here (%v: %s); the DiskFull case covers refused writes", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("chattr", "-i", path).CombinedOutput(); err != nil {
			t.Errorf("chattr -i %s: %v: %s", path, err, out)
		}
	})
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		f.Close()
		t.Fatalf("%s is still writable after chattr +i", path)
	}
}

// TestFaultSQLiteStartupErrors checks that groupsd refuses to start, at once
// and with a message naming the file and the reason, when it cannot open
// its SQLite database at all.
func TestFaultSQLiteStartupErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("this is not an SQLite database\n", 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, want string
	}{
		{"MissingDirectory", filepath.Join(dir, "missing", "groups.db"), "does not exist"},
		{"ParentIsAFile", filepath.Join(plain, "groups.db"), "is not a directory"},
		{"PathIsADirectory", dir, "is a directory"},
		{"NotADatabase", notDB, "file is not a database"},
	}
	if os.Geteuid() != 0 {
		unreadable := filepath.Join(dir, "unreadable.db")
		newKey(t, "sqlite:"+unreadable, faultOrg)
		if err := os.Chmod(unreadable, 0); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, struct{ name, path, want string }{"UnreadableFile", unreadable, "unable to open database file"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, stderr, err := groupsdCmd(t, "serve", "--addr", "127.0.0.1:0", "--database", "sqlite:"+tc.path)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("groupsd serve on %s: %v, want exit status 1\n%s", tc.path, err, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if msg := lines[len(lines)-1]; !strings.HasPrefix(msg, "groupsd: open sqlite "+tc.path) || !strings.Contains(msg, tc.want) {
				t.Errorf("startup error %q, want a last line naming %s and saying %q", msg, tc.path, tc.want)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s to give up", d)
			}
		})
	}
}
