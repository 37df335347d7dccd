package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The membership workloads' data: cfg.Members memberships in the large
// organization, skewed like a real directory's. Group 0 (the big group) has
// a tenth of them as members; a few users belong to 1,000 groups, many to
// one. With the default 1,000,000:
//
//	tier     users    groups each   memberships
//	heavy      100        1,000         100,000
//	many     1,000          100         100,000
//	some    10,000           20         200,000
//	big    100,000    4 (big + 3)       400,000   (100,000 in the big group)
//	one    200,000            1         200,000
type memberTier struct {
	prefix     string
	users      int
	groupsEach int
	inBig      bool // the first of each user's groups is the big group
}

// memberPlan lays out n memberships over groups groups (at least 2).
type memberPlan struct {
	groups int
	tiers  []memberTier
	ends   []int // cumulative memberships at the end of each tier
}

// newMemberPlan shares n memberships out as in the table above; the 1,000
// of the heavy users shrink to what the organization has.
func newMemberPlan(n, groups int) memberPlan {
	spread := func(share, each int) memberTier {
		each = max(1, min(each, groups-1))
		return memberTier{users: max(1, share/each), groupsEach: each}
	}
	heavy, many, some := spread(n/10, 1000), spread(n/10, 100), spread(n/5, 20)
	heavy.prefix, many.prefix, some.prefix = "heavy-", "many-", "some-"
	bigEach := max(1, min(4, groups))
	big := memberTier{prefix: "big-", users: max(1, n/10), groupsEach: bigEach, inBig: true}
	p := memberPlan{groups: groups, tiers: []memberTier{heavy, many, some, big}}
	used := 0
	for _, t := range p.tiers {
		used += t.users * t.groupsEach
	}
	p.tiers = append(p.tiers, memberTier{prefix: "one-", users: max(0, n-used), groupsEach: 1})
	end := 0
	for _, t := range p.tiers {
		end += t.users * t.groupsEach
		p.ends = append(p.ends, end)
	}
	return p
}

// total is how many memberships the plan holds (n, or a little less when
// the shares do not divide evenly).
func (p memberPlan) total() int { return p.ends[len(p.ends)-1] }

// member returns the group index and user id of membership i. A user's
// groups are consecutive (after a hashed start), never the big group except
// in the big tier, so they are distinct.
func (p memberPlan) member(i int) (group int, user string) {
	k, start := 0, 0
	for i >= p.ends[k] {
		start = p.ends[k]
		k++
	}
	t := p.tiers[k]
	off := i - start
	u, j := off/t.groupsEach, off%t.groupsEach
	user = t.prefix + strconv.Itoa(u)
	if t.inBig {
		if j == 0 {
			return 0, user
		}
		j--
	}
	others := p.groups - 1
	h := int(mix(uint64(k)<<40|uint64(u)) % uint64(others))
	return 1 + (h+j)%others, user
}

// heavyUsers are the users of the first tier (those in the most groups).
func (p memberPlan) heavyUsers() []string {
	t := p.tiers[0]
	out := make([]string, t.users)
	for u := range out {
		out[u] = t.prefix + strconv.Itoa(u)
	}
	return out
}

// otherGroup is a group other than the big one for the k-th write.
func (e *env) otherGroup(k int) string {
	return e.ids[1+k%(len(e.ids)-1)].String()
}

func opAddMember(ctx context.Context, c *http.Client, w *worker) error {
	id := w.env.otherGroup(w.rnd.IntN(len(w.env.ids)))
	user := fmt.Sprintf("add-%s-%d", w.env.tag, w.env.names.Add(1))
	req, err := w.env.request(ctx, http.MethodPut, "/api/v2/groups/"+id+"/members/"+user, nil)
	if err != nil {
		return err
	}
	_, _, err = do(c, req, http.StatusCreated, false)
	return err
}

func opListMembers(ctx context.Context, c *http.Client, w *worker) error {
	req, err := w.env.request(ctx, http.MethodGet, "/api/v2/groups/"+w.env.ids[0].String()+"/members", nil)
	if err != nil {
		return err
	}
	_, _, err = do(c, req, http.StatusOK, false)
	return err
}

// opMemberCursor pages through the big group by page.next from a random
// depth, and jumps to another random depth at the end or, at random, one
// page in eight.
func opMemberCursor(ctx context.Context, c *http.Client, w *worker) error {
	if w.cursor == "" || w.rnd.IntN(8) == 0 {
		w.cursor = w.env.memberCursors[w.rnd.IntN(len(w.env.memberCursors))]
	}
	req, err := w.env.request(ctx, http.MethodGet, "/api/v2/groups/"+w.env.ids[0].String()+
		"/members?size="+strconv.Itoa(pageSize)+"&cursor="+url.QueryEscape(w.cursor), nil)
	if err != nil {
		return err
	}
	_, body, err := do(c, req, http.StatusOK, true)
	if err != nil {
		return err
	}
	next, ok := nextCursor(body)
	if !ok {
		return fmt.Errorf("members cursor page is empty or has no page.next: %.300s", body)
	}
	w.cursor = next
	return nil
}

func opUserGroups(ctx context.Context, c *http.Client, w *worker) error {
	user := w.env.heavy[w.rnd.IntN(len(w.env.heavy))]
	req, err := w.env.request(ctx, http.MethodGet, "/api/v2/users/"+user+"/groups", nil)
	if err != nil {
		return err
	}
	_, _, err = do(c, req, http.StatusOK, false)
	return err
}

// changeAdds is how many users one changeMembers request adds.
const changeAdds = 1000

// opChangeMembers adds 1,000 new users to a group other than the big one,
// each request to the next group, so no group nears its limit.
func opChangeMembers(ctx context.Context, c *http.Client, w *worker) error {
	k := int(w.env.changes.Add(1))
	var b strings.Builder
	b.Grow(changeAdds * 32)
	b.WriteString(`{"add":[`)
	for j := range changeAdds {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"chg-%s-%d-%d"`, w.env.tag, k, j)
	}
	b.WriteString(`]}`)
	req, err := w.env.request(ctx, http.MethodPatch, "/api/v2/groups/"+w.env.otherGroup(k)+"/members",
		[]byte(b.String()), "Content-Type", "application/json")
	if err != nil {
		return err
	}
	_, _, err = do(c, req, http.StatusOK, false)
	return err
}

// setupMemberCursors collects a cursor every 1,000 members of the big group
// (pages of 1,000, the largest size), the start points of memberCursor.
func (e *env) setupMemberCursors(ctx context.Context, c *http.Client) error {
	if e.memberCursors != nil {
		return nil
	}
	path := "/api/v2/groups/" + e.ids[0].String() + "/members?size=1000"
	for next := ""; ; {
		p := path
		if next != "" {
			p += "&cursor=" + url.QueryEscape(next)
		}
		page, err := e.getPage(ctx, c, p)
		if err != nil {
			return err
		}
		if page.Page.Next == nil {
			break
		}
		next = *page.Page.Next
		e.memberCursors = append(e.memberCursors, next)
	}
	if len(e.memberCursors) == 0 {
		return fmt.Errorf("the big group %s has fewer than 1,001 members", e.ids[0])
	}
	return nil
}
