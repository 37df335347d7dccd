package client_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// fault is what the proxy does to one request.
type fault int

const (
	pass        fault = iota // forward it and its answer
	dropBefore               // close the connection before the server sees the request
	unavailable              // answer 503 SERVICE_UNAVAILABLE itself
	dropAfter                // forward it, let the server finish, then close the connection unanswered
)

// faultProxy stands between the SDK and a real server and spoils the first
// requests of a method as planned.
type faultProxy struct {
	upstream string

	mu        sync.Mutex
	plan      map[string][]fault
	attempts  map[string]int
	forwarded map[string]int
	keys      map[string][]string // method -> the Idempotency-Key of every POST and PATCH attempt
}

func newFaultProxy(t *testing.T, upstream string, plan map[string][]fault) (*faultProxy, string) {
	t.Helper()
	p := &faultProxy{upstream: upstream, plan: plan, attempts: map[string]int{}, forwarded: map[string]int{}, keys: map[string][]string{}}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv.URL
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	f := pass
	if q := p.plan[r.Method]; len(q) > 0 {
		f, p.plan[r.Method] = q[0], q[1:]
	}
	p.attempts[r.Method]++
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		p.keys[r.Method] = append(p.keys[r.Method], r.Header.Get("Idempotency-Key"))
	}
	p.mu.Unlock()

	switch f {
	case dropBefore:
		hangUp(w)
		return
	case unavailable:
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"type":"urn:groupsd:problem:service-unavailable","title":"Service Unavailable","status":503,"detail":"injected","instance":"/","code":"SERVICE_UNAVAILABLE","requestId":"proxy"}`)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		hangUp(w)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		hangUp(w)
		return
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p.mu.Lock()
	p.forwarded[r.Method]++
	p.mu.Unlock()
	if f == dropAfter {
		hangUp(w)
		return
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

func (p *faultProxy) count(method string) (attempts, forwarded int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.attempts[method], p.forwarded[method]
}

// hangUp closes the client's connection without an answer.
func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}
