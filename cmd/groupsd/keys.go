package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/groupsd/groupsd/store"
)

func keys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"usage: groupsd keys create --org ORG [--name LABEL] | list [--org ORG] | revoke ID_OR_SECRET"}
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("keys "+sub, stderr)
	database := fs.String("database", defaultDatabase, "database URL: sqlite:PATH or postgres://...")
	switch sub {
	case "create":
		org := fs.String("org", "", "organization slug the key belongs to (required)")
		name := fs.String("name", "", "a label for the key")
		if err := parse(fs, args); err != nil {
			return err
		}
		if *org == "" {
			return usageError{"keys create: --org is required"}
		}
		if !store.ValidOrg(*org) {
			return usageError{fmt.Sprintf("keys create: organization %q must be a slug: lowercase letters, digits and '-', 1 to 63 characters, not starting with '-'", *org)}
		}
		db, err := store.Open(ctx, *database, store.Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		k, secret, err := db.CreateAPIKey(ctx, *org, *name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "created key %s for organization %s; the secret below is shown only once\n", k.ID, k.Org)
		fmt.Fprintln(stdout, secret)
		return nil
	case "list":
		org := fs.String("org", "", "only keys of this organization")
		if err := parse(fs, args); err != nil {
			return err
		}
		db, err := store.Open(ctx, *database, store.Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		list, err := db.ListAPIKeys(ctx, *org)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tORG\tLABEL\tCREATED\tLAST USED\tREVOKED")
		for _, k := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Org, k.Label, stamp(&k.CreatedAt), stamp(k.LastUsedAt), stamp(k.RevokedAt))
		}
		return tw.Flush()
	case "revoke":
		if err := parse(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usageError{"usage: groupsd keys revoke ID_OR_SECRET"}
		}
		db, err := store.Open(ctx, *database, store.Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		k, err := db.RevokeAPIKey(ctx, fs.Arg(0))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("keys revoke: no such key")
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "revoked key %s of organization %s\n", k.ID, k.Org)
		return nil
	}
	return usageError{fmt.Sprintf("unknown keys command %q (want create, list or revoke)", sub)}
}

func stamp(ms *int64) string {
	if ms == nil {
		return "-"
	}
	return time.UnixMilli(*ms).UTC().Format(time.RFC3339)
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	database := fs.String("database", defaultDatabase, "database URL: sqlite:PATH or postgres://...")
	if err := parse(fs, args); err != nil {
		return err
	}
	db, err := store.Open(ctx, *database, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema at version %d\n", v)
	return nil
}
