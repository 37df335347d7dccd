package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/server/docs"
	"github.com/groupsd/groupsd/server/metrics"
	"github.com/groupsd/groupsd/server/ratelimit"
	"github.com/groupsd/groupsd/store"
)

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // checked by validate
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// serve runs `groupsd serve`: it starts a Main and closes it gracefully when
// ctx is cancelled (SIGINT, SIGTERM) or the server stops on its own.
func serve(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	cfg, err := ParseConfig(args, lookupEnv, stdout)
	if err != nil {
		return err
	}
	m := NewMain(cfg)
	m.LogOutput = stderr
	// SIGHUP rereads the TLS certificate; it no longer ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := m.Run(ctx); err != nil {
		return err
	}
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			waiting = false
		case <-m.served:
			waiting = false
		case <-hup:
			_ = m.Reload() // logged; the previous certificate stays on failure
		}
	}
	return m.Close()
}

// Main is a running groupsd server: the database, the HTTP server and its
// listener, metrics, docs and background work, wired from one Config.
// Run starts it and returns once it serves; Close shuts it down gracefully.
// main uses one for `groupsd serve`; tests use one in-process.
type Main struct {
	Config Config
	// LogOutput receives the logs; os.Stderr when nil.
	LogOutput io.Writer

	log           *slog.Logger
	closeDB       func() error
	closeLimiter  func() error // the shared rate limit store's connections, if any
	srv           *server.Server
	hs            *http.Server
	ln            net.Listener
	conns         *connTracker
	abortRequests context.CancelFunc // cancels every request context
	stopBG        context.CancelFunc // stops the idempotency purger
	purged        chan struct{}      // closed when the purger returned
	serveErr      chan error         // Serve's result, buffered
	served        chan struct{}      // closed once Serve returned
	ops           operator           // TLS and the admin listener

	closeOnce sync.Once
	closeErr  error
}

// NewMain returns a Main that Run will start from cfg.
func NewMain(cfg Config) *Main {
	return &Main{Config: cfg}
}

// Addr is the address the server listens on (the bound port when
// Config.Addr asked for port 0); empty before Run.
func (m *Main) Addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// URL is the server's base URL: https://Addr with TLS, else http://Addr.
func (m *Main) URL() string {
	if m.Config.TLSCertFile != "" {
		return "https://" + m.Addr()
	}
	return "http://" + m.Addr()
}

// Run opens the database (applying migrations unless Config.Migrate is
// false), builds the server with its metrics and docs, starts listening and
// serving, and returns. ctx bounds the start (migrations included) and
// lends its values to request contexts; cancelling it later does not stop
// the server: Close does. On an error nothing is left running.
func (m *Main) Run(ctx context.Context) (err error) {
	cfg := m.Config
	if err := cfg.validate(); err != nil {
		return err
	}
	if err := cfg.validateOperator(); err != nil {
		return err
	}
	out := m.LogOutput
	if out == nil {
		out = os.Stderr
	}
	log := newLogger(out, cfg.LogFormat, cfg.LogLevel)
	m.log = log

	db, err := store.Open(ctx, cfg.Database, store.Options{MaxConns: cfg.DBMaxConns, SkipMigrations: !cfg.Migrate,
		Limits:         store.Limits{MaxMembersPerGroup: cfg.MaxMembersPerGroup, MaxGroupsPerUser: cfg.MaxGroupsPerUser},
		CursorKey:      []byte(cfg.CursorKey),
		TrashRetention: cfg.TrashRetention, NoTrash: cfg.TrashRetention == 0})
	if err != nil {
		return err
	}
	// Closed once: by Close at the end of a graceful shutdown (so "stopped"
	// is logged after the WAL checkpoint), or here if Run fails.
	m.closeDB = sync.OnceValue(db.Close)
	defer func() {
		if err != nil {
			if cerr := m.closeDB(); cerr != nil {
				log.Error("closing the database", slog.String("error", cerr.Error()))
			}
		}
	}()

	version, revision, _ := buildVersion()
	met := metrics.New(metrics.Options{
		Build: metrics.Build{Version: version, Revision: revision, GoVersion: runtime.Version()},
		Pools: poolStats(db),
	})
	scfg := server.Config{
		Store:          db,
		RequireIfMatch: cfg.RequireIfMatch,
		RequestTimeout: cfg.RequestTimeout,
		Logger:         log,
		Observe:        met.Observe,
		TrustedProxies: cfg.TrustedProxies,
		Mount: func(e *echo.Echo) {
			if cfg.AdminAddr == "" { // else /metrics is on the admin listener only
				met.Register(e)
			}
			docs.Register(e, "/openapi.json")
		},
	}
	if cfg.RateLimit > 0 {
		scfg.RateLimit = ratelimit.Limit{PerSecond: cfg.RateLimit, Burst: cfg.RateBurst}
		if cfg.RateLimitStore != "" {
			rl, rerr := ratelimit.NewRedis(ratelimit.RedisOptions{URL: cfg.RateLimitStore, Log: log, OnError: met.RateLimitStoreErrors()})
			if rerr != nil {
				return usageError{fmt.Sprintf("--rate-limit-store: %v", rerr)}
			}
			m.closeLimiter = rl.Close
			defer func() {
				if err != nil {
					rl.Close()
				}
			}()
			// A Redis that is down at start is no reason not to serve: the
			// limiter fails open until it answers.
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			if perr := rl.Ping(pctx); perr != nil {
				log.Warn("rate limit store unreachable at start: limiting per replica until it answers (fail open)", slog.String("error", perr.Error()))
			}
			cancel()
			scfg.Limiter = rl
		}
	}
	scfg.MaxKeyLifetime = cfg.MaxKeyLifetime
	if cfg.Auth == "keys" {
		scfg.Auth = server.NewAuthenticator(db, log)
	} else {
		log.Warn("AUTHENTICATION IS DISABLED (--auth=none): anyone who can reach this port can read and change every group; every request is organization \"default\". Use only for local experiments.")
	}
	srv, e, err := server.New(scfg)
	if err != nil {
		return err
	}

	if cfg.TLSCertFile != "" {
		if m.ops.cert, err = loadCertificate(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if cfg.AdminAddr != "" {
		if err := m.startAdmin(cfg.AdminAddr, adminHandler(met, e), log); err != nil {
			_ = ln.Close()
			return err
		}
	}
	// Request contexts derive from reqCtx, which is cancelled only when the
	// shutdown timeout expires: a SIGTERM alone never aborts a request.
	reqCtx, abortRequests := context.WithCancel(context.WithoutCancel(ctx))
	conns := newConnTracker()
	hs := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		ConnState:         conns.track,
	}
	if m.ops.cert != nil {
		hs.TLSConfig = m.ops.cert.tlsConfig()
	}
	dbKind, _, _ := store.ParseURL(cfg.Database)
	scheme := "http://"
	if m.ops.cert != nil {
		scheme = "https://"
	}
	log.Info("groupsd listening", slog.String("url", scheme+ln.Addr().String()),
		slog.String("database", string(dbKind)), slog.String("version", versionString()))

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	purged := make(chan struct{})
	go func() {
		defer close(purged)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); purgeTrash(bg, db, cfg.PurgeInterval, log) }()
		purgeIdempotencyKeys(bg, db, log)
		wg.Wait()
	}()

	m.srv, m.hs, m.ln, m.conns = srv, hs, ln, conns
	m.abortRequests, m.stopBG, m.purged = abortRequests, stopBG, purged
	m.serveErr, m.served = make(chan error, 1), make(chan struct{})
	go func() {
		if hs.TLSConfig != nil {
			// ServeTLS adds HTTP/2 to the TLS protocols; the certificate
			// comes from TLSConfig.GetCertificate, so no file names here.
			m.serveErr <- hs.ServeTLS(ln, "", "")
		} else {
			m.serveErr <- hs.Serve(ln)
		}
		close(m.served)
	}()
	return nil
}

// Close shuts the server down gracefully: /readyz fails at once, the
// listener keeps accepting for Config.ShutdownDelay and then closes,
// in-flight requests have Config.ShutdownTimeout to finish before their
// connections are closed, background work stops, and the database closes
// (checkpointing SQLite's WAL). It returns an error when the timeout cut
// requests off, the database did not close cleanly, or the server had
// stopped serving on its own. Close after a failed Run does nothing; a
// second Close returns the first one's result.
func (m *Main) Close() error {
	if m.hs == nil {
		return nil
	}
	m.closeOnce.Do(func() { m.closeErr = m.shutdown() })
	return m.closeErr
}

func (m *Main) shutdown() error {
	log, cfg := m.log, m.Config
	select {
	case err := <-m.serveErr:
		// Serve failed before any shutdown: nothing to drain.
		m.abortRequests()
		m.closeAdmin()
		m.stopBG()
		<-m.purged
		if cerr := m.closeDB(); cerr != nil {
			log.Error("closing the database", slog.String("error", cerr.Error()))
		}
		return fmt.Errorf("serve: %w", err)
	default:
	}
	defer m.abortRequests()
	// Graceful shutdown: fail readiness first so load balancers stop routing
	// here, stop accepting, let in-flight requests finish, stop background
	// work, then close the database (Close checkpoints SQLite's WAL).
	log.Info("shutting down", slog.String("delay", cfg.ShutdownDelay.String()), slog.String("timeout", cfg.ShutdownTimeout.String()))
	m.srv.Drain()
	d := &drainer{hs: m.hs, ln: m.ln, serveErr: m.serveErr, conns: m.conns, abort: m.abortRequests,
		delay: cfg.ShutdownDelay, timeout: cfg.ShutdownTimeout, log: log}
	derr := d.drain()
	if derr != nil {
		log.Error("shutdown did not finish in time", slog.String("error", derr.Error()))
	}
	m.closeAdmin()
	m.stopBG()
	<-m.purged
	if m.closeLimiter != nil {
		_ = m.closeLimiter()
	}
	if err := m.closeDB(); err != nil {
		log.Error("closing the database", slog.String("error", err.Error()))
		return errors.Join(derr, fmt.Errorf("closing the database: %w", err))
	}
	if derr != nil {
		return derr
	}
	log.Info("stopped")
	return nil
}

// poolStats names db's connection pools for the metrics: SQLite has a
// reader pool and a single writer connection; Postgres one shared pool.
func poolStats(db *store.DB) metrics.PoolStats {
	return func() map[string]sql.DBStats {
		r, w := db.Stats()
		if db.Dialect() == store.Postgres {
			return map[string]sql.DBStats{"readwrite": r}
		}
		return map[string]sql.DBStats{"read": r, "write": w}
	}
}

// purgeIdempotencyKeys deletes expired idempotency records in small batches,
// off the request path, so purging never blocks requests for long.
func purgeIdempotencyKeys(ctx context.Context, db *store.DB, log *slog.Logger) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		for {
			n, err := db.PurgeIdempotencyKeys(ctx, 500)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("purging idempotency keys", slog.String("error", err.Error()))
				}
				break
			}
			if n < 500 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// purgeTrash deletes the groups past their trash retention every interval
// until ctx ends. Each batch is one statement, so with several replicas each
// group is purged once.
func purgeTrash(ctx context.Context, db *store.DB, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := db.PurgeExpired(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("purging the trash", slog.String("error", err.Error()))
		case n > 0:
			log.Info("purged deleted groups", slog.Int("groups", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
