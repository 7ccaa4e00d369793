package main

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// usageLine returns the line of a --help output that introduces flag name.
func usageLine(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if l == "  --"+name || strings.HasPrefix(l, "  --"+name+" ") {
			return l
		}
	}
	return ""
}

// TestHelpExitsZero: `CMD --help`, `CMD -h` and `help CMD` print the command's usage
// with every flag on stdout and exit 0 (the flag package's ErrHelp made it exit 2).
func TestHelpExitsZero(t *testing.T) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, args := range [][]string{{n, "--help"}, {n, "-h"}, {n, "--format", "text", "-help"}, {"help", n}} {
			code, out, stderr := wfpsandbox(t, args...)
			if code != exitOK {
				t.Errorf("%q: exit %d, want 0; stderr %q", args, code, stderr)
			}
			if !strings.HasPrefix(out, "usage: wfpsandbox "+n+" ") || usageLine(out, "format") == "" {
				t.Errorf("%q: stdout is not %s's usage with its flags:\n%s", args, n, out)
			}
		}
	}
}

// TestHelpMarksRequiredFlags: the flags a command cannot run without are marked, the
// others are not.
func TestHelpMarksRequiredFlags(t *testing.T) {
	for _, tc := range []struct {
		cmd           string
		required, not []string
	}{
		{"setup", []string{"sid", "account"}, []string{"profile", "engine", "dry-run"}},
		{"plan", []string{"sid", "account"}, []string{"profile", "policy"}},
		{"verify", []string{"sid", "account"}, []string{"engine"}},
		{"uninstall", []string{"sid", "account", "all"}, []string{"dry-run", "state-dir"}},
		{"explain", []string{"proto", "remote"}, []string{"token", "direction", "plan"}},
		{"ensure", nil, []string{"sid", "account", "no-elevate"}},
	} {
		_, out, _ := wfpsandbox(t, tc.cmd, "--help")
		for _, f := range tc.required {
			if l := usageLine(out, f); !strings.Contains(l, "required") {
				t.Errorf("%s --help: --%s is not marked required: %q", tc.cmd, f, l)
			}
		}
		for _, f := range tc.not {
			if l := usageLine(out, f); l == "" || strings.Contains(l, "required") {
				t.Errorf("%s --help: --%s missing or wrongly marked required: %q", tc.cmd, f, l)
			}
		}
	}
}

// TestFlagValueErrorsNameTheFlag: a bad flag value is refused (exit 2) with an error
// that names the flag as the usage spells it and says what it accepts.
func TestFlagValueErrorsNameTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"plan", "--sid", sid, "--profile", "paranoid"}, []string{"--profile", `"paranoid"`, "baseline or strict"}},
		{[]string{"plan", "--sid", sid, "--user-match", "x"}, []string{"--user-match", `"x"`, "deny or allow"}},
		{[]string{"plan", "--sid", sid, "--format", "yaml"}, []string{"--format", `"yaml"`, "text or json"}},
		{[]string{"plan", "--sid", sid, "--proxy-port", "http"}, []string{"--proxy-port", `"http"`, "1-65535"}},
		{[]string{"ensure", "--retry-backoff", "soon"}, []string{"--retry-backoff", `"soon"`, "10m"}},
		{[]string{"events", "--since", "yesterday"}, []string{"--since", `"yesterday"`, "2h"}},
		{[]string{"events", "--net-event-version", "9"}, []string{"--net-event-version", `"9"`, "0 to 5"}},
		{[]string{"explain", "--plan", "--sid", sid, "--remote", "8.8.8.8:53", "--proto", "sctp"}, []string{"--proto", `"sctp"`, "tcp, udp, icmp or icmpv6"}},
		{[]string{"explain", "--plan", "--sid", sid, "--proto", "udp", "--remote", "8.8.8.8:53", "--token", "admin"}, []string{"--token", `"admin"`, "deny-only"}},
		{[]string{"explain", "--plan", "--sid", sid, "--proto", "udp", "--remote", "8.8.8.8:53", "--direction", "up"}, []string{"--direction", `"up"`, "out or in"}},
		{[]string{"setup", "--sid", sid, "--dry-run=maybe"}, []string{"--dry-run", `"maybe"`, "true or false"}},
		{[]string{"setup", "--sid", sid, "--bogus"}, []string{"--bogus", "setup --help"}},
	} {
		for _, format := range []string{"text", "json"} {
			code, out, stderr := wfpsandbox(t, append(tc.args, "--format", format)...)
			if code != exitError {
				t.Errorf("%q: exit %d, want %d", tc.args, code, exitError)
				continue
			}
			msg := stderr
			if format == "json" {
				var doc errorDoc
				if err := json.Unmarshal([]byte(out), &doc); err != nil {
					t.Errorf("%q --format json: stdout is not one JSON error document: %v\n%s", tc.args, err, out)
					continue
				}
				msg = doc.Error
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%q (%s): error %q does not say %q", tc.args, format, msg, w)
				}
			}
		}
	}
}

// TestEveryFailurePrintsJSON: with --format json anywhere on the command line, a
// failure prints exactly one JSON error document on stdout — a stray argument before
// the flags included (flag parsing stops there, before --format json).
func TestEveryFailurePrintsJSON(t *testing.T) {
	for _, args := range [][]string{
		{"plan", "extra", "--sid", sid, "--format", "json"},
		{"setup", "now", "--format=json"},
		{"uninstall", "--all", "please", "-format", "json"},
		{"verify", "x", "--format", "json"},
		{"version", "--format", "json", "extra"},
		{"plan", "--sid", sid, "--profile", "x", "--format", "json"},
		{"plan", "--format", "json", "--sid", "S-1-5-21-x"},
		{"explain", "--format", "json", "--plan", "--sid", sid},
		{"events", "--format", "json", "--sid", sid, "--account", "x"},
		{"ensure", "--format", "json", "--sid", sid, "--account", "x"},
	} {
		code, out, _ := wfpsandbox(t, args...)
		dec := json.NewDecoder(strings.NewReader(out))
		var doc errorDoc
		err := dec.Decode(&doc)
		if code != exitError || err != nil || doc.Error == "" || dec.More() {
			t.Errorf("%q: exit %d, stdout %q; want exit %d and one JSON error document", args, code, out, exitError)
		}
	}
}
