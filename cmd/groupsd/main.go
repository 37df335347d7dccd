// Command groupsd serves the Groups API v2 and manages its API keys.
//
//	groupsd serve             run the HTTP server
//	groupsd                   print the commands (as does groupsd help)
//	groupsd migrate           apply pending database migrations and exit
//	groupsd keys create|list|revoke
//	groupsd version
//
// Every serve and migrate flag has a GROUPS_* environment equivalent
// (--request-timeout is GROUPS_REQUEST_TIMEOUT); a flag on the command line
// wins. Configuration is read here only: flags and environment become a
// Config, and Main.Run wires the store, server, metrics and docs from it.
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
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "groupsd:", err)
		os.Exit(exitCode(err))
	}
}

// usageError marks a command-line or configuration mistake (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

const usageText = `groupsd serves the Groups API v2 and manages its API keys.

Usage:
  groupsd serve [flags]             run the HTTP server
  groupsd migrate [status] [flags]  apply pending database migrations (status: list them) and exit
  groupsd keys create|list|revoke   create, list and revoke API keys
  groupsd version                   print the version and exit (also --version)
  groupsd help                      print this help (also -h, --help)

Run "groupsd COMMAND -h" for the flags of a command. Every serve and migrate
flag can also be set through its GROUPS_* environment variable, named in the
flag's help; a flag on the command line wins.
`

// run runs the command in args. lookupEnv reads the environment (os.LookupEnv
// in main), stdout gets a command's output and help, stderr its messages
// and logs. A request for help is not an error.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, lookupEnv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	// No arguments prints the help: a newcomer's first `groupsd` should not
	// bind a port and create groups.db in the current directory. Flags
	// without a command still mean serve, so `groupsd --addr ...` keeps
	// working in existing scripts.
	cmd := "serve"
	if len(args) == 0 {
		cmd = "help"
	} else if !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	} else {
		switch args[0] {
		case "-h", "-help", "--help":
			cmd = "help"
		case "-version", "--version":
			cmd = "version"
		}
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, lookupEnv, stdout, stderr)
	case "migrate":
		return migrate(ctx, args, lookupEnv, stdout)
	case "keys":
		return keys(ctx, args, lookupEnv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help":
		fmt.Fprint(stdout, usageText)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q (want serve, migrate, keys, version or help)", cmd)}
}
