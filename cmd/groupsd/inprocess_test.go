package main

// Support for tests that run groupsd in the test process: a Config, Run on
// 127.0.0.1:0, real HTTP, Close. Tests that need a process boundary
// (signals, kill -9, exit codes, the CLI's own output) use the binary
// instead (startGroupsd, groupsdCmd).

import (
	"github.com/groupsd/groupsd/server/apitest"

	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// testServer is a Main serving in the test process.
type testServer struct {
	*Main
	URL  string // http://127.0.0.1:PORT
	Addr string // 127.0.0.1:PORT
	Logs *syncBuffer
}

// testConfig is DefaultConfig on a free port of 127.0.0.1 and a new SQLite
// file of t's.
func testConfig(t testing.TB) Config {
	t.Helper()
	c := DefaultConfig()
	c.Addr = "127.0.0.1:0"
	c.Database = "sqlite:" + filepath.Join(t.TempDir(), "groups.db")
	return c
}

// startServer runs cfg in-process and returns once it serves. If the test
// did not Stop it, it is closed when t ends without waiting for its
// connections (ShutdownTimeout 0): the test is over, and a connection that
// net/http lingers on (it waits 500 ms before closing one it answered 431)
// would only make the test slower.
func startServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	m := NewMain(cfg)
	logs := &syncBuffer{}
	m.LogOutput = logs
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("Run: %v\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		m.Config.ShutdownTimeout = 0
		_ = m.Close()
	})
	return &testServer{Main: m, URL: m.URL(), Addr: m.Addr(), Logs: logs}
}

// Stop closes s gracefully and fails t if Close reports an error. After it,
// every log line has been written.
func (s *testServer) Stop(t testing.TB) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v\n%s", err, tail(s.Logs.String(), 4000))
	}
}

// noEnv is an empty environment for in-process commands.
func noEnv(string) (string, bool) { return "", false }

// runCmd runs a groupsd command in-process, with an empty environment, and
// returns its stdout and stderr.
func runCmd(t testing.TB, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, noEnv, &out, &errb)
	return out.String(), errb.String(), err
}

// createKey creates an API key for org in database, in-process, and returns
// the secret.
func createKey(t testing.TB, database, org string) string {
	t.Helper()
	out, errOut, err := runCmd(t, "keys", "create", "--org", org, "--database", database)
	if err != nil {
		t.Fatalf("keys create: %v\n%s", err, errOut)
	}
	return strings.TrimSpace(out)
}

// syncBuffer collects a server's log lines for a test.
type syncBuffer = apitest.SyncBuffer
