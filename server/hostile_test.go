package server_test

import (
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/groupsd/groupsd"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// Hostile input through every parameter, header and body property of every
// operation in the committed spec (so operations added later are covered
// without touching this test), on both databases: no 5xx, problem+json on
// every 4xx, and no change of data.
func TestHostileInput(t *testing.T) {
	spec, err := groupsd.Spec()
	if err != nil {
		t.Fatal(err)
	}
	// Escaped for a URL (query, path) or raw (headers, JSON strings).
	urlBad := []string{"%ff", "%00", "%C0%80", "a%00b", "x;y", "%", "%zz", "%ed%a0%80"}
	rawBad := []string{"\xff", "a\xc0\x80b", "\xed\xa0\x80", "\x80abc"}
	jsonBad := []string{`"\u0000"`, `"\ud800"`, "\"\xff\"", `{"a":1}`, `[1]`, `1e999`, `-0`, `true`, `"` + strings.Repeat("é", 300) + `"`}

	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		g, _ := e.create("acme", "Hostile")
		e.create("acme", "Other")
		id := g.Uuid.String()
		snapshot := func() []store.Group {
			p, err := e.db.ListGroups(bg, "acme", store.ListQuery{Size: 1000})
			if err != nil {
				t.Fatal(err)
			}
			return p.Groups
		}
		before := snapshot()

		check := func(what string, resp *http.Response, body []byte) {
			t.Helper()
			switch {
			case resp.StatusCode >= 500:
				t.Errorf("%s: %d %s", what, resp.StatusCode, body)
			case resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/problem+json":
				t.Errorf("%s: %d with Content-Type %q", what, resp.StatusCode, resp.Header.Get("Content-Type"))
			case resp.StatusCode < 300 && resp.Request.Method != "GET" && resp.Request.Method != "HEAD":
				t.Errorf("%s: hostile write answered %d %s", what, resp.StatusCode, body)
			}
		}

		sent := 0
		paths := spec.Paths.Map()
		keys := make([]string, 0, len(paths))
		for k := range paths {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, tmpl := range keys {
			item := paths[tmpl]
			for method, op := range item.Operations() {
				path := "/api" + strings.ReplaceAll(tmpl, "{uuid}", id)
				ct, body := "", ""
				var props []string
				if op.RequestBody != nil && op.RequestBody.Value != nil {
					for mt, c := range op.RequestBody.Value.Content {
						ct = mt
						if c.Schema != nil && c.Schema.Value != nil {
							for p := range c.Schema.Value.Properties {
								props = append(props, p)
							}
						}
						break
					}
					body = `{"uuid":"` + id + `","name":"Hostile"}`
				}
				send := func(what, path, body string, headers ...string) {
					t.Helper()
					if _, err := url.Parse(e.srv.URL + path); err != nil {
						return // Go's client cannot send it; queryParses covers the raw form
					}
					h := append(e.auth("acme"), headers...)
					if ct != "" {
						h = append(h, "Content-Type", ct)
					}
					sent++
					resp, rb := e.do(method, path, body, h...)
					check(method+" "+tmpl+" "+what, resp, rb)
				}
				params := append(item.Parameters, op.Parameters...)
				for _, pr := range params {
					p := pr.Value
					for _, v := range urlBad {
						switch p.In {
						case "query":
							send("?"+p.Name+"="+v, path+"?"+p.Name+"="+v, body)
						case "path":
							send(p.Name+"="+v, "/api"+strings.ReplaceAll(tmpl, "{"+p.Name+"}", v), body)
						}
					}
					if p.In == "header" {
						for _, v := range rawBad {
							send(p.Name+": "+v, path, body, p.Name, v)
						}
					}
				}
				for _, v := range rawBad {
					send("?bad="+v, path+"?bad="+strings.ReplaceAll(v, "\x00", ""), body)
				}
				for _, prop := range props {
					for _, v := range jsonBad {
						b := `{"uuid":"` + id + `","` + prop + `":` + v + `}`
						if prop == "uuid" {
							b = `{"name":"Hostile","uuid":` + v + `}`
						}
						send("/"+prop+"="+v, path, b)
					}
				}
				if ct != "" {
					for _, b := range []string{"\xff", `{"name":"a"`, `{"name":"a"}}`, `{"na\u0000me":1}`, "{\"name\":\"Hostile\"}\x00"} {
						send("body "+b, path, b)
					}
				}
			}
		}
		if sent < 150 {
			t.Fatalf("only %d hostile requests were sent", sent)
		}
		t.Logf("%d hostile requests", sent)
		if after := snapshot(); !reflect.DeepEqual(before, after) {
			t.Fatalf("hostile requests changed data:\nbefore %+v\nafter  %+v", before, after)
		}
	})
}
