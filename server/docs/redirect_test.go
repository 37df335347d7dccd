package docs_test

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/groupsd/groupsd/server/docs"
)

// TestTrailingSlashRedirectsToThePage: /docs/ is a common way to type the
// address; it answers 301 to /docs, query kept, on both handlers.
func TestTrailingSlashRedirectsToThePage(t *testing.T) {
	e := echo.New()
	docs.Register(e, "/openapi.json")
	for name, h := range map[string]http.Handler{"ServeHTTP": docs.New("/openapi.json"), "Register": e} {
		for target, want := range map[string]string{"/docs/": "/docs", "/docs/?x=1": "/docs?x=1"} {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				rec := get(t, h, method, target, nil)
				if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != want {
					t.Errorf("%s: %s %s = %d Location %q, want 301 Location %q", name, method, target, rec.Code, rec.Header().Get("Location"), want)
				}
			}
		}
	}
}
