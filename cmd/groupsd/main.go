// Command groupsd serves the Groups API v2 and manages its API keys.
//
//	groupsd serve             run the HTTP server (the default command)
//	groupsd migrate           apply pending database migrations and exit
//	groupsd keys create|list|revoke
//	groupsd version
//
// Every flag has a GROUPS_* environment equivalent (--request-timeout is
// GROUPS_REQUEST_TIMEOUT); a flag on the command line wins.
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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "groupsd:", err)
		}
		os.Exit(exitCode(err))
	}
}

// usageError marks a command-line mistake (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, stderr)
	case "migrate":
		return migrate(ctx, args, stdout, stderr)
	case "keys":
		return keys(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stderr, "usage: groupsd [serve|migrate|keys|version] [flags]; groupsd COMMAND -h for flags")
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q (want serve, migrate, keys or version)", cmd)}
}

// newFlagSet returns a flag set whose flags default to their GROUPS_*
// environment variables; call applyEnv after defining the flags.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// applyEnv sets each flag not given on the command line from GROUPS_<NAME>.
func applyEnv(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		names := []string{"GROUPS_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))}
		if f.Name == "database" {
			// The documented name; GROUPS_DATABASE also works.
			names = append([]string{"GROUPS_DATABASE_URL"}, names...)
		}
		for _, env := range names {
			if v, ok := os.LookupEnv(env); ok {
				if e := f.Value.Set(v); e != nil {
					err = usageError{fmt.Sprintf("%s=%q: %v", env, v, e)}
				}
				return
			}
		}
	})
	return err
}

// parse parses flags, allowing them before and after positional arguments
// (`keys revoke ID --database X`), then applies the environment. The
// positional arguments are left in fs.Args().
func parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	_ = fs.Parse(append([]string{"--"}, positional...))
	return applyEnv(fs)
}
