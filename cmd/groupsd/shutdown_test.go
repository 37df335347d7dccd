package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// shutdownLoadResult is the fate of one request of the shutdown load.
type shutdownLoadResult struct {
	worker  int
	id      string // X-Request-Id sent
	method  string
	status  int       // 0 when no response came back
	uuid    string    // of a created group
	dialErr error     // the dial failed: nothing was sent
	dialed  time.Time // when the dial finished
	err     error     // the request failed after its connection was open
	start   time.Time
	end     time.Time
}

// TestGracefulShutdownUnderLoad sends SIGTERM to the real binary while
// workers create and list groups on fresh connections and some requests are
// deliberately half-sent. It proves the shutdown sequence of issue 7:
//   - /readyz answers 503 once shutdown has begun;
//   - the listener closes: new dials are refused;
//   - requests in flight at the signal complete, including ones whose headers
//     or body were still arriving, and say Connection: close;
//   - no request gets a 5xx, and no request groupsd accepted is reset;
//   - the exit code is 0 and the SQLite file is checkpointed (empty WAL),
//     passes integrity_check and holds every acknowledged create.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "groups.db")
	database := "sqlite:" + dbPath
	key := newKey(t, database, "acme")
	// Generous read timeouts: the half-sent requests below wait for the
	// signal, and must not be cut off for slowness before it.
	p := startGroupsd(t, nil, "--database", database, "--read-header-timeout", "60s", "--read-timeout", "60s")
	auth := "Bearer " + key

	// A few hundred groups for the lists to sort and filter.
	var seedWG sync.WaitGroup
	for w := range 8 {
		seedWG.Add(1)
		go func() {
			defer seedWG.Done()
			for i := range 40 {
				resp, b, err := opsTry("POST", p.URL+"/api/v2/groups", fmt.Sprintf(`{"name":"seed %d-%d","description":"for the lists"}`, w, i),
					"Authorization", auth, "Content-Type", "application/json")
				if err != nil || resp.StatusCode != 201 {
					t.Errorf("seed create: %v %s", err, b)
					return
				}
			}
		}()
	}
	seedWG.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// Half-sent requests, started before the signal and finished after the
	// listener closed: a body still uploading, request headers still
	// arriving (http.Server.Shutdown alone would drop those), and a
	// readiness probe still arriving.
	type slow struct {
		name       string
		rr         *opsRawConn
		rest       string
		wantStatus int
	}
	body := func(name string) string { return fmt.Sprintf(`{"name":%q}`, name) }
	var slows []slow
	for i := range 3 {
		b := body(fmt.Sprintf("slow upload %d", i))
		rr := opsDialRaw(t, p.Addr)
		rr.write(t, fmt.Sprintf("POST /api/v2/groups HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nX-Request-Id: slow-upload-%d\r\n\r\n%s",
			p.Addr, auth, len(b), i, b[:5]))
		slows = append(slows, slow{fmt.Sprintf("upload %d", i), rr, b[5:], 201})
	}
	{
		b := body("slow headers")
		rr := opsDialRaw(t, p.Addr)
		rr.write(t, fmt.Sprintf("POST /api/v2/groups HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n", p.Addr))
		slows = append(slows, slow{"headers", rr,
			fmt.Sprintf("Authorization: %s\r\nContent-Length: %d\r\nX-Request-Id: slow-headers\r\n\r\n%s", auth, len(b), b), 201})
	}
	{
		rr := opsDialRaw(t, p.Addr)
		rr.write(t, fmt.Sprintf("GET /readyz HTTP/1.1\r\nHost: %s\r\n", p.Addr))
		slows = append(slows, slow{"readyz", rr, "X-Request-Id: slow-readyz\r\n\r\n", 503})
	}
	// The kernel hands connections to groupsd in order, so once a request
	// dialed after them is answered, groupsd has accepted all of them.
	if resp, _ := opsDo(t, "GET", p.URL+"/healthz", ""); resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}

	// The load: each worker alternates a create and a filtered, sorted list
	// on a new connection per request, until its dial is refused.
	var (
		mu       sync.Mutex
		results  []shutdownLoadResult
		answered atomic.Int64
		loadWG   sync.WaitGroup
	)
	loadCtx, stopLoad := context.WithTimeout(context.Background(), 60*time.Second)
	defer stopLoad()
	const workers = 16
	for w := range workers {
		loadWG.Add(1)
		go func() {
			defer loadWG.Done()
			for i := 0; loadCtx.Err() == nil; i++ {
				r := shutdownLoadRequest(p.URL, auth, w, i)
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				if r.status != 0 {
					answered.Add(1)
				}
				if r.dialErr != nil || r.err != nil {
					if r.dialErr == nil || !opsRefused(r.dialErr) {
						// One more try shows whether the listener is gone.
						continue
					}
					return // refused: the listener is closed, this worker is done
				}
			}
		}()
	}
	for answered.Load() < 300 {
		if loadCtx.Err() != nil {
			t.Fatal("the load did not get 300 answers")
		}
		time.Sleep(5 * time.Millisecond)
	}

	signalled := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The listener closes at once (no --shutdown-delay) while the half-sent
	// requests are still open.
	opsWaitRefused(t, p.Addr, 20*time.Second)

	for _, s := range slows {
		s.rr.write(t, s.rest)
	}
	for _, s := range slows {
		resp, b, err := s.rr.response(20 * time.Second)
		if err != nil {
			t.Errorf("half-sent %s request in flight at SIGTERM: %v, want an answer", s.name, err)
			continue
		}
		if resp.StatusCode != s.wantStatus {
			t.Errorf("half-sent %s request: %d %s, want %d", s.name, resp.StatusCode, b, s.wantStatus)
		}
		if !resp.Close {
			t.Errorf("half-sent %s request: answered without Connection: close during shutdown", s.name)
		}
		if s.name == "readyz" {
			if code := opsProblemCode(resp, b); code != "SERVICE_UNAVAILABLE" {
				t.Errorf("readyz while shutting down: %s", code)
			}
		}
	}

	loadWG.Wait()
	if err := p.Wait(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0\n%s", err, tail(p.stderr.String(), 4000))
	}

	// Judge every request of the load.
	logged := opsAccessLines(t, p.stderr)
	created := map[string]bool{}
	var inFlight, refused, raced int
	lastOK := map[int]int{} // worker → index in results of its last answered request
	for i, r := range results {
		if r.status != 0 {
			lastOK[r.worker] = i
		}
	}
	for i, r := range results {
		switch {
		case r.status != 0:
			want := map[string]int{"POST": 201, "GET": 200}[r.method]
			if r.status != want {
				t.Errorf("%s %s: status %d, want %d", r.method, r.id, r.status, want)
			}
			if r.uuid != "" {
				created[r.uuid] = true
			}
			if r.start.Before(signalled) && r.end.After(signalled) {
				inFlight++
			}
		case r.dialErr != nil && opsRefused(r.dialErr):
			if r.dialed.Before(signalled) {
				t.Errorf("%s %s: dial refused before shutdown: %v", r.method, r.id, r.dialErr)
			}
			refused++
		case r.dialErr != nil && !errors.Is(r.dialErr, syscall.ECONNRESET):
			t.Errorf("%s %s: dial failed: %v", r.method, r.id, r.dialErr)
		default:
			// The connection opened (or its handshake completed) but no
			// answer came. The only acceptable case is a connection still
			// queued in the kernel when the listener closed: groupsd never
			// accepted it, so it never saw the request, and nothing but
			// refusals can follow it.
			if r.err == nil {
				r.err = r.dialErr
			}
			_, seen := logged[r.id]
			later := i > lastOK[r.worker]
			if seen || !later || r.end.Before(signalled) {
				t.Errorf("%s %s: %v (logged by groupsd: %v, after the worker's last answer: %v): an accepted request was reset",
					r.method, r.id, r.err, seen, later)
			}
			raced++
		}
	}
	t.Logf("%d requests: %d in flight at SIGTERM completed, %d refused after the listener closed, %d raced the listener close in the kernel's accept queue",
		len(results), inFlight, refused, raced)
	if refused == 0 {
		t.Error("no dial was refused: the load never saw the listener close")
	}

	lines := opsLogLines(t, p.stderr)
	var sawShutdown, sawStopped bool
	for _, m := range lines {
		sawShutdown = sawShutdown || m["msg"] == "shutting down"
		sawStopped = sawStopped || m["msg"] == "stopped"
		// The errors the server logs for its own 503 readiness answers
		// while draining are expected; anything else is not.
		if m["level"] == "ERROR" && m["request_id"] != "slow-readyz" {
			t.Errorf("error logged during a graceful shutdown: %v", m)
		}
	}
	if !sawShutdown || !sawStopped {
		t.Errorf("shutdown not logged (shutting down: %v, stopped: %v)", sawShutdown, sawStopped)
	}

	db := opsCheckSQLiteClosed(t, dbPath)
	stored := map[string]bool{}
	rows, err := db.Query("SELECT uuid FROM groups")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored[id] = true
	}
	for id := range created {
		if !stored[id] {
			t.Errorf("group %s was acknowledged with 201 but is not in the database", id)
		}
	}
	var counted int
	if err := db.QueryRow("SELECT n FROM group_counts WHERE org = 'acme'").Scan(&counted); err != nil {
		t.Fatal(err)
	}
	if counted != len(stored) {
		t.Errorf("group_counts says %d, the table holds %d", counted, len(stored))
	}
}

// shutdownLoadRequest sends request i of worker w on a new connection and records
// whether the dial or the request failed.
func shutdownLoadRequest(base, auth string, w, i int) (r shutdownLoadResult) {
	r = shutdownLoadResult{worker: w, id: fmt.Sprintf("load-%d-%d", w, i), start: time.Now()}
	var req *http.Request
	if i%2 == 0 {
		r.method = "POST"
		req, _ = http.NewRequest("POST", base+"/api/v2/groups", strings.NewReader(fmt.Sprintf(`{"name":"load %d-%d"}`, w, i)))
		req.Header.Set("Content-Type", "application/json")
	} else {
		r.method = "GET"
		req, _ = http.NewRequest("GET", base+"/api/v2/groups?size=100&q=seed&sort=name,desc", nil)
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("X-Request-Id", r.id)
	var connected bool
	trace := &httptrace.ClientTrace{ConnectDone: func(_, _ string, err error) {
		r.dialed = time.Now()
		if err != nil {
			r.dialErr = err
		} else {
			connected = true
		}
	}}
	req = req.WithContext(httptrace.WithClientTrace(context.Background(), trace))
	resp, err := opsClient.Do(req)
	defer func() { r.end = time.Now() }()
	if err != nil {
		if !connected && r.dialErr == nil {
			r.dialErr = err
		}
		if connected {
			r.dialErr = nil
			r.err = err
		}
		return r
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		// Headers came back but the body was cut: that is a reset too.
		r.err = fmt.Errorf("status %d, then reading the body: %w", resp.StatusCode, err)
		return r
	}
	r.status = resp.StatusCode
	if r.method == "POST" && resp.StatusCode == 201 {
		var g struct {
			UUID string `json:"uuid"`
		}
		if err := json.Unmarshal(b, &g); err != nil || g.UUID == "" {
			r.status, r.err = 0, errors.New("201 without a group: "+string(b))
			return r
		}
		r.uuid = g.UUID
	}
	return r
}

// TestShutdownDelayServesWhileNotReady: with --shutdown-delay (here set
// through GROUPS_SHUTDOWN_DELAY) groupsd keeps answering after SIGTERM while
// /readyz fails, so a load balancer takes it out of rotation before the
// listener closes; then it exits 0.
func TestShutdownDelayServesWhileNotReady(t *testing.T) {
	// Through the environment, as a container would set it.
	p := startGroupsd(t, []string{"GROUPS_SHUTDOWN_DELAY=3s"}, "--database", "sqlite:"+filepath.Join(t.TempDir(), "groups.db"),
		"--auth", "none")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Poll the probe until it fails; it must fail while still answering.
	for {
		req, _ := http.NewRequest("GET", p.URL+"/readyz", nil)
		resp, err := opsClient.Do(req)
		if err != nil {
			t.Fatalf("readyz during the shutdown delay: %v (the listener closed before readiness failed?)", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 503 {
			if code := opsProblemCode(resp, b); code != "SERVICE_UNAVAILABLE" {
				t.Fatalf("readyz 503: %s", code)
			}
			break
		}
		if resp.StatusCode != 200 {
			t.Fatalf("readyz: %d %s", resp.StatusCode, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Liveness and the API still work during the delay, and each answer
	// asks the client to reconnect (through the balancer).
	for _, path := range []string{"/healthz", "/api/v2/groups"} {
		req, _ := http.NewRequest("GET", p.URL+path, nil)
		resp, err := opsClient.Do(req)
		if err != nil {
			t.Fatalf("%s during the shutdown delay: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !resp.Close {
			t.Errorf("%s during the shutdown delay: %d, Connection: close %v; want 200 and close", path, resp.StatusCode, resp.Close)
		}
	}
	opsWaitRefused(t, p.Addr, 30*time.Second)
	if err := p.Wait(30 * time.Second); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.stderr.String())
	}
}

// TestShutdownTimeoutBoundsDrain: a request that never finishes cannot hold
// the process: after --shutdown-timeout its connection is closed, the error
// is logged, the database is still closed cleanly, and the exit status is 1
// so the supervisor records that requests were cut.
func TestShutdownTimeoutBoundsDrain(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "groups.db")
	p := startGroupsd(t, nil, "--database", "sqlite:"+dbPath, "--auth", "none", "--shutdown-timeout", "300ms")
	stuck := opsDialRaw(t, p.Addr)
	stuck.write(t, "POST /v2/groups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":")
	if resp, _ := opsDo(t, "GET", p.URL+"/healthz", ""); resp.StatusCode != 200 { // the stuck one is accepted
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := p.Wait(30 * time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, p.stderr.String())
	}
	if _, _, err := stuck.response(10 * time.Second); err == nil {
		t.Error("the stuck request got an answer")
	}
	var logged bool
	for _, m := range opsLogLines(t, p.stderr) {
		logged = logged || m["level"] == "ERROR" && m["msg"] == "shutdown did not finish in time"
	}
	if !logged {
		t.Errorf("the forced close was not logged:\n%s", p.stderr.String())
	}
	opsCheckSQLiteClosed(t, dbPath)
}
