package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for the schema of the Postgres run

	"github.com/groupsd/groupsd/store"
)

// bigOrg is the organization with cfg.Groups groups; smallOrg(i) the others.
const bigOrg = "acme"

func smallOrg(i int) string { return fmt.Sprintf("small-%02d", i+1) }

// dbRun is what one database contributes to the table.
type dbRun struct {
	db   string
	seed time.Duration
	// seedMembers is the part of seed that loaded the memberships.
	seedMembers time.Duration
	startup     time.Duration
	peakRSS     int64 // bytes, whole run (startup included)
	dbBytes     int64 // SQLite file size after the run; 0 for Postgres
	results     []result
	groupsd     string // log file
	exitNote    string
}

func bench(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	p := &progress{w: stderr}
	dir, err := os.MkdirTemp("", "groupsbench-")
	if err != nil {
		return err
	}
	if cfg.KeepDir {
		p.printf("keeping %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	client := newClient(cfg.Concurrency)
	loadStart := loadAvg()

	p.printf("ceiling: bare Echo handler returning a static Group, %d clients, %v per workload", cfg.Concurrency, cfg.Duration)
	ceiling, err := runCeiling(ctx, cfg, client, p)
	if err != nil {
		return fmt.Errorf("ceiling: %w", err)
	}

	var runs []dbRun
	if cfg.SQLite {
		path := filepath.Join(dir, "groups.db")
		if cfg.ReuseDB != "" {
			path = cfg.ReuseDB
		}
		r, err := benchDatabase(ctx, cfg, client, p, "sqlite", "sqlite:"+path, dir)
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		r.dbBytes = fileSize(path) + fileSize(path+"-wal")
		runs = append(runs, r)
	}
	if cfg.PostgresURL != "" {
		u, drop, err := postgresSchema(ctx, cfg.PostgresURL)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		r, err := benchDatabase(ctx, cfg, client, p, "postgres", u, dir)
		drop()
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		runs = append(runs, r)
	}

	report(stdout, cfg, ceiling, runs, machine(loadStart, loadAvg()))
	var failed int64
	failed += ceiling.errors
	for _, r := range runs {
		for _, res := range r.results {
			failed += res.errors
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d requests failed", failed)
	}
	return ctx.Err()
}

// benchDatabase seeds the database at dbURL, starts groupsd on it and runs
// every workload.
func benchDatabase(ctx context.Context, cfg Config, client *http.Client, p *progress, name, dbURL, dir string) (dbRun, error) {
	run := dbRun{db: name}
	env, seedTime, err := seed(ctx, cfg, p, name, dbURL)
	if err != nil {
		return run, err
	}
	run.seed, run.seedMembers = seedTime, env.seedMembers

	addr, err := freeAddr()
	if err != nil {
		return run, err
	}
	run.groupsd = filepath.Join(dir, "groupsd-"+name+".log")
	logf, err := os.Create(run.groupsd)
	if err != nil {
		return run, err
	}
	defer logf.Close()
	args := append([]string{"serve", "--addr", addr, "--database", dbURL}, cfg.ServerArgs...)
	cmd := exec.Command(cfg.Groupsd, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p.printf("%s: starting %s", name, strings.Join(append([]string{cfg.Groupsd}, args...), " "))
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return run, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				run.exitNote = "groupsd exited: " + err.Error()
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited //nolint:errcheck // killed: the exit status says nothing more
			run.exitNote = "groupsd did not stop within 20 s of SIGTERM"
		}
	}
	env.base, env.pid = "http://"+addr, cmd.Process.Pid
	if err := waitReady(ctx, client, env.base+"/readyz", exited); err != nil {
		stop()
		return run, fmt.Errorf("%w (log: %s)\n%s", err, run.groupsd, tail(run.groupsd, 20))
	}
	run.startup = time.Since(start)
	p.printf("%s: ready (/readyz 200) %v after start", name, run.startup.Round(time.Millisecond))
	pid := cmd.Process.Pid
	run.peakRSS = peakRSS(pid)

	for _, w := range cfg.Workloads {
		if ctx.Err() != nil {
			break
		}
		resetPeakRSS(pid)
		res, err := runWorkload(ctx, cfg, client, p, name, w, env)
		if err != nil {
			stop()
			return run, fmt.Errorf("%s: %w (log: %s)\n%s", w, err, run.groupsd, tail(run.groupsd, 20))
		}
		res.rss = peakRSS(pid)
		run.peakRSS = max(run.peakRSS, res.rss)
		run.results = append(run.results, res)
		select {
		case err := <-exited:
			return run, fmt.Errorf("groupsd exited during %s: %w\n%s", w, err, tail(run.groupsd, 20))
		default:
		}
	}
	stop()
	return run, nil
}

// seed fills the database with the large and the small organizations and
// returns what the workloads need: the large organization's ids and key.
func seed(ctx context.Context, cfg Config, p *progress, name, dbURL string) (*env, time.Duration, error) {
	start := time.Now()
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		return nil, 0, err
	}
	var e *env
	if name == "sqlite" && cfg.ReuseDB != "" {
		p.printf("%s: reusing %s", name, cfg.ReuseDB)
		e, err = reuse(ctx, cfg, db)
	} else {
		p.printf("%s: seeding %d groups in %q and %d x %d in small organizations", name, cfg.Groups, bigOrg, cfg.SmallOrgs, cfg.SmallGroups)
		e, err = fill(ctx, cfg, p, name, db, start)
	}
	// Close checkpoints the WAL: the server starts on a settled file, as it
	// would after a restart.
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, 0, err
	}
	d := time.Since(start)
	p.printf("%s: seeded in %v", name, d.Round(100*time.Millisecond))
	return e, d, nil
}

func fill(ctx context.Context, cfg Config, p *progress, name string, db *store.DB, start time.Time) (*env, error) {
	e := &env{groups: cfg.Groups, ids: make([]uuid.UUID, cfg.Groups), tag: randomTag()}
	last := time.Now()
	err := db.SeedGroups(ctx, bigOrg, cfg.Groups, store.SeedOptions{
		Name:    groupName,
		Created: func(i int, id string) { e.ids[i] = uuid.MustParse(id) },
		Progress: func(done int) {
			if time.Since(last) >= 2*time.Second || done == cfg.Groups {
				last = time.Now()
				p.printf("%s: seeded %d/%d groups (%v)", name, done, cfg.Groups, time.Since(start).Round(100*time.Millisecond))
			}
		},
	})
	if err != nil {
		return nil, err
	}
	plan := newMemberPlan(cfg.Members, cfg.Groups)
	p.printf("%s: seeding %d memberships in %q", name, plan.total(), bigOrg)
	mstart := time.Now()
	err = db.SeedMembers(ctx, bigOrg, plan.total(), func(i int) (string, string) {
		g, u := plan.member(i)
		return e.ids[g].String(), u
	}, store.SeedMemberOptions{Progress: func(done int) {
		if time.Since(last) >= 2*time.Second || done == plan.total() {
			last = time.Now()
			p.printf("%s: seeded %d/%d memberships (%v)", name, done, plan.total(), time.Since(start).Round(100*time.Millisecond))
		}
	}})
	if err != nil {
		return nil, err
	}
	e.seedMembers, e.heavy = time.Since(mstart), plan.heavyUsers()
	for i := range cfg.SmallOrgs {
		if err := db.SeedGroups(ctx, smallOrg(i), cfg.SmallGroups, store.SeedOptions{Name: groupName}); err != nil {
			return nil, err
		}
	}
	e.key, err = benchKey(ctx, db)
	return e, err
}

// benchKey creates the benchmark's key with a rate limit far above any load
// it drives: the limiter runs for every request (its cost is measured) but
// never refuses one.
func benchKey(ctx context.Context, db *store.DB) (string, error) {
	_, key, err := db.CreateKey(ctx, store.NewAPIKey{Org: bigOrg, Label: "groupsbench",
		RateLimit: &store.RateLimit{PerSecond: store.MaxRateLimit, Burst: store.MaxRateLimit}})
	return key, err
}

// reuse reads the ids of an earlier run's large organization back.
func reuse(ctx context.Context, cfg Config, db *store.DB) (*env, error) {
	e := &env{tag: randomTag()}
	for cur := ""; ; {
		page, err := db.ListGroups(ctx, bigOrg, store.ListQuery{Size: 1000, Cursor: cur})
		if err != nil {
			return nil, err
		}
		for _, g := range page.Groups {
			if len(e.ids) < cfg.Groups {
				e.ids = append(e.ids, uuid.MustParse(g.UUID))
			}
		}
		if cur = page.Next; cur == "" || len(e.ids) == cfg.Groups {
			break
		}
	}
	e.groups = len(e.ids)
	e.heavy = newMemberPlan(cfg.Members, cfg.Groups).heavyUsers()
	var err error
	e.key, err = benchKey(ctx, db)
	return e, err
}

// postgresSchema creates a schema of its own on the server at base and
// returns a URL using it, and a function that drops it.
func postgresSchema(ctx context.Context, base string) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, err
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	schema := "groupsbench_" + randomTag()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			fmt.Fprintf(os.Stderr, "groupsbench: dropping schema %s: %v\n", schema, err)
		}
		admin.Close()
	}
	return u.String(), drop, nil
}

func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        conns * 2,
			MaxIdleConnsPerHost: conns * 2,
			MaxConnsPerHost:     conns * 2,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// waitReady polls url until it answers 200, the process exits or 30 s pass.
func waitReady(ctx context.Context, client *http.Client, url string, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("server exited before it was ready: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return errors.New("server not ready after 30 s")
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// peakRSS reads the peak resident set size (VmHWM) of process pid, in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// procCPU is the user+system CPU time process pid has used (0 if unknown).
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command (which may contain spaces) start after ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on Linux.
const clockTicks = 100

// resetPeakRSS starts a new VmHWM window for pid (Linux 4.0+), so each
// workload reports its own peak.
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func tail(path string, lines int) string {
	b, _ := os.ReadFile(path)
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func randomTag() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// loadAvg is the 1-minute load average: other work on the machine skews
// every number, so the report shows it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// machine describes the machine for the report.
func machine(loadStart, loadEnd string) string {
	model := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			mem = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("machine: %d CPUs (%s), %s RAM; load average %s at start, %s at end (1 min)",
		runtime.NumCPU(), model, mem, loadStart, loadEnd)
}

// progress writes timestamped progress lines.
type progress struct {
	w     io.Writer
	start time.Time
}

func (p *progress) printf(format string, args ...any) {
	if p.start.IsZero() {
		p.start = time.Now()
	}
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}
