// Command groupsbench is the load benchmark behind `make bench`: it seeds a
// database with one large organization (1,000,000 groups by default) and ten
// small ones, starts groupsd on it, drives each workload for a fixed time at
// a fixed concurrency with the standard library's HTTP client, measures the
// same client against a bare Echo handler (the ceiling), and prints one
// table.
//
//	groupsbench -groupsd ./bin/groupsd             full run on SQLite
//	groupsbench -groupsd ./bin/groupsd -quick      30-second smoke run
//
// Postgres is measured too when GROUPS_BENCH_POSTGRES_URL is set (in a
// schema of its own, dropped afterwards). The exit status is 1 when any
// request failed, so `make test` catches a benchmark that rots.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Config is the benchmark's configuration, from flags.
type Config struct {
	Groupsd string
	Groups  int
	// Members is the number of memberships seeded in the large
	// organization (see memberPlan).
	Members     int
	SmallOrgs   int
	SmallGroups int
	Duration    time.Duration
	Warmup      time.Duration
	Concurrency int
	Workloads   []string
	Quick       bool
	PostgresURL string
	SQLite      bool
	KeepDir     bool
	ServerArgs  []string
	// ReuseDB is an SQLite file seeded by an earlier run (-keep) to measure
	// again without seeding; workloads that write change it.
	ReuseDB string
}

// DefaultConfig is the full run of `make bench`.
func DefaultConfig() Config {
	return Config{
		Groups:      1_000_000,
		Members:     1_000_000,
		SmallOrgs:   10,
		SmallGroups: 1000,
		Duration:    20 * time.Second,
		Warmup:      2 * time.Second,
		Concurrency: 32,
		Workloads:   allWorkloads,
		SQLite:      true,
	}
}

// quickConfig shrinks cfg to a smoke run of about 30 seconds.
func quickConfig(cfg Config) Config {
	cfg.Groups, cfg.SmallGroups, cfg.Members = 2000, 20, 20_000
	cfg.Duration, cfg.Warmup = 1500*time.Millisecond, 200*time.Millisecond
	return cfg
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == ceilingFlag {
		// Re-executed as the ceiling server, a process of its own like groupsd.
		if err := serveCeiling(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "groupsbench ceiling:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "groupsbench:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("groupsbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Groupsd, "groupsd", "", "path of the groupsd binary to measure (required)")
	fs.IntVar(&cfg.Groups, "n", cfg.Groups, "groups in the large organization")
	fs.IntVar(&cfg.Members, "members", cfg.Members, "memberships in the large organization")
	fs.IntVar(&cfg.SmallOrgs, "small-orgs", cfg.SmallOrgs, "number of small organizations")
	fs.IntVar(&cfg.SmallGroups, "small-groups", cfg.SmallGroups, "groups in each small organization")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured time of each workload")
	fs.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "unmeasured time before each workload")
	fs.IntVar(&cfg.Concurrency, "c", cfg.Concurrency, "concurrent clients")
	workloads := fs.String("workloads", strings.Join(allWorkloads, ","), "comma-separated workloads to run: "+strings.Join(allWorkloads, ", "))
	fs.BoolVar(&cfg.Quick, "quick", false, "smoke run of about 30 s: small database, short workloads; fails only on errors")
	fs.StringVar(&cfg.PostgresURL, "postgres", os.Getenv("GROUPS_BENCH_POSTGRES_URL"), "also measure Postgres at this URL (default $GROUPS_BENCH_POSTGRES_URL)")
	fs.BoolVar(&cfg.SQLite, "sqlite", cfg.SQLite, "measure SQLite")
	fs.BoolVar(&cfg.KeepDir, "keep", false, "keep the temporary directory (database, server log)")
	fs.StringVar(&cfg.ReuseDB, "reuse", "", "measure this SQLite file seeded by an earlier run (-keep) instead of seeding a new one (for profiling iterations; its writes accumulate)")
	serverArgs := fs.String("server-args", "", "extra flags for groupsd serve, space-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.Groupsd == "" {
		return errors.New("-groupsd PATH is required (make bench builds bin/groupsd)")
	}
	if cfg.Quick {
		q := quickConfig(cfg)
		// Explicit flags still win over the quick defaults.
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "n":
				q.Groups = cfg.Groups
			case "members":
				q.Members = cfg.Members
			case "small-groups":
				q.SmallGroups = cfg.SmallGroups
			case "duration":
				q.Duration = cfg.Duration
			case "warmup":
				q.Warmup = cfg.Warmup
			}
		})
		cfg = q
	}
	cfg.Workloads = nil
	for _, w := range strings.Split(*workloads, ",") {
		if w = strings.TrimSpace(w); w == "" {
			continue
		}
		if !knownWorkload(w) {
			return fmt.Errorf("unknown workload %q (want %s)", w, strings.Join(allWorkloads, ", "))
		}
		cfg.Workloads = append(cfg.Workloads, w)
	}
	cfg.ServerArgs = strings.Fields(*serverArgs)
	if cfg.Groups < 100 || cfg.Concurrency < 1 {
		return errors.New("-n must be at least 100 and -c at least 1")
	}
	if cfg.Members < 10*1001 {
		return errors.New("-members must be at least 10010 (the big group needs more than one page of 1,000)")
	}
	return bench(ctx, cfg, stdout, stderr)
}
