package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server/apitest"
	"github.com/groupsd/groupsd/store"
)

// FuzzCreateGroup: names and descriptions, against the spec's rules.

// fuzzCreateInput is one input of FuzzCreateGroup.
type fuzzCreateInput struct {
	Name, Description string
	// DescMode%3: 0 absent, 1 null, 2 Description.
	DescMode       uint8
	IdempotencyKey string // "" sends none
	// Flags: 1 use /v2 instead of /api/v2, 2 add an unknown property.
	Flags uint8
}

// fuzzCreateState is FuzzCreateGroup's memory of used idempotency keys.
type fuzzCreateState struct{ idem map[string]apitest.KeyUse }

func (env *fuzzEnv) createGroup(t testing.TB, st *fuzzCreateState, in fuzzCreateInput) {
	t.Helper()
	body := map[string]any{"name": in.Name}
	name, desc := fuzzJSONString(in.Name), (*string)(nil)
	switch in.DescMode % 3 {
	case 1:
		body["description"] = nil
	case 2:
		body["description"] = in.Description
		d := fuzzJSONString(in.Description)
		desc = &d
	}
	if in.Flags&2 != 0 {
		body["color"] = "red"
	}
	b, _ := json.Marshal(body)
	fr := fuzzRequest{method: "POST", target: "/api/v2/groups", body: b,
		header: [][2]string{{"Authorization", env.bearer(fuzzOrg)}, {"Content-Type", "application/json"}}}
	if in.Flags&1 != 0 {
		fr.target = "/v2/groups"
	}
	key := strings.Trim(in.IdempotencyKey, " \t") // what a header value carries
	if key != "" {
		fr.header = append(fr.header, [2]string{"Idempotency-Key", key})
	}

	invalid := in.Flags&2 != 0 || fuzzNameProblem(name) != "" ||
		(desc != nil && fuzzDescriptionProblem(*desc) != "") || utf8.RuneCountInString(key) > 255 ||
		!utf8.ValidString(key) // header values must be UTF-8 (openapi.yaml info.description)
	trimmed := strings.TrimFunc(name, unicode.IsSpace)
	taken := len(env.rows(t, "WHERE org = ? AND name_key = ?", fuzzOrg, store.NameKey(trimmed))) > 0
	fp := fmt.Sprintf("%q %v", name, desc)
	if desc != nil {
		fp = fmt.Sprintf("%q %q", name, *desc)
	}
	prev, used := st.idem[key]

	res, ok := env.do(t, fr)
	if !ok {
		return
	}
	switch {
	case invalid:
		fuzzStatusIn(t, env, res, 400)
		var p api.Problem
		_ = json.Unmarshal(res.body, &p)
		if in.Flags&2 != 0 && utf8.ValidString(key) && !slices.ContainsFunc(apitest.ProblemErrors(p), func(fe api.ProblemFieldError) bool {
			return fe.Pointer != nil && *fe.Pointer == "/color"
		}) {
			t.Fatalf("the problem does not name the unknown property /color\n%s", res)
		}
		return
	case key != "" && used && prev.Fingerprint != fp:
		fuzzStatusIn(t, env, res, 422)
	case key != "" && used:
		fuzzStatusIn(t, env, res, prev.Status)
		if !res.replayed() || !bytes.Equal(res.body, prev.Body) {
			t.Fatalf("a retry with the same Idempotency-Key is not a byte-for-byte replay of\n%s\n%s", prev.Body, res)
		}
	case taken:
		fuzzStatusIn(t, env, res, 409)
	default:
		fuzzStatusIn(t, env, res, 201)
		var g fuzzGroup
		_ = json.Unmarshal(res.body, &g)
		if g.Name != trimmed || !apitest.EqualDesc(g.Description, desc) {
			t.Fatalf("created name %q description %v, want %q %v\n%s", g.Name, apitest.FormatDesc(g.Description), trimmed, apitest.FormatDesc(desc), res)
		}
		get, _ := env.do(t, fuzzRequest{method: "GET", target: res.header.Get("Location"),
			header: [][2]string{{"Authorization", env.bearer(fuzzOrg)}}})
		fuzzStatusIn(t, env, get, 200)
		var got fuzzGroup
		_ = json.Unmarshal(get.body, &got)
		if got.UUID != g.UUID || got.Name != g.Name || !apitest.EqualDesc(got.Description, g.Description) ||
			got.CreatedAt != g.CreatedAt || got.UpdatedAt != g.UpdatedAt {
			t.Fatalf("GET after create returned %+v, create returned %+v", got, g)
		}
		// Searching for the exact name finds it, spelled the same.
		found, _ := env.do(t, fuzzRequest{method: "GET", target: "/api/v2/groups?size=1000&q=" + url.QueryEscape(trimmed),
			header: [][2]string{{"Authorization", env.bearer(fuzzOrg)}}})
		fuzzStatusIn(t, env, found, 200)
		var page fuzzPage
		_ = json.Unmarshal(found.body, &page)
		if !slices.ContainsFunc(page.Content, func(x fuzzGroup) bool {
			return x.UUID == g.UUID && x.Name == g.Name && apitest.EqualDesc(x.Description, g.Description) &&
				x.CreatedAt == g.CreatedAt && x.UpdatedAt == g.UpdatedAt
		}) {
			t.Fatalf("searching for %q does not list %+v\n%s", trimmed, g, found)
		}
		// The name is now taken, in every case variant.
		again, _ := json.Marshal(map[string]string{"name": strings.ToUpper(trimmed)})
		if store.NameKey(strings.ToUpper(trimmed)) != store.NameKey(trimmed) || fuzzNameProblem(strings.ToUpper(trimmed)) != "" {
			again, _ = json.Marshal(map[string]string{"name": trimmed})
		}
		dup, _ := env.do(t, fuzzRequest{method: "POST", target: "/api/v2/groups", body: again,
			header: [][2]string{{"Authorization", env.bearer(fuzzOrg)}, {"Content-Type", "application/json"}}})
		fuzzStatusIn(t, env, dup, 409)
	}
	if key != "" && !used && (res.status == 201 || res.status == 409) {
		st.idem[key] = apitest.KeyUse{Fingerprint: fp, Status: res.status, Body: bytes.Clone(res.body)}
	}
	if env.checkStore(t) > fuzzMaxGroups {
		env.reset(t)
		clear(st.idem)
		env.seedNames(t)
	}
}

// seedNames creates groups whose names fuzzed names may collide with.
func (env *fuzzEnv) seedNames(t testing.TB) {
	t.Helper()
	for _, n := range []string{"Finance", "ÉQUIPE", "Straße", "\u212Aelvin", "ǅungla", "Σίσυφος"} {
		env.create(t, fuzzOrg, n)
	}
}

func FuzzCreateGroup(f *testing.F) {
	env := newFuzzEnv(f)
	env.seedNames(f)
	st := &fuzzCreateState{idem: map[string]apitest.KeyUse{}}
	for _, in := range []fuzzCreateInput{
		{Name: "Marketing"},
		{Name: "  Padded\t", DescMode: 2, Description: "Approves every expense over 1,000 EUR."},
		{Name: "équipe", DescMode: 1},
		{Name: "STRASSE"},
		{Name: "kelvin", Flags: 1},
		{Name: "\u00a0\u2003", DescMode: 2},
		{Name: "bell\a"},
		{Name: strings.Repeat("é", 256)},
		{Name: "Legal", DescMode: 2, Description: "nul\x00"},
		{Name: "Retry", IdempotencyKey: "k-1"},
		{Name: "Retry", IdempotencyKey: "k-1", DescMode: 2, Description: "other"},
		{Name: "Unknown property", Flags: 2},
	} {
		f.Add(in.Name, in.Description, in.DescMode, in.IdempotencyKey, in.Flags)
	}
	f.Fuzz(func(t *testing.T, name, description string, descMode uint8, idempotencyKey string, flags uint8) {
		env.createGroup(t, st, fuzzCreateInput{Name: name, Description: description, DescMode: descMode,
			IdempotencyKey: idempotencyKey, Flags: flags})
	})
}
