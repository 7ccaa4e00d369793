package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wfpsandbox/wfpsandbox/arbiter"
)

// Flag values are checked as they are parsed, so that a bad value is reported with the
// flag's name and what it accepts (`--profile: unknown profile "x": want baseline or
// strict`) before the command does anything.

// choiceFlag adds a string flag whose value must be one of choices.
func choiceFlag(fs *flag.FlagSet, name, value, usage string, choices ...string) *string {
	p := &value
	fs.Func(name, usage+" (default "+value+")", func(s string) error {
		if !slices.Contains(choices, s) {
			return fmt.Errorf("%q: want %s", s, orList(choices))
		}
		*p = s
		return nil
	})
	return p
}

// durationFlag adds a duration flag that says which forms it accepts.
func durationFlag(fs *flag.FlagSet, name string, value time.Duration, usage string) *time.Duration {
	p := &value
	fs.Func(name, usage, func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration: want a number with a unit, such as 90s, 10m or 2h", s)
		}
		if d < 0 {
			// No duration flag has a meaning for a negative value (ensure's backoff
			// took it as "retry at once" without a word).
			return fmt.Errorf("%q is negative: want 0 or more, such as 90s, 10m or 2h", s)
		}
		*p = d
		return nil
	})
	return p
}

// intRangeFlag adds an integer flag whose value must lie in [lo, hi].
func intRangeFlag(fs *flag.FlagSet, name string, value, lo, hi int, usage string) *int {
	p := &value
	fs.Func(name, usage, func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%q: want a number from %d to %d", s, lo, hi)
		}
		*p = n
		return nil
	})
	return p
}

// orList renders choices as "a, b or c".
func orList(choices []string) string {
	if len(choices) < 2 {
		return strings.Join(choices, "")
	}
	return strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
}

// The flag package words a value error as `invalid value "V" for flag -NAME: ERR`
// (`invalid boolean value "V" for -NAME: ERR` for a boolean); the errors of the values
// above already quote V, so it is reworded as `--NAME: ERR`.
var (
	flagValueErr = regexp.MustCompile(`^invalid value ".*" for flag -([^:]+): (.*)$`)
	flagBoolErr  = regexp.MustCompile(`^invalid boolean value (".*") for -([^:]+): .*$`)
	flagOtherErr = regexp.MustCompile(`^(flag provided but not defined|flag needs an argument|bad flag syntax): -+(.*)$`)
)

// flagError rewords a flag parsing error so that it names the flag as the usage spells
// it (--name) and says what it accepts.
func flagError(err error) error {
	msg := err.Error()
	if m := flagValueErr.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("--%s: %s", m[1], m[2])
	}
	if m := flagBoolErr.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("--%s: %s: want true or false (or the flag alone for true)", m[2], m[1])
	}
	if m := flagOtherErr.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s: --%s", m[1], m[2])
	}
	return errors.New(msg)
}

// required lists, per command, the flags it cannot run without and how: the usage
// marks them. A command absent from the table has no required flag.
var required = map[string]map[string]string{
	"setup":     {"sid": "required: this or --account", "account": "required: this or --sid"},
	"plan":      {"sid": "required: this or --account", "account": "required: this or --sid"},
	"verify":    {"sid": "required: this or --account", "account": "required: this or --sid"},
	"uninstall": {"sid": "required: one of --sid, --account, --all", "account": "required: one of --sid, --account, --all", "all": "required: one of --sid, --account, --all"},
	"explain":   {"proto": "required", "remote": "required", "sid": "required with --plan, or unless --as is given"},
}

// placeholders name the value of a flag in the usage, as the synopses do.
var placeholders = map[string]string{
	"sid": "SID", "as": "SID", "account": "NAME", "profile": "baseline|strict", "user-match": "deny|allow",
	"proxy-port": "PORT", "policy": "FILE", "engine": "windows|memory:PATH", "state-dir": "DIR",
	"format": "text|json", "retry-backoff": "DURATION", "since": "DURATION", "net-event-version": "N",
	"token": "KIND", "direction": "out|in", "proto": "tcp|udp|icmp|icmpv6", "remote": "ADDR[:PORT]",
}

// printUsage writes a command's usage: the synopsis, the summary and every flag with
// its description, the required ones marked.
func printUsage(w io.Writer, cmd *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: wfpsandbox %s %s\n\n%s\n", cmd.name, cmd.usage, cmd.summary)
	if fs == nil {
		return
	}
	fmt.Fprintln(w, "\nflags:")
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" { // not a boolean
			name = strings.ToUpper(name)
			if p, ok := placeholders[f.Name]; ok {
				name = p
			}
			line += " " + name
		}
		if note := required[cmd.name][f.Name]; note != "" {
			line += "  (" + note + ")"
		}
		fmt.Fprintln(w, line)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(w, "        %s\n", usage)
	})
}

// tokenKindNames lists explain's --token values.
func tokenKindNames() []string {
	names := make([]string, len(arbiter.AllTokenKinds))
	for i, k := range arbiter.AllTokenKinds {
		names[i] = string(k)
	}
	return names
}

// protoFlag adds explain's --proto, checked with arbiter.ParseProto.
func protoFlag(fs *flag.FlagSet) *string {
	var proto string
	fs.Func("proto", "tcp, udp, icmp or icmpv6", func(s string) error {
		if _, err := arbiter.ParseProto(s); err != nil {
			return err
		}
		proto = s
		return nil
	})
	return &proto
}
