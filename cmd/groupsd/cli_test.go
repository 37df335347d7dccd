package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// cli runs the real binary with env added to an environment cleared of
// GROUPS_* variables, and returns its stdout, stderr and exit status.
func cli(t testing.TB, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, groupsdBinary(t), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GROUPS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if code = opsExitCode(err); code < 0 {
		t.Fatalf("groupsd %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// TestCLIHelp: every help path answers on stdout with exit status 0: the
// top level lists the commands, each command and keys subcommand lists its
// flags, and every serve and migrate flag names its environment variable
// and default.
func TestCLIHelp(t *testing.T) {
	top, _, code := cli(t, nil, "help")
	if code != 0 {
		t.Fatalf("groupsd help: exit %d", code)
	}
	for _, cmd := range []string{"serve", "migrate", "keys", "version", "help"} {
		if !regexp.MustCompile(`(?m)^\s+groupsd (\[)?` + cmd + `\b.*\S\s{2,}\S`).MatchString(top) {
			t.Errorf("groupsd help does not list %q with a line of its own:\n%s", cmd, top)
		}
	}
	// No arguments at all is a request for help too, not a server start.
	for _, args := range [][]string{{}, {"--help"}, {"-h"}, {"-help"}} {
		out, errOut, code := cli(t, nil, args...)
		if code != 0 || out != top || errOut != "" {
			t.Errorf("groupsd %v: exit %d, stdout %q, stderr %q; want exit 0 and the output of groupsd help", args, code, out, errOut)
		}
	}

	keysHelp, errOut, code := cli(t, nil, "keys", "--help")
	if code != 0 || strings.Contains(errOut, "unknown") {
		t.Fatalf("groupsd keys --help: exit %d, stderr %q", code, errOut)
	}
	for _, sub := range []string{"create", "list", "revoke"} {
		if !strings.Contains(keysHelp, "groupsd keys "+sub) {
			t.Errorf("groupsd keys --help does not show %s:\n%s", sub, keysHelp)
		}
	}
	if out, _, code := cli(t, nil, "keys", "-h"); code != 0 || out != keysHelp {
		t.Errorf("groupsd keys -h: exit %d, stdout %q", code, out)
	}

	flagLine := regexp.MustCompile(`^  --([a-z-]+)`)
	for _, c := range []struct {
		args  []string
		flags []string // flags that must be listed
		env   bool     // every flag names its GROUPS_* variable (else only --database does)
	}{
		{[]string{"serve", "-h"}, nil, true},
		{[]string{"serve", "--help"}, nil, true},
		{[]string{"migrate", "-h"}, []string{"database"}, true},
		{[]string{"keys", "create", "-h"}, []string{"database", "org", "name"}, false},
		{[]string{"keys", "list", "--help"}, []string{"database", "org"}, false},
		{[]string{"keys", "revoke", "-h"}, []string{"database"}, false},
	} {
		out, errOut, code := cli(t, nil, c.args...)
		if code != 0 || !strings.HasPrefix(out, "Usage: groupsd "+strings.Join(c.args[:len(c.args)-1], " ")) || errOut != "" {
			t.Errorf("groupsd %v: exit %d, stdout %q, stderr %q; want exit 0 and the usage on stdout", c.args, code, out, errOut)
			continue
		}
		// Each flag is a "  --name TYPE" line, its help, then a line with
		// its default and environment variable.
		lines := strings.Split(out, "\n")
		listed := map[string]string{}
		for i, line := range lines {
			if m := flagLine.FindStringSubmatch(line); m != nil && i+2 < len(lines) {
				listed[m[1]] = lines[i+1] + "\n" + lines[i+2]
			}
		}
		for _, f := range c.flags {
			if _, ok := listed[f]; !ok {
				t.Errorf("groupsd %v does not list --%s:\n%s", c.args, f, out)
			}
		}
		if len(listed) == 0 {
			t.Errorf("groupsd %v lists no flags:\n%s", c.args, out)
		}
		for f, help := range listed {
			want := "GROUPS_" + strings.ToUpper(strings.ReplaceAll(f, "-", "_"))
			if f == "database" {
				want = "GROUPS_DATABASE_URL"
			}
			if names := strings.Contains(help, "env "+want); names != (c.env || f == "database") {
				t.Errorf("groupsd %v: --%s names %s: %v, want %v:\n%s", c.args, f, want, names, !names, help)
			}
			if !strings.Contains(help, "(default ") {
				t.Errorf("groupsd %v: --%s shows no default:\n%s", c.args, f, help)
			}
		}
	}
	// The serve flags are exactly the Config's.
	out, _, _ := cli(t, nil, "serve", "-h")
	if got, want := len(regexp.MustCompile(`(?m)^  --[a-z-]+`).FindAllString(out, -1)), reflect.TypeFor[Config]().NumField(); got != want {
		t.Errorf("groupsd serve -h lists %d flags, want the %d of Config:\n%s", got, want, out)
	}
}

// TestCLIVersionFlag: groupsd --version prints what groupsd version prints.
func TestCLIVersionFlag(t *testing.T) {
	want, _, code := cli(t, nil, "version")
	if code != 0 || !strings.HasPrefix(want, "groupsd ") {
		t.Fatalf("groupsd version: exit %d, %q", code, want)
	}
	if got, errOut, code := cli(t, nil, "--version"); code != 0 || got != want {
		t.Errorf("groupsd --version: exit %d, stdout %q, stderr %q; want %q", code, got, errOut, want)
	}
}

// TestCLIBadValues: every bad value, from a flag or from the environment,
// is one line on stderr that names the flag, the variable and an accepted
// example, with exit status 2, before anything starts.
func TestCLIBadValues(t *testing.T) {
	for _, c := range []struct {
		env  []string
		args []string
		want []string // all in the one line
	}{
		{[]string{"GROUPS_REQUEST_TIMEOUT=10"}, []string{"serve"}, []string{"GROUPS_REQUEST_TIMEOUT", "--request-timeout", `"10s"`, "unit"}},
		{nil, []string{"serve", "--request-timeout", "10"}, []string{"GROUPS_REQUEST_TIMEOUT", "--request-timeout", `"10s"`, "unit"}},
		{nil, []string{"serve", "--shutdown-delay=soon"}, []string{"GROUPS_SHUTDOWN_DELAY", "--shutdown-delay", `"10s"`}},
		{[]string{"GROUPS_LOG_LEVEL=loud"}, []string{"serve"}, []string{"GROUPS_LOG_LEVEL", "--log-level", "debug"}},
		{nil, []string{"serve", "--log-level", "loud"}, []string{"GROUPS_LOG_LEVEL", "--log-level", "debug"}},
		{[]string{"GROUPS_LOG_FORMAT=xml"}, []string{"serve"}, []string{"GROUPS_LOG_FORMAT", "--log-format", "json"}},
		{[]string{"GROUPS_AUTH=maybe"}, []string{"serve"}, []string{"GROUPS_AUTH", "--auth", "keys"}},
		{[]string{"GROUPS_MIGRATE=perhaps"}, []string{"serve"}, []string{"GROUPS_MIGRATE", "--migrate", "true"}},
		{[]string{"GROUPS_DB_MAX_CONNS=many"}, []string{"serve"}, []string{"GROUPS_DB_MAX_CONNS", "--db-max-conns", "16"}},
		{nil, []string{"serve", "--database", "mysql://db"}, []string{"GROUPS_DATABASE_URL", "--database", "sqlite:PATH"}},
		{[]string{"GROUPS_DATABASE_URL=groups.db"}, []string{"serve"}, []string{"GROUPS_DATABASE_URL", "--database", "sqlite:PATH"}},
		{[]string{"GROUPS_DATABASE_URL=sqlite:"}, []string{"migrate"}, []string{"GROUPS_DATABASE_URL", "--database", "sqlite:PATH"}},
		{nil, []string{"keys", "list", "--database", "groups.db"}, []string{"GROUPS_DATABASE_URL", "--database", "sqlite:PATH"}},
		{[]string{"GROUPS_MAX_MEMBERS_PER_GROUP=0"}, []string{"serve"}, []string{"GROUPS_MAX_MEMBERS_PER_GROUP", "--max-members-per-group", "100000"}},
		{nil, []string{"serve", "--max-groups-per-user", "-1"}, []string{"GROUPS_MAX_GROUPS_PER_USER", "--max-groups-per-user", "1000"}},
		{[]string{"GROUPS_CURSOR_KEY=short"}, []string{"serve"}, []string{"GROUPS_CURSOR_KEY", "--cursor-key", "openssl rand"}},
		{nil, []string{"serve", "--max-groups-per-user", "lots"}, []string{"GROUPS_MAX_GROUPS_PER_USER", "--max-groups-per-user"}},
	} {
		out, errOut, code := cli(t, c.env, c.args...)
		line := strings.TrimSpace(errOut)
		if code != 2 || out != "" || strings.Contains(line, "\n") {
			t.Errorf("%v %v: exit %d, stdout %q, stderr %q; want exit 2 and one line on stderr", c.env, c.args, code, out, errOut)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(line, w) {
				t.Errorf("%v %v: %q does not say %q", c.env, c.args, line, w)
			}
		}
	}
}

// TestCLIEnvironmentStaysWithItsCommand: generic GROUPS_* variables do not
// leak into the keys commands: a key's label and organization are only
// what the command line says.
func TestCLIEnvironmentStaysWithItsCommand(t *testing.T) {
	database := "sqlite:" + filepath.Join(t.TempDir(), "groups.db")
	leaky := []string{"GROUPS_NAME=leaked-label", "GROUPS_ORG=leaked-org", "GROUPS_DATABASE_URL=" + database}
	out, errOut, code := cli(t, leaky, "keys", "create", "--org", "acme")
	if code != 0 {
		t.Fatalf("keys create: exit %d %s", code, errOut)
	}
	if !keyFormat.MatchString(strings.TrimSpace(out)) {
		t.Fatalf("keys create printed %q", out)
	}
	list, errOut, code := cli(t, leaky, "keys", "list")
	if code != 0 {
		t.Fatalf("keys list: exit %d %s", code, errOut)
	}
	if strings.Contains(list, "leaked") || !strings.Contains(list, "acme") {
		t.Errorf("keys list with GROUPS_NAME and GROUPS_ORG set (want acme's key, no label, no filter):\n%s", list)
	}
}
