package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/groupsd/groupsd/store"
)

// migrateStatus runs `groupsd migrate status`: every migration of this
// binary, applied or pending, without applying any.
func migrateStatus(ctx context.Context, database string, stdout io.Writer) error {
	db, err := store.Open(ctx, database, store.Options{SkipMigrations: true})
	if err != nil {
		return err
	}
	defer db.Close()
	ms, err := db.Migrations(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "VERSION\tSTATE\tAPPLIED AT\tMIGRATION")
	pending := 0
	for _, m := range ms {
		state, at := "applied", m.AppliedAt.Format(time.RFC3339)
		if !m.Applied {
			state, at = "pending", "-"
			pending++
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", m.Version, state, at, m.Name)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d applied, %d pending\n", len(ms)-pending, pending)
	return nil
}
