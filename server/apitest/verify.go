package apitest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/oapi-codegen/nullable"

	"github.com/groupsd/groupsd/gen/api"
)

// ListAll walks every page of the organization's groups with the cursor and
// checks that totalElements (kept in a counter table) matches what it saw.
func ListAll(tb testing.TB, ctx context.Context, c *api.ClientWithResponses) map[string]api.Group {
	tb.Helper()
	out := map[string]api.Group{}
	size := api.Size(1000)
	params := &api.ListGroupsParams{Size: &size}
	var total int64
	for {
		resp, err := c.ListGroupsWithResponse(ctx, params)
		if err != nil {
			tb.Fatalf("list: %v", err)
		}
		if resp.JSON200 == nil {
			tb.Fatalf("list: status %d: %s", resp.StatusCode(), resp.Body)
		}
		total = resp.JSON200.Page.TotalElements
		for _, g := range resp.JSON200.Content {
			id := g.Uuid.String()
			if _, dup := out[id]; dup {
				tb.Errorf("list: group %s appears twice", id)
			}
			out[id] = g
		}
		if !resp.JSON200.Page.Next.IsSpecified() || resp.JSON200.Page.Next.IsNull() {
			break
		}
		next := api.Cursor(resp.JSON200.Page.Next.MustGet())
		params = &api.ListGroupsParams{Size: &size, Cursor: &next}
	}
	if int64(len(out)) != total {
		tb.Errorf("list: totalElements %d, but the pages hold %d groups (the count table drifted)", total, len(out))
	}
	return out
}

// GetAll GETs every group in ids concurrently and returns their snapshots
// (with the version from the ETag); a 404 leaves the group out.
func GetAll(tb testing.TB, ctx context.Context, c *api.ClientWithResponses, ids []string) map[string]Snapshot {
	tb.Helper()
	var mu sync.Mutex
	out := map[string]Snapshot{}
	var errs []string
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			resp, err := c.GetGroupWithResponse(ctx, MustParseUUID(id), nil)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, fmt.Sprintf("GET %s: %v", id, err))
			case resp.StatusCode() == http.StatusNotFound:
			case resp.JSON200 == nil:
				errs = append(errs, fmt.Sprintf("GET %s: status %d: %s", id, resp.StatusCode(), resp.Body))
			default:
				s, err := SnapshotOf(*resp.JSON200, resp.HTTPResponse.Header.Get("ETag"))
				if err != nil {
					errs = append(errs, fmt.Sprintf("GET %s: %v", id, err))
				}
				out[id] = s
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		tb.Fatalf("reading groups back:\n%s", strings.Join(errs, "\n"))
	}
	return out
}

// Verify checks the database behind c against m: every acknowledged create
// is there with its acknowledged content, every acknowledged delete is gone,
// a write of unknown outcome either happened whole or not at all, and there
// is no group nobody created. It then folds what it found into m, so the
// next round starts from the truth.
func (m *Model) Verify(tb testing.TB, ctx context.Context, c *api.ClientWithResponses) {
	tb.Helper()
	listed := ListAll(tb, ctx, c)
	ids := make([]string, 0, len(listed))
	for id := range listed {
		ids = append(ids, id)
	}
	got := GetAll(tb, ctx, c, ids)
	for id, g := range listed {
		s, ok := got[id]
		if !ok {
			tb.Errorf("group %s is listed but GET says 404", id)
			continue
		}
		l := contentOf(g)
		l.Version = s.Version // a list carries no ETag: the rest must agree with GET
		if !l.Equal(s) {
			tb.Errorf("group %s: list shows %v, GET shows %v", id, l, s)
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	byName := map[string]string{}
	for id, s := range got {
		byName[s.Name] = id
	}
	for id, g := range m.groups {
		s, present := got[id]
		var alts []string
		matched := false
		if g.Gone {
			matched = !present
			alts = append(alts, "deleted")
		} else {
			alts = append(alts, g.Cur.String())
			matched = present && s.Equal(g.Cur)
		}
		if g.Pending != nil && !g.Gone {
			if matched {
				m.vanished++
			} else if g.Pending.Del {
				alts = append(alts, "deleted")
				matched = !present
				m.landed++
			} else {
				w := Apply(g.Cur, g.Pending)
				alts = append(alts, w.String()+" (any later updatedAt)")
				matched = present && s.Name == w.Name && EqualDesc(s.Desc, w.Desc) && s.Version == w.Version &&
					s.CreatedAt == w.CreatedAt && s.UpdatedAt >= g.Cur.UpdatedAt
				m.landed++
			}
		}
		if !matched {
			state := "absent"
			if present {
				state = s.String()
			}
			tb.Errorf("group %s is %s, want %s", id, state, strings.Join(alts, " or "))
		}
		// Fold in the truth.
		g.Pending = nil
		if present {
			g.Cur, g.Gone = s, false
		} else {
			g.Gone = true
		}
	}

	// Creates of unknown outcome: each happened once or not at all.
	var retry []LostCreate
	for _, lc := range m.creates {
		id, present := byName[lc.Name]
		if present {
			if _, known := m.groups[id]; known {
				tb.Errorf("a create of unknown outcome (%q) matches acknowledged group %s", lc.Name, id)
				continue
			}
			s := got[id]
			if s.Version != 1 || !EqualDesc(s.Desc, lc.Desc) || s.CreatedAt != s.UpdatedAt {
				tb.Errorf("group %s from a create of unknown outcome is %v, want version 1 as sent", id, s)
			}
			m.add(&Tracked{UUID: id, Cur: s})
			m.landed++
		} else {
			m.vanished++
		}
		if lc.Key != "" {
			retry = append(retry, lc)
		}
	}
	m.creates = nil
	for id, s := range got {
		if _, ok := m.groups[id]; !ok {
			tb.Errorf("group %s %v exists but nobody created it", id, s)
		}
	}

	// A create with an Idempotency-Key whose outcome is unknown is what a
	// client retries: it must replay what happened, or run now, never twice.
	for _, lc := range retry {
		id, existed := byName[lc.Name]
		body := api.CreateGroupJSONRequestBody{Name: lc.Name}
		if lc.Desc != nil {
			body.Description = nullable.NewNullableWithValue(*lc.Desc)
		}
		// The body's description null/absent distinction does not change the
		// fingerprint, so a retry may send either.
		resp, err := c.CreateGroupWithResponse(ctx, &api.CreateGroupParams{IdempotencyKey: &lc.Key}, body)
		if err != nil {
			tb.Fatalf("retrying create %q: %v", lc.Name, err)
		}
		replayed := resp.HTTPResponse.Header.Get("Idempotent-Replayed") == "true"
		switch {
		case resp.StatusCode() == http.StatusCreated && existed:
			if !replayed || resp.JSON201.Uuid.String() != id {
				tb.Errorf("retrying create %q (key %q) that did happen as %s: got %s replayed=%v, want a replay of it",
					lc.Name, lc.Key, id, resp.JSON201.Uuid, replayed)
			}
			m.replayed++
		case resp.StatusCode() == http.StatusCreated && !existed:
			if replayed {
				tb.Errorf("retrying create %q (key %q) replays group %s that is not in the database", lc.Name, lc.Key, resp.JSON201.Uuid)
			}
			s, err := SnapshotOf(*resp.JSON201, resp.HTTPResponse.Header.Get("ETag"))
			if err != nil {
				tb.Error(err)
			}
			nid := resp.JSON201.Uuid.String()
			m.add(&Tracked{UUID: nid, Cur: s})
			m.rerun++
		case resp.StatusCode() == http.StatusConflict && !existed && ProblemCode(resp.Body) == api.IDEMPOTENCYINFLIGHT:
			// The crash left the key claimed but the create undone: the claim
			// blocks retries until its lease ends; nothing was created twice.
			m.stillClaimed++
		default:
			tb.Errorf("retrying create %q (key %q, existed=%v): status %d: %s", lc.Name, lc.Key, existed, resp.StatusCode(), resp.Body)
		}
	}
}

// Seed creates n groups through c and records them in m.
func (m *Model) Seed(tb testing.TB, c *api.ClientWithResponses, n int) []*Tracked {
	tb.Helper()
	var out []*Tracked
	for range n {
		r, err := c.CreateGroupWithResponse(context.Background(), nil, api.CreateGroupJSONRequestBody{Name: fmt.Sprintf("Kasse %d", m.Seq.Add(1))})
		if err != nil || r.JSON201 == nil {
			tb.Fatalf("seed: %v %v", err, r)
		}
		s, err := SnapshotOf(*r.JSON201, r.HTTPResponse.Header.Get("ETag"))
		if err != nil {
			tb.Fatal(err)
		}
		g := &Tracked{UUID: r.JSON201.Uuid.String(), Cur: s}
		m.Add(g)
		out = append(out, g)
	}
	return out
}
