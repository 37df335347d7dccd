package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/groupsd/groupsd/server"
	"github.com/groupsd/groupsd/store"
)

const keysUsage = `Usage:
  groupsd keys create --org ORG [--scopes S,S] [--expires-in 90d] [--name LABEL]
                                                 create a key; prints its secret, once, on stdout
  groupsd keys list [--org ORG]                  list keys: id, organization, label, scopes, dates (never secrets)
  groupsd keys rotate ID [--grace 24h]           give a key a new secret (printed on stdout); the old one works for --grace
  groupsd keys revoke ID_OR_SECRET               revoke a key, by its id or by the secret itself

Scopes: groups:read, groups:write, webhooks:manage, keys:manage (default groups:read,groups:write).
Each takes --database (or GROUPS_DATABASE_URL); run "groupsd keys COMMAND -h" for its flags.
`

// keys runs `groupsd keys ...`. Only --database reads the environment: a
// key's organization and label are always given explicitly.
func keys(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"usage: groupsd keys create --org ORG [--scopes S,S] [--expires-in 90d] [--name LABEL] | list [--org ORG] | rotate ID | revoke ID_OR_SECRET (see groupsd keys --help)"}
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
		var org, name, scopes string
		var rateLimit float64
		var rateBurst int
		expiresIn, maxLifetime := time.Duration(0), DefaultMaxKeyLifetime
		scopes = strings.Join(store.DefaultScopes, ",")
		fs := newKeyFlags("", "Creates an API key for an organization and prints its secret, once, on stdout.")
		fs.String(&org, "org", "organization slug the key belongs to (required)")
		fs.String(&name, "name", "a label for the key")
		fs.String(&scopes, "scopes", "comma-separated scopes: "+strings.Join(store.Scopes, ", "))
		fs.Days(&expiresIn, "expires-in", "lifetime of the key, such as 90d (0 = --max-key-lifetime, or never when that is 0)")
		fs.Days(&maxLifetime, "max-key-lifetime", "longest lifetime allowed, such as 360d (0 = no limit)")
		fs.Float(&rateLimit, "rate-limit", "this key's own rate limit in requests per second (0 = the server's default)")
		fs.Int(&rateBurst, "rate-burst", "this key's own burst, with --rate-limit")
		if err := fs.parse(args, lookupEnv); err != nil {
			return err
		}
		if org == "" {
			return usageError{"keys create: --org is required"}
		}
		if !store.ValidOrg(org) {
			return usageError{fmt.Sprintf("keys create: organization %q must be a slug: lowercase letters, digits and '-', 1 to 63 characters, not starting with '-'", org)}
		}
		in := store.NewAPIKey{Org: org, Label: name}
		var err error
		if in.Scopes, err = store.CanonicalScopes(strings.Split(scopes, ",")); err != nil {
			return usageError{fmt.Sprintf("keys create: --scopes %q: %v", scopes, err)}
		}
		switch {
		case maxLifetime > 0 && expiresIn > maxLifetime:
			return usageError{fmt.Sprintf("keys create: --expires-in %s is longer than --max-key-lifetime %s", (*daysValue)(&expiresIn), (*daysValue)(&maxLifetime))}
		case expiresIn == 0:
			expiresIn = maxLifetime
		}
		if expiresIn > 0 {
			in.ExpiresAt = ptrTo(time.Now().Add(expiresIn).UnixMilli())
		}
		if rateLimit != 0 || rateBurst != 0 {
			in.RateLimit = &store.RateLimit{PerSecond: rateLimit, Burst: rateBurst}
		}
		db, err := store.Open(ctx, database, store.Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		k, secret, err := db.CreateKey(ctx, in)
		var ie *store.InvalidError
		if errors.As(err, &ie) {
			return usageError{"keys create: " + ie.Error()}
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "created key %s for organization %s with scopes %s, expiring %s; the secret below is shown only once\n",
			k.ID, k.Org, strings.Join(k.Scopes, ","), stamp(k.ExpiresAt))
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
		fmt.Fprintln(tw, "ID\tORG\tLABEL\tSCOPES\tCREATED\tEXPIRES\tLAST USED\tREVOKED")
		for _, k := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Org, k.Label, strings.Join(k.Scopes, ","),
				stamp(&k.CreatedAt), stamp(k.ExpiresAt), stamp(k.LastUsedAt), stamp(k.RevokedAt))
		}
		return tw.Flush()
	case "rotate":
		grace := server.DefaultRotationGrace
		fs := newKeyFlags(" ID", "Gives an API key a new secret and prints it, once, on stdout; the old secret keeps working for --grace.")
		fs.Duration(&grace, "grace", "how long the old secret keeps working (at most 168h)")
		if err := fs.parse(args, lookupEnv); err != nil {
			return err
		}
		if fs.fs.NArg() != 1 {
			return usageError{"usage: groupsd keys rotate ID [--grace 24h]"}
		}
		db, err := store.Open(ctx, database, store.Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		list, err := db.ListAPIKeys(ctx, "")
		if err != nil {
			return err
		}
		id := fs.fs.Arg(0)
		i := slices.IndexFunc(list, func(k store.APIKey) bool { return k.ID == id && k.RevokedAt == nil })
		if i < 0 {
			return fmt.Errorf("keys rotate: no such key")
		}
		k, secret, err := db.RotateAPIKey(ctx, list[i].Org, id, grace)
		var ie *store.InvalidError
		if errors.As(err, &ie) {
			return usageError{"keys rotate: --grace: " + ie.Reason}
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "rotated key %s of organization %s; the old secret works until %s; the new secret below is shown only once\n",
			k.ID, k.Org, stamp(k.PreviousExpiresAt))
		fmt.Fprintln(stdout, secret)
		return nil
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
	return usageError{fmt.Sprintf("unknown keys command %q (want create, list, rotate or revoke; see groupsd keys --help)", sub)}
}

func ptrTo[T any](v T) *T { return &v }

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
