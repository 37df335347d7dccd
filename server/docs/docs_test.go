package docs_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/groupsd/groupsd/server/docs"
)

func get(t *testing.T, h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestDocs(t *testing.T) {
	d := docs.New("/openapi.json")

	t.Run("PagePointsAtSpecAndForbidsInlineScripts", func(t *testing.T) {
		rec := get(t, d, http.MethodGet, "/docs", nil)
		if got, want := rec.Code, http.StatusOK; got != want {
			t.Fatalf("status = %d, want %d", got, want)
		}
		if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "text/html") {
			t.Errorf("Content-Type = %q, want text/html", got)
		}
		if got := rec.Header().Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self';") {
			t.Errorf("Content-Security-Policy = %q, want script-src 'self'", got)
		}
		if body := rec.Body.String(); !strings.Contains(body, `data-spec-url="/openapi.json"`) {
			t.Errorf("page does not name the spec URL:\n%s", body)
		}
	})

	t.Run("EveryAssetThePageLoadsIsEmbedded", func(t *testing.T) {
		page := get(t, d, http.MethodGet, "/docs", nil).Body.String()
		refs := regexp.MustCompile(`(?:src|href)="(/docs/assets/[^"]+)"`).FindAllStringSubmatch(page, -1)
		if len(refs) < 4 {
			t.Fatalf("page references %d assets, want at least 4", len(refs))
		}
		for _, ref := range refs {
			rec := get(t, d, http.MethodGet, ref[1], nil)
			if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
				t.Errorf("GET %s = %d with %d bytes, want 200 with a body", ref[1], rec.Code, rec.Body.Len())
			}
		}
	})

	t.Run("ScriptsHaveAJavaScriptContentType", func(t *testing.T) {
		rec := get(t, d, http.MethodGet, "/docs/assets/swagger-ui-bundle.js", nil)
		if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "text/javascript") {
			t.Errorf("Content-Type = %q, want text/javascript", got)
		}
	})

	t.Run("MatchingETagIsNotModified", func(t *testing.T) {
		etag := get(t, d, http.MethodGet, "/docs/assets/swagger-ui.css", nil).Header().Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		rec := get(t, d, http.MethodGet, "/docs/assets/swagger-ui.css", map[string]string{"If-None-Match": etag})
		if got, want := rec.Code, http.StatusNotModified; got != want {
			t.Errorf("status = %d, want %d", got, want)
		}
	})

	t.Run("UnknownAssetIsNotFound", func(t *testing.T) {
		for _, target := range []string{"/docs/assets/nope.js", "/docs/assets/../docs.go", "/docs/other"} {
			if got, want := get(t, d, http.MethodGet, target, nil).Code, http.StatusNotFound; got != want {
				t.Errorf("GET %s = %d, want %d", target, got, want)
			}
		}
	})

	t.Run("WritesAreNotAllowed", func(t *testing.T) {
		if got, want := get(t, d, http.MethodPost, "/docs", nil).Code, http.StatusMethodNotAllowed; got != want {
			t.Errorf("status = %d, want %d", got, want)
		}
	})
}

func TestRegister(t *testing.T) {
	e := echo.New()
	docs.Register(e, "/openapi.json")

	t.Run("ServesPageAndAssets", func(t *testing.T) {
		for _, target := range []string{"/docs", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/init.js"} {
			if got, want := get(t, e, http.MethodGet, target, nil).Code, http.StatusOK; got != want {
				t.Errorf("GET %s = %d, want %d", target, got, want)
			}
		}
	})

	t.Run("HeadHasNoBody", func(t *testing.T) {
		rec := get(t, e, http.MethodHead, "/docs/assets/swagger-ui.css", nil)
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Errorf("HEAD = %d with %d bytes, want 200 with none", rec.Code, rec.Body.Len())
		}
	})

	t.Run("UnknownAssetGoesToTheErrorHandler", func(t *testing.T) {
		var got error
		e.HTTPErrorHandler = func(err error, c echo.Context) { got = err; _ = c.NoContent(http.StatusNotFound) }
		get(t, e, http.MethodGet, "/docs/assets/nope.js", nil)
		if got != echo.ErrNotFound {
			t.Errorf("error = %v, want echo.ErrNotFound", got)
		}
	})
}
