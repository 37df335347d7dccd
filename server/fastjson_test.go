package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"testing"

	"github.com/oapi-codegen/nullable"

	"github.com/groupsd/groupsd/gen"
	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/store"
)

// The hand-written encoders must produce exactly the bytes of the
// generated responses' encoding/json.
func TestFastJSONMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "Finance", "ÉQUIPE 🙂", `quote " and \ back`, "<b>&amp;</b>", "tab\tnew\nline\r\x01\x1f",
		"\u2028\u2029", "bad \xff utf8", "\x7f del", "日本語", "a\u00e9\u0301", "\b\f"}
	times := []int64{0, 1, 999, 1_764_148_902_120, 1_764_148_902_000, -1, -1001, 253402300799999, 253402300800000, -62135596800000, -62135596800001}
	rnd := rand.New(rand.NewPCG(1, 2))
	var groups []store.Group
	for i := 0; i < 400; i++ {
		g := store.Group{
			UUID:      []string{"019ac1f2-3c4d-7e5f-8a6b-7c8d9e0f1a2b", "019AC1F2-3C4D-7E5F-8A6B-7C8D9E0F1A2B"}[i%2],
			Name:      strs[rnd.IntN(len(strs))],
			CreatedAt: times[rnd.IntN(len(times))],
			UpdatedAt: rnd.Int64N(1 << 45),
			Version:   1,
		}
		if i%3 != 0 {
			d := strs[rnd.IntN(len(strs))]
			g.Description = &d
		}
		groups = append(groups, g)
	}
	for _, g := range groups {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(toAPI(g)); err != nil {
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
		tag, loc := `"1"`, location(g.UUID)
		wantRec, gotRec := httptest.NewRecorder(), httptest.NewRecorder()
		if err := (gen.CreateGroup201JSONResponse{Body: toAPI(g), Headers: gen.CreateGroup201ResponseHeaders{ETag: &tag, Location: &loc}}).VisitCreateGroupResponse(wantRec); err != nil {
			t.Fatal(err)
		}
		if err := (groupResponse{g: g, etag: tag, location: loc}).VisitCreateGroupResponse(gotRec); err != nil {
			t.Fatal(err)
		}
		if gotRec.Body.String() != wantRec.Body.String() || gotRec.Code != wantRec.Code || fmt.Sprint(gotRec.Header()) != fmt.Sprint(wantRec.Header()) {
			t.Fatalf("create: got %d %v %s, want %d %v %s", gotRec.Code, gotRec.Header(), gotRec.Body, wantRec.Code, wantRec.Header(), wantRec.Body)
		}
	}
	for _, next := range []string{"", "eyJrIjpbIjE3NjQxNDg5MDIxMjAiXX0"} {
		for _, n := range []int{0, 1, 20} {
			r := pageResponse{groups: groups[:n], size: 20, number: 3, total: 12345678901, totalPages: 617284, next: next}
			want := gen.ListGroups200JSONResponse{Content: make([]api.Group, n), Page: api.PageMetadata{
				Size: r.size, Number: r.number, TotalElements: r.total, TotalPages: r.totalPages, Next: nullable.NewNullNullable[string](),
			}}
			for i, g := range groups[:n] {
				want.Content[i] = toAPI(g)
			}
			if next != "" {
				want.Page.Next = nullable.NewNullableWithValue(next)
			}
			wantRec, gotRec := httptest.NewRecorder(), httptest.NewRecorder()
			if err := want.VisitListGroupsResponse(wantRec); err != nil {
				t.Fatal(err)
			}
			if err := r.VisitListGroupsResponse(gotRec); err != nil {
				t.Fatal(err)
			}
			if gotRec.Body.String() != wantRec.Body.String() || gotRec.Code != wantRec.Code ||
				gotRec.Header().Get("Content-Type") != wantRec.Header().Get("Content-Type") {
				t.Fatalf("page:\n got %s\nwant %s", gotRec.Body.String(), wantRec.Body.String())
			}
		}
	}
}
