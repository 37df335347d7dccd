package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/oapi-codegen/nullable"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/groupsd/groupsd/apitime"
	"github.com/groupsd/groupsd/gen"
	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
)

// fill sets every field of the struct v points to, found by reflection, to
// a value drawn from rnd, so that a property added to the spec (and so to the
// generated model) shows up in the comparison below without anyone editing
// this test. A field of a type it does not know fails the test: extend fill
// and the encoder together.
func fill(t *testing.T, rnd *rand.Rand, v reflect.Value) {
	t.Helper()
	strs := []string{"", "Finance", "ÉQUIPE 🙂", `quote " and \ back`, "<b>&amp;</b>", "tab\tnew\nline\r\x01\x1f",
		"\u2028\u2029", "bad \xff utf8", "\x7f del", "日本語", "a\u00e9\u0301", "\b\f"}
	millis := []int64{0, 1, 999, 1_764_148_902_120, 1_764_148_902_000, -1, -1001, 253402300799999, 253402300800000, -62135596800000, -62135596800001}
	for i := 0; i < v.NumField(); i++ {
		f, sf := v.Field(i), v.Type().Field(i)
		switch f.Interface().(type) {
		case string:
			f.SetString(strs[rnd.IntN(len(strs))])
		case int32:
			f.SetInt(rnd.Int64N(1 << 31))
		case int64:
			f.SetInt(rnd.Int64N(1 << 62))
		case apitime.Millis:
			f.Set(reflect.ValueOf(apitime.FromUnixMilli(millis[rnd.IntN(len(millis))])))
		case openapi_types.UUID:
			var u openapi_types.UUID
			for j := range u {
				u[j] = byte(rnd.IntN(256))
			}
			f.Set(reflect.ValueOf(u))
		case nullable.Nullable[string]:
			switch rnd.IntN(3) {
			case 0:
				f.Set(reflect.ValueOf(nullable.NewNullNullable[string]()))
			case 1:
				f.Set(reflect.ValueOf(nullable.Nullable[string](nil))) // unspecified
			default:
				f.Set(reflect.ValueOf(nullable.NewNullableWithValue(strs[rnd.IntN(len(strs))])))
			}
		case api.GroupStatus:
			f.Set(reflect.ValueOf([]api.GroupStatus{api.GroupStatusACTIVE, api.GroupStatusARCHIVED}[rnd.IntN(2)]))
		case nullable.Nullable[apitime.Millis]:
			switch rnd.IntN(3) {
			case 0:
				f.Set(reflect.ValueOf(nullable.NewNullNullable[apitime.Millis]()))
			case 1:
				f.Set(reflect.ValueOf(nullable.Nullable[apitime.Millis](nil))) // unspecified
			default:
				f.Set(reflect.ValueOf(nullable.NewNullableWithValue(apitime.FromUnixMilli(millis[rnd.IntN(len(millis))]))))
			}
		case api.PageMetadata:
			fill(t, rnd, f)
		case []api.Group:
			n := rnd.IntN(4) * 7 // 0, 7, 14 or 21 groups
			gs := make([]api.Group, n)
			for j := range gs {
				fill(t, rnd, reflect.ValueOf(&gs[j]).Elem())
			}
			f.Set(reflect.ValueOf(gs))
		default:
			t.Fatalf("fill: %s.%s has type %s, which the fast encoder test does not know: extend fill and fastjson.go",
				v.Type().Name(), sf.Name, f.Type())
		}
	}
}

// jsonNames lists the JSON property names of struct type typ, by reflection.
func jsonNames(typ reflect.Type) []string {
	var names []string
	for i := 0; i < typ.NumField(); i++ {
		tag := typ.Field(i).Tag.Get("json")
		if name, _, _ := bytes.Cut([]byte(tag), []byte(",")); len(name) > 0 && string(name) != "-" {
			names = append(names, string(name))
		}
	}
	return names
}

// The hand-written encoders must produce exactly the bytes encoding/json
// writes for the generated types, for every field the generated types have.
func TestFastJSONMatchesEncodingJSON(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 400; i++ {
		var g api.Group
		fill(t, rnd, reflect.ValueOf(&g).Elem())
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(g); err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		if err := (groupResponse{g: g, etag: `"1"`}).VisitGetGroupResponse(rec); err != nil {
			t.Fatal(err)
		}
		if got := rec.Body.String(); got != want.String() {
			t.Fatalf("group:\n got %s\nwant %s", got, want.String())
		}
		if rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("ETag") != `"1"` || rec.Code != 200 {
			t.Fatalf("headers %v, status %d", rec.Header(), rec.Code)
		}
		// The 201 of a create against the generated response.
		tag, loc := `"1"`, location(g.Uuid.String())
		wantRec, gotRec := httptest.NewRecorder(), httptest.NewRecorder()
		if err := (gen.CreateGroup201JSONResponse{Body: g, Headers: gen.CreateGroup201ResponseHeaders{ETag: &tag, Location: &loc}}).VisitCreateGroupResponse(wantRec); err != nil {
			t.Fatal(err)
		}
		if err := (groupResponse{g: g, etag: tag, location: loc}).VisitCreateGroupResponse(gotRec); err != nil {
			t.Fatal(err)
		}
		if gotRec.Body.String() != wantRec.Body.String() || gotRec.Code != wantRec.Code || fmt.Sprint(gotRec.Header()) != fmt.Sprint(wantRec.Header()) {
			t.Fatalf("create: got %d %v %s, want %d %v %s", gotRec.Code, gotRec.Header(), gotRec.Body, wantRec.Code, wantRec.Header(), wantRec.Body)
		}
	}
	for i := 0; i < 100; i++ {
		var p api.GroupPage
		fill(t, rnd, reflect.ValueOf(&p).Elem())
		wantRec, gotRec := httptest.NewRecorder(), httptest.NewRecorder()
		if err := gen.ListGroups200JSONResponse(p).VisitListGroupsResponse(wantRec); err != nil {
			t.Fatal(err)
		}
		if err := (pageResponse{p}).VisitListGroupsResponse(gotRec); err != nil {
			t.Fatal(err)
		}
		if gotRec.Body.String() != wantRec.Body.String() || gotRec.Code != wantRec.Code ||
			gotRec.Header().Get("Content-Type") != wantRec.Header().Get("Content-Type") {
			t.Fatalf("page:\n got %s\nwant %s", gotRec.Body.String(), wantRec.Body.String())
		}
	}
}

// Every property of the generated models appears in the fast encoding, so
// a field that encoding/json would omit cannot hide a missing one either.
func TestFastJSONWritesEveryGeneratedProperty(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	var p api.GroupPage
	for len(p.Content) == 0 {
		fill(t, rnd, reflect.ValueOf(&p).Elem())
	}
	var decoded struct {
		Content []map[string]json.RawMessage
		Page    map[string]json.RawMessage
	}
	b := appendGroupPage(nil, &p)
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatalf("fast page is not JSON: %v\n%s", err, b)
	}
	for _, name := range jsonNames(reflect.TypeFor[api.Group]()) {
		if _, ok := decoded.Content[0][name]; !ok {
			t.Errorf("fast group encoding lacks property %q: %s", name, b)
		}
	}
	for _, name := range jsonNames(reflect.TypeFor[api.PageMetadata]()) {
		if _, ok := decoded.Page[name]; !ok {
			t.Errorf("fast page encoding lacks page.%s: %s", name, b)
		}
	}
}

// toAPI is the one mapping from store to wire: every stored fact appears.
func TestToAPIMapsEveryStoredField(t *testing.T) {
	d := "Approves expenses"
	g := store.Group{UUID: "019ac1f2-3c4d-7e5f-8a6b-7c8d9e0f1a2b", Name: "Finance", Description: &d,
		CreatedAt: 1_764_148_902_120, UpdatedAt: 1_764_148_903_456, Version: 3}
	got := toAPI(g)
	if got.Uuid.String() != g.UUID || got.Name != g.Name || got.Description.MustGet() != d ||
		!got.CreatedAt.Equal(time.UnixMilli(g.CreatedAt)) || !got.UpdatedAt.Equal(time.UnixMilli(g.UpdatedAt)) {
		t.Fatalf("toAPI(%+v) = %+v", g, got)
	}
	g.Description = nil
	if got := toAPI(g); !got.Description.IsNull() {
		t.Fatalf("nil description maps to %v, want null", got.Description)
	}
}
