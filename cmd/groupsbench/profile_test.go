package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/store"
)

// The benchmarks below run groupsd's handler stack in process, without
// the network, on a database seeded by groupsbench, so CPU profiles show
// the server alone:
//
//	groupsbench -groupsd bin/groupsd -keep -workloads get   # seeds, keeps the dir
//	cp /tmp/groupsbench-*/groups.db /tmp/bench1m.db
//	GROUPSBENCH_DB=/tmp/bench1m.db go test ./cmd/groupsbench -run '^$' \
//	    -bench Server/get -cpuprofile cpu.out && go tool pprof -top cpu.out
//
// Write workloads (create, patch) change the database: point GROUPSBENCH_DB
// at a copy.

type inproc struct {
	e     *echo.Echo
	key   string
	ids   []string
	total int
}

func openInproc(b *testing.B) *inproc {
	path := os.Getenv("GROUPSBENCH_DB")
	if path == "" {
		b.Skip("GROUPSBENCH_DB (a database seeded by groupsbench) is not set")
	}
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	_, key, err := db.CreateAPIKey(ctx, bigOrg, "profile")
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	_, e, err := server.New(server.Config{Store: db, Auth: server.NewAuthenticator(db, log), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	p := &inproc{e: e, key: key}
	// A sample of ids from the first pages (cheap to collect).
	for cur := ""; len(p.ids) < 20000; {
		page, err := db.ListGroups(ctx, bigOrg, store.ListQuery{Size: 1000, Cursor: cur})
		if err != nil {
			b.Fatal(err)
		}
		for _, g := range page.Groups {
			p.ids = append(p.ids, g.UUID)
		}
		p.total = int(page.Total)
		if cur = page.Next; cur == "" {
			break
		}
	}
	return p
}

func (p *inproc) do(b *testing.B, method, target, body string, want int, hdr ...string) *httptest.ResponseRecorder {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	req.Header.Set("Authorization", "Bearer "+p.key)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	p.e.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Errorf("%s %s: %d %s", method, target, rec.Code, rec.Body.String())
	}
	return rec
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runCPU is b.Run that also reports CPU time per operation, which unlike
// ns/op does not depend on what else the machine is doing.
func runCPU(b *testing.B, name string, fn func(b *testing.B)) {
	b.Run(name, func(b *testing.B) {
		start := cpuTime()
		fn(b)
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	})
}

func BenchmarkServer(b *testing.B) {
	p := openInproc(b)
	var n atomic.Int64
	runCPU(b, "get", func(b *testing.B) {
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			rnd := rand.New(rand.NewPCG(uint64(n.Add(1)), 1))
			for pb.Next() {
				p.do(b, http.MethodGet, "/api/v2/groups/"+p.ids[rnd.IntN(len(p.ids))], "", http.StatusOK)
			}
		})
	})
	runCPU(b, "list", func(b *testing.B) {
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p.do(b, http.MethodGet, "/api/v2/groups", "", http.StatusOK)
			}
		})
	})
	runCPU(b, "listDeep", func(b *testing.B) {
		page := p.total * 99 / 100 / pageSize
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p.do(b, http.MethodGet, fmt.Sprintf("/api/v2/groups?page=%d", page), "", http.StatusOK)
			}
		})
	})
	runCPU(b, "cursor", func(b *testing.B) {
		page := p.total * 99 / 100 / pageSize
		rec := p.do(b, http.MethodGet, fmt.Sprintf("/api/v2/groups?page=%d", page), "", http.StatusOK)
		var start pageBody
		if err := json.Unmarshal(rec.Body.Bytes(), &start); err != nil || start.Page.Next == nil {
			b.Fatalf("no cursor at page %d: %v", page, err)
		}
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			cur := *start.Page.Next
			for pb.Next() {
				rec := p.do(b, http.MethodGet, "/api/v2/groups?cursor="+url.QueryEscape(cur), "", http.StatusOK)
				var pg pageBody
				_ = json.Unmarshal(rec.Body.Bytes(), &pg)
				if pg.Page.Next == nil {
					cur = *start.Page.Next
				} else {
					cur = *pg.Page.Next
				}
			}
		})
	})
	runCPU(b, "search", func(b *testing.B) {
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			w := &worker{env: &env{groups: p.total}, rnd: rand.New(rand.NewPCG(uint64(n.Add(1)), 2))}
			for pb.Next() {
				p.do(b, http.MethodGet, "/api/v2/groups?q="+url.QueryEscape(w.fragment()), "", http.StatusOK)
			}
		})
	})
	runCPU(b, "create", func(b *testing.B) {
		tag := randomTag()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p.do(b, http.MethodPost, "/api/v2/groups",
					fmt.Sprintf(`{"name":"Profile %s %d","description":null}`, tag, n.Add(1)), http.StatusCreated,
					"Content-Type", "application/json")
			}
		})
	})
}
