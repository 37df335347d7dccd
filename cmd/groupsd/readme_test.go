package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeBlocks returns the ```sh blocks of the README sections whose "## "
// heading is in sections, in order.
func readmeBlocks(t testing.TB, readme string, sections ...string) []string {
	t.Helper()
	want := map[string]bool{}
	for _, s := range sections {
		want[s] = true
	}
	var blocks []string
	var section string
	var block *strings.Builder
	sc := bufio.NewScanner(strings.NewReader(readme))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case block != nil && line == "```":
			blocks = append(blocks, block.String())
			block = nil
		case block != nil:
			block.WriteString(line + "\n")
		case strings.HasPrefix(line, "## "):
			section = strings.TrimPrefix(line, "## ")
		case line == "```sh" && want[section]:
			block = &strings.Builder{}
		}
	}
	return blocks
}

// TestREADMETour runs the README's curl tour, as pasted, against a fresh
// server: the blocks of "Quick start" after `make run` (with the key that
// `make run` would have written to .dev-key) and of "Concurrency and
// retries". curl fails on any 4xx or 5xx answer, so a command that no
// longer works fails the test, and the README cannot rot.
func TestREADMETour(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	// Every curl of the tour must succeed; -D /dev/stderr and -i keep working.
	script.WriteString("curl() { command curl --fail-with-body --show-error \"$@\"; }\n")
	curls := 0
	for _, b := range readmeBlocks(t, string(readme), "Quick start", "Concurrency and retries") {
		if strings.HasPrefix(strings.TrimSpace(b), "make ") {
			continue // make run / make test: the test starts the server itself
		}
		curls += strings.Count(b, "curl ")
		script.WriteString(b)
	}
	if curls < 15 {
		t.Fatalf("found %d curl commands in the README tour, want at least 15: did its sections move?\n%s", curls, script.String())
	}

	dir := t.TempDir()
	database := "sqlite:" + filepath.Join(dir, "groups.db")
	key := newKey(t, database, "dev")
	if err := os.WriteFile(filepath.Join(dir, ".dev-key"), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startGroupsd(t, nil, "--database", database)
	body := strings.ReplaceAll(script.String(), "http://127.0.0.1:8080", p.URL)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", body)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README tour failed: %v\n%s\n--- script:\n%s\n--- server log:\n%s", err, tail(string(out), 4000), body, tail(p.stderr.String(), 2000))
	}
	for _, want := range []string{"HTTP/1.1 201 Created", "HTTP/1.1 304 Not Modified", "HTTP/1.1 204 No Content", `"Finance EU"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the tour's output lacks %q:\n%s", want, tail(string(out), 4000))
		}
	}
}
