// Package server implements the Groups API v2 over the generated strict
// server interface: thin handlers over a store, request validation against
// the embedded spec, authentication, and one error handler that renders every
// failure as RFC 9457 problem details.
package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/groupsd/groupsd"
	"github.com/groupsd/groupsd/gen"
	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
)

// GroupStore is what the handlers need from the store. Its errors are the
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
	Store GroupStore
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
}

// Server implements gen.StrictServerInterface.
type Server struct {
	cfg      Config
	store    GroupStore
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
	spec, err := gen.GetSwagger()
	if err != nil {
		return nil, nil, fmt.Errorf("load embedded spec: %w", err)
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, nil, err
	}
	// Validation runs against a copy whose servers are cleared: the Echo
	// route already selected the operation, whatever the prefix.
	vspec, err := gen.GetSwagger()
	if err != nil {
		return nil, nil, err
	}
	vspec.Servers = openapi3.Servers{}

	s := &Server{cfg: cfg, store: cfg.Store, log: cfg.Logger}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Pre(headAsGet)
	e.Use(requestID, s.accessLog, s.recoverPanics, s.deadline, s.authenticate, limitBody)

	v := newValidator(vspec)
	strict := gen.NewStrictHandler(s, nil)
	for _, base := range []string{"/api", ""} {
		gen.RegisterHandlersWithBaseURL(routeWith{e, []echo.MiddlewareFunc{v.middleware}}, strict, base)
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

// routeWith registers generated routes with extra route-level middleware,
// so the validator runs only on API operations (never on /healthz or /docs).
type routeWith struct {
	e  *echo.Echo
	mw []echo.MiddlewareFunc
}

func (r routeWith) add(method, path string, h echo.HandlerFunc, m []echo.MiddlewareFunc) *echo.Route {
	return r.e.Add(method, path, h, append(append([]echo.MiddlewareFunc{}, r.mw...), m...)...)
}

func (r routeWith) CONNECT(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodConnect, p, h, m)
}
func (r routeWith) DELETE(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodDelete, p, h, m)
}
func (r routeWith) GET(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodGet, p, h, m)
}
func (r routeWith) HEAD(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodHead, p, h, m)
}
func (r routeWith) OPTIONS(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodOptions, p, h, m)
}
func (r routeWith) PATCH(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPatch, p, h, m)
}
func (r routeWith) POST(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPost, p, h, m)
}
func (r routeWith) PUT(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPut, p, h, m)
}
func (r routeWith) TRACE(p string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodTrace, p, h, m)
}
