package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/store"
)

const defaultDatabase = "sqlite:groups.db"

// Config is the configuration of groupsd serve. Each field is the flag of
// the same name (ReadHeaderTimeout is --read-header-timeout) and of its
// GROUPS_* environment variable (GROUPS_READ_HEADER_TIMEOUT); the README's
// flag table says what each one does.
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
	// MaxMembersPerGroup and MaxGroupsPerUser are the membership limits.
	MaxMembersPerGroup int
	MaxGroupsPerUser   int
	// CursorKey, when set, authenticates page cursors instead of the key
	// kept in the database.
	CursorKey string
	// TrashRetention is how long deleted groups stay restorable; 0 makes
	// deletes immediate and final. PurgeInterval is how often the trash is
	// purged of groups past their retention.
	TrashRetention time.Duration
	PurgeInterval  time.Duration
	// RateLimit (requests per second; 0 turns limiting off) and RateBurst
	// are every key's default token bucket; RateLimitStore, a redis:// URL,
	// shares the buckets among replicas ("" keeps them in process).
	RateLimit      float64
	RateBurst      int
	RateLimitStore string
	// MaxKeyLifetime caps the expiry of keys created over HTTP (0 = no cap).
	MaxKeyLifetime time.Duration
	// TLSCertFile and TLSKeyFile, both set, serve HTTPS; AdminAddr opens the
	// admin listener; TrustedProxies name the proxies whose X-Forwarded-For
	// the access log believes (operator.go).
	TLSCertFile, TLSKeyFile string
	AdminAddr               string
	TrustedProxies          []netip.Prefix
}

// DefaultMaxKeyLifetime is the longest a key may live: 360 days, as on the
// platform this API comes from.
const DefaultMaxKeyLifetime = 360 * 24 * time.Hour

// DefaultConfig returns the defaults documented in the README.
func DefaultConfig() Config {
	return Config{
		Addr:               "127.0.0.1:8080",
		Database:           defaultDatabase,
		Auth:               "keys",
		Migrate:            true,
		DBMaxConns:         16,
		RequestTimeout:     10 * time.Second,
		ShutdownDelay:      0,
		ShutdownTimeout:    15 * time.Second,
		ReadHeaderTimeout:  5 * time.Second,
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       30 * time.Second,
		IdleTimeout:        120 * time.Second,
		MaxHeaderBytes:     64 << 10,
		LogFormat:          "json",
		LogLevel:           "info",
		MaxMembersPerGroup: store.DefaultMaxMembersPerGroup,
		MaxGroupsPerUser:   store.DefaultMaxGroupsPerUser,
		TrashRetention:     store.DefaultTrashRetention,
		PurgeInterval:      time.Minute,
		RateLimit:          server.DefaultRateLimit.PerSecond,
		RateBurst:          server.DefaultRateLimit.Burst,
		MaxKeyLifetime:     DefaultMaxKeyLifetime,
	}
}

// register defines the serve flags on f, each writing to c and reading its
// GROUPS_* environment variable.
func (c *Config) register(f *flags) {
	env := func(name string) string { return "GROUPS_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) }
	str := func(p *string, name, usage string) { f.String(p, name, usage, env(name)) }
	dur := func(p *time.Duration, name, usage string) { f.Duration(p, name, usage, env(name)) }
	str(&c.Addr, "addr", "listen address, HOST:PORT (127.0.0.1 accepts local connections only; use 0.0.0.0 behind a load balancer)")
	f.Database(&c.Database)
	f.Choice(&c.Auth, oneOf("keys", "none"), "auth", "authentication: keys (Bearer API keys) or none (local experiments only: every request is organization \"default\")", env("auth"))
	f.Bool(&c.RequireIfMatch, "require-if-match", "answer 428 to PATCH, PUT and DELETE without If-Match", env("require-if-match"))
	f.Bool(&c.Migrate, "migrate", "apply pending migrations at start (set false when \"groupsd migrate\" runs before each rollout)", env("migrate"))
	f.Int(&c.DBMaxConns, "db-max-conns", "maximum open database connections (Postgres pool; SQLite readers)", env("db-max-conns"))
	dur(&c.RequestTimeout, "request-timeout", "deadline of each request, database work included")
	dur(&c.ShutdownDelay, "shutdown-delay", "after SIGTERM, keep serving this long with /readyz failing before closing the listener (set it to the load balancer's probe interval times its failure threshold)")
	dur(&c.ShutdownTimeout, "shutdown-timeout", "after the listener closes, how long in-flight requests may finish before their connections are closed")
	dur(&c.ReadHeaderTimeout, "read-header-timeout", "time allowed to read request headers (cuts off slow-header clients)")
	dur(&c.ReadTimeout, "read-timeout", "time allowed to read a whole request")
	dur(&c.WriteTimeout, "write-timeout", "time allowed to write a response")
	dur(&c.IdleTimeout, "idle-timeout", "how long an idle keep-alive connection stays open")
	f.Int(&c.MaxHeaderBytes, "max-header-bytes", "largest accepted request header block, in bytes", env("max-header-bytes"))
	f.Choice(&c.LogFormat, oneOf("json", "text"), "log-format", "log format: json or text", env("log-format"))
	f.Choice(&c.LogLevel, logLevel, "log-level", "log level: debug, info, warn or error", env("log-level"))
	f.Int(&c.MaxMembersPerGroup, "max-members-per-group", "most members a group may hold (a write past it is 422 MEMBER_LIMIT_EXCEEDED)", env("max-members-per-group"))
	dur(&c.TrashRetention, "trash-retention", "how long deleted groups stay restorable in the trash before they are purged; 0 makes deletes immediate and final (no trash)")
	dur(&c.PurgeInterval, "purge-interval", "how often groups past their trash retention are purged")
	str(&c.CursorKey, "cursor-key", "secret (at least 32 characters) that authenticates page cursors; by default a key kept in the database, which every replica shares (set this only to manage the key yourself, the same on every replica)")
	f.Int(&c.MaxGroupsPerUser, "max-groups-per-user", "most groups a user may belong to (a write past it is 422 GROUP_LIMIT_EXCEEDED)", env("max-groups-per-user"))
	f.Float(&c.RateLimit, "rate-limit", "requests per second each API key may send, sustained (0 turns rate limiting off); a key's own limit overrides it", env("rate-limit"))
	f.Int(&c.RateBurst, "rate-burst", "requests each API key may send at once after a quiet period", env("rate-burst"))
	str(&c.RateLimitStore, "rate-limit-store", "redis://HOST:PORT[/DB] to share rate limits among replicas; empty keeps them per process (N replicas allow N times the limit)")
	f.Days(&c.MaxKeyLifetime, "max-key-lifetime", "longest lifetime of a key created over HTTP, such as 360d (0 = keys may never expire)", env("max-key-lifetime"))
	c.registerOperator(f)
}

// ParseConfig returns the serve configuration: DefaultConfig, overridden by
// the environment (through lookupEnv), overridden by the flags in args.
// With -h it prints the flags to help and returns flag.ErrHelp.
func ParseConfig(args []string, lookupEnv func(string) (string, bool), help io.Writer) (Config, error) {
	c := DefaultConfig()
	f := newFlags("serve", "", "Runs the HTTP server until SIGINT or SIGTERM, then shuts down gracefully.", help)
	c.register(f)
	if err := f.parse(args, lookupEnv); err != nil {
		return c, err
	}
	if f.fs.NArg() > 0 {
		return c, usageError{fmt.Sprintf("serve: unexpected argument %q", f.fs.Arg(0))}
	}
	return c, nil
}

// validate checks what the flags check too, for a Config built in code.
func (c Config) validate() error {
	if err := oneOf("keys", "none")(c.Auth); err != nil {
		return usageError{fmt.Sprintf("--auth %q: %v", c.Auth, err)}
	}
	if err := oneOf("json", "text")(c.LogFormat); err != nil {
		return usageError{fmt.Sprintf("--log-format %q: %v", c.LogFormat, err)}
	}
	if err := logLevel(c.LogLevel); err != nil {
		return usageError{fmt.Sprintf("--log-level %q: %v", c.LogLevel, err)}
	}
	if c.TrashRetention < 0 {
		return usageError{"--trash-retention (env GROUPS_TRASH_RETENTION): must be 0 or more, for example 720h"}
	}
	if c.PurgeInterval <= 0 {
		return usageError{"--purge-interval (env GROUPS_PURGE_INTERVAL): must be more than 0, for example 1m"}
	}
	if c.CursorKey != "" && len(c.CursorKey) < 32 {
		return usageError{"--cursor-key (env GROUPS_CURSOR_KEY): want at least 32 characters, for example the output of: openssl rand -hex 32"}
	}
	if c.MaxMembersPerGroup < 1 {
		return usageError{fmt.Sprintf("--max-members-per-group %d (env GROUPS_MAX_MEMBERS_PER_GROUP): must be at least 1, for example 100000", c.MaxMembersPerGroup)}
	}
	if c.MaxGroupsPerUser < 1 {
		return usageError{fmt.Sprintf("--max-groups-per-user %d (env GROUPS_MAX_GROUPS_PER_USER): must be at least 1, for example 1000", c.MaxGroupsPerUser)}
	}
	if c.RateLimit < 0 || c.RateLimit > store.MaxRateLimit {
		return usageError{fmt.Sprintf("--rate-limit %g (env GROUPS_RATE_LIMIT): must be between 0 (off) and %d requests per second", c.RateLimit, store.MaxRateLimit)}
	}
	if c.RateBurst < 1 || c.RateBurst > store.MaxRateLimit {
		return usageError{fmt.Sprintf("--rate-burst %d (env GROUPS_RATE_BURST): must be between 1 and %d, for example 200", c.RateBurst, store.MaxRateLimit)}
	}
	if c.RateLimitStore != "" && !strings.HasPrefix(c.RateLimitStore, "redis://") && !strings.HasPrefix(c.RateLimitStore, "rediss://") {
		return usageError{fmt.Sprintf("--rate-limit-store %q (env GROUPS_RATE_LIMIT_STORE): want redis://HOST:PORT or empty", c.RateLimitStore)}
	}
	if c.MaxKeyLifetime < 0 {
		return usageError{"--max-key-lifetime (env GROUPS_MAX_KEY_LIFETIME): must not be negative"}
	}
	if _, _, err := store.ParseURL(c.Database); err != nil {
		return usageError{fmt.Sprintf("--database: %v", err)}
	}
	return nil
}
