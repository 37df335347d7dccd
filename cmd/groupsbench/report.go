package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// target is one of the goals for SQLite with 1M groups.
type target struct {
	minRatio float64       // of the ceiling's requests/s
	minRate  float64       // requests/s
	maxP99   time.Duration // 0: none
}

var targets = map[string]target{
	"get":      {minRatio: 0.5, maxP99: 5 * time.Millisecond},
	"list":     {minRatio: 0.3, maxP99: 10 * time.Millisecond},
	"cursor":   {maxP99: 10 * time.Millisecond},
	"listDeep": {maxP99: 100 * time.Millisecond},
	"search":   {maxP99: 25 * time.Millisecond},
	"create":   {minRate: 5000},
	// Membership (issue 13), with 1M memberships on top of the 1M groups.
	"addMember":     {minRate: 3000},
	"listMembers":   {maxP99: 10 * time.Millisecond},
	"memberCursor":  {maxP99: 10 * time.Millisecond},
	"userGroups":    {maxP99: 10 * time.Millisecond},
	"changeMembers": {maxP99: 150 * time.Millisecond},
}

// memberWorkloads are judged only with the full 1M memberships.
var memberWorkloads = map[string]bool{"addMember": true, "listMembers": true, "memberCursor": true,
	"userGroups": true, "changeMembers": true}

const (
	maxPeakRSS = 100 << 20
	maxStartup = 300 * time.Millisecond
	// maxSeedMembers is the target for seeding 1M memberships on SQLite.
	maxSeedMembers = 30 * time.Second
)

func (t target) String() string {
	var parts []string
	if t.minRatio > 0 {
		parts = append(parts, fmt.Sprintf(">=%.1fx", t.minRatio))
	}
	if t.minRate > 0 {
		parts = append(parts, fmt.Sprintf(">=%.0f/s", t.minRate))
	}
	if t.maxP99 > 0 {
		parts = append(parts, "p99<="+t.maxP99.String())
	}
	return strings.Join(parts, ", ")
}

func (t target) met(r result, ratio float64) bool {
	return ratio >= t.minRatio && r.rate() >= t.minRate && (t.maxP99 == 0 || r.p99 <= t.maxP99)
}

// judged reports whether a run is the configuration the targets are set for.
func judged(cfg Config, db string) bool {
	return db == "sqlite" && !cfg.Quick && cfg.Groups >= 1_000_000 && cfg.Concurrency == 32
}

func report(w io.Writer, cfg Config, ceiling result, runs []dbRun, machine string) {
	fmt.Fprintf(w, "\ngroupsbench: %d groups and %d memberships in one organization + %d x %d groups, %d clients, %v per workload (after %v warmup), %s\n%s\n\n",
		cfg.Groups, cfg.Members, cfg.SmallOrgs, cfg.SmallGroups, cfg.Concurrency, cfg.Duration, cfg.Warmup, runtime.Version(), machine)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "db\tworkload\treq/s\tp50\tp99\tmax\terrors\tvs ceiling\tpeak RSS\tserver CPU/req\tclient CPU/req\ttarget\t")
	row := func(r result, ratio string, rss string, tgt string) {
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", r.db, r.workload, r.rate(),
			ms(r.p50), ms(r.p99), ms(r.max), r.errors, ratio, rss, us(r.serverCPU), us(r.clientCPU), tgt)
	}
	row(ceiling, "1.00", "-", "")
	var notes []string
	for _, run := range runs {
		for _, r := range run.results {
			ratio := r.rate() / ceiling.rate()
			tgt := ""
			if t, ok := targets[r.workload]; ok {
				tgt = t.String()
				if judged(cfg, run.db) && (!memberWorkloads[r.workload] || cfg.Members >= 1_000_000) {
					tgt += verdict(t.met(r, ratio))
				}
			}
			row(r, fmt.Sprintf("%.2f", ratio), mib(r.rss), tgt)
		}
		line := fmt.Sprintf("%s: seeded in %v (memberships %v); ready %v after start; peak RSS %s over the whole run",
			run.db, run.seed.Round(100*time.Millisecond), run.seedMembers.Round(100*time.Millisecond), run.startup.Round(time.Millisecond), mib(run.peakRSS))
		if run.dbBytes > 0 {
			line += fmt.Sprintf("; database %s", mib(run.dbBytes))
		}
		if judged(cfg, run.db) {
			line += fmt.Sprintf(" [start <=%v%s, RSS <=%s%s", maxStartup, verdict(run.startup <= maxStartup),
				mib(maxPeakRSS), verdict(run.peakRSS <= maxPeakRSS))
			if cfg.Members >= 1_000_000 && cfg.ReuseDB == "" {
				line += fmt.Sprintf(", memberships seed <=%v%s", maxSeedMembers, verdict(run.seedMembers <= maxSeedMembers))
			}
			line += "]"
		}
		if run.db == "postgres" {
			line += " (groupsd's RSS only; the PostgreSQL server's processes are not counted)"
		}
		if run.exitNote != "" {
			line += "; " + run.exitNote
		}
		notes = append(notes, line)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	if cfg.Quick {
		fmt.Fprintln(w, "quick run: checks only that every request succeeded; targets apply to the full run (make bench)")
	}
}

func verdict(ok bool) string {
	if ok {
		return " met"
	}
	return " MISSED"
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func us(d time.Duration) string {
	return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
}

func mib(b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}
