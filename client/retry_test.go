package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/groupsd/groupsd/client"
	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

func TestCreateRetriesThroughFaultsCreateOnce(t *testing.T) {
	plans := map[string][]fault{
		"DroppedBeforeTheServer":    {dropBefore, dropBefore},
		"Unavailable":               {unavailable, unavailable, unavailable},
		"CreatedButAnswerLost":      {dropAfter},
		"AnswerLostThenUnavailable": {dropAfter, unavailable, dropAfter},
		"MixedFaultsBeforeAndAfter": {dropBefore, unavailable, dropAfter, dropAfter},
	}
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		srv := startGroupsd(t, d)
		for name, plan := range plans {
			t.Run(name, func(t *testing.T) {
				proxy, url := newFaultProxy(t, srv.url, map[string][]fault{http.MethodPost: append([]fault(nil), plan...)})
				c := newClient(t, url, srv.key)
				g, err := c.Groups.Create(bg, client.NewGroup{Name: "Retry " + name, Description: ptr("once")})
				if err != nil {
					t.Fatalf("Create through faults %v: %v", plan, err)
				}
				if g.Name != "Retry "+name || g.ETag == "" {
					t.Fatalf("created %+v", g)
				}
				attempts, _ := proxy.count(http.MethodPost)
				if attempts != len(plan)+1 {
					t.Errorf("attempts = %d, want %d", attempts, len(plan)+1)
				}
				for _, k := range proxy.keys[http.MethodPost] {
					if k == "" || k != proxy.keys[http.MethodPost][0] {
						t.Fatalf("Idempotency-Keys %q: want one key on every attempt", proxy.keys[http.MethodPost])
					}
				}
				var found []client.Group
				for h, err := range srv.client(t).Groups.List(bg, client.ListOptions{Query: "Retry " + name}) {
					if err != nil {
						t.Fatal(err)
					}
					found = append(found, h)
				}
				if len(found) != 1 || found[0].UUID != g.UUID {
					t.Fatalf("server holds %d groups named %q (%v), want exactly the one returned (%s)", len(found), g.Name, found, g.UUID)
				}
			})
		}
	})
}

func TestCallerKeyIsUsedAcrossCalls(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		c := startGroupsd(t, d).client(t)
		first, err := c.Groups.Create(bg, client.NewGroup{Name: "Keyed", IdempotencyKey: "order-42"})
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.Groups.Create(bg, client.NewGroup{Name: "Keyed", IdempotencyKey: "order-42"})
		if err != nil || again.UUID != first.UUID {
			t.Fatalf("second create with the same key = %v, %v; want the first group %s replayed", again.UUID, err, first.UUID)
		}
		_, err = c.Groups.Create(bg, client.NewGroup{Name: "Other", IdempotencyKey: "order-42"})
		if !errors.Is(err, client.ErrIdempotencyKeyReused) {
			t.Fatalf("same key, other body: %v, want ErrIdempotencyKeyReused", err)
		}
	})
}

func TestUpdateWhosePatchAnswerWasLostAppliesOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		srv := startGroupsd(t, d)
		g, err := srv.client(t).Groups.Create(bg, client.NewGroup{Name: "Lossy", Description: ptr("a")})
		if err != nil {
			t.Fatal(err)
		}
		proxy, url := newFaultProxy(t, srv.url, map[string][]fault{http.MethodPatch: {dropAfter}})
		c := newClient(t, url, srv.key)
		calls := 0
		got, err := c.Groups.Update(bg, g.UUID, func(g *client.Group) error {
			calls++
			*g.Description += " b"
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if *got.Description != "a b" {
			t.Fatalf("description = %q, want %q (applied exactly once)", *got.Description, "a b")
		}
		if attempts, forwarded := proxy.count(http.MethodPatch); attempts != 2 || forwarded != 2 || calls != 1 {
			t.Fatalf("PATCH attempts %d, forwarded %d, modify calls %d; want 2, 2, 1", attempts, forwarded, calls)
		}
	})
}

// stub answers every request with status and body, counting them.
func stub(t *testing.T, status int, header http.Header, body string) (url string, hits *atomic.Int32) {
	t.Helper()
	hits = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		for k, vs := range header {
			w.Header()[k] = vs
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/problem+json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, hits
}

func problemJSON(status int, code string) string {
	return `{"type":"urn:groupsd:problem:x","title":"T","status":` + strconv.Itoa(status) + `,"detail":"injected ` + code + `","instance":"/api/v2/groups","code":"` + code + `","requestId":"req-1"}`
}

func TestWhatIsRetried(t *testing.T) {
	id := api.GroupUUID{}
	unavailable := problemJSON(503, "SERVICE_UNAVAILABLE")
	cases := []struct {
		name string
		call func(c *client.Client) error
		want int32
	}{
		{"GetIsRetried", func(c *client.Client) error { _, err := c.Groups.Get(bg, id); return err }, 4},
		{"DeleteIsRetried", func(c *client.Client) error { return c.Groups.Delete(bg, id) }, 4},
		{"PutIsRetried", func(c *client.Client) error {
			_, err := c.Groups.Replace(bg, client.Group{UUID: id, Name: "x"})
			return err
		}, 4},
		{"CreateIsRetried", func(c *client.Client) error { _, err := c.Groups.Create(bg, client.NewGroup{Name: "x"}); return err }, 4},
		{"PostWithoutKeyIsNotRetried", func(c *client.Client) error {
			_, err := c.API().CreateGroupWithResponse(bg, nil, api.GroupCreate{Name: "x"})
			return err
		}, 1},
		{"PatchWithoutIfMatchIsNotRetried", func(c *client.Client) error {
			_, err := c.API().UpdateGroupWithResponse(bg, id, nil, api.GroupPatch{Name: ptr("x")})
			return err
		}, 1},
		{"PatchWithIfMatchIsRetried", func(c *client.Client) error {
			resp, err := c.API().UpdateGroupWithResponse(bg, id, &api.UpdateGroupParams{IfMatch: ptr(`"1"`)}, api.GroupPatch{Name: ptr("x")})
			if err == nil && resp.StatusCode() == 503 {
				err = client.ErrUnavailable // the raw client returns the last answer as is
			}
			return err
		}, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url, hits := stub(t, 503, http.Header{"Retry-After": {"0"}}, unavailable)
			c := newClient(t, url, "gk_test", client.WithRetryPolicy(client.RetryPolicy{MaxAttempts: 4, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond}))
			err := tc.call(c)
			if got := hits.Load(); got != tc.want {
				t.Errorf("attempts = %d, want %d", got, tc.want)
			}
			if tc.want > 1 && !errors.Is(err, client.ErrUnavailable) {
				t.Errorf("err = %v, want ErrUnavailable after the last attempt", err)
			}
		})
	}
}

func TestFinalAnswersAreNotRetried(t *testing.T) {
	for _, status := range []int{400, 404, 409, 412, 422, 500} {
		url, hits := stub(t, status, nil, problemJSON(status, "X"))
		c := newClient(t, url, "gk_test")
		_, err := c.Groups.Get(bg, api.GroupUUID{})
		var e *client.Error
		if !errors.As(err, &e) || e.Status != status || hits.Load() != 1 {
			t.Errorf("status %d: err %v, attempts %d; want one attempt and an *Error", status, err, hits.Load())
		}
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	for _, status := range []int{429, 503} {
		url, hits := stub(t, status, http.Header{"Retry-After": {"1"}}, problemJSON(status, "SERVICE_UNAVAILABLE"))
		c := newClient(t, url, "gk_test", client.WithRetryPolicy(client.RetryPolicy{MaxAttempts: 2, BaseBackoff: time.Millisecond, MaxBackoff: time.Millisecond}))
		start := time.Now()
		_, err := c.Groups.Get(bg, api.GroupUUID{})
		if el := time.Since(start); el < time.Second || hits.Load() != 2 {
			t.Errorf("%d: %d attempts in %v; want 2 attempts at least Retry-After (1s) apart", status, hits.Load(), el)
		}
		var e *client.Error
		if !errors.As(err, &e) || e.RetryAfter != time.Second {
			t.Errorf("%d: err %v, want an *Error with RetryAfter 1s", status, err)
		}
	}
}

func TestRetriesNeverOutliveTheContext(t *testing.T) {
	t.Run("RetryAfterBeyondTheDeadline", func(t *testing.T) {
		url, hits := stub(t, 503, http.Header{"Retry-After": {"30"}}, problemJSON(503, "SERVICE_UNAVAILABLE"))
		c := newClient(t, url, "gk_test")
		ctx, cancel := context.WithTimeout(bg, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Groups.Get(ctx, api.GroupUUID{})
		if el := time.Since(start); el > time.Second || hits.Load() != 1 {
			t.Fatalf("returned after %v and %d attempts; want at once, without waiting 30s", el, hits.Load())
		}
		if !errors.Is(err, client.ErrUnavailable) {
			t.Fatalf("err = %v, want the 503 itself", err)
		}
	})
	t.Run("CancelledWhileWaiting", func(t *testing.T) {
		url, _ := stub(t, 503, nil, problemJSON(503, "SERVICE_UNAVAILABLE"))
		c := newClient(t, url, "gk_test", client.WithRetryPolicy(client.RetryPolicy{MaxAttempts: 10, BaseBackoff: 10 * time.Second, MaxBackoff: 10 * time.Second}))
		ctx, cancel := context.WithCancel(bg)
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		_, err := c.Groups.Get(ctx, api.GroupUUID{})
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("returned after %v", el)
		}
		// The backoff is random below 10s: either the wait was cut short by
		// the cancel, or it was short enough and the next attempt saw it.
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
}

func TestTransportErrorIsNotAnAPIError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := newClient(t, url, "gk_test")
	_, err := c.Groups.Get(bg, api.GroupUUID{})
	var e *client.Error
	if err == nil || errors.As(err, &e) {
		t.Fatalf("err = %v; want a transport error that is not an *client.Error", err)
	}
	if errors.Is(err, client.ErrNotFound) || errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("a transport error matched an API sentinel: %v", err)
	}
	if !strings.Contains(err.Error(), "get group") {
		t.Fatalf("err = %v, want the operation named", err)
	}
}

func TestDeleteWhoseAnswerWasLostSucceeds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		srv := startGroupsd(t, d)
		g, err := srv.client(t).Groups.Create(bg, client.NewGroup{Name: "Doomed"})
		if err != nil {
			t.Fatal(err)
		}
		proxy, url := newFaultProxy(t, srv.url, map[string][]fault{http.MethodDelete: {dropAfter}})
		if err := newClient(t, url, srv.key).Groups.Delete(bg, g.UUID); err != nil {
			t.Fatalf("Delete whose first answer was lost: %v, want nil", err)
		}
		if attempts, forwarded := proxy.count(http.MethodDelete); attempts != 2 || forwarded != 2 {
			t.Fatalf("DELETE attempts %d, forwarded %d; want 2, 2", attempts, forwarded)
		}
		if _, err := srv.client(t).Groups.Get(bg, g.UUID); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("Get after delete: %v, want ErrNotFound", err)
		}
	})
}

func TestCreateWaitsOutAnInFlightTwin(t *testing.T) {
	url, hits := stub(t, 409, nil, problemJSON(409, "IDEMPOTENCY_IN_FLIGHT"))
	_, err := newClient(t, url, "gk_test").Groups.Create(bg, client.NewGroup{Name: "x"})
	if got := hits.Load(); got != int32(fastRetries.MaxAttempts) {
		t.Errorf("attempts = %d, want %d: IDEMPOTENCY_IN_FLIGHT is retried", got, fastRetries.MaxAttempts)
	}
	if !errors.Is(err, client.ErrIdempotencyInFlight) {
		t.Errorf("err = %v, want ErrIdempotencyInFlight", err)
	}
	url, hits = stub(t, 409, nil, problemJSON(409, "NAME_CONFLICT"))
	_, err = newClient(t, url, "gk_test").Groups.Create(bg, client.NewGroup{Name: "x"})
	if hits.Load() != 1 || !errors.Is(err, client.ErrNameTaken) {
		t.Errorf("NAME_CONFLICT: %d attempts, %v; want 1 attempt and ErrNameTaken", hits.Load(), err)
	}
}
