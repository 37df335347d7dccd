package apitest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/groupsd/groupsd/gen/api"
)

// NewClient returns a generated client for base (the server's URL with the
// prefix the API paths hang off, such as http://host:port/api) that
// authenticates with key. doer, when not nil, sends the requests; otherwise
// a client with a 15-second timeout does.
func NewClient(tb testing.TB, base, key string, doer api.HttpRequestDoer) *api.ClientWithResponses {
	tb.Helper()
	if doer == nil {
		doer = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	}
	c, err := api.NewClientWithResponses(base, api.WithHTTPClient(doer),
		api.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+key)
			return nil
		}))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// MustParseUUID parses a group uuid, panicking on a malformed one: the
// tests only pass uuids the server returned.
func MustParseUUID(s string) api.GroupUUID {
	var u api.GroupUUID
	if err := u.UnmarshalText([]byte(s)); err != nil {
		panic(err)
	}
	return u
}

// ProblemCode returns the code of a problem+json body, or "".
func ProblemCode(body []byte) api.ProblemCode {
	var p api.Problem
	_ = json.Unmarshal(body, &p)
	return p.Code
}

// ProblemErrors returns the errors array of p, or nil.
func ProblemErrors(p api.Problem) []api.ProblemFieldError {
	if p.Errors == nil {
		return nil
	}
	return *p.Errors
}

// Check503 returns what is wrong with a 503 answer, or "": it must be a
// SERVICE_UNAVAILABLE problem with Retry-After.
func Check503(resp *http.Response, body []byte) string {
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Sprintf("503 with Content-Type %q, want application/problem+json", ct)
	}
	if resp.Header.Get("Retry-After") == "" {
		return "503 without Retry-After"
	}
	var p api.Problem
	if err := json.Unmarshal(body, &p); err != nil || p.Status != 503 || p.Code != api.SERVICEUNAVAILABLE {
		return fmt.Sprintf("503 body is not a SERVICE_UNAVAILABLE problem: %s", body)
	}
	return ""
}
