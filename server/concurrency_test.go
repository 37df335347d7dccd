package server_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"

	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// Ordinary concurrent renames must never surface a database deadlock or
// serialization failure: N workers rename K groups among K names (PATCH
// and PUT, some with If-Match) and may see only 200, 409 and 412; the
// names end unique.
func TestConcurrentRenameCycles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		const groups, workers, rounds = 4, 8, 60
		// Two names more than groups, so renames both succeed and collide.
		names := make([]string, groups+2)
		for i := range names {
			names[i] = fmt.Sprintf("cycle-%d", i)
		}
		ids := make([]string, groups)
		for i := range groups {
			g, _ := e.create("acme", names[i])
			ids[i] = g.Uuid.String()
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[int]int{}
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), 12))
				for range rounds {
					id, name := ids[rng.IntN(groups)], names[rng.IntN(len(names))]
					headers := append(e.auth("acme"), "Content-Type", "application/merge-patch+json")
					method, path, body := "PATCH", "/api/v2/groups/"+id, `{"name":"`+name+`"}`
					if rng.IntN(2) == 0 {
						method, path = "PUT", "/api/v2/groups"
						body = `{"uuid":"` + id + `","name":"` + name + `"}`
						headers[len(headers)-1] = "application/json"
					}
					if rng.IntN(4) == 0 {
						headers = append(headers, "If-Match", `"`+fmt.Sprint(1+rng.IntN(40))+`"`)
					}
					resp, rb := e.do(method, path, body, headers...)
					mu.Lock()
					seen[resp.StatusCode]++
					mu.Unlock()
					switch resp.StatusCode {
					case http.StatusOK, http.StatusConflict, http.StatusPreconditionFailed:
					default:
						t.Errorf("%s %s: %d %s", method, name, resp.StatusCode, rb)
					}
				}
			}()
		}
		wg.Wait()
		t.Logf("statuses: %v", seen)
		page, err := e.db.ListGroups(bg, "acme", store.ListQuery{Size: 100})
		if err != nil || page.Total != groups || len(page.Groups) != groups {
			t.Fatalf("total %d, %d groups, %v", page.Total, len(page.Groups), err)
		}
		unique := map[string]bool{}
		for _, g := range page.Groups {
			if unique[store.NameKey(g.Name)] {
				t.Fatalf("name %q is used twice", g.Name)
			}
			unique[store.NameKey(g.Name)] = true
		}
	})
}
