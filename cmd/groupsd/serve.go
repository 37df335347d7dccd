package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/server/docs"
	"github.com/groupsd/groupsd/server/metrics"
	"github.com/groupsd/groupsd/store"
)

const defaultDatabase = "sqlite:groups.db"

// Config is the serve command's configuration.
type Config struct {
	Addr              string
	Database          string
	Auth              string
	RequireIfMatch    bool
	Migrate           bool
	DBMaxConns        int
	RequestTimeout    time.Duration
	ShutdownDelay     time.Duration
	ShutdownTimeout   time.Duration
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	LogFormat         string
	LogLevel          string
	// TrashRetention is how long deleted groups stay restorable; 0 makes
	// deletes immediate and final. PurgeInterval is how often the trash is
	// purged of groups past their retention.
	TrashRetention time.Duration
	PurgeInterval  time.Duration
}

// DefaultConfig returns the defaults documented in the README.
func DefaultConfig() Config {
	return Config{
		Addr:              "127.0.0.1:8080",
		Database:          defaultDatabase,
		Auth:              "keys",
		Migrate:           true,
		DBMaxConns:        16,
		RequestTimeout:    10 * time.Second,
		ShutdownDelay:     0,
		ShutdownTimeout:   15 * time.Second,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		LogFormat:         "json",
		LogLevel:          "info",
		TrashRetention:    store.DefaultTrashRetention,
		PurgeInterval:     time.Minute,
	}
}

func serveFlags(stderr io.Writer, c *Config) *flag.FlagSet {
	fs := newFlagSet("serve", stderr)
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address")
	fs.StringVar(&c.Database, "database", c.Database, "database URL: sqlite:PATH or postgres://user@host/db")
	fs.StringVar(&c.Auth, "auth", c.Auth, "authentication: keys (Bearer API keys) or none (local experiments only: every request is organization \"default\")")
	fs.BoolVar(&c.RequireIfMatch, "require-if-match", c.RequireIfMatch, "answer 428 to PATCH, PUT and DELETE without If-Match")
	fs.BoolVar(&c.Migrate, "migrate", c.Migrate, "apply pending migrations at start (disable when `groupsd migrate` runs before rollouts)")
	fs.IntVar(&c.DBMaxConns, "db-max-conns", c.DBMaxConns, "maximum open database connections (Postgres pool; SQLite readers)")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", c.RequestTimeout, "deadline of each request, database work included")
	fs.DurationVar(&c.ShutdownDelay, "shutdown-delay", c.ShutdownDelay, "after SIGTERM, keep serving this long with /readyz failing before closing the listener (set it to the load balancer's probe interval times its failure threshold)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "after the listener closes, how long in-flight requests may finish before their connections are closed")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", c.ReadHeaderTimeout, "time allowed to read request headers (cuts off slow-header clients)")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", c.ReadTimeout, "time allowed to read a whole request")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "time allowed to write a response")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "how long an idle keep-alive connection stays open")
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", c.MaxHeaderBytes, "largest accepted request header block")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: json or text")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
	fs.DurationVar(&c.TrashRetention, "trash-retention", c.TrashRetention, "how long deleted groups stay restorable in the trash before they are purged; 0 makes deletes immediate and final (no trash)")
	fs.DurationVar(&c.PurgeInterval, "purge-interval", c.PurgeInterval, "how often groups past their trash retention are purged")
	return fs
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Sprintf("--log-format %q: want json or text", format)}
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	cfg := DefaultConfig()
	fs := serveFlags(stderr, &cfg)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("serve: unexpected argument %q", fs.Arg(0))}
	}
	log, err := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	if cfg.Auth != "keys" && cfg.Auth != "none" {
		return usageError{fmt.Sprintf("--auth %q: want keys or none", cfg.Auth)}
	}

	if cfg.TrashRetention < 0 || cfg.PurgeInterval <= 0 {
		return usageError{"--trash-retention must be 0 or more and --purge-interval more than 0"}
	}
	db, err := store.Open(ctx, cfg.Database, store.Options{MaxConns: cfg.DBMaxConns, SkipMigrations: !cfg.Migrate,
		TrashRetention: cfg.TrashRetention, NoTrash: cfg.TrashRetention == 0})
	if err != nil {
		return err
	}
	// Closed once: explicitly at the end of a graceful shutdown (so "stopped"
	// is logged after the WAL checkpoint), or here on any early return.
	closeDB := sync.OnceValue(db.Close)
	defer func() {
		if err := closeDB(); err != nil {
			log.Error("closing the database", slog.String("error", err.Error()))
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
		Mount: func(e *echo.Echo) {
			met.Register(e)
			docs.Register(e, "/openapi.json")
		},
	}
	if cfg.Auth == "keys" {
		scfg.Auth = server.NewAuthenticator(db, log)
	} else {
		log.Warn("AUTHENTICATION IS DISABLED (--auth=none): anyone who can reach this port can read and change every group; every request is organization \"default\". Use only for local experiments.")
	}
	srv, e, err := server.New(scfg)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	// Request contexts derive from reqCtx, which is cancelled only when the
	// shutdown timeout expires: a SIGTERM alone never aborts a request.
	reqCtx, abortRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer abortRequests()
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
	dbKind, _, _ := store.ParseURL(cfg.Database)
	log.Info("groupsd listening", slog.String("url", "http://"+ln.Addr().String()),
		slog.String("database", string(dbKind)), slog.String("version", versionString()))

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	purged := make(chan struct{})
	defer func() { stopBG(); <-purged }()
	go func() {
		defer close(purged)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); purgeTrash(bg, db, cfg.PurgeInterval, log) }()
		purgeIdempotencyKeys(bg, db, log)
		wg.Wait()
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Graceful shutdown: fail readiness first so load balancers stop routing
	// here, stop accepting, let in-flight requests finish, stop background
	// work, then close the database (Close checkpoints SQLite's WAL).
	log.Info("shutting down", slog.String("delay", cfg.ShutdownDelay.String()), slog.String("timeout", cfg.ShutdownTimeout.String()))
	srv.Drain()
	d := &drainer{hs: hs, ln: ln, serveErr: serveErr, conns: conns, abort: abortRequests,
		delay: cfg.ShutdownDelay, timeout: cfg.ShutdownTimeout, log: log}
	derr := d.drain()
	if derr != nil {
		log.Error("shutdown did not finish in time", slog.String("error", derr.Error()))
	}
	stopBG()
	<-purged
	if err := closeDB(); err != nil {
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

// purgeTrash purges, every interval, the trashed groups whose retention has
// passed. Replicas may all run it: each group is purged by exactly one.
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
