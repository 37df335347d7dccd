package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/groupsd/groupsd/gen/api"
)

// MaxBodyBytes is the largest accepted request body (1 MiB).
const MaxBodyBytes = 1 << 20

type ctxKey int

const (
	requestIDKey ctxKey = iota
	orgKey
	instanceKey // the request path as sent, for problem bodies built in handlers
)

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// Org returns the organization of the authenticated caller carried by ctx.
func Org(ctx context.Context) string {
	s, _ := ctx.Value(orgKey).(string)
	return s
}

var clientRequestID = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestID echoes a well-formed client X-Request-Id or makes one, and puts
// it on the response and the request context.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		id := r.Header.Get("X-Request-Id")
		if !clientRequestID.MatchString(id) {
			id = newRequestID()
		}
		c.Response().Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, instanceKey, r.URL.EscapedPath())
		c.SetRequest(r.WithContext(ctx))
		return next(c)
	}
}

// recoverPanics turns a panic into a 500 problem, logged with its stack.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler { //nolint:errorlint // a panic value, not an error chain: net/http compares it by identity too
					panic(v)
				}
				s.log.Error("panic", slog.String("request_id", RequestID(c.Request().Context())),
					slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
				err = fmt.Errorf("panic: %v", v)
			}
		}()
		return next(c)
	}
}

// accessLog writes one line per request. It logs the route template, never
// the raw path or any header but the user agent, so neither keys nor ids of
// other tenants leak. Probes and scrapes are logged at DEBUG (accessLevel).
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		dur := time.Since(start)
		if s.cfg.Observe != nil {
			s.cfg.Observe(c.Request().Method, route, status, dur)
		}
		if level := accessLevel(route, status); s.log.Enabled(c.Request().Context(), level) {
			attrs := []slog.Attr{
				slog.String("method", c.Request().Method),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Float64("duration_ms", float64(dur.Microseconds())/1000),
				slog.Int64("bytes", c.Response().Size),
				slog.String("request_id", RequestID(c.Request().Context())),
				slog.String("client", clientAddr(c.Request(), s.cfg.TrustedProxies)),
				slog.String("user_agent", userAgent(c.Request())),
			}
			if org := Org(c.Request().Context()); org != "" {
				attrs = append(attrs, slog.String("org", org))
			}
			s.log.LogAttrs(c.Request().Context(), level, "request", attrs...)
		}
		return nil
	}
}

// deadline bounds every request; the context reaches the database driver.
func (s *Server) deadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.cfg.RequestTimeout <= 0 {
			return next(c)
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.RequestTimeout)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

func isAPIPath(p string) bool {
	return p == "/v2" || p == "/api/v2" || strings.HasPrefix(p, "/v2/") || strings.HasPrefix(p, "/api/v2/")
}

// authenticate guards every API path, before routing errors and body
// checks, so an anonymous caller learns nothing but 401.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if !isAPIPath(r.URL.Path) {
			return next(c)
		}
		p := anonymous
		if s.cfg.Auth != nil {
			// Two credentials are ambiguous: a proxy reading the last one
			// would disagree with us about who is calling.
			if len(r.Header.Values("Authorization")) > 1 {
				return validationError("the request is invalid: parameter Authorization: must appear at most once",
					api.ProblemFieldError{Parameter: ptr("Authorization"), Detail: "must appear at most once"})
			}
			// RFC 9110 11.4: the scheme is case-insensitive and one or more
			// spaces separate it from the credentials.
			scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			token = strings.TrimLeft(token, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
				return unauthorized()
			}
			var err error
			p, err = s.cfg.Auth.Principal(r.Context(), token)
			if err != nil {
				return err
			}
		}
		ctx := context.WithValue(r.Context(), orgKey, p.Org)
		c.SetRequest(r.WithContext(context.WithValue(ctx, principalKey{}, &p)))
		if err := s.limitRate(c, p); err != nil {
			return err
		}
		return next(c)
	}
}

// cachePolicy gives every successful GET (and HEAD) of the API
// "Cache-Control: private, no-cache": answers belong to one organization, so
// shared caches must not keep them, and a client's own cache must revalidate
// (If-None-Match) before reusing one, since groups change at any time.
// Errors carry no-store instead (setProblemHeaders).
func cachePolicy(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Method == http.MethodGet && isAPIPath(c.Request().URL.Path) {
			res := c.Response()
			res.Before(func() {
				if res.Status < 400 && res.Header().Get("Cache-Control") == "" {
					res.Header().Set("Cache-Control", "private, no-cache")
				}
			})
		}
		return next(c)
	}
}

// closeAfterChunked closes the connection after answering any request
// whose body is chunked. RFC 9112 §6.1 lets a server process a request that
// carries both Content-Length and Transfer-Encoding by the Transfer-Encoding
// alone, but requires it to close the connection afterwards, or bytes hidden
// inside the Content-Length would be read as a second request (smuggling).
// net/http deletes the Content-Length of such a request before any handler
// runs, so the two cannot be told apart here: every chunked request closes
// its connection, which costs an honest chunked client only a reconnect.
func closeAfterChunked(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		for _, te := range c.Request().TransferEncoding {
			if strings.EqualFold(te, "chunked") {
				c.Response().Header().Set("Connection", "close")
				break
			}
		}
		return next(c)
	}
}

// limitBody rejects bodies over MaxBodyBytes, declared or chunked, with 413
// and hands the handlers an in-memory body (which GetBody re-reads).
func limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Body == nil || r.Body == http.NoBody {
			return next(c)
		}
		tooLarge := newError(http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "the request body exceeds %d bytes", MaxBodyBytes)
		if r.ContentLength > MaxBodyBytes {
			return tooLarge
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
		if err != nil {
			return validationError("the request body could not be read")
		}
		if len(b) > MaxBodyBytes {
			return tooLarge
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		return next(c)
	}
}

// headAsGet serves HEAD wherever GET is served (RFC 9110 9.3.2): the route
// runs as GET, and its body is dropped here. net/http would drop it too, but
// it decides by the request's method, which Echo's router needs to read GET
// (it routes on the request it was given, so the method is changed in
// place): without this writer the body would reach the connection and
// corrupt the next response on it. The method is HEAD again before net/http
// finishes the response, so it frames it as one to a HEAD. Since the router
// never sees HEAD, it leaves HEAD out of the Allow header of OPTIONS and 405
// answers; that header is completed as it is written.
func headAsGet(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		c.Response().Before(func() {
			if allow := h.Get("Allow"); allow != "" {
				h.Set("Allow", withHead(allow))
			}
		})
		r := c.Request()
		if r.Method != http.MethodHead {
			return next(c)
		}
		r.Method = http.MethodGet
		defer func() { r.Method = http.MethodHead }()
		c.Response().Writer = bodiless{c.Response().Writer}
		return next(c)
	}
}

// bodiless drops the body written to it.
type bodiless struct{ http.ResponseWriter }

func (bodiless) Write(p []byte) (int, error) { return len(p), nil }

// Unwrap lets http.ResponseController reach the connection's writer.
func (b bodiless) Unwrap() http.ResponseWriter { return b.ResponseWriter }

// withHead adds HEAD to an Allow list that has GET and lacks it.
func withHead(allow string) string {
	var hasGet bool
	for _, m := range strings.Split(allow, ",") {
		switch strings.TrimSpace(m) {
		case http.MethodHead:
			return allow
		case http.MethodGet:
			hasGet = true
		}
	}
	if !hasGet {
		return allow
	}
	return allow + ", " + http.MethodHead
}

// hasLoneSurrogate reports a \uD800-\uDFFF escape that is not half of a
// surrogate pair: it encodes no character, and encoding/json would replace
// it with U+FFFD instead of failing.
func hasLoneSurrogate(b []byte) bool {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		var v rune
		for _, c := range b[i+2 : i+6] {
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | rune(c-'0')
			case c >= 'a' && c <= 'f':
				v = v<<4 | rune(c-'a'+10)
			case c >= 'A' && c <= 'F':
				v = v<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return v, true
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		v, ok := hex4(i)
		if !ok {
			i++ // skip the escaped character (\\, \", ...)
			continue
		}
		switch {
		case v >= 0xDC00 && v <= 0xDFFF:
			return true
		case v >= 0xD800 && v <= 0xDBFF:
			low, ok := hex4(i + 6)
			if !ok || low < 0xDC00 || low > 0xDFFF {
				return true
			}
			i += 11
		default:
			i += 5
		}
	}
	return false
}
