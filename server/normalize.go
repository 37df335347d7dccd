package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"

	"github.com/groupsd/groupsd/gen/api"
)

// normalize is the one place for the workarounds of framework quirks (Echo,
// encoding/json, the generated binder, kin-openapi). It runs on every API
// operation, before validation, and each quirk is a named step with a named
// test in normalize_test.go. Everything here either rewrites a request into
// the form the rest of the stack handles correctly, or rejects it in the
// contract's own terms.
func normalize(route *routers.Route) echo.MiddlewareFunc {
	var single []string  // single-valued query parameters of this operation
	var headers []string // header parameters of this operation
	for _, pr := range route.Operation.Parameters {
		p := pr.Value
		if p != nil && p.In == "query" && p.Schema != nil && p.Schema.Value != nil && !p.Schema.Value.Type.Is("array") {
			single = append(single, p.Name)
		}
		if p != nil && p.In == "header" {
			headers = append(headers, p.Name)
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			canonicalMediaType(r)
			if err := noSwallowedSegments(c); err != nil {
				return err
			}
			if err := queryParses(r); err != nil {
				return err
			}
			if err := noRepeatedQuery(r, single); err != nil {
				return err
			}
			if err := textParameters(r, headers); err != nil {
				return err
			}
			if err := oneJSONValue(r); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// canonicalMediaType: media types are case-insensitive (RFC 9110 8.3.1), but
// the generated binder compares them case-sensitively, so rewrite
// Content-Type in canonical form before anyone looks.
func canonicalMediaType(r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, params, err := mime.ParseMediaType(ct); err == nil {
			r.Header.Set("Content-Type", mime.FormatMediaType(mt, params))
		}
	}
}

// noSwallowedSegments: Echo lets a trailing :param swallow further segments
// (/groups/ID/extra matches /groups/:uuid); no such resource exists.
func noSwallowedSegments(c echo.Context) error {
	for _, v := range c.ParamValues() {
		if strings.Contains(v, "/") {
			return echo.ErrNotFound
		}
	}
	return nil
}

// queryParses: URL.Query (used by Echo, kin-openapi and the generated
// binder) silently drops every pair it cannot parse, such as one holding a
// raw ";" or a bad %-escape, so `?q=fin;x` would list everything. A query
// string that does not parse is rejected, naming the pair's parameter.
func queryParses(r *http.Request) error {
	if _, err := url.ParseQuery(r.URL.RawQuery); err == nil {
		return nil
	}
	for _, pair := range strings.Split(r.URL.RawQuery, "&") {
		if _, err := url.ParseQuery(pair); err == nil {
			continue
		}
		name, _, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		name = printable(name)
		detail := "is not a well-formed query pair (a raw ';' or a bad %-escape)"
		return validationError(fmt.Sprintf("the query string is malformed: parameter %s %s", name, detail),
			api.ProblemFieldError{Parameter: ptr(name), Detail: detail})
	}
	return validationError("the query string is malformed")
}

// textParameters: Go hands over query and header values as raw bytes.
// Postgres rejects text that is not UTF-8 or holds NUL with an error, and
// SQLite stores it, so the two databases would disagree; every such value
// is rejected here, naming the parameter, before it reaches either.
func textParameters(r *http.Request, headers []string) error {
	if r.URL.RawQuery != "" {
		query := r.URL.Query()
		names := make([]string, 0, len(query))
		for name := range query {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if !cleanText(name) {
				return badText(printable(name))
			}
			for _, v := range query[name] {
				if !cleanText(v) {
					return badText(name)
				}
			}
		}
	}
	for _, name := range headers {
		for _, v := range r.Header.Values(name) {
			if !cleanText(v) {
				return badText(name)
			}
		}
	}
	return nil
}

// cleanText reports whether s is text every database stores as sent: valid
// UTF-8 without NUL.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

func badText(name string) error {
	const detail = "must be valid UTF-8 without NUL characters"
	return validationError(fmt.Sprintf("the request is invalid: parameter %s: %s", name, detail),
		api.ProblemFieldError{Parameter: ptr(name), Detail: detail})
}

// printable makes a client-supplied name safe to repeat in a problem.
func printable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\ufffd"), "\x00", "\ufffd")
}

// noRepeatedQuery: a single-valued query parameter given twice is
// ambiguous; kin-openapi takes the first and the generated binder refuses it
// without saying which parameter, so reject it here, naming it.
func noRepeatedQuery(r *http.Request, single []string) error {
	if r.URL.RawQuery == "" {
		return nil
	}
	query := r.URL.Query()
	for _, name := range single {
		if len(query[name]) > 1 {
			return validationError(fmt.Sprintf("the request is invalid: parameter %s: must appear at most once", name),
				api.ProblemFieldError{Parameter: ptr(name), Detail: "must appear at most once"})
		}
	}
	return nil
}

// oneJSONValue: a JSON body must be UTF-8 (RFC 8259 8.1) and exactly one
// JSON value. encoding/json would turn bad bytes and lone surrogate escapes
// into U+FFFD, and both it and kin-openapi stop reading after the first
// value, so `{"name":"a"} x` would be stored as if it were `{"name":"a"}`.
// limitBody has already read the body into memory.
func oneJSONValue(r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody || r.GetBody == nil ||
		!strings.Contains(strings.ToLower(r.Header.Get("Content-Type")), "json") {
		return nil
	}
	body, err := r.GetBody()
	if err != nil {
		return err
	}
	b, err := io.ReadAll(body)
	if err != nil || len(b) == 0 {
		return err
	}
	if !utf8.Valid(b) || hasLoneSurrogate(b) {
		return validationError("the request body is not valid UTF-8",
			api.ProblemFieldError{Pointer: ptr(""), Detail: "not valid UTF-8"})
	}
	if json.Valid(b) {
		return nil
	}
	// Not one valid value. If a first value parses, the rest is trailing
	// data; otherwise leave the syntax error to the validator's message.
	dec := json.NewDecoder(bytes.NewReader(b))
	var first json.RawMessage
	if dec.Decode(&first) != nil {
		return nil
	}
	end := dec.InputOffset()
	detail := fmt.Sprintf("the request body must be exactly one JSON value; unexpected data after byte %d", end)
	return validationError(detail, api.ProblemFieldError{Pointer: ptr(""), Detail: detail})
}
