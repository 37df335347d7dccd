package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/groupsd/groupsd/server/apitest"
	"github.com/groupsd/groupsd/store"
	"github.com/groupsd/groupsd/store/storetest"
)

// TestFaultCrash kills groupsd with SIGKILL in the middle of concurrent
// creates, patches and deletes, at a different moment each round, restarts
// it on the same database and checks that nothing acknowledged was lost or
// changed (and, on SQLite, that the file passes integrity_check).
func TestFaultCrash(t *testing.T) {
	const kills = 12
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			database := storetest.URL(t, d)
			key := newKey(t, database, faultOrg)
			m := apitest.NewModel()
			ctx := context.Background()
			start := time.Now()
			var acked, unknownN int64
			for round := range kills {
				p := startGroupsd(t, nil, "--database", database)
				c := apitest.NewClient(t, p.URL+"/api", key, nil)
				if round > 0 {
					m.Verify(t, ctx, c)
					if d == store.SQLite {
						integrityCheck(t, strings.TrimPrefix(database, "sqlite:"))
					}
					if t.Failed() {
						t.Fatalf("round %d: state after kill -9 is wrong; groupsd log:\n%s", round, tail(p.stderr.String(), 4000))
					}
				}
				var killed atomic.Bool
				stats := &apitest.LoadStats{}
				lctx, cancel := context.WithCancel(ctx)
				done := make(chan []string, 1)
				go func() {
					done <- apitest.RunLoad(lctx, c, m, apitest.LoadConfig{Workers: 8, Crashed: killed.Load}, stats)
				}()
				// Kill at a different point of the load each round.
				time.Sleep(time.Duration(60+round*37%400) * time.Millisecond)
				killed.Store(true)
				kill9(t, p)
				failures := <-done
				cancel()
				for _, f := range failures {
					t.Error(f)
				}
				if t.Failed() {
					t.Fatalf("round %d: load failed before the kill; groupsd log:\n%s", round, tail(p.stderr.String(), 4000))
				}
				acked += stats.Acked.Load()
				unknownN += stats.Unknown.Load()
			}
			p := startGroupsd(t, nil, "--database", database)
			m.Verify(t, ctx, apitest.NewClient(t, p.URL+"/api", key, nil))
			if d == store.SQLite {
				integrityCheck(t, strings.TrimPrefix(database, "sqlite:"))
			}
			t.Logf("%d kills in %s: %d acknowledged writes, %d of unknown outcome, %d groups at the end; %s",
				kills, time.Since(start).Round(time.Millisecond), acked, unknownN, len(m.Live()), m.Outcomes())
		})
	}
}
