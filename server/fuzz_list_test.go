package server_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server/apitest"
	"github.com/groupsd/groupsd/store"
)

// FuzzListGroups: paging, sorting, filtering and cursors against a model.

// fuzzListInput is one input of FuzzListGroups.
type fuzzListInput struct {
	Page, Size int64
	// Sort is split at ";" into sort parameters ("" sends none).
	Sort, Q, Cursor string
	// Flags: 1 send page, 2 send size, 4 send q, 8 send Cursor, 16 follow
	// page.next once, 32 use /v2 instead of /api/v2, 64 send a real cursor
	// with Cursor (a JSON object) merged into it.
	Flags uint8
}

var fuzzListNames = []string{
	"Finance", "finance ops", "Équipe", "equipe", "E\u0301quipe bis", "Straße", "STRASSEN", "\u212Aelvin", "kelvin-2",
	"Σίσυφος", "ΣΊΣΥΦΟΣ 2", "ǅungla", "100% sure", "under_score", `back\slash`, "İstanbul", "istanbul", "ﬁnances",
	"Zeta", "alpha", "Alpha 2", "日本", "emoji 🎉", `say "hi"`, "<b>&amp;</b>", "line\u2028sep", "\ufffd",
	"Ops", "ops-2", "a", "B", "c", "D",
}

func (env *fuzzEnv) listSetup(t testing.TB) []fuzzRow {
	t.Helper()
	ctx := context.Background()
	for i, n := range fuzzListNames {
		g := env.create(t, fuzzOrg, n)
		if i%4 == 0 { // give updatedAt an order of its own
			time.Sleep(2 * time.Millisecond)
			d := "changed"
			if _, err := env.db.UpdateGroup(ctx, fuzzOrg, g.UUID, store.Changes{SetDescription: true, Description: &d}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	env.create(t, fuzzOtherOrg, "Finance")
	return env.rows(t, "WHERE org = ?", fuzzOrg)
}

var fuzzSortParam = regexp.MustCompile(`^(name|createdAt|updatedAt)(,(asc|desc))?$`)

func (env *fuzzEnv) listGroups(t testing.TB, model []fuzzRow, in fuzzListInput) {
	t.Helper()
	v := url.Values{}
	var bad []string // the parameters the server must name
	exact := true    // whether the model predicts the answer
	page, size := int64(0), int64(20)
	if in.Flags&1 != 0 {
		v.Set("page", strconv.FormatInt(in.Page, 10))
		page = in.Page
		if page < 0 || page > math.MaxInt32 {
			bad = append(bad, "page")
		}
	}
	if in.Flags&2 != 0 {
		v.Set("size", strconv.FormatInt(in.Size, 10))
		size = in.Size
		if size < 1 || size > 1000 {
			bad = append(bad, "size")
		}
	}
	var sorts []string
	if in.Sort != "" {
		sorts = strings.Split(in.Sort, ";")
		seen := map[string]bool{}
		for _, s := range sorts {
			v.Add("sort", s)
			prop, _, _ := strings.Cut(s, ",")
			if !fuzzSortParam.MatchString(s) || seen[prop] {
				bad = append(bad, "sort")
			}
			seen[prop] = true
		}
		if len(sorts) > 3 {
			bad = append(bad, "sort")
		}
	}
	if in.Flags&4 != 0 {
		v.Set("q", in.Q)
		if n := utf8.RuneCountInString(in.Q); n < 1 || n > 255 {
			bad = append(bad, "q")
		}
		// Query values must be UTF-8 without NUL (openapi.yaml info.description).
		if !fuzzValidQueryValue(in.Q) {
			bad = append(bad, "q")
		}
	}
	prefix := "/api/v2/groups"
	if in.Flags&32 != 0 {
		prefix = "/v2/groups"
	}
	get := func(v url.Values) *fuzzResponse {
		t.Helper()
		res, ok := env.do(t, fuzzRequest{method: "GET", target: prefix + "?" + v.Encode(),
			header: [][2]string{{"Authorization", env.bearer(fuzzOrg)}}})
		if !ok {
			t.Fatalf("GET %s?%s is not a valid request", prefix, v.Encode())
		}
		return res
	}
	if len(sorts) == 0 {
		sorts = []string{"createdAt"}
	}
	var pos *fuzzRow // the position a cursor continues after
	switch {
	case in.Flags&64 != 0 && len(bad) == 0 && exact:
		// A real cursor for this query with Cursor (a JSON object) merged
		// into it: the fuzzer varies the keys while the query fingerprint
		// stays right.
		first := url.Values{}
		maps.Copy(first, v)
		first.Del("page")
		res := get(first)
		fuzzStatusIn(t, env, res, 200)
		var p fuzzPage
		_ = json.Unmarshal(res.body, &p)
		if p.Page.Next == nil {
			return
		}
		cursor, at, ok := fuzzMergeCursor(*p.Page.Next, in.Cursor, sorts)
		v.Set("cursor", cursor)
		if !fuzzValidQueryValue(cursor) {
			bad = append(bad, "cursor")
		}
		switch {
		case page != 0:
			bad = append(bad, "page")
		case utf8.RuneCountInString(cursor) > 2048:
			bad = append(bad, "cursor")
		case !ok:
			exact = false
		case at.Version > math.MaxInt32: // page.number is an int32
			bad = append(bad, "cursor")
		default:
			pos = &at
		}
	case in.Flags&8 != 0:
		v.Set("cursor", in.Cursor)
		if !fuzzValidQueryValue(in.Cursor) {
			bad = append(bad, "cursor")
		}
		switch {
		case len(in.Cursor) < 1 || utf8.RuneCountInString(in.Cursor) > 2048:
			bad = append(bad, "cursor")
		case page != 0:
			bad = append(bad, "page")
		default:
			exact = false // an arbitrary cursor is 400 or some page
		}
	}
	res := get(v)
	switch {
	case len(bad) > 0:
		fuzzStatusIn(t, env, res, 400)
		var p api.Problem
		_ = json.Unmarshal(res.body, &p)
		named := false
		for _, fe := range apitest.ProblemErrors(p) {
			named = named || (fe.Parameter != nil && slices.Contains(bad, *fe.Parameter))
		}
		if !named {
			t.Fatalf("the problem does not name any of the bad parameters %v\n%s", bad, res)
		}
		return
	case !exact:
		fuzzStatusIn(t, env, res, 200, 400)
		return
	}
	fuzzStatusIn(t, env, res, 200)

	// The model's answer: filter, order with the uuid tie-breaker, slice.
	var rows []fuzzRow
	for _, r := range model {
		if in.Flags&4 == 0 || strings.Contains(r.NameKey, store.NameKey(in.Q)) {
			rows = append(rows, r)
		}
	}
	order := func(a, b fuzzRow) int {
		for _, s := range sorts {
			prop, dir, _ := strings.Cut(s, ",")
			var c int
			switch prop {
			case "name":
				c = strings.Compare(a.NameKey, b.NameKey)
			case "createdAt":
				c = cmp.Compare(a.CreatedAt, b.CreatedAt)
			default:
				c = cmp.Compare(a.UpdatedAt, b.UpdatedAt)
			}
			if dir == "desc" {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return strings.Compare(a.UUID, b.UUID)
	}
	slices.SortFunc(rows, order)
	// check compares a page with the first size rows of rest.
	check := func(res *fuzzResponse, rest []fuzzRow, number int64) *string {
		t.Helper()
		var p fuzzPage
		_ = json.Unmarshal(res.body, &p)
		want := rest[:min(size, int64(len(rest)))]
		got := make([]string, len(p.Content))
		for i, g := range p.Content {
			got[i] = g.UUID
		}
		wantIDs := make([]string, len(want))
		for i, r := range want {
			wantIDs[i] = r.UUID
		}
		if !slices.Equal(got, wantIDs) {
			t.Fatalf("page %d holds %v, want %v\n%s", number, got, wantIDs, res)
		}
		for i, g := range p.Content {
			r := want[i]
			if g.Name != r.Name || !apitest.EqualDesc(g.Description, r.Description) ||
				g.CreatedAt != fuzzMillis(r.CreatedAt) || g.UpdatedAt != fuzzMillis(r.UpdatedAt) {
				t.Fatalf("page %d shows %+v for the stored %+v\n%s", number, g, r, res)
			}
		}
		pages := (int64(len(rows)) + size - 1) / size
		if int64(p.Page.Size) != size || int64(p.Page.Number) != number || p.Page.TotalElements != int64(len(rows)) ||
			int64(p.Page.TotalPages) != pages || (p.Page.Next != nil) != (int64(len(rest)) > size) {
			t.Fatalf("page metadata %+v, want size %d number %d total %d pages %d next %t\n%s",
				p.Page, size, number, len(rows), pages, int64(len(rest)) > size, res)
		}
		return p.Page.Next
	}
	if pos != nil {
		var rest []fuzzRow
		for _, r := range rows {
			if order(r, *pos) > 0 {
				rest = append(rest, r)
			}
		}
		check(res, rest, pos.Version)
		return
	}
	from := min(page*size, int64(len(rows)))
	next := check(res, rows[from:], page)
	if in.Flags&16 != 0 && next != nil {
		v.Del("page")
		v.Set("cursor", *next)
		res := get(v)
		fuzzStatusIn(t, env, res, 200)
		check(res, rows[from+size:], page+1)
	}
}

var (
	fuzzCursorInt  = regexp.MustCompile(`^-?[0-9]{1,15}$`)
	fuzzCursorPage = regexp.MustCompile(`^[1-9][0-9]{0,14}$`)
	fuzzCanonUUID  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// fuzzMergeCursor merges patch (a JSON object; null deletes a member) into
// the cursor issued, which is base64url JSON {"k": sort keys, "u": uuid, "p":
// page, "f": query fingerprint}. It returns the new cursor and, when its
// members are plainly valid for sorts, the position it continues after as
// a row (Version holding the page number).
func fuzzMergeCursor(issued, patch string, sorts []string) (string, fuzzRow, bool) {
	b, err := base64.RawURLEncoding.DecodeString(issued)
	var c map[string]json.RawMessage
	if err != nil || json.Unmarshal(b, &c) != nil {
		return issued, fuzzRow{}, false // an opaque format this test does not know
	}
	f := c["f"]
	var p map[string]json.RawMessage
	if json.Unmarshal([]byte(patch), &p) == nil {
		for k, v := range p {
			if string(v) == "null" {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
	}
	b, _ = json.Marshal(c)
	cursor := base64.RawURLEncoding.EncodeToString(b)

	var at fuzzRow
	var keys []json.RawMessage
	var u string
	if !bytes.Equal(c["f"], f) || json.Unmarshal(c["k"], &keys) != nil || len(keys) != len(sorts) ||
		json.Unmarshal(c["u"], &u) != nil || !fuzzCanonUUID.MatchString(u) || !fuzzCursorPage.Match(c["p"]) {
		return cursor, at, false
	}
	at.UUID = u
	at.Version, _ = strconv.ParseInt(string(c["p"]), 10, 64)
	for i, s := range sorts {
		prop, _, _ := strings.Cut(s, ",")
		k := bytes.TrimSpace(keys[i])
		if prop == "name" {
			if json.Unmarshal(k, &at.NameKey) != nil || k[0] != '"' {
				return cursor, at, false
			}
			continue
		}
		if !fuzzCursorInt.Match(k) {
			return cursor, at, false
		}
		n, _ := strconv.ParseInt(string(k), 10, 64)
		if prop == "createdAt" {
			at.CreatedAt = n
		} else {
			at.UpdatedAt = n
		}
	}
	return cursor, at, true
}

func FuzzListGroups(f *testing.F) {
	env := newFuzzEnv(f)
	model := env.listSetup(f)
	for _, in := range []fuzzListInput{
		{},
		{Page: 1, Size: 7, Flags: 1 | 2 | 16},
		{Size: 5, Sort: "name,desc", Flags: 2 | 16},
		{Size: 4, Sort: "updatedAt,desc;name", Flags: 2 | 16 | 32},
		{Sort: "createdAt,desc;updatedAt;name,asc", Flags: 0},
		{Q: "FIN", Flags: 4},
		{Q: "%", Flags: 4},
		{Q: "_", Sort: "name", Flags: 4},
		{Q: "straße", Flags: 4},
		{Page: -1, Size: 1001, Flags: 1 | 2},
		{Sort: "name;name,desc"},
		{Sort: "color"},
		{Cursor: "eyJrIjpbMV0sInUiOiIwIiwicCI6MX0", Flags: 8},
		{Page: 2, Cursor: "x", Flags: 1 | 8},
		{Page: math.MaxInt32, Size: 1000, Flags: 1 | 2},
		{Size: 3, Sort: "name", Cursor: `{"k":["f"]}`, Flags: 2 | 64},
		{Size: 3, Sort: "updatedAt,desc", Cursor: `{"k":[0],"u":"00000000-0000-0000-0000-000000000000"}`, Flags: 2 | 64},
		{Size: 2, Cursor: `{"p":7}`, Flags: 2 | 64},
		{Size: 2, Cursor: `{"p":2147483648}`, Flags: 2 | 64},
		{Size: 2, Cursor: `{"k":["x"]}`, Flags: 2 | 64},
		{Q: `"fin"`, Flags: 4},
		{Q: "fin*", Flags: 4},
		{Q: "a OR b", Flags: 4},
		{Q: "NEAR(a b)", Flags: 4},
		{Q: "name:fin", Flags: 4},
		{Q: "é", Flags: 4},
		{Q: "ss", Flags: 4},
	} {
		f.Add(in.Page, in.Size, in.Sort, in.Q, in.Cursor, in.Flags)
	}
	f.Fuzz(func(t *testing.T, page, size int64, sort, q, cursor string, flags uint8) {
		env.listGroups(t, model, fuzzListInput{Page: page, Size: size, Sort: sort, Q: q, Cursor: cursor, Flags: flags})
	})
}

// fuzzValidQueryValue: every query value must be valid UTF-8 without NUL,
// or the answer is 400 naming the parameter (openapi.yaml info.description).
func fuzzValidQueryValue(v string) bool {
	return utf8.ValidString(v) && !strings.ContainsRune(v, 0)
}
