package server_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/server/apitest"
	"github.com/groupsd/groupsd/store"
)

// FuzzUpdateGroup: PATCH and PUT against a model of one group.

// fuzzUpdateInput is one input of FuzzUpdateGroup.
type fuzzUpdateInput struct {
	Name, Description string
	// Mode: bits 0-1 name (0 absent, 2 null, else Name); bits 2-3
	// description (0 absent, 1 null, else Description); bit 4 PUT instead of
	// PATCH; bits 5-6 Content-Type (fuzzUpdateTypes); bit 7 address a group
	// of another organization.
	Mode uint8
	// IfMatch is sent when not empty; {etag} is the group's current ETag,
	// {stale} the one before, {v} the current version number.
	IfMatch string
}

var fuzzUpdateTypes = []string{"application/json", "application/merge-patch+json",
	"Application/Merge-Patch+JSON; charset=utf-8", "text/plain"}

// fuzzUpdateState names the group FuzzUpdateGroup changes and the ones it may
// collide with.
type fuzzUpdateState struct{ target, foreign string }

func (env *fuzzEnv) updateSetup(t testing.TB) *fuzzUpdateState {
	t.Helper()
	st := &fuzzUpdateState{target: env.create(t, fuzzOrg, "Target").UUID, foreign: env.create(t, fuzzOtherOrg, "Foreign").UUID}
	for _, n := range []string{"Neighbour", "Straße", "Équipe", "\u212Aelvin"} {
		env.create(t, fuzzOrg, n)
	}
	return st
}

func (env *fuzzEnv) updateGroup(t testing.TB, st *fuzzUpdateState, in fuzzUpdateInput) {
	t.Helper()
	before, ok := env.row(t, st.target)
	if !ok {
		t.Fatalf("the target group %s is gone", st.target)
	}
	nameMode, descMode := in.Mode&3, (in.Mode>>2)&3
	put, foreign := in.Mode&16 != 0, in.Mode&128 != 0
	ct := fuzzUpdateTypes[(in.Mode>>5)&3]
	id := st.target
	if foreign {
		id = st.foreign
	}

	body := map[string]any{}
	var name, desc *string
	switch nameMode {
	case 0:
	case 2:
		body["name"] = nil
	default:
		body["name"] = in.Name
		n := fuzzJSONString(in.Name)
		name = &n
	}
	switch descMode {
	case 0:
	case 1:
		body["description"] = nil
	default:
		body["description"] = in.Description
		d := fuzzJSONString(in.Description)
		desc = &d
	}
	fr := fuzzRequest{method: "PATCH", target: "/api/v2/groups/" + id}
	if put {
		fr.method, fr.target = "PUT", "/api/v2/groups"
		body["uuid"] = id
	}
	fr.body, _ = json.Marshal(body)
	fr.header = [][2]string{{"Authorization", env.bearer(fuzzOrg)}, {"Content-Type", ct}}
	ifMatch := strings.ReplaceAll(in.IfMatch, "{etag}", server.ETag(before.Version))
	ifMatch = strings.ReplaceAll(ifMatch, "{stale}", server.ETag(before.Version-1))
	ifMatch = strings.ReplaceAll(ifMatch, "{v}", strconv.FormatInt(before.Version, 10))
	ifMatch = strings.Trim(ifMatch, " \t")
	if ifMatch != "" {
		fr.header = append(fr.header, [2]string{"If-Match", ifMatch})
	}

	// What the server must answer, in the order it checks.
	var want int
	ctOK := ct != "text/plain" && (!put || ct == "application/json")
	invalid := nameMode == 2 || (put && nameMode == 0) || (name != nil && fuzzNameProblem(*name) != "") ||
		(desc != nil && fuzzDescriptionProblem(*desc) != "") || utf8.RuneCountInString(ifMatch) > 1024 ||
		!utf8.ValidString(ifMatch) // header values must be UTF-8 (openapi.yaml info.description)
	var newName string
	if name != nil {
		newName = strings.TrimFunc(*name, unicode.IsSpace)
	}
	switch {
	case !utf8.ValidString(ifMatch): // header values are checked before the body's type
		want = 400
	case !ctOK:
		want = 415
	case invalid:
		want = 400
	case foreign:
		want = 404
	case !fuzzIfMatchHolds(ifMatch, before.Version):
		want = 412
	case name != nil && len(env.rows(t, "WHERE org = ? AND name_key = ? AND uuid <> ?", fuzzOrg, store.NameKey(newName), st.target)) > 0:
		want = 409
	default:
		want = 200
	}

	res, ok := env.do(t, fr)
	if !ok {
		return
	}
	fuzzStatusIn(t, env, res, want)
	after, _ := env.row(t, st.target)
	if want != 200 {
		if !fuzzEqualRow(before, after) {
			t.Fatalf("a %d changed the group from %+v to %+v\n%s", res.status, before, after, res)
		}
		env.checkStore(t)
		return
	}
	wantRow := before
	if name != nil {
		wantRow.Name, wantRow.NameKey = newName, store.NameKey(newName)
	}
	switch {
	case put && desc == nil:
		wantRow.Description = nil
	case descMode == 1:
		wantRow.Description = nil
	case desc != nil:
		wantRow.Description = desc
	}
	changed := wantRow.Name != before.Name || !apitest.EqualDesc(wantRow.Description, before.Description)
	if changed {
		wantRow.Version++
		wantRow.UpdatedAt = after.UpdatedAt
		if after.UpdatedAt < before.UpdatedAt {
			t.Fatalf("updatedAt went back from %d to %d", before.UpdatedAt, after.UpdatedAt)
		}
	}
	if !fuzzEqualRow(wantRow, after) {
		t.Fatalf("stored %+v, want %+v (before %+v)\n%s", after, wantRow, before, res)
	}
	var g fuzzGroup
	_ = json.Unmarshal(res.body, &g)
	if g.UUID != after.UUID || g.Name != after.Name || !apitest.EqualDesc(g.Description, after.Description) ||
		g.UpdatedAt != fuzzMillis(after.UpdatedAt) ||
		res.header.Get("ETag") != server.ETag(after.Version) {
		t.Fatalf("response %s (ETag %s) does not show the stored group %+v", res.body, res.header.Get("ETag"), after)
	}
	env.checkStore(t)
}

func fuzzEqualRow(a, b fuzzRow) bool {
	return a.UUID == b.UUID && a.Org == b.Org && a.Name == b.Name && a.NameKey == b.NameKey &&
		apitest.EqualDesc(a.Description, b.Description) && a.CreatedAt == b.CreatedAt &&
		a.UpdatedAt == b.UpdatedAt && a.Version == b.Version
}

func FuzzUpdateGroup(f *testing.F) {
	env := newFuzzEnv(f)
	st := env.updateSetup(f)
	for _, in := range []fuzzUpdateInput{
		{Name: "Renamed", Mode: 1, IfMatch: "{etag}"},
		{Name: "target", Mode: 1},
		{Name: "NEIGHBOUR", Mode: 1},
		{Name: "strasse", Mode: 1 | 16},
		{Mode: 2},
		{Mode: 4 | 32},
		{Description: "d", Mode: 8 | 64, IfMatch: "{stale}"},
		{Name: "x", Mode: 1 | 16 | 32},
		{Name: "Other", Mode: 1 | 128},
		{Name: "Tagged", Mode: 1, IfMatch: `W/{etag}, "0"`},
		{Name: "Star", Mode: 1, IfMatch: "*"},
		{Name: " Spaced ", Description: "kept", Mode: 1 | 8 | 16},
		{Mode: 96},
		{Name: "Quoted", Mode: 1, IfMatch: `"{v}"`},
		{Name: "Listed", Mode: 1, IfMatch: `"0", "{v}"`},
	} {
		f.Add(in.Name, in.Description, in.Mode, in.IfMatch)
	}
	f.Fuzz(func(t *testing.T, name, description string, mode uint8, ifMatch string) {
		env.updateGroup(t, st, fuzzUpdateInput{Name: name, Description: description, Mode: mode, IfMatch: ifMatch})
	})
}
