package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/server/apitest"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

var bg = context.Background()

// env is a real server over HTTP on a real database.
type env struct {
	t     *testing.T
	db    *store.DB
	dbURL string
	srv   *httptest.Server
	keys  map[string]string // org → API key
}

// newEnv starts the full stack (middleware, validator, handlers, store) on a
// fresh database of dialect d, with API keys for orgs "acme" and "globex".
func newEnv(t *testing.T, d store.Dialect, mod ...func(*server.Config)) *env {
	t.Helper()
	url := storetest.URL(t, d)
	return newEnvURL(t, url, mod...)
}

func newEnvURL(t *testing.T, url string, mod ...func(*server.Config)) *env {
	t.Helper()
	return startEnv(t, url, nil, mod...)
}

// startEnv opens its own store handle and pool on the database at url and
// serves it, as another process would. With keys nil it creates keys for
// "acme" and "globex"; otherwise it uses the given ones (already stored).
func startEnv(t *testing.T, url string, keys map[string]string, mod ...func(*server.Config)) *env {
	t.Helper()
	db := storetest.OpenURL(t, url, store.Options{})
	e := &env{t: t, db: db, dbURL: url, keys: keys}
	if e.keys == nil {
		e.keys = map[string]string{}
		for _, org := range []string{"acme", "globex"} {
			_, secret, err := db.CreateAPIKey(bg, org, "test")
			if err != nil {
				t.Fatal(err)
			}
			e.keys[org] = secret
		}
	}
	cfg := server.Config{Store: db, Auth: server.NewAuthenticator(db, nil)}
	for _, m := range mod {
		m(&cfg)
	}
	_, h, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// client returns the generated client authenticated as org, on prefix
// ("/api" or "").
func (e *env) client(org, prefix string) *api.ClientWithResponses {
	e.t.Helper()
	return apitest.NewClient(e.t, e.srv.URL+prefix, e.keys[org], http.DefaultClient)
}

func (e *env) api(org string) *api.ClientWithResponses { return e.client(org, "/api") }

// do sends a raw request; headers alternate name, value.
func (e *env) do(method, path, body string, headers ...string) (*http.Response, []byte) {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (e *env) auth(org string) []string { return []string{"Authorization", "Bearer " + e.keys[org]} }

// create makes a group through the API and returns it with its ETag.
func (e *env) create(org, name string) (api.Group, string) {
	e.t.Helper()
	resp, err := e.api(org).CreateGroupWithResponse(bg, nil, api.GroupCreate{Name: name})
	if err != nil || resp.JSON201 == nil {
		e.t.Fatalf("create %q: %v %d %s", name, err, resp.StatusCode(), resp.Body)
	}
	return *resp.JSON201, resp.HTTPResponse.Header.Get("ETag")
}

// problem asserts resp is an RFC 9457 problem with status and code and
// returns it.
func problem(t *testing.T, resp *http.Response, body []byte, status int, code api.ProblemCode) api.Problem {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p api.Problem
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body %s: %v", body, err)
	}
	if int(p.Status) != status || p.Code != code || p.Title == "" || p.Detail == "" || p.Type == "" {
		t.Fatalf("problem = %+v, want status %d code %s", p, status, code)
	}
	if p.RequestId == "" || p.RequestId != resp.Header.Get("X-Request-Id") {
		t.Fatalf("requestId %q vs header %q", p.RequestId, resp.Header.Get("X-Request-Id"))
	}
	for _, leak := range []string{"SELECT", "INSERT", "UPDATE ", "sqlite", "pq:", "SQLSTATE", "goroutine", ".go:"} {
		if strings.Contains(string(body), leak) {
			t.Fatalf("problem leaks internals (%q): %s", leak, body)
		}
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func mustParse(s string) (u openapi_types.UUID) {
	if err := u.UnmarshalText([]byte(s)); err != nil {
		panic(err)
	}
	return u
}

func ioPipe() (*io.PipeReader, *io.PipeWriter) { return io.Pipe() }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
