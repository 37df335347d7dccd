package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// connTracker follows every connection the HTTP server accepted, so shutdown
// can tell when no request is in progress or still on its way in.
type connTracker struct {
	mu      sync.Mutex
	conns   map[net.Conn]http.ConnState
	changed chan struct{} // closed and replaced on every state change
}

func newConnTracker() *connTracker {
	return &connTracker{conns: map[net.Conn]http.ConnState{}, changed: make(chan struct{})}
}

// track is the http.Server ConnState hook.
func (t *connTracker) track(c net.Conn, s http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(t.conns, c)
	default:
		t.conns[c] = s
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

// busy counts connections with a request in progress (active) or expected
// (new: accepted, request not read yet).
func (t *connTracker) busy() (n int, changed <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.conns {
		if s == http.StateNew || s == http.StateActive {
			n++
		}
	}
	return n, t.changed
}

// waitQuiet returns when no connection is busy, or with ctx's error.
func (t *connTracker) waitQuiet(ctx context.Context) error {
	for {
		n, changed := t.busy()
		if n == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%d connections still busy: %w", n, ctx.Err())
		}
	}
}

// drainer runs the graceful shutdown of one listener and its server.
type drainer struct {
	hs       *http.Server
	ln       net.Listener
	serveErr <-chan error // Serve's result
	conns    *connTracker
	// abort cancels the context of every request; used only when the
	// timeout expires, so handlers stop their database work.
	abort   context.CancelFunc
	delay   time.Duration
	timeout time.Duration
	log     *slog.Logger
}

// drain is called once readiness already answers 503. It keeps serving for
// delay (so load balancers see the failing probe), stops accepting, lets
// every accepted connection finish its request, then closes the rest. It
// returns an error when the timeout forced connections closed.
//
// http.Server.Shutdown alone would drop a connection accepted just before
// the signal whose request headers arrive after it (it closes such
// connections without an answer), so the listener is closed first and
// Shutdown runs only once nothing is in flight.
func (d *drainer) drain() error {
	// Responses from now on say Connection: close, and idle keep-alive
	// connections are closed, so clients reconnect through the balancer.
	d.hs.SetKeepAlivesEnabled(false)
	if d.delay > 0 {
		d.log.Info("draining: still accepting while readiness fails", slog.String("delay", d.delay.String()))
		time.Sleep(d.delay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()

	// Stop accepting. New dials are refused from here on.
	if err := d.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		d.log.Warn("closing the listener", slog.String("error", err.Error()))
	}
	if err := <-d.serveErr; err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
		d.log.Warn("serve", slog.String("error", err.Error()))
	}
	werr := d.conns.waitQuiet(ctx)
	if werr == nil {
		// Nothing in flight: this only closes idle connections.
		werr = d.hs.Shutdown(ctx)
	}
	if werr != nil {
		d.abort()
		_ = d.hs.Close()
		return fmt.Errorf("shutdown timeout (%s) expired; open connections were closed: %w", d.timeout, werr)
	}
	return nil
}
