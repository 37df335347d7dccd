package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// rawExchange writes raw to a new connection to e's server and returns the
// first response (body read) and whether the server then closed the
// connection without answering anything else that raw carried.
func rawExchange(t *testing.T, e *env, raw string) (resp *http.Response, body []byte, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Written aside: the server may answer and stop reading before raw ends.
	go io.WriteString(conn, raw)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err = http.ReadResponse(br, &http.Request{Method: "POST"})
	if err != nil {
		t.Fatalf("no first response: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	rest, _ := io.ReadAll(br)
	if len(rest) > 0 {
		t.Errorf("the server answered a second request on the connection:\n%s", rest)
	}
	return resp, body, len(rest) == 0
}

// RFC 9112 §6.1: a request with both Content-Length and Transfer-Encoding
// may be processed by the Transfer-Encoding alone, but the connection must
// be closed after the response, so that bytes hidden inside the
// Content-Length are never read as a second request.
func TestSmuggledRequestIsNeverServed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		smuggled := "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
		send := func(chunks string) string {
			body := chunks + "0\r\n\r\n" + smuggled
			return fmt.Sprintf("POST /api/v2/groups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
				"Content-Type: application/json\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%s",
				e.keys["acme"], len(body), body)
		}

		t.Run("EmptyChunkedBodyIsAProblemAndCloses", func(t *testing.T) {
			resp, body, _ := rawExchange(t, e, send(""))
			problem(t, resp, body, http.StatusBadRequest, api.VALIDATIONERROR)
			if !resp.Close {
				t.Errorf("response does not say Connection: close: %v", resp.Header)
			}
		})

		t.Run("ValidChunkedBodyIsServedAndCloses", func(t *testing.T) {
			json := `{"name":"Smuggler"}`
			resp, body, _ := rawExchange(t, e, send(fmt.Sprintf("%x\r\n%s\r\n", len(json), json)))
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if !resp.Close {
				t.Errorf("response does not say Connection: close: %v", resp.Header)
			}
		})
	})
}

// Requests that net/http rejects while reading the request, before any
// handler runs, are answered by it in its own terms: text/plain (417 has no
// body), no problem+json, no X-Request-Id, and the connection closed. The
// spec lists these exceptions in its conventions; this test holds it to
// them.
func TestFramingErrorsAnsweredByTheStandardLibrary(t *testing.T) {
	e := newEnv(t, store.SQLite)
	head := "POST /api/v2/groups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	for _, tc := range []struct {
		name, raw string
		status    int
		text      string // the text/plain body; "" for none
	}{
		{"TwoDifferentContentLengths", head + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400, "400 Bad Request"},
		{"UnparsableContentLength", head + "Content-Length: 2x\r\n\r\n{}", 400, "400 Bad Request"},
		{"UnknownExpectation", head + "Expect: foo\r\nContent-Length: 2\r\n\r\n{}", 417, ""},
		{"UnsupportedTransferEncoding", head + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501, "Unsupported transfer encoding"},
		{"OversizedHeaderBlock", head + "X-Big: " + strings.Repeat("a", http.DefaultMaxHeaderBytes+8192) + "\r\n\r\n", 431, "431 Request Header Fields Too Large"},
		{"MissingHost", "GET /healthz HTTP/1.1\r\n\r\n", 400, "400 Bad Request: missing required Host header"},
		{"UnsupportedVersion", "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505, "505 HTTP Version Not Supported: unsupported protocol version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, _ := rawExchange(t, e, tc.raw+"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if !resp.Close {
				t.Errorf("response does not say Connection: close: %v", resp.Header)
			}
			if id := resp.Header.Get("X-Request-Id"); id != "" {
				t.Errorf("X-Request-Id %q: a handler answered, so this is no longer an exception; update the spec", id)
			}
			if got := string(body); got != tc.text {
				t.Errorf("body %q, want %q", got, tc.text)
			}
			if ct := resp.Header.Get("Content-Type"); tc.text != "" && ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}
