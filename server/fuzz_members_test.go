package server_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server/apitest"
)

// FuzzMembers: a sequence of member operations on one new group, checked
// against a model (the set of user ids it must hold). After every step the
// group's memberCount, the listing (followed through its cursors) and the
// model agree.

// fuzzMemberIDs are the users a program names: case and byte order matter
// ("B" < "a"), and every one is a valid userId.
var fuzzMemberIDs = []string{"a", "B", "user-42", "u.1", "Z9", "a+b@x.io", "a:1", "0"}

// fuzzMembersOps is how many operations one input may run.
const fuzzMembersOps = 24

func FuzzMembers(f *testing.F) {
	env := newFuzzEnv(f)
	for _, seed := range [][]byte{
		{0, 0, 0, 0, 2, 0, 2, 1, 5, 1},          // add a twice, get a, get B, list
		{3, 0x0f, 0x00, 5, 2, 1, 2, 0, 5, 0},    // change add a,B,user-42,u.1; list by 3; remove B; list
		{3, 0x03, 0x06, 4, 7, 6, 1},             // an id in both lists (400), user groups
		{3, 0xff, 0x00, 3, 0x00, 0xff, 5, 1},    // add everyone, remove everyone
		{0, 5, 0, 6, 1, 6, 1, 6, 5, 2, 4, 5, 3}, // add, remove twice, user groups
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, program []byte) {
		env.members(t, program)
	})
}

func (env *fuzzEnv) members(t *testing.T, program []byte) {
	t.Helper()
	if env.checkStore(t) > fuzzMaxGroups {
		env.reset(t)
	}
	env.seq++
	g := env.create(t, fuzzOrg, fmt.Sprintf("Members %d", env.seq))
	base := "/api/v2/groups/" + g.UUID + "/members"
	model := map[string]bool{}
	next := func() byte {
		if len(program) == 0 {
			return 0
		}
		b := program[0]
		program = program[1:]
		return b
	}
	id := func() string { return fuzzMemberIDs[int(next())%len(fuzzMemberIDs)] }
	call := func(method, target string, body []byte, want ...int) *fuzzResponse {
		t.Helper()
		fr := fuzzRequest{method: method, target: target, body: body,
			header: [][2]string{{"Authorization", env.bearer(fuzzOrg)}}}
		if body != nil {
			fr.header = append(fr.header, [2]string{"Content-Type", "application/json"})
		}
		res, ok := env.do(t, fr)
		if !ok {
			t.Fatalf("%s %s is not a valid request", method, target)
		}
		fuzzStatusIn(t, env, res, want...)
		return res
	}
	for step := 0; step < fuzzMembersOps && len(program) > 0; step++ {
		switch next() % 8 {
		case 0: // addMember: 201 for a newcomer, 200 for a member
			u := id()
			want := 201
			if model[u] {
				want = 200
			}
			call("PUT", base+"/"+u, nil, want)
			model[u] = true
		case 1, 2: // getMember (twice as likely: reads are cheap)
			u := id()
			res := call("GET", base+"/"+u, nil, 200, 404)
			if got := res.status == 200; got != model[u] {
				t.Fatalf("getMember %q answered %d, the model says member=%v", u, res.status, model[u])
			}
			if res.status == 404 && !strings.Contains(string(res.body), `"MEMBER_NOT_FOUND"`) {
				t.Fatalf("getMember of a non-member: %s", res.body)
			}
		case 3: // changeMembers: the ids picked by two bit masks
			addMask, removeMask := next(), next()
			var ch struct {
				Add    []string `json:"add,omitempty"`
				Remove []string `json:"remove,omitempty"`
			}
			for i, u := range fuzzMemberIDs {
				if addMask&(1<<i) != 0 {
					ch.Add = append(ch.Add, u)
				}
				if removeMask&(1<<i) != 0 {
					ch.Remove = append(ch.Remove, u)
				}
			}
			body, _ := json.Marshal(ch)
			if addMask&removeMask != 0 {
				res := call("PATCH", base, body, 400)
				var p api.Problem
				_ = json.Unmarshal(res.body, &p)
				if n := len(apitest.ProblemErrors(p)); n != fuzzOnes(addMask&removeMask) {
					t.Fatalf("%d ids in both lists, %d errors entries: %s", fuzzOnes(addMask&removeMask), n, res.body)
				}
				continue
			}
			res := call("PATCH", base, body, 200)
			var r api.MembersChangeResult
			if err := json.Unmarshal(res.body, &r); err != nil {
				t.Fatal(err)
			}
			var want api.MembersChangeResult
			want.Added, want.AlreadyMembers, want.Removed, want.NotMembers = []string{}, []string{}, []string{}, []string{}
			for _, u := range ch.Add {
				if model[u] {
					want.AlreadyMembers = append(want.AlreadyMembers, u)
				} else {
					want.Added = append(want.Added, u)
					model[u] = true
				}
			}
			for _, u := range ch.Remove {
				if model[u] {
					want.Removed = append(want.Removed, u)
					delete(model, u)
				} else {
					want.NotMembers = append(want.NotMembers, u)
				}
			}
			if fmt.Sprint(r) != fmt.Sprint(want) {
				t.Fatalf("changeMembers %s = %+v, the model says %+v", body, r, want)
			}
		case 4: // listUserGroups: the group is listed exactly when the user is in it
			u := id()
			res := call("GET", "/api/v2/users/"+u+"/groups?size=1000", nil, 200)
			var p api.GroupPage
			if err := json.Unmarshal(res.body, &p); err != nil {
				t.Fatal(err)
			}
			listed := slices.ContainsFunc(p.Content, func(h api.Group) bool { return h.Uuid.String() == g.UUID })
			if listed != model[u] {
				t.Fatalf("listUserGroups(%q) lists the group: %v, the model says member=%v", u, listed, model[u])
			}
		case 5: // the invariant below, with a page size from the program
			env.checkMembers(t, call, base, g.UUID, int(next()%4)+1, model)
			continue
		default: // removeMember: 204 whether or not a member
			u := id()
			call("DELETE", base+"/"+u, nil, 204)
			delete(model, u)
		}
		env.checkMembers(t, call, base, g.UUID, 3, model)
	}
}

// checkMembers lists every member through the cursors at page size size
// and checks the listing, the totals and memberCount against the model.
func (env *fuzzEnv) checkMembers(t *testing.T, call func(string, string, []byte, ...int) *fuzzResponse,
	base, uuid string, size int, model map[string]bool) {
	t.Helper()
	var listed []string
	target := fmt.Sprintf("%s?size=%d", base, size)
	for pages := 0; ; pages++ {
		if pages > len(fuzzMemberIDs) {
			t.Fatalf("the cursors of %d members go on past %d pages", len(model), pages)
		}
		var p api.MemberPage
		if err := json.Unmarshal(call("GET", target, nil, 200).body, &p); err != nil {
			t.Fatal(err)
		}
		if p.Page.TotalElements != int64(len(model)) {
			t.Fatalf("totalElements %d, the model holds %d", p.Page.TotalElements, len(model))
		}
		for _, m := range p.Content {
			listed = append(listed, m.UserId)
		}
		next, err := p.Page.Next.Get()
		if err != nil || next == "" {
			break
		}
		target = fmt.Sprintf("%s?size=%d&cursor=%s", base, size, url.QueryEscape(next))
	}
	want := make([]string, 0, len(model))
	for u := range model {
		want = append(want, u)
	}
	slices.Sort(want) // byte order
	if !slices.Equal(listed, want) {
		t.Fatalf("listed %q, the model holds %q", listed, want)
	}
	var grp api.Group
	if err := json.Unmarshal(call("GET", "/api/v2/groups/"+uuid, nil, 200).body, &grp); err != nil {
		t.Fatal(err)
	}
	if int(grp.MemberCount) != len(listed) {
		t.Fatalf("memberCount %d, %d members listed", grp.MemberCount, len(listed))
	}
}

func fuzzOnes(b byte) int {
	n := 0
	for ; b != 0; b &= b - 1 {
		n++
	}
	return n
}
