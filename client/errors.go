package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/groupsd/groupsd/gen/api"
)

// Sentinels for errors.Is. Each matches an *Error by its problem code (see
// the ProblemCode enum in openapi.yaml) and, when the body carries no code
// the SDK knows (a proxy's own error page, say), by its HTTP status.
var (
	ErrValidation           = errors.New("groupsd: invalid request")                    // VALIDATION_ERROR, 400
	ErrUnauthorized         = errors.New("groupsd: unauthorized")                       // UNAUTHORIZED, 401
	ErrInsufficientScope    = errors.New("groupsd: the API key lacks a scope")          // INSUFFICIENT_SCOPE, 403
	ErrNotFound             = errors.New("groupsd: not found")                          // NOT_FOUND, 404
	ErrMethodNotAllowed     = errors.New("groupsd: method not allowed")                 // METHOD_NOT_ALLOWED, 405
	ErrNotAcceptable        = errors.New("groupsd: not acceptable")                     // NOT_ACCEPTABLE, 406
	ErrMemberNotFound       = errors.New("groupsd: not a member")                       // MEMBER_NOT_FOUND, 404
	ErrNameTaken            = errors.New("groupsd: name taken")                         // NAME_CONFLICT, 409
	ErrGroupArchived        = errors.New("groupsd: group archived")                     // GROUP_ARCHIVED, 409
	ErrGroupInUse           = errors.New("groupsd: group in use")                       // GROUP_IN_USE, 409
	ErrReferenceNotFound    = errors.New("groupsd: reference not found")                // REFERENCE_NOT_FOUND, 404
	ErrIdempotencyInFlight  = errors.New("groupsd: idempotent request still in flight") // IDEMPOTENCY_IN_FLIGHT, 409
	ErrIdempotencyKeyReused = errors.New("groupsd: idempotency key reused")             // IDEMPOTENCY_KEY_REUSED, 422
	ErrMemberLimitExceeded  = errors.New("groupsd: group member limit exceeded")        // MEMBER_LIMIT_EXCEEDED, 422
	ErrGroupLimitExceeded   = errors.New("groupsd: user group limit exceeded")          // GROUP_LIMIT_EXCEEDED, 422
	ErrPreconditionFailed   = errors.New("groupsd: precondition failed")                // PRECONDITION_FAILED, 412
	ErrPayloadTooLarge      = errors.New("groupsd: payload too large")                  // PAYLOAD_TOO_LARGE, 413
	ErrUnsupportedMediaType = errors.New("groupsd: unsupported media type")             // UNSUPPORTED_MEDIA_TYPE, 415
	ErrPreconditionRequired = errors.New("groupsd: precondition required")              // PRECONDITION_REQUIRED, 428
	ErrRateLimited          = errors.New("groupsd: rate limited")                       // RATE_LIMITED, 429
	ErrInternal             = errors.New("groupsd: internal server error")              // INTERNAL, 500
	ErrUnavailable          = errors.New("groupsd: service unavailable")                // SERVICE_UNAVAILABLE, 503
)

// byCode maps every ProblemCode of openapi.yaml to its sentinel. A test
// checks that the spec's enum and this table agree.
var byCode = map[api.ProblemCode]error{
	api.VALIDATIONERROR:      ErrValidation,
	api.UNAUTHORIZED:         ErrUnauthorized,
	api.INSUFFICIENTSCOPE:    ErrInsufficientScope,
	api.RATELIMITED:          ErrRateLimited,
	api.NOTFOUND:             ErrNotFound,
	api.METHODNOTALLOWED:     ErrMethodNotAllowed,
	api.NOTACCEPTABLE:        ErrNotAcceptable,
	api.NAMECONFLICT:         ErrNameTaken,
	api.MEMBERNOTFOUND:       ErrMemberNotFound,
	api.GROUPARCHIVED:        ErrGroupArchived,
	api.GROUPINUSE:           ErrGroupInUse,
	api.REFERENCENOTFOUND:    ErrReferenceNotFound,
	api.MEMBERLIMITEXCEEDED:  ErrMemberLimitExceeded,
	api.GROUPLIMITEXCEEDED:   ErrGroupLimitExceeded,
	api.IDEMPOTENCYINFLIGHT:  ErrIdempotencyInFlight,
	api.IDEMPOTENCYKEYREUSED: ErrIdempotencyKeyReused,
	api.PRECONDITIONFAILED:   ErrPreconditionFailed,
	api.PAYLOADTOOLARGE:      ErrPayloadTooLarge,
	api.UNSUPPORTEDMEDIATYPE: ErrUnsupportedMediaType,
	api.PRECONDITIONREQUIRED: ErrPreconditionRequired,
	api.INTERNAL:             ErrInternal,
	api.SERVICEUNAVAILABLE:   ErrUnavailable,
}

// byStatus is the fallback for responses without a known code. 409 and
// 422 have several codes and so no fallback; 404 falls back to ErrNotFound.
var byStatus = map[int]error{
	http.StatusBadRequest:            ErrValidation,
	http.StatusUnauthorized:          ErrUnauthorized,
	http.StatusForbidden:             ErrInsufficientScope,
	http.StatusNotFound:              ErrNotFound,
	http.StatusMethodNotAllowed:      ErrMethodNotAllowed,
	http.StatusNotAcceptable:         ErrNotAcceptable,
	http.StatusPreconditionFailed:    ErrPreconditionFailed,
	http.StatusRequestEntityTooLarge: ErrPayloadTooLarge,
	http.StatusUnsupportedMediaType:  ErrUnsupportedMediaType,
	http.StatusPreconditionRequired:  ErrPreconditionRequired,
	http.StatusTooManyRequests:       ErrRateLimited,
	http.StatusInternalServerError:   ErrInternal,
	http.StatusBadGateway:            ErrUnavailable,
	http.StatusServiceUnavailable:    ErrUnavailable,
	http.StatusGatewayTimeout:        ErrUnavailable,
}

// Error is an error answered by the API: an RFC 9457 problem (or, from
// something in between that does not speak problem+json, just a status).
// Errors that are not an *Error never reached an answer: the connection
// failed, the context ended, or the response could not be decoded.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the problem's stable machine-readable code, such as
	// "NOT_FOUND"; empty when the body was not a problem.
	Code string
	// Title is the short summary of the problem type.
	Title string
	// Detail explains this occurrence.
	Detail string
	// RequestID identifies the request in the server's logs: quote it when
	// reporting a problem.
	RequestID string
	// Errors lists every failed field or parameter check of a 400.
	Errors []FieldError
	// RetryAfter is the server's Retry-After, zero when it sent none.
	RetryAfter time.Duration
	// TotalReferences and References come with ErrGroupInUse: how many
	// references keep the group from being deleted, and the first 20 of
	// them by id.
	TotalReferences int
	References      []Reference
}

// FieldError is one failed check of a request.
type FieldError struct {
	// Pointer is a JSON Pointer (RFC 6901) into the request body, such as "/name".
	Pointer string
	// Parameter names the offending query, path or header parameter.
	Parameter string
	// Detail says what is wrong.
	Detail string
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "groupsd: %d", e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	for _, f := range e.Errors {
		where := f.Pointer
		if where == "" {
			where = f.Parameter
		}
		fmt.Fprintf(&b, "; %s: %s", where, f.Detail)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request %s)", e.RequestID)
	}
	return b.String()
}

// Is reports whether target is the sentinel for e's code, or for its status
// when the code is unknown. 429 is always ErrRateLimited.
func (e *Error) Is(target error) bool {
	if e.Status == http.StatusTooManyRequests && target == ErrRateLimited {
		return true
	}
	if s, ok := byCode[api.ProblemCode(e.Code)]; ok {
		return s == target
	}
	s, ok := byStatus[e.Status]
	return ok && s == target
}

// newError reads the problem in an error response. It never fails: a body
// that is not a problem still gives an *Error with the status.
func newError(hr *http.Response, body []byte) *Error {
	e := &Error{Status: hr.StatusCode, RequestID: hr.Header.Get("X-Request-Id")}
	e.RetryAfter, _ = retryAfter(hr.Header)
	var p api.Problem
	if json.Unmarshal(body, &p) == nil && p.Code != "" {
		e.Code = string(p.Code)
		e.Title = p.Title
		e.Detail = p.Detail
		if p.RequestId != "" {
			e.RequestID = p.RequestId
		}
		if p.Errors != nil {
			for _, f := range *p.Errors {
				e.Errors = append(e.Errors, FieldError{Pointer: deref(f.Pointer), Parameter: deref(f.Parameter), Detail: f.Detail})
			}
		}
		if p.TotalReferences != nil {
			e.TotalReferences = int(*p.TotalReferences)
		}
		if p.References != nil {
			e.References = fromAPIReferences(*p.References)
		}
	} else {
		e.Title = http.StatusText(hr.StatusCode)
		e.Detail = e.Title
	}
	return e
}

// retryAfter reads Retry-After in either of its forms (seconds or an HTTP date).
func retryAfter(h http.Header) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// UpdateConflictError is returned by [GroupService.Update] when every
// attempt lost the race to another writer (412 each time). It unwraps to
// the last 412, so errors.Is(err, ErrPreconditionFailed) holds.
type UpdateConflictError struct {
	// UUID is the group that kept changing.
	UUID uuid.UUID
	// Attempts is how many read-modify-write rounds were tried.
	Attempts int
	// Last is the final 412.
	Last *Error
}

// Error implements error.
func (e *UpdateConflictError) Error() string {
	return fmt.Sprintf("groupsd: update of group %s: still conflicting after %d attempts", e.UUID, e.Attempts)
}

// Unwrap returns the last 412.
func (e *UpdateConflictError) Unwrap() error { return e.Last }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
