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
	"github.com/groupsd/groupsd/store"
)

// Store is everything the server needs from the store: *store.DB.
type Store interface {
	GroupStore
	MemberStore
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
	// DeleteGroup returns *store.NotFoundError or store.ErrPreconditionFailed.
	DeleteGroup(ctx context.Context, org, id string, cond *store.Condition) error
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
	// TrustedProxies are the networks whose X-Forwarded-For is believed
	// when the access log names the client; empty trusts no proxy.
	TrustedProxies []netip.Prefix
}

// Server implements gen.StrictServerInterface.
type Server struct {
	cfg      Config
	store    GroupStore
	members  MemberStore
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

	s := &Server{cfg: cfg, store: cfg.Store, members: cfg.Store, log: cfg.Logger}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Pre(headAsGet)
	e.Use(requestID, s.accessLog, s.recoverPanics, s.deadline, s.authenticate, limitBody)

	mw := operationMiddlewares(vspec)
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
		return newError(http.StatusServiceUnavailable, api.SERVICEUNAVAILABLE, "the server is shutting down")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return unavailableError(err)
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
