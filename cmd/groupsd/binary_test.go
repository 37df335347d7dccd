package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/groupsd/groupsd/server/apitest"
)

// Tests in this package that need the real process share one build.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// groupsdBinary builds cmd/groupsd once per test run and returns its path.
func groupsdBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "groupsd-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "groupsd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a running groupsd process.
type proc struct {
	cmd    *exec.Cmd
	Addr   string
	URL    string
	stderr *apitest.SyncBuffer // what it logged
	done   chan error
}

// startGroupsd runs `groupsd serve --addr <free port> args...` and waits
// until /healthz answers. The process is killed when t ends if still running.
func startGroupsd(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	addr := freeAddr(t)
	p := &proc{Addr: addr, URL: "http://" + addr, stderr: &apitest.SyncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(groupsdBinary(t), append([]string{"serve", "--addr", addr}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.stderr
	dieWithParent(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("groupsd exited early: %v\n%s", err, p.stderr.String())
		default:
		}
		resp, err := http.Get(p.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("groupsd did not become healthy:\n%s", p.stderr.String())
	return nil
}

// Wait waits for the process to exit and returns its error.
func (p *proc) Wait(timeout time.Duration) error {
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(timeout):
		return fmt.Errorf("groupsd still running after %s", timeout)
	}
}

// groupsdCmd runs a one-shot groupsd command and returns its stdout.
func groupsdCmd(t testing.TB, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, groupsdBinary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// newKey creates an API key for org in database and returns the secret.
//
// The key gets a rate limit of its own far above any test's pace: the
// tests that use it load the server on purpose, and measure the server, not
// the limiter (which still runs for every request).
func newKey(t testing.TB, database, org string) string {
	t.Helper()
	out, errOut, err := groupsdCmd(t, "keys", "create", "--org", org, "--database", database,
		"--rate-limit", "1000000", "--rate-burst", "1000000")
	if err != nil {
		t.Fatalf("keys create: %v\n%s", err, errOut)
	}
	return strings.TrimSpace(out)
}

// tail returns the last n bytes of s, for failure messages.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
