package client_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/groupsd/groupsd/client"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// TestListYieldsEveryStableGroupOnceUnderChurn lists 10,000 groups while
// other goroutines create and delete other groups: every group that exists
// for the whole listing comes out exactly once, and nothing comes out twice.
func TestListYieldsEveryStableGroupOnceUnderChurn(t *testing.T) {
	const stable = 10_000
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		srv := startGroupsd(t, d)
		want := make(map[uuid.UUID]bool, stable)
		var mu sync.Mutex
		err := srv.db.SeedGroups(bg, "acme", stable, store.SeedOptions{
			Name: func(i int) string { return fmt.Sprintf("Stable %05d", i) },
			Created: func(_ int, id string) {
				mu.Lock()
				want[uuid.MustParse(id)] = false
				mu.Unlock()
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		for run, sort := range [][]string{nil, {"name,desc"}} {
			t.Run(fmt.Sprintf("sort=%v", sort), func(t *testing.T) {
				seen := make(map[uuid.UUID]int, stable+100)
				ctx, stopChurn := context.WithCancel(bg)
				var churned atomic.Int64
				var wg sync.WaitGroup
				for w := range 3 {
					wg.Go(func() { churn(ctx, t, srv.client(t), fmt.Sprintf("%d-%d", run, w), &churned) })
				}
				c := srv.client(t)
				for g, err := range c.Groups.List(bg, client.ListOptions{PageSize: 100, Sort: sort}) {
					if err != nil {
						t.Fatal(err)
					}
					seen[g.UUID]++
				}
				stopChurn()
				wg.Wait()
				for id, n := range seen {
					if n > 1 {
						t.Errorf("group %s yielded %d times", id, n)
					}
				}
				missing := 0
				for id := range want {
					if seen[id] != 1 {
						missing++
					}
				}
				if missing > 0 {
					t.Errorf("%d of %d stable groups not yielded", missing, stable)
				}
				if churned.Load() == 0 {
					t.Errorf("no create or delete ran during the listing; the test proved nothing")
				}
				t.Logf("listed %d groups while %d other groups were created and deleted", len(seen), churned.Load())
			})
		}
	})
}

// churn creates groups whose names sort among the stable ones and deletes
// them again until ctx ends.
func churn(ctx context.Context, t *testing.T, c *client.Client, worker string, done *atomic.Int64) {
	for i := 0; ctx.Err() == nil; i++ {
		g, err := c.Groups.Create(ctx, client.NewGroup{Name: fmt.Sprintf("Stable %05d churn %s-%d", (i*7919)%10_000, worker, i)})
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("churn create: %v", err)
			}
			return
		}
		if i%2 == 1 {
			if err := c.Groups.Delete(ctx, g.UUID); err != nil && ctx.Err() == nil {
				t.Errorf("churn delete: %v", err)
				return
			}
		}
		done.Add(1)
	}
}

func TestListFollowsOptions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		c := startGroupsd(t, d).client(t)
		for _, n := range []string{"Finance", "Engineering", "Fintech", "Marketing", "Refinery"} {
			if _, err := c.Groups.Create(bg, client.NewGroup{Name: n}); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		for g, err := range c.Groups.List(bg, client.ListOptions{PageSize: 1, Sort: []string{"name,asc"}, Query: "FIN"}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, g.Name)
		}
		if want := []string{"Finance", "Fintech", "Refinery"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("List = %v, want %v", got, want)
		}

		// Breaking out of the loop stops fetching.
		n := 0
		for range c.Groups.List(bg, client.ListOptions{PageSize: 2}) {
			n++
			if n == 3 {
				break
			}
		}
		if n != 3 {
			t.Fatalf("stopped after %d", n)
		}

		// A bad option is one error, then the end.
		var errs int
		for _, err := range c.Groups.List(bg, client.ListOptions{PageSize: 5000}) {
			if err == nil {
				t.Fatal("want an error for PageSize 5000")
			}
			errs++
		}
		if errs != 1 {
			t.Fatalf("%d errors, want 1", errs)
		}
	})
}
