package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSlowHeaderClientIsCutOff: a client that sends its request headers a
// line at a time (slowloris) is disconnected once --read-header-timeout
// passes, without an answer, and other clients are served meanwhile.
func TestSlowHeaderClientIsCutOff(t *testing.T) {
	cfg := testConfig(t)
	cfg.Auth, cfg.ReadHeaderTimeout = "none", 300*time.Millisecond
	p := startServer(t, cfg)

	rr := opsDialRaw(t, p.Addr)
	rr.write(t, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
	closed := make(chan error, 1)
	go func() {
		// Read returns when groupsd closes the connection; a byte would
		// mean it answered an incomplete request.
		var b [1]byte
		n, err := rr.conn.Read(b[:])
		if n > 0 {
			err = fmt.Errorf("groupsd sent %q instead of closing", b[:n])
		}
		closed <- err
	}()
	// Trickle 25 header lines, 100 ms apart: 2.5 s, well past the 300 ms
	// allowed and well short of the 5 s default, so only the flag can cut
	// this client off before it finishes.
	for i := range 25 {
		select {
		case err := <-closed:
			if err != nil && strings.Contains(err.Error(), "instead of closing") {
				t.Fatal(err)
			}
			t.Logf("cut off after %d header lines: %v", i, err)
			if resp, _ := opsDo(t, "GET", p.URL+"/healthz", ""); resp.StatusCode != 200 {
				t.Fatalf("healthz after the slow client: %d", resp.StatusCode)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if _, err := fmt.Fprintf(rr.conn, "X-Slow-%d: y\r\n", i); err != nil {
			t.Logf("cut off after %d header lines (write: %v)", i, err)
			return
		}
	}
	t.Fatal("a client trickling its headers for 2.5 s was not cut off by --read-header-timeout 300ms")
}

// TestMaxHeaderBytes: request headers are bounded by default (64 KiB), and
// --max-header-bytes moves the bound; an oversized header block is 431.
func TestMaxHeaderBytes(t *testing.T) {
	for _, c := range []struct {
		name       string
		max        int // --max-header-bytes, 0 for the default
		fits, over int // header value sizes
	}{
		{"Default", 0, 32 << 10, 256 << 10},
		{"Flag", 8192, 2 << 10, 32 << 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Auth = "none"
			if c.max != 0 {
				cfg.MaxHeaderBytes = c.max
			}
			p := startServer(t, cfg)
			for _, size := range []int{c.fits, c.over} {
				rr := opsDialRaw(t, p.Addr)
				rr.write(t, fmt.Sprintf("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", size)))
				resp, _, err := rr.response(10 * time.Second)
				if err != nil {
					t.Fatalf("%d-byte header: %v", size, err)
				}
				want := http.StatusOK
				if size == c.over {
					want = http.StatusRequestHeaderFieldsTooLarge
				}
				if resp.StatusCode != want {
					t.Errorf("%d-byte header: %d, want %d", size, resp.StatusCode, want)
				}
			}
		})
	}
}
