// Package server implements the Groups API v2 over the generated strict
// server interface: thin handlers over a store, request validation against
// the committed openapi.yaml, authentication, and one error handler that
// renders every failure as RFC 9457 problem details.
//
// Two deliberate departures from the strict server's usual shape. First,
// expected errors (not found, name taken, precondition failed, ...) are
// returned as Go errors and rendered by the one error handler (problem.go)
// rather than as typed 4xx response objects: the same failures also arise in
// middleware, the validator and the router, where no typed response exists,
// and one table keeps their problem bodies identical wherever they arise.
// Second, the hottest success responses are encoded by hand (fastjson.go),
// from the generated types, never from store types.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/groupsd/groupsd"
	"github.com/groupsd/groupsd/gen"
	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server/ratelimit"
	"github.com/groupsd/groupsd/store"
)

// Store is everything the server needs from the store: *store.DB.
type Store interface {
	GroupStore
	MemberStore
	ReferenceStore
	TrashStore
}

// GroupStore is what the group handlers need from the store. Its errors are the
// store's (store.NotFoundError, store.NameTakenError, store.InvalidError,
// store.ErrUnavailable, ...), which toProblem maps to HTTP; *store.DB
// implements it and documents each method's contract.
type GroupStore interface {
	// CreateGroup returns *store.NameTakenError if the name is taken.
	CreateGroup(ctx context.Context, org string, in store.NewGroup) (store.Group, error)
	// CreateGroupIdempotent records the create's outcome (the group, or a
	// *store.NameTakenError) under the key, or returns the recorded one.
	CreateGroupIdempotent(ctx context.Context, org string, in store.IdempotentCreate) (store.Outcome, error)
	// GetGroup returns *store.NotFoundError if there is no such group.
	GetGroup(ctx context.Context, org, id string) (store.Group, error)
	// ListGroups returns *store.InvalidError (Field "cursor") for a bad cursor.
	ListGroups(ctx context.Context, org string, q store.ListQuery) (store.Page, error)
	// UpdateGroup returns *store.NotFoundError, *store.NameTakenError or
	// store.ErrPreconditionFailed.
	UpdateGroup(ctx context.Context, org, id string, ch store.Changes, cond *store.Condition) (store.Group, error)
	// DeleteGroup moves the group to the trash; it returns
	// *store.NotFoundError, store.ErrPreconditionFailed or *store.InUseError.
	DeleteGroup(ctx context.Context, org, id string, cond *store.Condition) error
	// CheckDelete says what DeleteGroup would do, changing nothing.
	CheckDelete(ctx context.Context, org, id string, cond *store.Condition) (store.DeleteCheck, error)
	Ping(ctx context.Context) error
}

// Config is everything the server needs; cmd/groupsd builds it from flags.
type Config struct {
	Store Store
	// Auth resolves API keys; nil disables authentication (--auth=none) and
	// maps every request to DefaultOrg.
	Auth *Authenticator
	// RequireIfMatch makes writes without If-Match fail with 428.
	RequireIfMatch bool
	// RequestTimeout bounds each request, database work included. 0 = none.
	RequestTimeout time.Duration
	Logger         *slog.Logger
	// Observe, when set, is called once per request (metrics).
	Observe func(method, route string, status int, d time.Duration)
	// Mount, when set, registers extra public routes (docs, metrics).
	Mount func(e *echo.Echo)
	// Keys manages API keys over HTTP; nil means Store when it can.
	Keys KeyAdmin
	// MaxKeyLifetime caps the expiry of keys created over HTTP; 0 = no cap.
	MaxKeyLifetime time.Duration
	// RateLimit is the limit of a key without its own; PerSecond 0 turns
	// rate limiting off (overrides included).
	RateLimit ratelimit.Limit
	// Limiter holds the buckets; nil means an in-process one.
	Limiter ratelimit.Limiter
	// Now is the clock of key expiry checks; time.Now when nil.
	Now func() time.Time
	// TrustedProxies are the networks whose X-Forwarded-For is believed
	// when the access log names the client; empty trusts no proxy.
	TrustedProxies []netip.Prefix
}

// Server implements gen.StrictServerInterface.
type Server struct {
	cfg      Config
	store    GroupStore
	members  MemberStore
	refs     ReferenceStore
	trash    TrashStore
	keys     KeyAdmin
	limiter  ratelimit.Limiter
	log      *slog.Logger
	draining atomic.Bool
}

var _ gen.StrictServerInterface = (*Server)(nil)

// New wires the spec, validator, middleware and handlers into an Echo
// instance. main and the tests share it.
func New(cfg Config) (*Server, *echo.Echo, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// Validation runs against the committed contract with its servers
	// cleared: the Echo route already selected the operation, whatever the
	// prefix.
	vspec, err := groupsd.Spec()
	if err != nil {
		return nil, nil, err
	}
	vspec.Servers = openapi3.Servers{}
	specJSON, err := groupsd.OpenAPIJSON()
	if err != nil {
		return nil, nil, err
	}

	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, store: cfg.Store, members: cfg.Store, refs: cfg.Store, trash: cfg.Store, keys: cfg.Keys, log: cfg.Logger}
	if s.keys == nil {
		s.keys, _ = cfg.Store.(KeyAdmin)
	}
	if s.keys == nil {
		// Every /v2/api-keys operation needs it; refusing to start beats
		// answering a status the contract does not list.
		return nil, nil, fmt.Errorf("server: Config.Keys is nil and the store does not manage API keys")
	}
	if cfg.RateLimit.PerSecond > 0 {
		s.limiter = cfg.Limiter
		if s.limiter == nil {
			s.limiter = ratelimit.NewLocal(nil)
		}
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Pre(closeAfterChunked, headAsGet)
	e.Use(requestID, s.accessLog, s.recoverPanics, s.deadline, cachePolicy, s.authenticate, limitBody)

	mw := withScopes(vspec, operationMiddlewares(vspec))
	strict := gen.NewStrictHandler(s, nil)
	for _, base := range []string{"/api", ""} {
		gen.RegisterHandlersWithOptions(e, strict, gen.RegisterHandlersOptions{BaseURL: base, OperationMiddlewares: mw})
	}

	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", s.ready)
	e.GET("/openapi.json", func(c echo.Context) error { return c.Blob(http.StatusOK, "application/json", specJSON) })
	e.GET("/openapi.yaml", func(c echo.Context) error { return c.Blob(http.StatusOK, "application/yaml", groupsd.OpenAPIYAML) })
	if cfg.Mount != nil {
		cfg.Mount(e)
	}
	return s, e, nil
}

// Drain makes /readyz answer 503 so load balancers stop sending traffic
// before shutdown.
func (s *Server) Drain() { s.draining.Store(true) }

func (s *Server) ready(c echo.Context) error {
	if s.draining.Load() {
		ae := newError(http.StatusServiceUnavailable, api.SERVICEUNAVAILABLE, "the server is shutting down")
		ae.headers = map[string]string{"Retry-After": "1"}
		return ae
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return unavailableError(err)
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
