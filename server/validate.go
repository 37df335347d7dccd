package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"

	"github.com/groupsd/groupsd/gen/api"
)

func init() {
	// kin-openapi's built-in uuid format accepts versions 1-5 only; ours are v7.
	openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(
		`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`))
}

// operationMiddlewares returns, per operationId, the middleware that
// normalizes a request and validates it against its operation in spec with
// kin-openapi. The generated RegisterHandlersWithOptions attaches them to
// their routes, so the Echo route identifies the operation: no second
// router runs, the same check serves /api/v2 and /v2, and nothing else
// (/healthz, /docs) is validated.
func operationMiddlewares(spec *openapi3.T) map[string][]echo.MiddlewareFunc {
	opts := &openapi3filter.Options{
		MultiError: true,
		// Authentication runs earlier, in the authenticate middleware.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		// The generated strict server binds this value, so the handler gets
		// exactly what was validated.
		KeepValidatedValue: true,
	}
	out := map[string][]echo.MiddlewareFunc{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			route := &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: op}
			out[op.OperationID] = []echo.MiddlewareFunc{normalize(route), validate(route, opts)}
		}
	}
	return out
}

// validate checks a request against route's operation.
func validate(route *routers.Route, opts *openapi3filter.Options) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			params := make(map[string]string, len(c.ParamNames()))
			for i, name := range c.ParamNames() {
				params[name] = c.ParamValues()[i]
			}
			r := c.Request()
			if err := fewUnknownProperties(r, route); err != nil {
				return err
			}
			in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: opts}
			if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
				return requestProblem(err)
			}
			return next(c)
		}
	}
}

// fewUnknownProperties stops early a body object with more unknown
// properties than a problem lists: kin-openapi validates (and describes)
// every one of them, which a 1 MiB body turns into 100,000 errors and a
// third of a second of CPU. The unknown keys are listed up to
// MaxFieldErrors and the rest only counted, by a scan that decodes no value.
func fewUnknownProperties(r *http.Request, route *routers.Route) error {
	rb := route.Operation.RequestBody
	if rb == nil || rb.Value == nil || r.GetBody == nil {
		return nil
	}
	mt := rb.Value.Content.Get(r.Header.Get("Content-Type"))
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return nil
	}
	schema := mt.Schema.Value
	if has := schema.AdditionalProperties.Has; has == nil || *has || schema.AdditionalProperties.Schema != nil {
		return nil
	}
	body, err := r.GetBody()
	if err != nil {
		return nil
	}
	dec := json.NewDecoder(body)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil // not an object: the validator says what is wrong
	}
	fields := &fieldErrors{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := t.(string)
		if _, known := schema.Properties[key]; !known {
			fields.add(api.ProblemFieldError{Pointer: ptr(pointer([]string{key})), Detail: "unknown property"})
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	if !fields.full() {
		return nil // few enough for the validator to report them all
	}
	return requestProblemOf(fields)
}

// requestProblem turns kin-openapi's errors into one problem listing every
// failed check.
func requestProblem(err error) *apiError {
	fields := &fieldErrors{}
	status, code, detail := http.StatusBadRequest, api.VALIDATIONERROR, "the request is invalid"
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) { //nolint:errorlint // walks the chain itself, one level per call
		case openapi3.MultiError:
			for _, inner := range e {
				walk(inner)
			}
		case *openapi3filter.RequestError:
			re := e
			switch {
			case re.Parameter != nil:
				name := re.Parameter.Name
				for _, d := range leafDetails(re.Err, re.Reason) {
					fields.add(api.ProblemFieldError{Parameter: &name, Detail: paramDetail(name, d)})
				}
			case strings.HasPrefix(re.Reason, "header Content-Type has unexpected value"):
				status, code = http.StatusUnsupportedMediaType, api.UNSUPPORTEDMEDIATYPE
				detail = "unsupported Content-Type; send " + contentTypes(re.RequestBody)
			case errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
				detail = "a request body is required"
				fields.add(api.ProblemFieldError{Pointer: ptr(""), Detail: "a request body is required"})
			case re.Reason == "failed to decode request body":
				detail = "the request body is not valid JSON"
				fields.add(api.ProblemFieldError{Pointer: ptr(""), Detail: "not valid JSON"})
			case re.Err != nil:
				walkSchema(re.Err, fields)
			default:
				fields.add(api.ProblemFieldError{Pointer: ptr(""), Detail: re.Reason})
			}
		default:
			walkSchema(err, fields)
		}
	}
	walk(err)
	if status != http.StatusBadRequest {
		return &apiError{status: status, code: code, detail: detail, errors: fields.list, cause: err}
	}
	ae := requestProblemOf(fields)
	ae.cause = err
	return ae
}

// requestProblemOf is the 400 listing fields, its detail naming the first.
func requestProblemOf(fields *fieldErrors) *apiError {
	detail := "the request is invalid"
	if len(fields.list) > 0 {
		detail = fmt.Sprintf("the request is invalid: %s", describe(fields.list[0]))
		if n := len(fields.list) - 1 + fields.more; n > 0 {
			detail += fmt.Sprintf(" (and %d more)", n)
		}
		if fields.more > 0 {
			detail += fmt.Sprintf("; errors lists the first %d, %d more were not listed", len(fields.list), fields.more)
		}
	}
	return &apiError{status: http.StatusBadRequest, code: api.VALIDATIONERROR, detail: detail, errors: fields.list}
}

// MaxFieldErrors caps a problem's errors array: a body of many small
// mistakes must not buy a response (and the work) many times its size.
const MaxFieldErrors = 100

// fieldErrors collects up to MaxFieldErrors failed checks and counts the rest.
type fieldErrors struct {
	list []api.ProblemFieldError
	more int
}

// full reports whether further checks are only counted.
func (f *fieldErrors) full() bool { return len(f.list) >= MaxFieldErrors }

func (f *fieldErrors) add(e api.ProblemFieldError) {
	if f.full() {
		f.more++
		return
	}
	f.list = append(f.list, e)
}

func describe(f api.ProblemFieldError) string {
	switch {
	case f.Parameter != nil:
		return fmt.Sprintf("parameter %s: %s", *f.Parameter, f.Detail)
	case f.Pointer != nil && *f.Pointer != "":
		return fmt.Sprintf("%s: %s", *f.Pointer, f.Detail)
	}
	return f.Detail
}

// unsupportedProperty matches kin-openapi's reason for an unknown property,
// which quotes the decoded key as a Go string literal.
var unsupportedProperty = regexp.MustCompile(`^property (".*") is unsupported$`)

func walkSchema(err error, fields *fieldErrors) {
	var me openapi3.MultiError
	if errors.As(err, &me) {
		for _, e := range me {
			walkSchema(e, fields)
		}
		return
	}
	if fields.full() { // counted, not described
		fields.more++
		return
	}
	var se *openapi3.SchemaError
	if !errors.As(err, &se) {
		fields.add(api.ProblemFieldError{Pointer: ptr(""), Detail: err.Error()})
		return
	}
	path := se.JSONPointer()
	reason := se.Reason
	if m := unsupportedProperty.FindStringSubmatch(reason); m != nil {
		// RFC 6901 pointers hold the key itself, not an escaped form.
		key, err := strconv.Unquote(m[1])
		if err != nil {
			key = m[1]
		}
		path = append(path, key)
		reason = "unknown property"
	}
	if se.SchemaField == "format" {
		reason = fmt.Sprintf("must be a valid %s", se.Schema.Format)
	}
	if se.SchemaField == "pattern" && len(path) > 0 && path[len(path)-1] == "name" {
		reason = "must not contain control characters"
	}
	if se.SchemaField == "pattern" && len(path) > 0 && path[len(path)-1] == "description" {
		reason = "must not contain the NUL character"
	}
	fields.add(api.ProblemFieldError{Pointer: ptr(pointer(path)), Detail: reason})
}

// leafDetails flattens a parameter error into readable sentences.
func leafDetails(err error, reason string) []string {
	var out []string
	var me openapi3.MultiError
	var se *openapi3.SchemaError
	var pe *openapi3filter.ParseError
	switch {
	case err == nil:
		out = append(out, reason)
	case errors.As(err, &me):
		for _, e := range me {
			out = append(out, leafDetails(e, reason)...)
		}
	case errors.As(err, &se):
		if se.SchemaField == "format" {
			out = append(out, fmt.Sprintf("must be a valid %s", se.Schema.Format))
		} else {
			out = append(out, se.Reason)
		}
	case errors.As(err, &pe):
		out = append(out, pe.Reason)
	default:
		out = append(out, err.Error())
	}
	return out
}

// paramDetail rewrites regular-expression failures into the rule they encode.
func paramDetail(name, d string) string {
	if name == "sort" && strings.Contains(d, "regular expression") {
		return "each sort must be property or property,asc|desc with property name, createdAt or updatedAt"
	}
	return d
}

func pointer(path []string) string {
	var b strings.Builder
	for _, p := range path {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(p, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

func contentTypes(rb *openapi3.RequestBody) string {
	if rb == nil {
		return "application/json"
	}
	var types []string
	for t := range rb.Content {
		types = append(types, t)
	}
	sort.Strings(types)
	return strings.Join(types, " or ")
}

func ptr[T any](v T) *T { return &v }
