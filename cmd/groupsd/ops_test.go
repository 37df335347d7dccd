package main

// Helpers shared by the operations tests (shutdown, limits, deadlines, logs,
// metrics, version), whether they run groupsd in-process (testServer) or as
// the real binary (proc).

import (
	"bufio"
	"database/sql"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// opsClient opens a new connection for every request, so each request's
// fate (refused, reset, answered) belongs to that request alone.
var opsClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
}

// opsDo sends one request; headers alternate name and value. It fails t on
// a transport error, so call it from the test's goroutine only.
func opsDo(t testing.TB, method, url, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	resp, b, err := opsTry(method, url, body, headers...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, b
}

// opsTry is opsDo for any goroutine: it returns the transport error.
func opsTry(method, url, body string, headers ...string) (*http.Response, []byte, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := opsClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the body: %w", err)
	}
	return resp, b, nil
}

// opsRefused reports whether err is a refused TCP dial: nothing listens.
func opsRefused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

// opsWaitRefused dials addr until the dial is refused (the listener is
// closed), failing t after timeout.
func opsWaitRefused(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if opsRefused(err) {
			return
		}
		if errors.Is(err, syscall.ECONNRESET) {
			// Queued in the kernel as the listener closed: one more try.
			continue
		}
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
	t.Fatalf("%s still accepts connections after %s", addr, timeout)
}

// opsLogLines parses every line groupsd logged (a testServer's Logs, a
// proc's stderr) as a JSON object, failing t on a line that is not one. The
// exception is the one plain line main prints for a fatal error
// ("groupsd: ..."), after the logs.
func opsLogLines(t testing.TB, logs *syncBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	lines := logs.Lines()
	for i, line := range lines {
		if i == len(lines)-1 && strings.HasPrefix(line, "groupsd: ") {
			break
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// opsAccessLines returns the access log lines by request id.
func opsAccessLines(t testing.TB, logs *syncBuffer) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, m := range opsLogLines(t, logs) {
		if m["msg"] == "request" {
			id, _ := m["request_id"].(string)
			out[id] = m
		}
	}
	return out
}

// opsStamp is what the toolchain stamped into the test binary.
type opsStamp struct {
	Version, Revision, GoVersion string
	Modified                     bool
}

// opsBuildStamp reads the build information of the binary under test with
// debug/buildinfo, independently of the code that prints it. It skips (fails
// in CI) when the binary carries no VCS revision.
func opsBuildStamp(t testing.TB) opsStamp {
	t.Helper()
	bi, err := buildinfo.ReadFile(groupsdBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	s := opsStamp{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			s.Revision = kv.Value
		case "vcs.modified":
			s.Modified = kv.Value == "true"
		}
	}
	if s.Revision == "" {
		msg := "the test binary has no VCS revision (built outside a git checkout, or with -buildvcs=false in GOFLAGS); cannot check version stamping"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPING: " + msg)
	}
	return s
}

// opsCheckSQLiteClosed asserts that the SQLite file at path was closed
// cleanly: no WAL left with frames in it, and integrity_check passes. It
// returns the database opened for further queries.
func opsCheckSQLiteClosed(t testing.TB, path string) *sql.DB {
	t.Helper()
	// Look at the WAL before opening the file, which would create one.
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() != 0 {
		t.Errorf("%s-wal has %d bytes after shutdown; want it checkpointed and empty", path, st.Size())
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=rw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	assertIntegrity(t, db)
	return db
}

// opsRawConn is an HTTP/1.1 request written by hand on its own connection,
// so a test decides when each byte leaves.
type opsRawConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func opsDialRaw(t testing.TB, addr string) *opsRawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &opsRawConn{conn: c, r: bufio.NewReader(c)}
}

func (rr *opsRawConn) write(t testing.TB, s string) {
	t.Helper()
	if _, err := io.WriteString(rr.conn, s); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
}

// response reads the answer, giving up after timeout.
func (rr *opsRawConn) response(timeout time.Duration) (*http.Response, []byte, error) {
	_ = rr.conn.SetReadDeadline(time.Now().Add(timeout))
	resp, err := http.ReadResponse(rr.r, nil)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// opsProblemCode returns the code of a problem+json body, or a description
// of what is wrong with it.
func opsProblemCode(resp *http.Response, body []byte) string {
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Sprintf("Content-Type %q", ct)
	}
	var p struct {
		Code   string `json:"code"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Status != resp.StatusCode {
		return fmt.Sprintf("bad problem body %s", body)
	}
	return p.Code
}

// opsExitCode returns the exit status carried by err from exec (0 for nil).
func opsExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
