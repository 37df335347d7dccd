package server_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/groupsd/groupsd/gen/api"
)

// FuzzLifecycle: a sequence of lifecycle operations on one new group
// (archive and reactivate, writes an archived group refuses, references,
// dry runs, delete to the trash, restore, purge), checked against a model:
// its status, members, references and whether it is live, trashed or
// purged. After every step, what the group, its lists and the trash show
// agrees with the model: memberCount and referenceCount equal what the
// lists hold, the status filter lists it exactly under its status, and a
// trashed group is 404 under /v2/groups and listed in the trash.

// fuzzReferenceIDs are the references a program names, in byte order.
var fuzzReferenceIDs = []string{"B.1", "a:2", "budget-1", "chain-7"}

// fuzzLifecycleOps is how many operations one input may run.
const fuzzLifecycleOps = 24

type fuzzLifecycleModel struct {
	archived bool
	trashed  bool
	purged   bool
	name     string
	members  map[string]bool
	refs     map[string]bool
}

func FuzzLifecycle(f *testing.F) {
	env := newFuzzEnv(f)
	// Each step is an operation byte, its argument bytes (see lifecycle),
	// and a page size byte for the checks after it.
	for _, seed := range [][]byte{
		{0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 0, 1, 1, 0, 2, 1, 2, 0},                       // archive, refused rename and add, reactivate with If-Match, add
		{4, 3, 1, 4, 2, 2, 5, 0, 0, 7, 0, 6, 3, 1, 6, 2, 0, 7, 0, 9, 1, 0},           // two references, GROUP_IN_USE, remove them, delete, the trash
		{2, 0, 2, 0, 7, 0, 9, 2, 0, 8, 0, 7, 0, 10},                                  // add a member, delete, the trash, restore, delete, purge
		{0, 0, 0, 7, 0, 9, 0, 0, 8, 0, 1, 1, 0},                                      // archived into the trash and back: the status is kept
		{7, 0, 11, 0, 8, 0, 11, 0, 7, 0, 9, 1, 0, 8, 0},                              // delete, the name is taken, restore 409 then under a new name
		{0, 0, 0, 4, 1, 0, 4, 3, 0, 5, 1, 0, 7, 0, 6, 1, 0, 6, 3, 0, 3, 0, 7, 0, 10}, // references on an archived group, reactivate by PUT, delete, purge
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, program []byte) {
		env.lifecycle(t, program)
	})
}

func (env *fuzzEnv) lifecycle(t *testing.T, program []byte) {
	t.Helper()
	if env.checkStore(t) > fuzzMaxGroups {
		env.reset(t)
	}
	env.seq++
	name := fmt.Sprintf("Lifecycle %d", env.seq)
	g := env.create(t, fuzzOrg, name)
	gp := "/api/v2/groups/" + g.UUID
	dp := "/api/v2/deleted-groups/" + g.UUID
	m := &fuzzLifecycleModel{name: name, members: map[string]bool{}, refs: map[string]bool{}}
	next := func() byte {
		if len(program) == 0 {
			return 0
		}
		b := program[0]
		program = program[1:]
		return b
	}
	call := func(method, target string, body []byte, contentType string, want ...int) *fuzzResponse {
		t.Helper()
		fr := fuzzRequest{method: method, target: target, body: body,
			header: [][2]string{{"Authorization", env.bearer(fuzzOrg)}}}
		if body != nil {
			fr.header = append(fr.header, [2]string{"Content-Type", contentType})
		}
		res, ok := env.do(t, fr)
		if !ok {
			t.Fatalf("%s %s is not a valid request", method, target)
		}
		fuzzStatusIn(t, env, res, want...)
		return res
	}
	code := func(res *fuzzResponse, want api.ProblemCode) {
		t.Helper()
		var p api.Problem
		if err := json.Unmarshal(res.body, &p); err != nil || p.Code != want {
			t.Fatalf("%s %s: code %q, want %s: %s", res.req.Method, res.req.URL, p.Code, want, res.body)
		}
	}
	// gone: every operation on a group that is not live is a 404 NOT_FOUND.
	gone := func(method, target string, body []byte) {
		t.Helper()
		code(call(method, target, body, "application/json", 404), api.NOTFOUND)
	}
	for step := 0; step < fuzzLifecycleOps && len(program) > 0 && !m.purged; step++ {
		op := next() % 12
		live := !m.trashed
		switch op {
		case 0, 1: // archive (0) or reactivate (1) by PATCH, with the current ETag half the time
			status := map[byte]string{0: "ARCHIVED", 1: "ACTIVE"}[op]
			body := []byte(`{"status":"` + status + `"}`)
			if !live {
				gone("PATCH", gp, body)
				break
			}
			var res *fuzzResponse
			if next()%2 == 0 {
				res = call("PATCH", gp, body, "application/merge-patch+json", 200)
			} else {
				fr := fuzzRequest{method: "PATCH", target: gp, body: body, header: [][2]string{{"Authorization", env.bearer(fuzzOrg)},
					{"Content-Type", "application/merge-patch+json"}, {"If-Match", env.etag(t, g.UUID)}}}
				res, _ = env.do(t, fr)
				fuzzStatusIn(t, env, res, 200)
			}
			m.archived = op == 0
			var got api.Group
			if err := json.Unmarshal(res.body, &got); err != nil || string(got.Status) != status {
				t.Fatalf("PATCH status %s answered %s", status, res.body)
			}
		case 2: // a write an archived group refuses: rename, describe, add or remove a member, change members
			u := fuzzMemberIDs[int(next())%len(fuzzMemberIDs)]
			kind := next() % 5
			var method, target string
			var raw []byte
			switch kind {
			case 0:
				method, target, raw = "PATCH", gp, []byte(`{"name":`+fuzzQuote(m.name+" x")+`}`)
			case 1:
				method, target, raw = "PATCH", gp, []byte(`{"description":"d"}`)
			case 2:
				method, target = "PUT", gp+"/members/"+u
			case 3:
				method, target = "DELETE", gp+"/members/"+u
			default:
				method, target, raw = "PATCH", gp+"/members", []byte(`{"add":[`+fuzzQuote(u)+`]}`)
			}
			switch {
			case !live:
				gone(method, target, raw)
			case m.archived:
				code(call(method, target, raw, "application/json", 409), api.GROUPARCHIVED)
			default:
				call(method, target, raw, "application/json", 200, 201, 204)
				switch kind {
				case 0:
					m.name += " x"
				case 2, 4:
					m.members[u] = true
				case 3:
					delete(m.members, u)
				}
			}
		case 3: // reactivate by PUT with the name and the current ETag
			body := []byte(`{"uuid":"` + g.UUID + `","name":` + fuzzQuote(m.name) + `,"status":"ACTIVE"}`)
			if !live {
				gone("PUT", "/api/v2/groups", body)
				break
			}
			call("PUT", "/api/v2/groups", body, "application/json", 200)
			m.archived = false
		case 4: // put a reference: 201 when new, 200 when replaced; archived groups take them too
			id := fuzzReferenceIDs[int(next())%len(fuzzReferenceIDs)]
			body := []byte(`{"kind":"budget","displayName":"Budget ` + id + `","url":"https://budgets.example.com/` + id + `"}`)
			if !live {
				gone("PUT", gp+"/references/"+id, body)
				break
			}
			want := 201
			if m.refs[id] {
				want = 200
			}
			call("PUT", gp+"/references/"+id, body, "application/json", want)
			m.refs[id] = true
		case 5: // get a reference: 200 or 404 REFERENCE_NOT_FOUND
			id := fuzzReferenceIDs[int(next())%len(fuzzReferenceIDs)]
			if !live {
				gone("GET", gp+"/references/"+id, nil)
				break
			}
			res := call("GET", gp+"/references/"+id, nil, "", 200, 404)
			if (res.status == 200) != m.refs[id] {
				t.Fatalf("getReference %q answered %d, the model says %v", id, res.status, m.refs[id])
			}
			if res.status == 404 {
				code(res, api.REFERENCENOTFOUND)
			}
		case 6: // delete a reference: 204 whether or not it exists
			id := fuzzReferenceIDs[int(next())%len(fuzzReferenceIDs)]
			if !live {
				gone("DELETE", gp+"/references/"+id, nil)
				break
			}
			call("DELETE", gp+"/references/"+id, nil, "", 204)
			delete(m.refs, id)
		case 7: // delete: 409 GROUP_IN_USE while referenced, else to the trash; a dry run first
			if !live {
				gone("DELETE", gp+"?dryRun=true", nil)
				gone("DELETE", gp, nil)
				break
			}
			var check api.DeleteCheck
			if err := json.Unmarshal(call("DELETE", gp+"?dryRun=true", nil, "", 200).body, &check); err != nil {
				t.Fatal(err)
			}
			if check.Deletable != (len(m.refs) == 0) || check.TotalReferences != int64(len(m.refs)) || int(check.MemberCount) != len(m.members) {
				t.Fatalf("dry run %+v, the model holds %d references and %d members", check, len(m.refs), len(m.members))
			}
			if len(m.refs) > 0 {
				res := call("DELETE", gp, nil, "", 409)
				code(res, api.GROUPINUSE)
				var p api.Problem
				_ = json.Unmarshal(res.body, &p)
				if p.TotalReferences == nil || *p.TotalReferences != int64(len(m.refs)) || p.References == nil || len(*p.References) != len(m.refs) {
					t.Fatalf("GROUP_IN_USE with %d references in the model: %s", len(m.refs), res.body)
				}
				break
			}
			call("DELETE", gp, nil, "", 204)
			m.trashed = true
		case 8: // restore: 200 from the trash (409 when its name is taken), 404 otherwise
			if live {
				gone("POST", dp+"/restore", nil)
				break
			}
			res := call("POST", dp+"/restore", nil, "", 200, 409)
			if res.status == 409 {
				code(res, api.NAMECONFLICT)
				if !env.nameTaken(t, m.name) {
					t.Fatalf("restore of %q is 409, but no live group has the name", m.name)
				}
				m.name += " (restored)"
				call("POST", dp+"/restore", []byte(`{"name":`+fuzzQuote(m.name)+`}`), "application/json", 200)
			}
			m.trashed = false
		case 9: // the trash: getDeletedGroup and listDeletedGroups agree with the model
			if live {
				gone("GET", dp, nil)
				break
			}
			var d api.DeletedGroup
			if err := json.Unmarshal(call("GET", dp, nil, "", 200).body, &d); err != nil {
				t.Fatal(err)
			}
			if (d.Status == api.GroupStatusARCHIVED) != m.archived || int(d.MemberCount) != len(m.members) || d.Name != m.name {
				t.Fatalf("deleted group %+v, the model says archived=%v, %d members, name %q", d, m.archived, len(m.members), m.name)
			}
			if !env.inTrash(t, call, g.UUID, int(next()%3)+1) {
				t.Fatalf("the trash does not list %s", g.UUID)
			}
		case 10: // purge: 204 from the trash, then the group is gone for good
			if live {
				gone("DELETE", dp, nil)
				break
			}
			call("DELETE", dp, nil, "", 204)
			gone("GET", dp, nil)
			gone("POST", dp+"/restore", nil)
			gone("GET", gp, nil)
			m.purged = true
			continue
		default: // another group takes the name (possible only while this one is trashed)
			body := []byte(`{"name":` + fuzzQuote(m.name) + `}`)
			if live {
				code(call("POST", "/api/v2/groups", body, "application/json", 409), api.NAMECONFLICT)
				break
			}
			if !env.nameTaken(t, m.name) {
				call("POST", "/api/v2/groups", body, "application/json", 201)
			}
		}
		env.checkLifecycle(t, call, g.UUID, m, int(next()%3)+1)
	}
	// The store's invariants (no two live groups share a name, exact
	// counts of members and references, live or trashed) after the program.
	env.checkStore(t)
}

// checkLifecycle checks what the API shows of the group against the model:
// a live group's status, memberCount and referenceCount equal the model and
// the listings (references through their cursors at page size size), and
// listGroups with a status filter lists it exactly under its status; a
// trashed group is 404 under /v2/groups and absent from every list there.
func (env *fuzzEnv) checkLifecycle(t *testing.T, call func(string, string, []byte, string, ...int) *fuzzResponse,
	uuid string, m *fuzzLifecycleModel, size int) {
	t.Helper()
	gp := "/api/v2/groups/" + uuid
	listed := func(status string) bool {
		var p api.GroupPage
		q := url.Values{"status": {status}, "q": {m.name}, "size": {"1000"}}
		if err := json.Unmarshal(call("GET", "/api/v2/groups?"+q.Encode(), nil, "", 200).body, &p); err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(p.Content, func(g api.Group) bool { return g.Uuid.String() == uuid })
	}
	if m.trashed {
		res := call("GET", gp, nil, "", 404)
		if !strings.Contains(string(res.body), `"NOT_FOUND"`) {
			t.Fatalf("a trashed group: %s", res.body)
		}
		call("GET", gp+"/members", nil, "", 404)
		call("GET", gp+"/references", nil, "", 404)
		if listed("ALL") {
			t.Fatalf("listGroups?status=ALL lists the trashed group %s", uuid)
		}
		return
	}
	var g api.Group
	if err := json.Unmarshal(call("GET", gp, nil, "", 200).body, &g); err != nil {
		t.Fatal(err)
	}
	if (g.Status == api.GroupStatusARCHIVED) != m.archived || g.Name != m.name || int(g.MemberCount) != len(m.members) || int(g.ReferenceCount) != len(m.refs) {
		t.Fatalf("group %+v, the model says archived=%v, name %q, %d members, %d references", g, m.archived, m.name, len(m.members), len(m.refs))
	}
	var ids []string
	target := fmt.Sprintf("%s/references?size=%d", gp, size)
	for pages := 0; ; pages++ {
		if pages > len(fuzzReferenceIDs) {
			t.Fatalf("the cursors of %d references go on past %d pages", len(m.refs), pages)
		}
		var p api.ReferencePage
		if err := json.Unmarshal(call("GET", target, nil, "", 200).body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Page.TotalElements != int64(g.ReferenceCount) {
			t.Fatalf("totalElements %d, referenceCount %d", p.Page.TotalElements, g.ReferenceCount)
		}
		for _, r := range p.Content {
			ids = append(ids, r.ReferenceId)
		}
		next, err := p.Page.Next.Get()
		if err != nil || next == "" {
			break
		}
		target = fmt.Sprintf("%s/references?size=%d&cursor=%s", gp, size, url.QueryEscape(next))
	}
	want := make([]string, 0, len(m.refs))
	for id := range m.refs {
		want = append(want, id)
	}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("references listed %q, the model holds %q", ids, want)
	}
	var mp api.MemberPage
	if err := json.Unmarshal(call("GET", gp+"/members?size=1000", nil, "", 200).body, &mp); err != nil {
		t.Fatal(err)
	}
	if int(mp.Page.TotalElements) != int(g.MemberCount) || len(mp.Content) != int(g.MemberCount) {
		t.Fatalf("memberCount %d, %d members listed", g.MemberCount, len(mp.Content))
	}
	if listed("ACTIVE") == m.archived || listed("ARCHIVED") != m.archived || !listed("ALL") {
		t.Fatalf("the status filter disagrees with archived=%v", m.archived)
	}
}

// etag is the group's current ETag, read through the API.
func (env *fuzzEnv) etag(t *testing.T, uuid string) string {
	t.Helper()
	res, _ := env.do(t, fuzzRequest{method: "GET", target: "/api/v2/groups/" + uuid, header: [][2]string{{"Authorization", env.bearer(fuzzOrg)}}})
	fuzzStatusIn(t, env, res, 200)
	return res.header.Get("ETag")
}

// nameTaken reports whether a live group of fuzzOrg has name (by name key).
func (env *fuzzEnv) nameTaken(t *testing.T, name string) bool {
	t.Helper()
	for _, r := range env.rows(t, "WHERE org = ?", fuzzOrg) {
		if strings.EqualFold(r.Name, name) {
			return true
		}
	}
	return false
}

// inTrash follows listDeletedGroups' cursors at page size size and reports
// whether uuid is listed.
func (env *fuzzEnv) inTrash(t *testing.T, call func(string, string, []byte, string, ...int) *fuzzResponse, uuid string, size int) bool {
	t.Helper()
	target := fmt.Sprintf("/api/v2/deleted-groups?size=%d", size)
	for pages := 0; pages <= fuzzMaxGroups; pages++ {
		var p api.DeletedGroupPage
		if err := json.Unmarshal(call("GET", target, nil, "", 200).body, &p); err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Content {
			if d.Uuid.String() == uuid {
				return true
			}
		}
		next, err := p.Page.Next.Get()
		if err != nil || next == "" {
			return false
		}
		target = fmt.Sprintf("/api/v2/deleted-groups?size=%d&cursor=%s", size, url.QueryEscape(next))
	}
	t.Fatalf("the trash's cursors go on past %d pages", fuzzMaxGroups)
	return false
}

func fuzzQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
