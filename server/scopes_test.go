package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/groupsd/groupsd"
	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// requiredScope is the rule the contract follows: the key operations need
// keys:manage, webhooks need webhooks:manage, and everything else (groups,
// members, references, history, events) needs groups:read to GET (and
// HEAD) and groups:write for any other method.
func requiredScope(path, method string) string {
	switch {
	case strings.HasPrefix(path, "/v2/api-keys"):
		return store.ScopeKeysManage
	case strings.HasPrefix(path, "/v2/webhooks"):
		return store.ScopeWebhooksManage
	case method == http.MethodGet || method == http.MethodHead:
		return store.ScopeGroupsRead
	}
	return store.ScopeGroupsWrite
}

// addKey stores a key of org with scopes in e.keys under name.
func (e *env) addKey(name, org string, scopes ...string) string {
	e.t.Helper()
	k, secret, err := e.db.CreateKey(bg, store.NewAPIKey{Org: org, Label: name, Scopes: scopes})
	if err != nil {
		e.t.Fatal(err)
	}
	e.keys[name] = secret
	return k.ID
}

// TestScopeMatrix sends every operation of the contract (read from the
// spec, so operations added later are covered without touching this test),
// and HEAD beside every GET, with keys of each kind of scope, and checks
// that the spec states the scope the rule gives, that a key without it gets
// 403 INSUFFICIENT_SCOPE with RFC 6750's WWW-Authenticate, that a key with
// it gets one of the operation's documented statuses and never 401, 403 or
// a 5xx, and that an invalid key gets 401 before anything else.
func TestScopeMatrix(t *testing.T) {
	spec, err := groupsd.Spec()
	if err != nil {
		t.Fatal(err)
	}
	stated := server.OperationScopes(spec)
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		e.addKey("read", "acme", store.ScopeGroupsRead)
		e.addKey("write", "acme", store.ScopeGroupsWrite)
		e.addKey("neither", "acme", store.ScopeWebhooksManage)
		e.addKey("manage", "acme", store.ScopeGroupsRead, store.ScopeGroupsWrite, store.ScopeKeysManage)
		e.keys["invalid"] = "gk_0123456789ab_" + strings.Repeat("Z", 43)
		g, _ := e.create("acme", "Finance")
		target := e.addKey("target", "acme", store.ScopeGroupsRead)
		params := map[string]string{"uuid": g.Uuid.String(), "userId": "user-42", "keyId": target}

		paths := spec.Paths.InMatchingOrder()
		sort.Strings(paths)
		for _, path := range paths {
			item := spec.Paths.Value(path)
			methods := make([]string, 0)
			for m := range item.Operations() {
				methods = append(methods, m)
			}
			sort.Strings(methods)
			for _, method := range methods {
				op := item.GetOperation(method)
				scope := requiredScope(path, method)
				if got := stated[op.OperationID]; !slices.EqualFunc(got, [][]string{{scope}}, slices.Equal[[]string]) {
					t.Errorf("%s %s (%s): spec states security %v, want [[%s]]", method, path, op.OperationID, got, scope)
				}
				url := "/api" + path
				for name, v := range params {
					url = strings.ReplaceAll(url, "{"+name+"}", v)
				}
				var body, ct string
				if op.RequestBody != nil {
					ct = "application/json"
					body = "{}"
					if mt := op.RequestBody.Value.Content.Get(ct); mt != nil && mt.Schema != nil && mt.Schema.Value.Example != nil {
						b, _ := json.Marshal(mt.Schema.Value.Example)
						body = string(b)
					}
				}
				sends := []string{method}
				if method == http.MethodGet {
					sends = append(sends, http.MethodHead)
				}
				for _, send := range sends {
					for _, key := range []string{"invalid", "neither", "read", "write", "manage"} {
						t.Run(op.OperationID+"/"+send+"/"+key, func(t *testing.T) {
							h := []string{"Authorization", "Bearer " + e.keys[key]}
							if ct != "" {
								h = append(h, "Content-Type", ct)
							}
							resp, b := e.do(send, url, body, h...)
							allowed := key == "manage" || (key == "read" && scope == store.ScopeGroupsRead) ||
								(key == "write" && scope == store.ScopeGroupsWrite)
							switch {
							case key == "invalid":
								if resp.StatusCode != http.StatusUnauthorized {
									t.Fatalf("invalid key: %d, want 401", resp.StatusCode)
								}
							case !allowed:
								want := `Bearer realm="groupsd", error="insufficient_scope", scope="` + scope + `"`
								if got := resp.Header.Get("WWW-Authenticate"); got != want {
									t.Fatalf("WWW-Authenticate = %q, want %q", got, want)
								}
								if send == http.MethodHead {
									if resp.StatusCode != http.StatusForbidden {
										t.Fatalf("status %d, want 403", resp.StatusCode)
									}
									return
								}
								p := problem(t, resp, b, http.StatusForbidden, api.INSUFFICIENTSCOPE)
								if !strings.Contains(p.Detail, scope) {
									t.Fatalf("detail %q does not name %s", p.Detail, scope)
								}
							default:
								code := resp.StatusCode
								if code == 401 || code == 403 || code >= 500 || op.Responses.Status(code) == nil {
									t.Fatalf("status %d is not a documented outcome of %s for an allowed key: %s", code, op.OperationID, b)
								}
							}
						})
					}
				}
			}
		}
	})
}
