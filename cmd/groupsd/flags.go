package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/groupsd/groupsd/store"
)

// flags is a command's flag set. Each flag may name the GROUPS_* environment
// variables it falls back to; a flag without one is never read from the
// environment, so a generic variable (GROUPS_NAME) cannot leak into a
// command that merely has a flag of that name.
type flags struct {
	fs    *flag.FlagSet
	cmd   string              // "serve", "keys create", ...
	args  string              // positional arguments for the usage line
	about string              // one sentence for the usage text
	out   io.Writer           // where -h prints the usage
	env   map[string][]string // flag name → environment variables, first set wins
	order []string            // flag names in definition order, for the usage
	bad   *valueError         // the last value a flag refused, for the message
}

// valueError is a flag value that its flag refused.
type valueError struct {
	flag, value string
	err         error
}

func newFlags(cmd, args, about string, out io.Writer) *flags {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	// The flag package's own messages and usage are replaced by ours: one
	// line per error, and the usage only when asked for.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flags{fs: fs, cmd: cmd, args: args, about: about, out: out, env: map[string][]string{}}
}

// value is a flag.Value that names its kind of argument for the usage.
type value interface {
	flag.Value
	kind() string
}

func (f *flags) define(v value, name, usage string, env ...string) {
	f.fs.Var(&recorder{v, name, f}, name, usage)
	f.order = append(f.order, name)
	if len(env) > 0 {
		f.env[name] = env
	}
}

// String, Bool, Int, Duration, Choice and Database define flags; env lists
// the environment variables each one reads.
func (f *flags) String(p *string, name, usage string, env ...string) {
	f.define((*stringValue)(p), name, usage, env...)
}

func (f *flags) Bool(p *bool, name, usage string, env ...string) {
	f.define((*boolValue)(p), name, usage, env...)
}

func (f *flags) Int(p *int, name, usage string, env ...string) {
	f.define((*intValue)(p), name, usage, env...)
}

func (f *flags) Duration(p *time.Duration, name, usage string, env ...string) {
	f.define((*durationValue)(p), name, usage, env...)
}

func (f *flags) Choice(p *string, check func(string) error, name, usage string, env ...string) {
	f.define(&choiceValue{p, check}, name, usage, env...)
}

// Database defines --database, read from GROUPS_DATABASE_URL (the
// documented name) or GROUPS_DATABASE, and checked when parsed so that a
// malformed URL is a usage error.
func (f *flags) Database(p *string) {
	f.Choice(p, func(s string) error {
		if _, _, err := store.ParseURL(s); err != nil {
			return errors.New("want sqlite:PATH or postgres://user@host:5432/db")
		}
		return nil
	}, "database", "database URL: sqlite:PATH or postgres://user@host:5432/db", "GROUPS_DATABASE_URL", "GROUPS_DATABASE")
}

// oneOf accepts exactly the given words.
func oneOf(words ...string) func(string) error {
	return func(s string) error {
		for _, w := range words {
			if s == w {
				return nil
			}
		}
		return fmt.Errorf("want %s", orList(words))
	}
}

// logLevel accepts what slog.Level does: debug, info, warn, error (with an
// optional offset such as warn+2).
func logLevel(s string) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return errors.New("want debug, info, warn or error")
	}
	return nil
}

func orList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// parse parses args, allowing flags before and after positional arguments
// (`keys revoke ID --database X`), then applies the environment through
// lookup (os.LookupEnv in main). The positional arguments are left in
// f.fs.Args(). -h and --help print the usage to f.out and return
// flag.ErrHelp.
func (f *flags) parse(args []string, lookup func(string) (string, bool)) error {
	var positional []string
	for {
		f.bad = nil
		if err := f.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.usage(f.out)
				return err
			}
			if b := f.bad; b != nil {
				msg := fmt.Sprintf("--%s %q: %v", b.flag, b.value, b.err)
				if env := f.env[b.flag]; len(env) > 0 {
					msg += fmt.Sprintf(" (env %s)", env[0])
				}
				return usageError{msg}
			}
			return usageError{fmt.Sprintf("%s: %v (see groupsd %s -h)", f.cmd, strings.Replace(err.Error(), " -", " --", 1), f.cmd)}
		}
		args = f.fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	_ = f.fs.Parse(append([]string{"--"}, positional...))
	return f.applyEnv(lookup)
}

// applyEnv sets each flag not given on the command line from the first of
// its environment variables that is set.
func (f *flags) applyEnv(lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	for _, name := range f.order {
		if given[name] {
			continue
		}
		for _, env := range f.env[name] {
			v, ok := lookup(env)
			if !ok {
				continue
			}
			if err := f.fs.Lookup(name).Value.(*recorder).v.Set(v); err != nil {
				return usageError{fmt.Sprintf("%s=%q (--%s): %v", env, v, name, err)}
			}
			break
		}
	}
	return nil
}

// usage prints the command's usage: every flag with its argument, meaning,
// default and environment variables.
func (f *flags) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: groupsd %s [flags]%s\n\n", f.cmd, f.args)
	if f.about != "" {
		fmt.Fprintf(w, "%s\n\n", f.about)
	}
	if len(f.order) == 0 {
		return
	}
	fmt.Fprintln(w, "Flags:")
	for _, name := range f.order {
		fl := f.fs.Lookup(name)
		v := fl.Value.(*recorder).v
		fmt.Fprintf(w, "  --%s", name)
		if k := v.kind(); k != "" {
			fmt.Fprintf(w, " %s", k)
		}
		fmt.Fprintf(w, "\n      %s\n", fl.Usage)
		notes := []string{"default " + fl.DefValue}
		if fl.DefValue == "" {
			notes[0] = `default ""`
		}
		if env := f.env[name]; len(env) > 0 {
			notes = append(notes, "env "+strings.Join(env, " or "))
		}
		fmt.Fprintf(w, "      (%s)\n", strings.Join(notes, "; "))
	}
}

// recorder wraps a flag's value to remember a refused value, so parse can
// say which flag and which variable in one line.
type recorder struct {
	v    value
	name string
	f    *flags
}

func (r *recorder) String() string {
	if r == nil || r.v == nil {
		return ""
	}
	return r.v.String()
}

func (r *recorder) Set(s string) error {
	if err := r.v.Set(s); err != nil {
		r.f.bad = &valueError{r.name, s, err}
		return err
	}
	return nil
}

// IsBoolFlag lets a boolean flag stand alone (--migrate means true).
func (r *recorder) IsBoolFlag() bool {
	_, ok := r.v.(*boolValue)
	return ok
}

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string     { return string(*s) }
func (s *stringValue) kind() string       { return "string" }

type boolValue bool

func (b *boolValue) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return errors.New("want true or false")
	}
	*b = boolValue(x)
	return nil
}
func (b *boolValue) String() string { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) kind() string   { return "" }

type intValue int

func (n *intValue) Set(v string) error {
	x, err := strconv.Atoi(v)
	if err != nil {
		return errors.New("want a whole number, such as 16")
	}
	*n = intValue(x)
	return nil
}
func (n *intValue) String() string { return strconv.Itoa(int(*n)) }
func (n *intValue) kind() string   { return "int" }

type durationValue time.Duration

func (d *durationValue) Set(v string) error {
	x, err := time.ParseDuration(v)
	if err != nil {
		if _, nerr := strconv.ParseFloat(v, 64); nerr == nil {
			return fmt.Errorf("a duration needs a unit: want %q, %q or %q, for example", v+"s", v+"ms", v+"m")
		}
		return errors.New(`want a duration with a unit, such as "10s", "500ms" or "1m30s"`)
	}
	*d = durationValue(x)
	return nil
}
func (d *durationValue) String() string { return time.Duration(*d).String() }
func (d *durationValue) kind() string   { return "duration" }

// choiceValue is a string that check must accept.
type choiceValue struct {
	p     *string
	check func(string) error
}

func (c *choiceValue) Set(v string) error {
	if err := c.check(v); err != nil {
		return err
	}
	*c.p = v
	return nil
}

func (c *choiceValue) String() string {
	if c == nil || c.p == nil {
		return ""
	}
	return *c.p
}
func (c *choiceValue) kind() string { return "string" }

// Float defines a flag holding a number such as 2.5.
func (f *flags) Float(p *float64, name, usage string, env ...string) {
	f.define((*floatValue)(p), name, usage, env...)
}

type floatValue float64

func (n *floatValue) Set(v string) error {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return errors.New("want a number, such as 100 or 2.5")
	}
	*n = floatValue(x)
	return nil
}
func (n *floatValue) String() string { return strconv.FormatFloat(float64(*n), 'g', -1, 64) }
func (n *floatValue) kind() string   { return "number" }

// Days defines a flag holding a long duration written in days ("90d") or
// as a Go duration ("36h").
func (f *flags) Days(p *time.Duration, name, usage string, env ...string) {
	f.define((*daysValue)(p), name, usage, env...)
}

type daysValue time.Duration

func (d *daysValue) Set(v string) error {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*366 {
			return errors.New(`want a number of days such as "90d", or a duration such as "36h"`)
		}
		*d = daysValue(time.Duration(days) * 24 * time.Hour)
		return nil
	}
	x, err := time.ParseDuration(v)
	if err != nil || x < 0 {
		return errors.New(`want a number of days such as "90d", or a duration such as "36h"`)
	}
	*d = daysValue(x)
	return nil
}

func (d *daysValue) String() string {
	x := time.Duration(*d)
	if x%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(x/(24*time.Hour)), 10) + "d"
	}
	return x.String()
}
func (d *daysValue) kind() string { return "days" }
