package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
)

// apiError is an error with its HTTP rendering. Handlers and middleware
// return it (or a store error, which toProblem maps) and the one error
// handler writes it as RFC 9457 problem details.
type apiError struct {
	status  int
	code    api.ProblemCode
	detail  string
	errors  []api.ProblemFieldError
	headers map[string]string
	cause   error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.status, e.code, e.detail, e.cause)
	}
	return fmt.Sprintf("%d %s: %s", e.status, e.code, e.detail)
}

func (e *apiError) Unwrap() error { return e.cause }

func newError(status int, code api.ProblemCode, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, detail: fmt.Sprintf(format, args...)}
}

func validationError(detail string, fields ...api.ProblemFieldError) *apiError {
	return &apiError{status: http.StatusBadRequest, code: api.VALIDATIONERROR, detail: detail, errors: fields}
}

// unavailableError is the 503 every database outage maps to.
func unavailableError(cause error) *apiError {
	detail := "the database is unavailable; retry later"
	if errors.Is(cause, store.ErrNotWritable) {
		detail = "the database cannot be written at the moment (read-only or out of space); reads still work; retry later"
	}
	return &apiError{status: http.StatusServiceUnavailable, code: api.SERVICEUNAVAILABLE,
		detail: detail, headers: map[string]string{"Retry-After": "1"}, cause: cause}
}

// toProblem maps any error to its HTTP rendering. It is the only place that
// knows which status each failure gets.
func toProblem(err error) *apiError {
	var ae *apiError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, store.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: api.NOTFOUND, detail: storeDetail(err), cause: err}
	case errors.Is(err, store.ErrNameTaken):
		return &apiError{status: http.StatusConflict, code: api.NAMECONFLICT, detail: storeDetail(err), cause: err}
	case errors.Is(err, store.ErrPreconditionFailed):
		return &apiError{status: http.StatusPreconditionFailed, code: api.PRECONDITIONFAILED,
			detail: "If-Match does not match the group's current ETag; nothing was changed", cause: err}
	case errors.Is(err, store.ErrIdempotencyInFlight):
		return &apiError{status: http.StatusConflict, code: api.IDEMPOTENCYINFLIGHT,
			detail: "a request with this Idempotency-Key is still being processed; retry later", cause: err}
	case errors.Is(err, store.ErrIdempotencyMismatch):
		return &apiError{status: http.StatusUnprocessableEntity, code: api.IDEMPOTENCYKEYREUSED,
			detail: "this Idempotency-Key was already used with a different request body", cause: err}
	case errors.Is(err, store.ErrInvalid):
		return &apiError{status: http.StatusBadRequest, code: api.VALIDATIONERROR, detail: storeDetail(err), cause: err}
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return unavailableError(err)
	case errors.As(err, &he):
		return fromEchoError(he)
	default:
		return &apiError{status: http.StatusInternalServerError, code: api.INTERNAL,
			detail: "an unexpected error occurred; quote the requestId when reporting it", cause: err}
	}
}

// storeDetail turns "name already used: \"Finance\"" into a client-facing sentence.
func storeDetail(err error) string {
	switch {
	case errors.Is(err, store.ErrNameTaken):
		_, name, _ := strings.Cut(err.Error(), ": ")
		return fmt.Sprintf("a group named %s already exists in this organization", name)
	case errors.Is(err, store.ErrNotFound):
		_, what, _ := strings.Cut(err.Error(), ": ")
		return what + " not found"
	case errors.Is(err, store.ErrInvalid):
		_, what, _ := strings.Cut(err.Error(), ": ")
		return what
	}
	return err.Error()
}

func fromEchoError(he *echo.HTTPError) *apiError {
	msg := fmt.Sprint(he.Message)
	switch he.Code {
	case http.StatusNotFound:
		return newError(http.StatusNotFound, api.NOTFOUND, "no resource at this path")
	case http.StatusMethodNotAllowed:
		return newError(http.StatusMethodNotAllowed, api.METHODNOTALLOWED, "this method is not allowed on this resource")
	case http.StatusRequestEntityTooLarge:
		return newError(http.StatusRequestEntityTooLarge, api.PAYLOADTOOLARGE, "the request body exceeds %d bytes", MaxBodyBytes)
	case http.StatusUnsupportedMediaType:
		return newError(http.StatusUnsupportedMediaType, api.UNSUPPORTEDMEDIATYPE, "unsupported Content-Type")
	case http.StatusBadRequest:
		return validationError(msg)
	case http.StatusUnauthorized:
		return unauthorized()
	}
	if he.Code >= 500 {
		return &apiError{status: http.StatusInternalServerError, code: api.INTERNAL,
			detail: "an unexpected error occurred; quote the requestId when reporting it", cause: he}
	}
	return &apiError{status: he.Code, code: api.VALIDATIONERROR, detail: msg}
}

func unauthorized() *apiError {
	return &apiError{status: http.StatusUnauthorized, code: api.UNAUTHORIZED,
		detail:  "a valid API key is required: send Authorization: Bearer <key>",
		headers: map[string]string{"WWW-Authenticate": `Bearer realm="groupsd"`}}
}

func problemType(code api.ProblemCode) string {
	return "urn:groupsd:problem:" + strings.ReplaceAll(strings.ToLower(string(code)), "_", "-")
}

// problemFor builds the problem body for ae in the context of request r.
func problemFor(ae *apiError, r *http.Request) api.Problem {
	p := api.Problem{
		Type:      problemType(ae.code),
		Title:     http.StatusText(ae.status),
		Status:    int32(ae.status),
		Detail:    ae.detail,
		Instance:  r.URL.EscapedPath(),
		Code:      ae.code,
		RequestId: RequestID(r.Context()),
	}
	if len(ae.errors) > 0 {
		errs := ae.errors
		p.Errors = &errs
	}
	return p
}

func problemBytes(ae *apiError, r *http.Request) []byte {
	b, _ := json.Marshal(problemFor(ae, r))
	return append(b, '\n')
}

// errorHandler is Echo's HTTPErrorHandler: every error, from handlers,
// middleware, the router or a panic, leaves as problem+json.
func (s *Server) errorHandler(err error, c echo.Context) {
	ae := toProblem(err)
	r := c.Request()
	// 500s are bugs; 503s are expected during outages, shutdown and client
	// disconnects, so they are warnings that do not page anyone.
	if ae.status >= 500 {
		level := slog.LevelError
		if ae.status == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		s.log.LogAttrs(r.Context(), level, "request failed",
			slog.String("request_id", RequestID(r.Context())), slog.Int("status", ae.status),
			slog.String("error", errString(err)))
	}
	if c.Response().Committed {
		return
	}
	h := c.Response().Header()
	for k, v := range ae.headers {
		h.Set(k, v)
	}
	if ae.status == http.StatusMethodNotAllowed {
		if allow, ok := c.Get(echo.ContextKeyHeaderAllow).(string); ok && allow != "" {
			h.Set("Allow", allow)
		}
	}
	setProblemHeaders(h)
	c.Response().WriteHeader(ae.status)
	if r.Method != http.MethodHead {
		_, _ = c.Response().Write(problemBytes(ae, r))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// setProblemHeaders marks a response as problem details that caches must
// not keep; live errors and replayed idempotent errors share it.
func setProblemHeaders(h http.Header) {
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
}
