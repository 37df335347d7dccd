package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/groupsd/groupsd/gen/api"
	"github.com/groupsd/groupsd/server/apitest"
	"github.com/groupsd/groupsd/store/storetest"
)

// TestFaultPostgresOutage cuts the database off a running groupsd under light
// load, twice (connections refused, then a blackhole that never answers), and
// checks that during the outage every request fails within the request
// timeout with a 503 problem carrying Retry-After, /readyz is 503 and
// /healthz 200; that the same process serves again within 5 seconds of the
// database coming back; and that no acknowledged write was lost.
func TestFaultPostgresOutage(t *testing.T) {
	const (
		requestTimeout = 2 * time.Second
		slack          = time.Second // scheduling noise on a loaded CI machine
		outage         = 2500 * time.Millisecond
		recoveryBudget = 5 * time.Second
	)
	direct := storetest.PostgresURL(t)
	key := newKey(t, direct, faultOrg) // also applies the migrations
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, u.Host)
	u.Host = proxy.Addr()
	u.RawQuery += "&connect_timeout=10" // longer than the request timeout: the request deadline must be what bounds a hung connect
	p := startGroupsd(t, nil, "--database", u.String(), "--request-timeout", requestTimeout.String(), "--migrate=false")
	c := apitest.NewClient(t, p.URL+"/api", key, nil)
	ctx := context.Background()

	m := apitest.NewModel()
	stats := &apitest.LoadStats{}
	var outageMu sync.Mutex
	var outageStart, outageEnd time.Time // the current outage window, for classifying answers
	var okDuringOutage atomic.Int64
	inOutage := func(at time.Time) bool {
		outageMu.Lock()
		defer outageMu.Unlock()
		// Requests that started well inside the window cannot have reached the database.
		return !outageStart.IsZero() && at.After(outageStart.Add(100*time.Millisecond)) && (outageEnd.IsZero() || at.Before(outageEnd))
	}
	// Every 503 is recorded with its start, to check afterwards that none
	// came from a request that started well clear of the outages.
	var unavailableAt []time.Time
	var cuts, restores []time.Time
	lctx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan []string, 1)
	go func() {
		loadDone <- apitest.RunLoad(lctx, c, m, apitest.LoadConfig{Workers: 3, Pause: 15 * time.Millisecond,
			Unavailable: func(start time.Time) {
				outageMu.Lock()
				unavailableAt = append(unavailableAt, start)
				outageMu.Unlock()
			}}, stats)
	}()
	loadStart := time.Now()
	// A reader that only GETs, checking that successes never happen mid-outage.
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for lctx.Err() == nil {
			start := time.Now()
			resp, err := c.ListGroupsWithResponse(ctx, nil)
			if err == nil && resp.StatusCode() == http.StatusOK && inOutage(start) {
				okDuringOutage.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	probe := func(path string) (int, http.Header, []byte, time.Duration) {
		start := time.Now()
		resp, err := http.Get(p.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b, time.Since(start)
	}

	for _, mode := range []proxyMode{refuse, blackhole} {
		name := map[proxyMode]string{refuse: "refused", blackhole: "blackholed"}[mode]
		time.Sleep(700 * time.Millisecond) // healthy load first
		if got := stats.Acked.Load(); got == 0 {
			t.Fatalf("%s: no write succeeded before the outage", name)
		}
		outageMu.Lock()
		outageStart, outageEnd = time.Now(), time.Time{}
		outageMu.Unlock()
		proxy.cut(mode)
		cuts = append(cuts, time.Now())
		unavailableBefore := stats.Unavailable.Load()

		deadline := time.Now().Add(outage)
		var readyChecks int
		for time.Now().Before(deadline) {
			if code, _, _, d := probe("/healthz"); code != http.StatusOK || d > slack {
				t.Errorf("%s: /healthz answered %d in %s during the outage, want 200 at once", name, code, d)
			}
			code, h, b, d := probe("/readyz")
			if code != http.StatusServiceUnavailable || h.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s: /readyz answered %d %q during the outage, want a 503 problem: %s", name, code, h.Get("Content-Type"), b)
			}
			if d > requestTimeout+slack {
				t.Errorf("%s: /readyz took %s", name, d)
			}
			readyChecks++
			time.Sleep(100 * time.Millisecond)
		}
		// A direct write, to see the exact answer.
		start := time.Now()
		resp, err := c.CreateGroupWithResponse(ctx, nil, api.CreateGroupJSONRequestBody{Name: "during outage " + name})
		if err != nil {
			t.Fatalf("%s: create during outage: %v", name, err)
		}
		if d := time.Since(start); resp.StatusCode() != http.StatusServiceUnavailable || d > requestTimeout+slack {
			t.Errorf("%s: create during outage: %d after %s, want 503 within %s: %s", name, resp.StatusCode(), d, requestTimeout, resp.Body)
		} else if msg := apitest.Check503(resp.HTTPResponse, resp.Body); msg != "" {
			t.Errorf("%s: %s", name, msg)
		}
		m.Lose(apitest.LostCreate{Name: "during outage " + name})
		if n := stats.Unavailable.Load() - unavailableBefore; n == 0 {
			t.Errorf("%s: the load saw no 503 during the outage", name)
		}

		restored := time.Now()
		outageMu.Lock()
		outageEnd = restored
		outageMu.Unlock()
		proxy.restore()
		restores = append(restores, time.Now())
		var recovered time.Duration
		for {
			code, _, _, _ := probe("/readyz")
			if code == http.StatusOK {
				r, err := c.CreateGroupWithResponse(ctx, nil, api.CreateGroupJSONRequestBody{Name: "after outage " + name})
				if err == nil && r.StatusCode() == http.StatusCreated {
					recovered = time.Since(restored)
					s, _ := apitest.SnapshotOf(*r.JSON201, r.HTTPResponse.Header.Get("ETag"))
					m.Add(&apitest.Tracked{UUID: r.JSON201.Uuid.String(), Cur: s})
					break
				}
			}
			if time.Since(restored) > recoveryBudget {
				t.Fatalf("%s: not serving %s after the database came back; log:\n%s", name, recoveryBudget, tail(p.stderr.String(), 4000))
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("%s: %d /readyz checks during a %s outage; serving again %s after the database came back",
			name, readyChecks, outage, recovered.Round(time.Millisecond))
	}
	time.Sleep(500 * time.Millisecond) // healthy load after the outages
	stopLoad()
	for _, f := range <-loadDone {
		t.Error(f)
	}
	<-readerDone
	// Healthy windows: from the load's start (or half a second after the
	// database came back) to a request timeout before the next cut.
	from := append([]time.Time{loadStart}, restores...)
	until := append(cuts, time.Now())
	outageMu.Lock()
	for _, at := range unavailableAt {
		for i := range from {
			lo, hi := from[i], until[i].Add(-requestTimeout-slack)
			if i > 0 {
				lo = lo.Add(500 * time.Millisecond)
			}
			if at.After(lo) && at.Before(hi) {
				t.Errorf("a request started at %s, in a healthy window (%s..%s), answered 503",
					at.Format("15:04:05.000"), lo.Format("15:04:05.000"), hi.Format("15:04:05.000"))
			}
		}
	}
	outageMu.Unlock()
	if n := okDuringOutage.Load(); n > 0 {
		t.Errorf("%d list requests started mid-outage answered 200: they cannot have reached the database", n)
	}
	if d := time.Duration(stats.MaxLatency.Load()); d > requestTimeout+slack {
		t.Errorf("slowest request: %s, want at most the request timeout %s (+%s)", stats.Slowest(), requestTimeout, slack)
	}
	m.Verify(t, ctx, c)
	t.Logf("load: %d acknowledged, %d answered 503, slowest request %s; %s",
		stats.Acked.Load(), stats.Unavailable.Load(), time.Duration(stats.MaxLatency.Load()).Round(time.Millisecond), m.Outcomes())
	if t.Failed() {
		t.Logf("groupsd log:\n%s", tail(p.stderr.String(), 8000))
	}
}

// TestFaultPostgresUnreachableAtStart checks that `groupsd serve` gives up
// with a clear error, rather than hanging, when Postgres is down (refused at
// once) or partitioned away (accepts TCP, never answers: bounded by the
// default connect_timeout of 5 seconds), so a supervisor can restart it.
func TestFaultPostgresUnreachableAtStart(t *testing.T) {
	database := storetest.PostgresURL(t)
	u, err := url.Parse(database)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, u.Host)
	u.Host = proxy.Addr()
	groupsdBinary(t) // built before the clock starts
	for _, tc := range []struct {
		mode   proxyMode
		name   string
		within time.Duration
	}{
		{refuse, "Refused", 3 * time.Second},
		{blackhole, "Blackholed", 5*time.Second + 3*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy.cut(tc.mode)
			defer proxy.restore()
			start := time.Now()
			_, stderr, err := groupsdCmd(t, "serve", "--addr", "127.0.0.1:0", "--database", u.String())
			d := time.Since(start)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("serve with Postgres %s: %v after %s, want exit status 1\n%s", tc.name, err, d, stderr)
			}
			if d > tc.within {
				t.Errorf("gave up after %s, want within %s", d, tc.within)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if msg := lines[len(lines)-1]; !strings.HasPrefix(msg, "groupsd: ") || !strings.Contains(msg, "postgres") || !strings.Contains(msg, "failed to connect") {
				t.Errorf("startup error %q, want one naming postgres and the failed connection", msg)
			}
			t.Logf("gave up after %s: %s", d.Round(time.Millisecond), lines[len(lines)-1])
		})
	}
}
