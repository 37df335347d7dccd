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

const keysUsage = `Usage:
  groupsd keys create --org ORG [--name LABEL]   create a key; prints its secret, once, on stdout
  groupsd keys list [--org ORG]                  list keys: id, organization, label, dates (never secrets)
  groupsd keys revoke ID_OR_SECRET               revoke a key, by its id or by the secret itself

Each takes --database (or GROUPS_DATABASE_URL); run "groupsd keys COMMAND -h" for its flags.
`

// keys runs `groupsd keys ...`. Only --database reads the environment: a
// key's organization and label are always given explicitly.
func keys(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"usage: groupsd keys create --org ORG [--name LABEL] | list [--org ORG] | revoke ID_OR_SECRET (see groupsd keys --help)"}
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, keysUsage)
		return nil
	}
	database := defaultDatabase
	newKeyFlags := func(args, about string) *flags {
		f := newFlags("keys "+sub, args, about, stdout)
		f.Database(&database)
		return f
	}
	switch sub {
	case "create":
		var org, name string
		fs := newKeyFlags("", "Creates an API key for an organization and prints its secret, once, on stdout.")
		fs.String(&org, "org", "organization slug the key belongs to (required)")
		fs.String(&name, "name", "a label for the key")
		if err := fs.parse(args, lookupEnv); err != nil {
			return err
		}
		if org == "" {
			return usageError{"keys create: --org is required"}
		}
		if !store.ValidOrg(org) {
			return usageError{fmt.Sprintf("keys create: organization %q must be a slug: lowercase letters, digits and '-', 1 to 63 characters, not starting with '-'", org)}
		}
		db, err := store.Open(ctx, database, store.Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		k, secret, err := db.CreateAPIKey(ctx, org, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "created key %s for organization %s; the secret below is shown only once\n", k.ID, k.Org)
		fmt.Fprintln(stdout, secret)
		return nil
	case "list":
		var org string
		fs := newKeyFlags("", "Lists API keys: id, organization, label, created, last used, revoked. Secrets are never shown.")
		fs.String(&org, "org", "only keys of this organization")
		if err := fs.parse(args, lookupEnv); err != nil {
			return err
		}
		db, err := store.Open(ctx, database, store.Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		list, err := db.ListAPIKeys(ctx, org)
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
		fs := newKeyFlags(" ID_OR_SECRET", "Revokes an API key, named by its id or by the secret itself; servers refuse it from then on.")
		if err := fs.parse(args, lookupEnv); err != nil {
			return err
		}
		if fs.fs.NArg() != 1 {
			return usageError{"usage: groupsd keys revoke ID_OR_SECRET"}
		}
		db, err := store.Open(ctx, database, store.Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		k, err := db.RevokeAPIKey(ctx, fs.fs.Arg(0))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("keys revoke: no such key")
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "revoked key %s of organization %s\n", k.ID, k.Org)
		return nil
	}
	return usageError{fmt.Sprintf("unknown keys command %q (want create, list or revoke; see groupsd keys --help)", sub)}
}

func stamp(ms *int64) string {
	if ms == nil {
		return "-"
	}
	return time.UnixMilli(*ms).UTC().Format(time.RFC3339)
}

// migrate runs `groupsd migrate`: it applies pending migrations and prints
// the schema version; `groupsd migrate status` lists them instead.
func migrate(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout io.Writer) error {
	database := defaultDatabase
	fs := newFlags("migrate", " [status]", "Applies pending database migrations, prints the schema version and exits. With status, lists every migration as applied or pending and applies none.", stdout)
	fs.Database(&database)
	if err := fs.parse(args, lookupEnv); err != nil {
		return err
	}
	if fs.fs.NArg() == 1 && fs.fs.Arg(0) == "status" {
		return migrateStatus(ctx, database, stdout)
	}
	if fs.fs.NArg() > 0 {
		return usageError{fmt.Sprintf("migrate: unexpected argument %q (want status or nothing)", fs.fs.Arg(0))}
	}
	db, err := store.Open(ctx, database, store.Options{})
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
