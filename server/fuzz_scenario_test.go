package server_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/server/apitest"
	"github.com/groupsd/groupsd/store"
)

// FuzzScenario: sequences of operations against the reference model of the
// organization (apitest.Model), the one the fault tests check a crashed
// server against.

// fuzzScenarioNames are names that collide, or nearly, under NFC and
// Unicode case folding.
var fuzzScenarioNames = []string{
	"Finance", "finance", "  FINANCE\u2003", "Équipe", "ÉQUIPE", "E\u0301quipe", "Straße", "STRASSE",
	"\u212Aelvin", "kelvin", "ﬁnance", "Σίσυφος", "ΣΊΣΥΦΟΣ", "ǅ", "ǆ", "\u00a0Ops\u2003", "Ops\u200b", "ops",
}

// scenario runs program, three bytes per operation (opcode, a, b), from an
// empty database.
func (env *fuzzEnv) scenario(t testing.TB, program []byte) {
	t.Helper()
	env.reset(t)
	m := apitest.NewModel()
	auth := [2]string{"Authorization", env.bearer(fuzzOrg)}
	jsonCT := [2]string{"Content-Type", "application/json"}
	send := func(method, target string, body any, header ...[2]string) *fuzzResponse {
		t.Helper()
		fr := fuzzRequest{method: method, target: target, header: header}
		if !slices.ContainsFunc(header, func(h [2]string) bool { return h[0] == auth[0] }) {
			fr.header = append([][2]string{auth}, header...)
		}
		if body != nil {
			fr.body, _ = json.Marshal(body)
			if !slices.ContainsFunc(header, func(h [2]string) bool { return h[0] == jsonCT[0] }) {
				fr.header = append(fr.header, jsonCT)
			}
		}
		res, ok := env.do(t, fr)
		if !ok {
			t.Fatalf("%s %s is not a valid request", method, target)
		}
		return res
	}
	// pick returns a group the model knows (live or deleted), or a
	// never-created one (nil).
	pick := func(b byte) (*apitest.Tracked, string) {
		groups := m.All()
		if len(groups) == 0 || int(b)%(len(groups)+1) == len(groups) {
			return nil, "0193a1f4-6c2e-7d8a-9b1c-2f3e4d5a6b7c"
		}
		g := groups[int(b)%(len(groups)+1)]
		return g, g.UUID
	}
	// expectGroup checks a 200/201 against the model's group.
	expectGroup := func(res *fuzzResponse, g *apitest.Tracked) {
		t.Helper()
		var got fuzzGroup
		_ = json.Unmarshal(res.body, &got)
		if got.UUID != g.UUID || got.Name != g.Cur.Name || !apitest.EqualDesc(got.Description, g.Cur.Desc) ||
			res.header.Get("ETag") != server.ETag(g.Cur.Version) {
			t.Fatalf("got %s ETag %s, the model has %q %s version %d\n%s", res.body, res.header.Get("ETag"),
				g.Cur.Name, apitest.FormatDesc(g.Cur.Desc), g.Cur.Version, res)
		}
	}
	names := fuzzScenarioNames
	for i := 0; i+2 < len(program) && i < 3*24; i += 3 {
		op, a, b := program[i]%10, program[i+1], program[i+2]
		switch op {
		case 0, 1: // create; 1 with an Idempotency-Key
			name := names[int(a)%len(names)]
			var key string
			hdr := [][2]string{}
			if op == 1 {
				key = "key-" + strconv.Itoa(int(b)%3)
				hdr = append(hdr, [2]string{"Idempotency-Key", key})
			}
			res := send("POST", "/api/v2/groups", map[string]string{"name": name}, hdr...)
			prev, used := m.FirstUse(key)
			switch {
			case op == 1 && used && prev.Fingerprint != name:
				fuzzStatusIn(t, env, res, 422)
			case op == 1 && used:
				fuzzStatusIn(t, env, res, prev.Status)
				if !res.replayed() || !bytes.Equal(res.body, prev.Body) {
					t.Fatalf("not a replay of\n%s\n%s", prev.Body, res)
				}
			case m.Taken(name, nil):
				fuzzStatusIn(t, env, res, 409)
			default:
				fuzzStatusIn(t, env, res, 201)
				var got fuzzGroup
				_ = json.Unmarshal(res.body, &got)
				g := &apitest.Tracked{UUID: got.UUID, Cur: apitest.Snapshot{Name: strings.TrimFunc(name, unicode.IsSpace), Version: 1}}
				expectGroup(res, g)
				m.Add(g)
			}
			if op == 1 && !used {
				m.Use(key, apitest.KeyUse{Fingerprint: name, Status: res.status, Body: bytes.Clone(res.body)})
			}
		case 2, 8: // rename with PATCH; 8 with If-Match, stale when b >= 128
			g, id := pick(a)
			name := names[int(b)%len(names)]
			var hdr [][2]string
			stale := false
			if op == 8 {
				v := int64(0)
				if g != nil {
					v = g.Cur.Version
				}
				if stale = b >= 128; stale {
					v--
				}
				hdr = append(hdr, [2]string{"If-Match", server.ETag(v)})
			}
			res := send("PATCH", "/api/v2/groups/"+id, map[string]string{"name": name}, hdr...)
			switch {
			case g == nil || g.Gone:
				fuzzStatusIn(t, env, res, 404)
			case stale:
				fuzzStatusIn(t, env, res, 412)
			case m.Taken(name, g):
				fuzzStatusIn(t, env, res, 409)
			default:
				fuzzStatusIn(t, env, res, 200)
				if n := strings.TrimFunc(name, unicode.IsSpace); n != g.Cur.Name {
					g.Cur.Name = n
					g.Cur.Version++
				}
				expectGroup(res, g)
			}
		case 3: // set or clear the description with PATCH
			g, id := pick(a)
			var desc *string
			if b%3 != 0 {
				d := "desc " + strconv.Itoa(int(b)%2)
				desc = &d
			}
			res := send("PATCH", "/api/v2/groups/"+id, map[string]*string{"description": desc},
				[2]string{"Content-Type", "application/merge-patch+json"})
			if g == nil || g.Gone {
				fuzzStatusIn(t, env, res, 404)
				break
			}
			fuzzStatusIn(t, env, res, 200)
			if !apitest.EqualDesc(desc, g.Cur.Desc) {
				g.Cur.Desc = desc
				g.Cur.Version++
			}
			expectGroup(res, g)
		case 4: // replace with PUT, without a description
			g, id := pick(a)
			name := names[int(b)%len(names)]
			res := send("PUT", "/api/v2/groups", map[string]string{"uuid": id, "name": name})
			switch {
			case g == nil || g.Gone:
				fuzzStatusIn(t, env, res, 404)
			case m.Taken(name, g):
				fuzzStatusIn(t, env, res, 409)
			default:
				fuzzStatusIn(t, env, res, 200)
				if n := strings.TrimFunc(name, unicode.IsSpace); n != g.Cur.Name || g.Cur.Desc != nil {
					g.Cur.Name, g.Cur.Desc = n, nil
					g.Cur.Version++
				}
				expectGroup(res, g)
			}
		case 5: // delete; b%3: 1 with the current ETag, 2 with a stale one
			g, id := pick(a)
			var hdr [][2]string
			if b%3 != 0 && g != nil {
				v := g.Cur.Version
				if b%3 == 2 {
					v--
				}
				hdr = append(hdr, [2]string{"If-Match", server.ETag(v)})
			}
			res := send("DELETE", "/api/v2/groups/"+id, nil, hdr...)
			switch {
			case g == nil || g.Gone:
				fuzzStatusIn(t, env, res, 404)
			case b%3 == 2:
				fuzzStatusIn(t, env, res, 412)
			default:
				fuzzStatusIn(t, env, res, 204)
				g.Gone = true
			}
		case 6: // get; odd b with If-None-Match of the current ETag
			g, id := pick(a)
			var hdr [][2]string
			if b%2 == 1 && g != nil {
				hdr = append(hdr, [2]string{"If-None-Match", server.ETag(g.Cur.Version)})
			}
			res := send("GET", "/v2/groups/"+id, nil, hdr...)
			switch {
			case g == nil || g.Gone:
				fuzzStatusIn(t, env, res, 404)
			case b%2 == 1:
				fuzzStatusIn(t, env, res, 304)
			default:
				fuzzStatusIn(t, env, res, 200)
				expectGroup(res, g)
			}
		case 7: // list everything, or filtered by a name
			v := url.Values{"size": {"1000"}, "sort": {"name"}}
			q := ""
			if a%2 == 1 {
				q = names[int(b)%len(names)]
				v.Set("q", q)
			}
			res := send("GET", "/api/v2/groups?"+v.Encode(), nil)
			fuzzStatusIn(t, env, res, 200)
			var p fuzzPage
			_ = json.Unmarshal(res.body, &p)
			var want []string
			for _, g := range m.Live() {
				if strings.Contains(store.NameKey(g.Cur.Name), store.NameKey(q)) {
					want = append(want, g.Cur.Name)
				}
			}
			slices.SortFunc(want, func(x, y string) int { return strings.Compare(store.NameKey(x), store.NameKey(y)) })
			var got []string
			for _, g := range p.Content {
				got = append(got, g.Name)
			}
			if !slices.Equal(got, want) || p.Page.TotalElements != int64(len(want)) {
				t.Fatalf("list q=%q holds %q (total %d), the model %q\n%s", q, got, p.Page.TotalElements, want, res)
			}
		case 9: // another organization sees nothing
			_, id := pick(a)
			var res *fuzzResponse
			other := [2]string{"Authorization", env.bearer(fuzzOtherOrg)}
			switch b % 3 {
			case 0:
				res = send("GET", "/api/v2/groups/"+id, nil, other)
			case 1:
				res = send("PATCH", "/api/v2/groups/"+id, map[string]string{"name": "Stolen"}, other)
			default:
				res = send("DELETE", "/api/v2/groups/"+id, nil, other)
			}
			fuzzStatusIn(t, env, res, 404)
		}
	}
	if n := env.checkStore(t); n != len(m.Live()) {
		t.Fatalf("the store holds %d groups, the model %d", n, len(m.Live()))
	}
}

func FuzzScenario(f *testing.F) {
	env := newFuzzEnv(f)
	for _, p := range [][]byte{
		{0, 0, 0, 0, 1, 0, 0, 2, 0, 7, 0, 0},             // Finance, finance (409), "  FINANCE\u2003" (409), list
		{0, 3, 0, 0, 4, 0, 0, 5, 0, 7, 1, 3},             // Équipe vs ÉQUIPE vs NFD
		{0, 6, 0, 0, 7, 0, 5, 0, 0, 0, 7, 0},             // Straße, STRASSE (409), delete, STRASSE
		{0, 0, 0, 0, 17, 0, 2, 1, 0, 2, 1, 17},           // rename into a taken name, then back
		{1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1},             // idempotent create, replay, reuse with another body
		{0, 8, 0, 8, 0, 5, 8, 0, 133, 5, 0, 2, 5, 0, 1},  // If-Match current, stale; delete stale, current
		{0, 15, 0, 3, 0, 1, 3, 0, 0, 4, 0, 16, 6, 0, 1},  // descriptions, PUT clears, If-None-Match
		{0, 11, 0, 9, 0, 0, 9, 0, 1, 9, 0, 2, 6, 0, 0},   // another organization
		{0, 13, 0, 0, 14, 0, 0, 10, 0, 7, 1, 1, 2, 0, 9}, // ǅ/ǆ, ﬁnance vs finance, Kelvin
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, program []byte) {
		env.scenario(t, program)
	})
}
