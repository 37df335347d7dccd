package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/oapi-codegen/nullable"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server/apitest"
	"github.com/groupsd/groupsd/store/storetest"
)

// roundRobin sends each request to the next replica in turn, like a load
// balancer without affinity.
type roundRobin struct {
	hosts []string
	next  atomic.Uint64
	c     *http.Client
}

func (rr *roundRobin) Do(r *http.Request) (*http.Response, error) {
	r.URL.Host = rr.hosts[(rr.next.Add(1)-1)%uint64(len(rr.hosts))]
	r.Host = ""
	return rr.c.Do(r)
}

// together runs fn(i) for i in [0, n) on n goroutines released at once.
func together(n int, fn func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}

// TestFaultReplicas runs three groupsd processes on one Postgres schema, as
// the README's scaling section deploys them (`groupsd migrate` once, then
// replicas with --migrate=false), behind a round-robin client, and checks
// that uniqueness, If-Match and Idempotency-Key hold across processes:
// they are enforced by the database, never by one process's memory.
func TestFaultReplicas(t *testing.T) {
	const replicas, racers = 3, 24
	database := storetest.PostgresURL(t)
	if out, errOut, err := groupsdCmd(t, "migrate", "--database", database); err != nil {
		t.Fatalf("groupsd migrate: %v\n%s%s", err, out, errOut)
	}
	key := newKey(t, database, faultOrg)
	var procs []*proc
	rr := &roundRobin{c: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	for range replicas {
		p := startGroupsd(t, nil, "--database", database, "--migrate=false", "--db-max-conns", "8")
		procs = append(procs, p)
		rr.hosts = append(rr.hosts, p.Addr)
	}
	c := apitest.NewClient(t, "http://replicas/api", key, rr)
	at := func(i int) *api.ClientWithResponses {
		return apitest.NewClient(t, procs[i%replicas].URL+"/api", key, nil)
	}
	ctx := context.Background()

	t.Run("SameNameCreatesYieldOneWinner", func(t *testing.T) {
		for n := range 5 {
			// Case variants collide by Unicode case folding, on every replica alike.
			variants := []string{"Équipe %d", "ÉQUIPE %d", "équipe %d"}
			var created, conflicts atomic.Int64
			var others sync.Map
			together(racers, func(i int) {
				name := fmt.Sprintf(variants[i%len(variants)], n)
				resp, err := c.CreateGroupWithResponse(ctx, nil, api.CreateGroupJSONRequestBody{Name: name})
				switch {
				case err != nil:
					others.Store(i, err.Error())
				case resp.StatusCode() == http.StatusCreated:
					created.Add(1)
				case resp.StatusCode() == http.StatusConflict && apitest.ProblemCode(resp.Body) == api.NAMECONFLICT:
					conflicts.Add(1)
				default:
					others.Store(i, fmt.Sprintf("%d %s", resp.StatusCode(), resp.Body))
				}
			})
			others.Range(func(k, v any) bool { t.Errorf("racer %v: %v", k, v); return true })
			if created.Load() != 1 || conflicts.Load() != racers-1 {
				t.Errorf("name %d: %d created, %d conflicts; want exactly 1 and %d", n, created.Load(), conflicts.Load(), racers-1)
			}
		}
	})

	t.Run("IfMatchRacesYieldOneWinner", func(t *testing.T) {
		resp, err := c.CreateGroupWithResponse(ctx, nil, api.CreateGroupJSONRequestBody{Name: "contended"})
		if err != nil || resp.JSON201 == nil {
			t.Fatalf("create: %v %v", err, resp)
		}
		id := resp.JSON201.Uuid
		tag := resp.HTTPResponse.Header.Get("ETag")
		var winners []int
		var mu sync.Mutex
		together(racers, func(i int) {
			body := api.GroupPatch{Description: nullable.NewNullableWithValue(fmt.Sprintf("racer %d", i))}
			r, err := c.UpdateGroupWithApplicationMergePatchPlusJSONBodyWithResponse(ctx, id, &api.UpdateGroupParams{IfMatch: &tag}, body)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("racer %d: %v", i, err)
			case r.StatusCode() == http.StatusOK:
				winners = append(winners, i)
			case r.StatusCode() != http.StatusPreconditionFailed:
				t.Errorf("racer %d: %d %s, want 200 or 412", i, r.StatusCode(), r.Body)
			}
		})
		if len(winners) != 1 {
			t.Fatalf("PATCH If-Match %s: %d winners %v, want exactly 1", tag, len(winners), winners)
		}
		want := fmt.Sprintf("racer %d", winners[0])
		for i := range replicas {
			g, err := at(i).GetGroupWithResponse(ctx, id, nil)
			if err != nil || g.JSON200 == nil {
				t.Fatalf("replica %d: GET: %v %v", i, err, g)
			}
			if d, _ := g.JSON200.Description.Get(); d != want || g.HTTPResponse.Header.Get("ETag") != `"2"` {
				t.Errorf("replica %d: description %q ETag %s, want the winner's %q and \"2\"", i, d, g.HTTPResponse.Header.Get("ETag"), want)
			}
		}

		// Deleting races the same way: one 204; the rest 412 or, once it is gone, 404.
		tag = `"2"`
		var deleted atomic.Int64
		together(racers, func(i int) {
			r, err := c.DeleteGroupWithResponse(ctx, id, &api.DeleteGroupParams{IfMatch: &tag})
			switch {
			case err != nil:
				t.Errorf("racer %d: %v", i, err)
			case r.StatusCode() == http.StatusNoContent:
				deleted.Add(1)
			case r.StatusCode() != http.StatusPreconditionFailed && r.StatusCode() != http.StatusNotFound:
				t.Errorf("racer %d: DELETE %d %s", i, r.StatusCode(), r.Body)
			}
		})
		if deleted.Load() != 1 {
			t.Errorf("DELETE If-Match: %d succeeded, want exactly 1", deleted.Load())
		}
	})

	t.Run("IdempotentCreateReplaysOnAnotherReplica", func(t *testing.T) {
		k := "replica-retry-1"
		body := api.CreateGroupJSONRequestBody{Name: "Idempotent", Description: nullable.NewNullableWithValue("first try")}
		first, err := at(0).CreateGroupWithResponse(ctx, &api.CreateGroupParams{IdempotencyKey: &k}, body)
		if err != nil || first.StatusCode() != http.StatusCreated {
			t.Fatalf("first create: %v %v", err, first)
		}
		for i := 1; i < replicas; i++ {
			again, err := at(i).CreateGroupWithResponse(ctx, &api.CreateGroupParams{IdempotencyKey: &k}, body)
			if err != nil {
				t.Fatal(err)
			}
			h := again.HTTPResponse.Header
			if again.StatusCode() != http.StatusCreated || h.Get("Idempotent-Replayed") != "true" {
				t.Errorf("replica %d: %d Idempotent-Replayed=%q, want 201 replayed", i, again.StatusCode(), h.Get("Idempotent-Replayed"))
			}
			if !bytes.Equal(again.Body, first.Body) {
				t.Errorf("replica %d replays\n%s\nwant byte for byte\n%s", i, again.Body, first.Body)
			}
			for _, name := range []string{"Location", "ETag"} {
				if got, want := h.Get(name), first.HTTPResponse.Header.Get(name); got != want {
					t.Errorf("replica %d: %s %q, want %q", i, name, got, want)
				}
			}
		}
		other := api.CreateGroupJSONRequestBody{Name: "Idempotent", Description: nullable.NewNullableWithValue("another body")}
		if r, err := at(2).CreateGroupWithResponse(ctx, &api.CreateGroupParams{IdempotencyKey: &k}, other); err != nil || r.StatusCode() != http.StatusUnprocessableEntity {
			t.Errorf("same key, other body on replica 2: %v %v, want 422", err, r)
		}

		// Concurrent first tries of one key across replicas: one group, one body.
		k2 := "replica-race-1"
		body2 := api.CreateGroupJSONRequestBody{Name: "Idempotent race"}
		var mu sync.Mutex
		var bodies [][]byte
		together(racers, func(i int) {
			r, err := c.CreateGroupWithResponse(ctx, &api.CreateGroupParams{IdempotencyKey: &k2}, body2)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("racer %d: %v", i, err)
			case r.StatusCode() == http.StatusCreated:
				bodies = append(bodies, r.Body)
			case r.StatusCode() != http.StatusConflict || apitest.ProblemCode(r.Body) != api.IDEMPOTENCYINFLIGHT:
				t.Errorf("racer %d: %d %s, want 201 or 409 IDEMPOTENCY_IN_FLIGHT", i, r.StatusCode(), r.Body)
			}
		})
		if len(bodies) == 0 {
			t.Fatal("no racer got 201")
		}
		for _, b := range bodies[1:] {
			if !bytes.Equal(b, bodies[0]) {
				t.Errorf("201 bodies differ:\n%s\n%s", b, bodies[0])
			}
		}
		q := "Idempotent race"
		if l, err := c.ListGroupsWithResponse(ctx, &api.ListGroupsParams{Q: &q}); err != nil || l.JSON200 == nil || l.JSON200.Page.TotalElements != 1 {
			t.Errorf("groups named %q: %v %v, want exactly 1", q, err, l)
		}
	})

	t.Run("EveryReplicaReadsEveryWrite", func(t *testing.T) {
		for i := range replicas {
			r, err := at(i).CreateGroupWithResponse(ctx, nil, api.CreateGroupJSONRequestBody{Name: fmt.Sprintf("written on %d", i)})
			if err != nil || r.JSON201 == nil {
				t.Fatalf("create on replica %d: %v %v", i, err, r)
			}
			for j := range replicas {
				g, err := at(j).GetGroupWithResponse(ctx, r.JSON201.Uuid, nil)
				if err != nil || g.StatusCode() != http.StatusOK {
					t.Errorf("written on %d, read on %d: %v %v", i, j, err, g)
				}
			}
		}
	})
}
