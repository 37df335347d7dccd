// Package docs serves the interactive API reference: Swagger UI, embedded in
// the binary so the page works offline and loads nothing from a CDN, pointed at
// the spec the server already publishes.
//
// The Swagger UI files in assets/ are copied unchanged from the swagger-ui-dist
// npm package pinned in contract/package.json (version in assets/VERSION); refresh
// them with `npm run docs:assets` in contract/.
package docs

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

//go:embed index.html init.js assets
var files embed.FS

// PagePath is where the reference page is served; its assets are under
// PagePath + "/assets/".
const PagePath = "/docs"

// The page allows only its own scripts (no inline ones) and only same-origin
// requests, so it cannot reach a CDN even by mistake. Swagger UI sets inline
// styles and data: images, hence those two exceptions.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

type asset struct {
	body []byte
	etag string
}

// Docs serves the reference page and its assets.
type Docs struct {
	page   asset
	assets map[string]asset
}

// New returns the reference page for the spec at specURL (for example
// "/openapi.json"). It panics only if the embedded files are broken, which the
// package's tests rule out.
func New(specURL string) *Docs {
	tmpl := template.Must(template.ParseFS(files, "index.html"))
	var page bytes.Buffer
	if err := tmpl.Execute(&page, struct{ SpecURL string }{specURL}); err != nil {
		panic(err)
	}
	d := &Docs{page: newAsset(page.Bytes()), assets: map[string]asset{}}
	add := func(name, file string) {
		b, err := fs.ReadFile(files, file)
		if err != nil {
			panic(err)
		}
		d.assets[name] = newAsset(b)
	}
	add("init.js", "init.js")
	entries, err := fs.ReadDir(files, "assets")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		add(e.Name(), "assets/"+e.Name())
	}
	return d
}

// newAsset gives each file a strong ETag from its content: embedded files
// have no modification time, so conditional requests need the hash to get a 304.
func newAsset(b []byte) asset {
	sum := sha256.Sum256(b)
	return asset{body: b, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// Register mounts GET and HEAD of /docs and /docs/assets/* on e, and
// redirects /docs/ to /docs. An unknown asset returns echo.ErrNotFound, so
// the server's error handler renders it.
func Register(e *echo.Echo, specURL string) {
	d := New(specURL)
	methods := []string{http.MethodGet, http.MethodHead}
	e.Match(methods, PagePath, func(c echo.Context) error {
		d.servePage(c.Response(), c.Request())
		return nil
	})
	e.Match(methods, PagePath+"/", func(c echo.Context) error {
		redirectToPage(c.Response(), c.Request())
		return nil
	})
	e.Match(methods, PagePath+"/assets/*", func(c echo.Context) error {
		if !d.serveAsset(c.Response(), c.Request(), c.Param("*")) {
			return echo.ErrNotFound
		}
		return nil
	})
}

// ServeHTTP serves /docs and /docs/assets/*, for use without Echo.
func (d *Docs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	switch name, isAsset := strings.CutPrefix(r.URL.Path, PagePath+"/assets/"); {
	case r.URL.Path == PagePath:
		d.servePage(w, r)
	case r.URL.Path == PagePath+"/":
		redirectToPage(w, r)
	case isAsset && d.serveAsset(w, r, name):
	default:
		http.NotFound(w, r)
	}
}

// redirectToPage sends /docs/ (a common way to type it) to the page, with
// the query kept. The page's asset URLs are absolute, so the page would work
// at /docs/ too; one address keeps bookmarks and caches to one copy.
func redirectToPage(w http.ResponseWriter, r *http.Request) {
	target := PagePath
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, target, http.StatusMovedPermanently) //nolint:gosec // G710: the target is PagePath; only the query is the client's, and it cannot change the host
}

func (d *Docs) servePage(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	serve(w, r, "index.html", d.page)
}

// serveAsset reports false, writing nothing, when there is no asset name.
func (d *Docs) serveAsset(w http.ResponseWriter, r *http.Request, name string) bool {
	a, ok := d.assets[name]
	if !ok {
		return false
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// no-cache, not max-age: an upgraded binary may ship other files under the
	// same names, and the ETag makes the revalidation a cheap 304.
	w.Header().Set("Cache-Control", "no-cache")
	serve(w, r, name, a)
	return true
}

// serve lets http.ServeContent handle HEAD, Range and If-None-Match; it picks
// the Content-Type from the name's extension.
func serve(w http.ResponseWriter, r *http.Request, name string, a asset) {
	w.Header().Set("ETag", a.etag)
	http.ServeContent(w, r, path.Base(name), time.Time{}, bytes.NewReader(a.body))
}
