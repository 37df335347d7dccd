package client_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/groupsd/groupsd/client"
	"github.com/groupsd/groupsd/gen/api"
)

func TestNewSendsKeyAgentAndPrefix(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for _, base := range []string{srv.URL, srv.URL + "/", srv.URL + "/api", srv.URL + "/api/"} {
		c, err := client.New(base, client.WithAPIKey("gk_a_b"), client.WithUserAgent("billing-sync/1.2"), client.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		id := api.GroupUUID{1}
		if err := c.Groups.Delete(bg, id); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if got.URL.Path != "/api/v2/groups/"+id.String() {
			t.Errorf("New(%q): path %q", base, got.URL.Path)
		}
		if got.Header.Get("Authorization") != "Bearer gk_a_b" {
			t.Errorf("Authorization = %q", got.Header.Get("Authorization"))
		}
		if ua := got.Header.Get("User-Agent"); ua != "billing-sync/1.2 groupsd-go/"+client.Version {
			t.Errorf("User-Agent = %q", ua)
		}
		mu.Unlock()
	}
}

func TestNewRejectsBadConfiguration(t *testing.T) {
	for name, tc := range map[string]struct {
		url  string
		opts []client.Option
	}{
		"NoScheme":         {url: "groups.example.com"},
		"FTP":              {url: "ftp://groups.example.com"},
		"EmptyKey":         {url: "http://x", opts: []client.Option{client.WithAPIKey("")}},
		"NilHTTPClient":    {url: "http://x", opts: []client.Option{client.WithHTTPClient(nil)}},
		"NilLogger":        {url: "http://x", opts: []client.Option{client.WithLogger(nil)}},
		"ZeroAttempts":     {url: "http://x", opts: []client.Option{client.WithRetryPolicy(client.RetryPolicy{})}},
		"MaxBelowBase":     {url: "http://x", opts: []client.Option{client.WithRetryPolicy(client.RetryPolicy{MaxAttempts: 2, BaseBackoff: time.Second, MaxBackoff: time.Millisecond})}},
		"NoUpdateAttempts": {url: "http://x", opts: []client.Option{client.WithUpdateAttempts(0)}},
	} {
		if _, err := client.New(tc.url, tc.opts...); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
