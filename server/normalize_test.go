package server_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/groupsd/groupsd"
	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// One test per framework quirk that normalize (normalize.go) works around,
// on both databases, through the full stack.
func TestNormalize(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		g, _ := e.create("acme", "Existing")
		id := g.Uuid.String()
		jsonCT := []string{"Content-Type", "application/json"}

		t.Run("MediaTypeIsCaseInsensitive", func(t *testing.T) {
			resp, body := e.do("PATCH", "/api/v2/groups/"+id, `{"description":"d"}`,
				append(e.auth("acme"), "Content-Type", "Application/Merge-Patch+JSON; Charset=UTF-8")...)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
		})

		t.Run("ParamDoesNotSwallowSegments", func(t *testing.T) {
			resp, body := e.do("GET", "/api/v2/groups/"+id+"/extra", "", e.auth("acme")...)
			problem(t, resp, body, http.StatusNotFound, api.NOTFOUND)
		})

		t.Run("RepeatedSingleValuedQueryIsNamed", func(t *testing.T) {
			resp, body := e.do("GET", "/api/v2/groups?size=1&size=2", "", e.auth("acme")...)
			p := problem(t, resp, body, http.StatusBadRequest, api.VALIDATIONERROR)
			if !strings.Contains(p.Detail, "size") {
				t.Fatalf("detail %q does not name the parameter", p.Detail)
			}
		})

		// URL.Query drops pairs it cannot parse; a search must not quietly
		// become "list everything".
		t.Run("QueryThatDoesNotParseIsRejected", func(t *testing.T) {
			for _, q := range []string{"q=zzzz;x&size=1", "size=5;x", "sort=bogus;", "q=%zz", "q=fin&x=%", "cursor=a;b"} {
				resp, body := e.do("GET", "/api/v2/groups?"+q, "", e.auth("acme")...)
				p := problem(t, resp, body, http.StatusBadRequest, api.VALIDATIONERROR)
				if p.Errors == nil || (*p.Errors)[0].Parameter == nil || !strings.Contains(p.Detail, "malformed") {
					t.Errorf("?%s: problem %+v does not name the parameter", q, p)
				}
			}
			// Other operations too: the query string is checked before anything else.
			resp, body := e.do("GET", "/api/v2/groups/"+id+"?a=1;b", "", e.auth("acme")...)
			problem(t, resp, body, http.StatusBadRequest, api.VALIDATIONERROR)
			resp, body = e.do("DELETE", "/api/v2/groups/"+id+"?%", "", e.auth("acme")...)
			problem(t, resp, body, http.StatusBadRequest, api.VALIDATIONERROR)
		})

		// Query values, header parameters and decoded cursors are raw bytes;
		// Postgres refuses non-UTF-8 and NUL with an error, SQLite stores
		// them. Both answer the same 400, naming the parameter.
		t.Run("TextParametersAreUTF8WithoutNUL", func(t *testing.T) {
			for _, c := range []struct{ query, param string }{
				{"q=%00", "q"}, {"q=%ff", "q"}, {"q=%C0%80", "q"}, {"q=a%00b", "q"},
				{"sort=name%00", "sort"}, {"cursor=%ff", "cursor"}, {"bogus=%ff", "bogus"},
			} {
				resp, body := e.do("GET", "/api/v2/groups?"+c.query, "", e.auth("acme")...)
				p := problem(t, resp, body, http.StatusBadRequest, api.VALIDATIONERROR)
				if p.Errors == nil || (*p.Errors)[0].Parameter == nil || *(*p.Errors)[0].Parameter != c.param {
					t.Errorf("?%s: problem %+v does not name %s", c.query, p, c.param)
				}
			}
			for _, h := range []string{"Idempotency-Key", "If-Match"} {
				method, path, body := "POST", "/api/v2/groups", `{"name":"bytes"}`
				if h == "If-Match" {
					method, path, body = "PATCH", "/api/v2/groups/"+id, `{}`
				}
				resp, rb := e.do(method, path, body, append(e.auth("acme"), "Content-Type", "application/json", h, "k\xff\xfe")...)
				p := problem(t, resp, rb, http.StatusBadRequest, api.VALIDATIONERROR)
				if p.Errors == nil || (*p.Errors)[0].Parameter == nil || *(*p.Errors)[0].Parameter != h {
					t.Errorf("%s: problem %+v does not name it", h, p)
				}
			}
			resp, body := e.do("GET", "/api/v2/groups/"+id, "", append(e.auth("acme"), "If-None-Match", "\"\xff\"")...)
			problem(t, resp, body, http.StatusBadRequest, api.VALIDATIONERROR)
			// A cursor whose name key decodes to a string with NUL.
			forged := base64.RawURLEncoding.EncodeToString([]byte(`{"k":["a\u0000b"],"u":"` + id + `","p":1,"f":"x"}`))
			resp, body = e.do("GET", "/api/v2/groups?sort=name&cursor="+forged, "", e.auth("acme")...)
			problem(t, resp, body, http.StatusBadRequest, api.VALIDATIONERROR)
		})

		t.Run("InvalidUTF8IsRejected", func(t *testing.T) {
			resp, body := e.do("POST", "/api/v2/groups", "{\"name\":\"a\xffb\"}", append(e.auth("acme"), jsonCT...)...)
			problem(t, resp, body, http.StatusBadRequest, api.VALIDATIONERROR)
		})

		t.Run("LoneSurrogateIsRejected", func(t *testing.T) {
			resp, body := e.do("POST", "/api/v2/groups", `{"name":"a\udc00b"}`, append(e.auth("acme"), jsonCT...)...)
			problem(t, resp, body, http.StatusBadRequest, api.VALIDATIONERROR)
		})

		// A body is exactly one JSON value, on every operation with a body.
		t.Run("TrailingDataAfterJSONIsRejected", func(t *testing.T) {
			bodies := []struct{ method, path, ct, first string }{
				{"POST", "/api/v2/groups", "application/json", `{"name":"trail"}`},
				{"PUT", "/api/v2/groups", "application/json", `{"uuid":"` + id + `","name":"trail"}`},
				{"PATCH", "/api/v2/groups/" + id, "application/merge-patch+json", `{"name":"trail"}`},
				{"PATCH", "/v2/groups/" + id, "application/json", `{"name":"trail"}`},
			}
			for _, b := range bodies {
				for _, tail := range []string{" x", `{"name":"b"}`, "\n{}", " 1", "]", `"s"`, " null"} {
					resp, body := e.do(b.method, b.path, b.first+tail, append(e.auth("acme"), "Content-Type", b.ct)...)
					p := problem(t, resp, body, http.StatusBadRequest, api.VALIDATIONERROR)
					if !strings.Contains(p.Detail, "exactly one JSON value") {
						t.Errorf("%s %s %q: detail %q", b.method, b.path, tail, p.Detail)
					}
				}
				// Whitespace around the value is fine.
				resp, body := e.do(b.method, b.path, " \n\t"+b.first+" \r\n ", append(e.auth("acme"), "Content-Type", b.ct)...)
				if resp.StatusCode >= 300 {
					t.Errorf("%s %s with surrounding whitespace: %d %s", b.method, b.path, resp.StatusCode, body)
				}
				if b.method == "POST" {
					// Clean up so the next operations see a free name.
					e.db.DeleteGroup(bg, "acme", strings.TrimPrefix(resp.Header.Get("Location"), "/api/v2/groups/"), nil)
				}
			}
			// Nothing of the rejected bodies was stored or applied.
			got, err := e.db.GetGroup(bg, "acme", id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != "trail" { // the whitespace-wrapped PUT/PATCH succeeded
				t.Fatalf("name = %q", got.Name)
			}
			page, err := e.db.ListGroups(bg, "acme", store.ListQuery{Size: 100})
			if err != nil || page.Total != 1 {
				t.Fatalf("total = %d, %v: a rejected create was stored", page.Total, err)
			}
		})
	})
}

// /openapi.json and /openapi.yaml serve the committed contract.
func TestServedSpecIsTheCommittedOne(t *testing.T) {
	e := newEnv(t, store.SQLite)
	resp, body := e.do("GET", "/openapi.yaml", "")
	if resp.StatusCode != 200 || string(body) != string(groupsd.OpenAPIYAML) {
		t.Fatalf("/openapi.yaml: %d, %d bytes; want the committed file", resp.StatusCode, len(body))
	}
	want, err := groupsd.OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	resp, body = e.do("GET", "/openapi.json", "")
	if resp.StatusCode != 200 || string(body) != string(want) || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("/openapi.json: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	if !strings.Contains(string(body), `"operationId":"listGroups"`) || !strings.Contains(string(body), `"required":false`) {
		t.Fatalf("/openapi.json lost operationId case or required:false")
	}
}

// A HEAD answer puts no body bytes on the connection: the next response on
// the same keep-alive connection parses.
func TestHeadLeavesNoBodyOnTheConnection(t *testing.T) {
	e := newEnv(t, store.SQLite)
	g, _ := e.create("acme", "Head")
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	auth := "Authorization: Bearer " + e.keys["acme"] + "\r\n"
	fmt.Fprintf(conn, "HEAD /api/v2/groups/%s HTTP/1.1\r\nHost: x\r\n%s\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", g.Uuid, auth)
	br := bufio.NewReader(conn)
	head, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil || head.StatusCode != 200 {
		t.Fatalf("HEAD: %v %v", head, err)
	}
	head.Body.Close()
	next, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("the response after a HEAD does not parse: %v", err)
	}
	body, _ := io.ReadAll(next.Body)
	if next.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("after HEAD: %d %s", next.StatusCode, body)
	}
}
