package server

import (
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
)

// securityScheme is the contract's one security scheme.
const securityScheme = "bearerAuth"

// OperationScopes returns, per operationId, the scopes each operation
// requires as its `security` in spec states them (the top-level security
// for an operation without its own). Any one requirement suffices; every
// scope of that requirement is needed.
func OperationScopes(spec *openapi3.T) map[string][][]string {
	out := map[string][][]string{}
	for _, item := range spec.Paths.Map() {
		for _, op := range item.Operations() {
			sec := spec.Security
			if op.Security != nil {
				sec = *op.Security
			}
			var reqs [][]string
			for _, req := range sec {
				reqs = append(reqs, append([]string{}, req[securityScheme]...))
			}
			out[op.OperationID] = reqs
		}
	}
	return out
}

// withScopes puts a scope check in front of every operation's middleware,
// so it runs after authentication (and rate limiting) and before request
// validation and the handler: a key without the scope learns nothing about
// the request but that it may not make it.
func withScopes(spec *openapi3.T, mw map[string][]echo.MiddlewareFunc) map[string][]echo.MiddlewareFunc {
	for op, reqs := range OperationScopes(spec) {
		mw[op] = append([]echo.MiddlewareFunc{requireScopes(reqs, strings.Contains(strings.ToLower(op), "apikey"))}, mw[op]...)
	}
	return mw
}

// requireScopes admits a principal that satisfies one of reqs. Responses of
// the key operations may carry secrets, so none of them may be cached.
func requireScopes(reqs [][]string, noStore bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if noStore {
				c.Response().Header().Set("Cache-Control", "no-store")
			}
			p, _ := PrincipalFrom(c.Request().Context())
			if len(reqs) == 0 {
				return next(c)
			}
			for _, req := range reqs {
				if missing := missingScope(p, req); missing == "" {
					return next(c)
				}
			}
			missing := missingScope(p, reqs[0])
			return insufficientScope(missing, fmt.Sprintf("this operation requires the scope %s, which the API key does not hold", missing))
		}
	}
}

// missingScope returns the first scope of want that p lacks, or "".
func missingScope(p Principal, want []string) string {
	for _, s := range want {
		if !p.Has(s) {
			return s
		}
	}
	return ""
}
