package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestAccessLogJSON runs groupsd with its default JSON logs and checks
// the access line of each request: method, route template (never the raw
// path), status, duration, bytes, request id and organization; and that no
// credential or raw group id appears anywhere in the logs.
func TestAccessLogJSON(t *testing.T) {
	cfg := testConfig(t)
	key := createKey(t, cfg.Database, "acme")
	p := startServer(t, cfg)
	auth := []string{"Authorization", "Bearer " + key}
	wrongKey := "gk_000000000000_thisIsNotAValidSecretButLooksLikeOne000000000"

	resp, b := opsDo(t, "POST", p.URL+"/api/v2/groups", `{"name":"Finance"}`,
		append(auth, "Content-Type", "application/json", "X-Request-Id", "log-create")...)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	var g struct{ UUID string }
	_ = json.Unmarshal(b, &g)
	missing := "01939d2e-0000-7000-8000-00000000abcd"

	type want struct {
		route, org string
		status     int
		body       int // response size, -1 to skip
	}
	wants := map[string]want{}
	do := func(id, method, path string, wantStatus int, route, org string, headers ...string) {
		t.Helper()
		resp, b := opsDo(t, method, p.URL+path, "", append(headers, "X-Request-Id", id)...)
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		wants[id] = want{route, org, wantStatus, len(b)}
	}
	wants["log-create"] = want{"/api/v2/groups", "acme", 201, -1}
	do("log-get", "GET", "/api/v2/groups/"+g.UUID, 200, "/api/v2/groups/:uuid", "acme", auth...)
	do("log-get-short", "GET", "/v2/groups/"+g.UUID, 200, "/v2/groups/:uuid", "acme", auth...)
	do("log-missing", "GET", "/api/v2/groups/"+missing, 404, "/api/v2/groups/:uuid", "acme", auth...)
	do("log-wrong-key", "GET", "/api/v2/groups/"+g.UUID, 401, "/api/v2/groups/:uuid", "", "Authorization", "Bearer "+wrongKey)
	do("log-unmatched", "GET", "/no/such/"+g.UUID, 404, "unmatched", "")
	p.Stop(t)

	access := opsAccessLines(t, p.Logs)
	for id, w := range wants {
		m := access[id]
		if m == nil {
			t.Errorf("%s: no access line", id)
			continue
		}
		if m["level"] != "INFO" {
			t.Errorf("%s: level %v", id, m["level"])
		}
		if _, ok := m["time"].(string); !ok {
			t.Errorf("%s: time %v", id, m["time"])
		}
		if m["route"] != w.route {
			t.Errorf("%s: route %v, want %s", id, m["route"], w.route)
		}
		if m["status"] != float64(w.status) {
			t.Errorf("%s: status %v, want %d", id, m["status"], w.status)
		}
		if m["method"] == nil {
			t.Errorf("%s: no method", id)
		}
		if d, ok := m["duration_ms"].(float64); !ok || d < 0 {
			t.Errorf("%s: duration_ms %v", id, m["duration_ms"])
		}
		if n, ok := m["bytes"].(float64); !ok || w.body >= 0 && n != float64(w.body) {
			t.Errorf("%s: bytes %v, want %d", id, m["bytes"], w.body)
		}
		org, hasOrg := m["org"]
		if w.org == "" && hasOrg || w.org != "" && org != w.org {
			t.Errorf("%s: org %v, want %q", id, org, w.org)
		}
	}

	// Nothing secret or tenant-specific leaks into any line: not the key,
	// not a wrong key, not the Authorization header, not the group ids
	// that were in the paths.
	all := p.Logs.String()
	for _, s := range []string{key, wrongKey, "Bearer", "Authorization", "authorization", g.UUID, missing} {
		if strings.Contains(all, s) {
			t.Errorf("the logs contain %q:\n%s", s, all)
		}
	}
	uuidRE := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	for _, m := range access {
		if route := fmt.Sprint(m["route"]); uuidRE.MatchString(route) || !strings.HasPrefix(route, "/") && route != "unmatched" {
			t.Errorf("route %q is not a template", route)
		}
	}
}

// TestLogFormatAndLevel: --log-format text writes key=value lines for
// humans; --log-level warn drops the per-request lines; bad values are
// usage errors (exit status 2) before anything starts.
func TestLogFormatAndLevel(t *testing.T) {
	t.Run("Text", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Auth, cfg.LogFormat = "none", "text"
		p := startServer(t, cfg)
		opsDo(t, "GET", p.URL+"/v2/groups?size=5", "", "X-Request-Id", "text-1")
		p.Stop(t)
		var found bool
		for _, line := range p.Logs.Lines() {
			if strings.HasPrefix(line, "{") || !strings.HasPrefix(line, "time=") {
				t.Errorf("not a text line: %s", line)
			}
			if strings.Contains(line, "request_id=text-1") {
				found = true
				for _, kv := range []string{"level=INFO", "msg=request", "method=GET", "route=/v2/groups", "status=200", "duration_ms=", "bytes=", "org=default"} {
					if !strings.Contains(line, kv) {
						t.Errorf("access line lacks %s: %s", kv, line)
					}
				}
			}
		}
		if !found {
			t.Errorf("no access line:\n%s", p.Logs.String())
		}
	})
	t.Run("WarnDropsAccessLines", func(t *testing.T) {
		cfg := testConfig(t)
		cfg.Auth, cfg.LogLevel = "none", "warn"
		p := startServer(t, cfg)
		opsDo(t, "GET", p.URL+"/v2/groups", "")
		p.Stop(t)
		lines := opsLogLines(t, p.Logs)
		var warned bool
		for _, m := range lines {
			if m["level"] == "INFO" || m["level"] == "DEBUG" {
				t.Errorf("%v line at --log-level warn: %v", m["level"], m)
			}
			warned = warned || m["level"] == "WARN"
		}
		if !warned { // --auth none always warns
			t.Errorf("no WARN line:\n%s", p.Logs.String())
		}
	})
	// Exit status and stderr are the CLI's: this part runs the binary.
	t.Run("BadValues", func(t *testing.T) {
		for _, args := range [][]string{{"--log-format", "xml"}, {"--log-level", "loud"}} {
			_, stderr, err := groupsdCmd(t, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
			if code := opsExitCode(err); code != 2 || !strings.Contains(stderr, args[0]) {
				t.Errorf("%v: exit %d, stderr %q; want 2 naming the flag", args, code, stderr)
			}
		}
	})
}
