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
	// instance and requestID, when set, replace the current request's path
	// and id in the problem body: a replayed idempotent outcome repeats
	// those of the request that first produced it.
	instance, requestID string
	// inUse, for GROUP_IN_USE, carries the references that block a delete.
	inUse *inUseFacts
}

// inUseFacts are the extra members of a GROUP_IN_USE problem.
type inUseFacts struct {
	total      int64
	references []api.Reference
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
// knows which status each failure gets, and it reads the facts of a store
// error from its type (errors.As), never from its message:
//
//	store error                      status  code                     detail
//	*store.NotFoundError             404     NOT_FOUND                "<kind> <id> not found"
//	*store.NameTakenError            409     NAME_CONFLICT            names the name (a restore's: pass a new name)
//	*store.ArchivedError             409     GROUP_ARCHIVED           says how to reactivate
//	*store.InUseError                409     GROUP_IN_USE             totalReferences, references (first 20)
//	*store.NotFoundError "reference" 404     REFERENCE_NOT_FOUND      names the reference
//	*store.InvalidError              400     VALIDATION_ERROR         "<field> <reason>", errors[] names the field
//	store.ErrPreconditionFailed      412     PRECONDITION_FAILED      fixed
//	store.ErrIdempotencyInFlight     409     IDEMPOTENCY_IN_FLIGHT    fixed
//	store.ErrIdempotencyMismatch     422     IDEMPOTENCY_KEY_REUSED   fixed
//	store.ErrUnavailable, ctx errors 503     SERVICE_UNAVAILABLE      fixed (Retry-After)
//	anything else                    500     INTERNAL                 fixed; the error is logged, never sent
func toProblem(err error) *apiError {
	var (
		ae *apiError
		he *echo.HTTPError
		nf *store.NotFoundError
		nt *store.NameTakenError
		ie *store.InvalidError
		le *store.LimitError
		ar *store.ArchivedError
		iu *store.InUseError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &nf) && nf.Kind == "member":
		return &apiError{status: http.StatusNotFound, code: api.MEMBERNOTFOUND, detail: "user " + nf.ID + " is not a member of this group", cause: err}
	case errors.As(err, &nf) && nf.Kind == "reference":
		return &apiError{status: http.StatusNotFound, code: api.REFERENCENOTFOUND, detail: "the group has no reference " + nf.ID, cause: err}
	case errors.As(err, &ar):
		return &apiError{status: http.StatusConflict, code: api.GROUPARCHIVED,
			detail: fmt.Sprintf(`group %s is archived and refuses this change; reactivate it first with PATCH {"status": "ACTIVE"} (or send "status": "ACTIVE" with a name or description change); nothing was changed`, ar.ID),
			cause:  err}
	case errors.As(err, &iu):
		return &apiError{status: http.StatusConflict, code: api.GROUPINUSE,
			detail: fmt.Sprintf("group %s is in use by %d references and was not deleted; remove them first (DELETE /api/v2/groups/%s/references/{referenceId}) or archive the group instead", iu.ID, iu.Total, iu.ID),
			inUse:  &inUseFacts{total: iu.Total, references: toAPIReferences(iu.References)}, cause: err}
	case errors.As(err, &le):
		code := api.MEMBERLIMITEXCEEDED
		if le.Kind == store.LimitGroupsPerUser {
			code = api.GROUPLIMITEXCEEDED
		}
		return &apiError{status: http.StatusUnprocessableEntity, code: code,
			detail: le.Error() + "; nothing was changed", cause: err}
	case errors.As(err, &nf):
		return &apiError{status: http.StatusNotFound, code: api.NOTFOUND, detail: nf.Kind + " " + nf.ID + " not found", cause: err}
	case errors.As(err, &nt):
		detail := fmt.Sprintf("a group named %q already exists in this organization", nt.Name)
		if nt.Restoring {
			detail += `; the group stays in the trash: pass a new "name" in the restore request body, for example {"name": "` + nt.Name + ` (restored)"}`
		}
		return &apiError{status: http.StatusConflict, code: api.NAMECONFLICT, detail: detail, cause: err}
	case errors.As(err, &ie):
		detail := ie.Field + " " + ie.Reason
		fe := storeFields[ie.Field]
		fe.Detail = detail
		return &apiError{status: http.StatusBadRequest, code: api.VALIDATIONERROR, detail: detail,
			errors: []api.ProblemFieldError{fe}, cause: err}
	case errors.Is(err, store.ErrPreconditionFailed):
		return &apiError{status: http.StatusPreconditionFailed, code: api.PRECONDITIONFAILED,
			detail: "If-Match does not match the group's current ETag; nothing was changed", cause: err}
	case errors.Is(err, store.ErrIdempotencyInFlight):
		return &apiError{status: http.StatusConflict, code: api.IDEMPOTENCYINFLIGHT,
			detail: "a request with this Idempotency-Key is still being processed; retry later", cause: err}
	case errors.Is(err, store.ErrIdempotencyMismatch):
		return &apiError{status: http.StatusUnprocessableEntity, code: api.IDEMPOTENCYKEYREUSED,
			detail: "this Idempotency-Key was already used with a different request body", cause: err}
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return unavailableError(err)
	case errors.As(err, &he):
		return fromEchoError(he)
	default:
		return &apiError{status: http.StatusInternalServerError, code: api.INTERNAL,
			detail: "an unexpected error occurred; quote the requestId when reporting it", cause: err}
	}
}

// storeFields locates the store's input fields (store.InvalidError.Field)
// in a request, for the problem's errors array.
var storeFields = map[string]api.ProblemFieldError{
	"cursor":              {Parameter: ptr("cursor")},
	"status":              {Parameter: ptr("status")},
	"name":                {Pointer: ptr("/name")},
	"scopes":              {Pointer: ptr("/scopes")},
	"expiresAt":           {Pointer: ptr("/expiresAt")},
	"gracePeriod":         {Pointer: ptr("/gracePeriod")},
	"rateLimit.perSecond": {Pointer: ptr("/rateLimit/perSecond")},
	"rateLimit.burst":     {Pointer: ptr("/rateLimit/burst")},
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
	if ae.instance != "" {
		p.Instance, p.RequestId = ae.instance, ae.requestID
	}
	if len(ae.errors) > 0 {
		errs := ae.errors
		p.Errors = &errs
	}
	if ae.inUse != nil {
		total, refs := ae.inUse.total, ae.inUse.references
		p.TotalReferences, p.References = &total, &refs
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
