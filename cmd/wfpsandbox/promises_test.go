package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/state"
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
	for n, cmd := range commands {
		if !cmd.hidden { // the probe helper speaks its own protocol to selftest, not to people
			names = append(names, n)
		}
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
		{[]string{"ensure", "--retry-backoff", "-1s"}, []string{"--retry-backoff", `"-1s"`, "0 or more"}},
		{[]string{"events", "--since", "-5m"}, []string{"--since", `"-5m"`, "0 or more"}},
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
	cases := [][]string{
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
		{"--format", "json"},
		{"--format=json", "plan"},
	}
	if defaultEngine() == "" { // no WFP here: a dry run against the live engine cannot read it
		cases = append(cases, []string{"setup", "--sid", sid, "--dry-run", "--engine", "windows", "--format", "json"})
	}
	for _, args := range cases {
		code, out, _ := wfpsandbox(t, args...)
		dec := json.NewDecoder(strings.NewReader(out))
		var doc errorDoc
		err := dec.Decode(&doc)
		if code != exitError || err != nil || doc.Error == "" || dec.More() {
			t.Errorf("%q: exit %d, stdout %q; want exit %d and one JSON error document", args, code, out, exitError)
		}
	}
}

// tree is a listing of every file and directory under the roots, with what a write
// would change (size, mode, modification time): comparing two listings proves that
// nothing was created, removed or written, even as root, for whom a read-only
// directory is writable.
func tree(t *testing.T, roots ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				out[p] = "absent"
				return nil
			}
			if err != nil {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			out[p] = fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func sameTree(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for p, a := range after {
		if b, ok := before[p]; !ok {
			t.Errorf("%s created %s", what, p)
		} else if a != b {
			t.Errorf("%s changed %s: %s -> %s", what, p, b, a)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s removed %s", what, p)
		}
	}
}

// TestMistypedEngineIsRefused: a --engine memory:PATH whose file does not exist is an
// error naming the path for every command but setup (and ensure, which runs setup):
// uninstall used to report 0 writes, exit 0 and delete the record of the real host, and
// verify to report 14 findings. Nothing is created or removed.
func TestMistypedEngineIsRefused(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	typo := filepath.Join(filepath.Dir(strings.TrimPrefix(h.engine, "memory:")), "hots.json")
	engine := "memory:" + typo
	before := tree(t, filepath.Dir(typo), h.state)
	for _, args := range [][]string{
		{"uninstall", "--all", "--state-dir", h.state, "--engine", engine},
		{"uninstall", "--sid", sid, "--state-dir", h.state, "--engine", engine},
		{"uninstall", "--all", "--dry-run", "--engine", engine},
		{"verify", "--sid", sid, "--engine", engine},
		{"explain", "--sid", sid, "--proto", "udp", "--remote", "8.8.8.8:53", "--engine", engine},
	} {
		for _, format := range []string{"text", "json"} {
			code, out, stderr := wfpsandbox(t, append(args, "--format", format)...)
			msg := stderr
			if format == "json" {
				var doc errorDoc
				if err := json.Unmarshal([]byte(out), &doc); err != nil {
					t.Errorf("%q: stdout is not a JSON error: %q", args, out)
				}
				msg = doc.Error
			}
			if code != exitError || !strings.Contains(msg, typo) || !strings.Contains(msg, "only setup creates") {
				t.Errorf("%q: exit %d, error %q; want exit %d naming %s and saying only setup creates a host", args, code, msg, exitError, typo)
			}
		}
	}
	sameTree(t, "a command refused for a missing host", before, tree(t, filepath.Dir(typo), h.state))
	if _, err := state.Read(h.state, sid); err != nil {
		t.Errorf("the real host's record is gone: %v", err)
	}

	// setup --dry-run plans against an empty simulated host, and writes nothing.
	code, out, stderr := wfpsandbox(t, "setup", "--sid", sid, "--engine", engine, "--dry-run", "--state-dir", h.state, "--format", "json")
	if code != exitOK {
		t.Fatalf("setup --dry-run on a new host: exit %d: %s", code, stderr)
	}
	var rep struct{ Changes []any }
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Changes) != 18 {
		t.Errorf("setup --dry-run on a new host: %v, %s", err, out)
	}
	sameTree(t, "setup --dry-run", before, tree(t, filepath.Dir(typo), h.state))
	// setup creates it.
	if code, _, stderr := wfpsandbox(t, "setup", "--sid", sid, "--engine", engine, "--state-dir", h.state); code != exitOK {
		t.Fatalf("setup on a new host: exit %d: %s", code, stderr)
	}
	if code, _, stderr := wfpsandbox(t, "verify", "--sid", sid, "--engine", engine); code != exitOK {
		t.Fatalf("verify of the host setup created: exit %d: %s", code, stderr)
	}
}

// TestReadOnlyCommandsWriteNothing: verify, explain, plan, events, ensure when current
// and every dry run read a host and its state directory without creating or changing a
// file — no lock file beside the host — so they work on a read-only directory.
func TestReadOnlyCommandsWriteNothing(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	hostFile := strings.TrimPrefix(h.engine, "memory:")
	// A host as it is copied or handed over: its file without the lock file.
	if err := os.Remove(hostFile + ".lock"); err != nil {
		t.Fatal(err)
	}
	hostDir := filepath.Dir(hostFile)
	for _, d := range []string{hostDir, h.state} {
		if err := os.Chmod(d, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(d, 0o755) })
	}
	// As root the mode bits stop nothing: the listing comparison below is the proof.
	before := tree(t, hostDir, h.state)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"verify", "--sid", sid, "--engine", h.engine}, exitOK},
		{[]string{"explain", "--sid", sid, "--proto", "udp", "--remote", "8.8.8.8:53", "--engine", h.engine}, exitOK},
		{[]string{"plan", "--sid", sid}, exitOK},
		{h.args("setup", "--sid", sid, "--dry-run"), exitOK},
		{h.args("uninstall", "--all", "--dry-run"), exitOK},
		{h.args("ensure", "--no-elevate"), exitOK},
		{[]string{"events", "--engine", h.engine}, exitError}, // a simulated host has no net event log
	} {
		for _, format := range []string{"text", "json"} {
			if code, out, stderr := wfpsandbox(t, append(tc.args, "--format", format)...); code != tc.code {
				t.Errorf("%q: exit %d, want %d: %s%s", tc.args, code, tc.code, out, stderr)
			}
		}
	}
	sameTree(t, "a read-only command", before, tree(t, hostDir, h.state))
}

// TestRefusedSetupCreatesNothing: setup refuses bad input before it creates the state
// directory, its lock or its log (a refused SID used to leave all three).
func TestRefusedSetupCreatesNothing(t *testing.T) {
	h := newSimHost(t)
	hostDir := filepath.Dir(strings.TrimPrefix(h.engine, "memory:"))
	before := tree(t, hostDir)
	for _, extra := range [][]string{
		{"--sid", "S-1-5-21-x"},
		{"--sid", "S-1-5-18"},
		{"--sid", sid, "--policy", filepath.Join(hostDir, "missing.toml")},
		{"--sid", sid, "--profile", "paranoid"},
	} {
		if code, _, stderr := wfpsandbox(t, h.args("setup", extra...)...); code != exitError {
			t.Errorf("setup %q: exit %d, want %d: %s", extra, code, exitError, stderr)
		}
	}
	sameTree(t, "a refused setup", before, tree(t, hostDir))
}

// TestUninstallSaysWhatItRemoved: uninstall says, in text and JSON, that it removed the
// setup record; for an account with nothing installed it says so.
func TestUninstallSaysWhatItRemoved(t *testing.T) {
	const other = "S-1-5-21-1000-1000-1000-1002"
	for _, format := range []string{"text", "json"} {
		h := newSimHost(t)
		if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
			t.Fatalf("setup: %s", stderr)
		}
		record := state.Path(h.state, sid)
		code, out, stderr := wfpsandbox(t, h.args("uninstall", "--sid", other, "--format", format)...)
		if code != exitOK {
			t.Fatalf("uninstall of an account with nothing installed: exit %d: %s", code, stderr)
		}
		var doc struct {
			Writes           int      `json:"writes"`
			NothingInstalled bool     `json:"nothingInstalled"`
			RecordRemoved    bool     `json:"recordRemoved"`
			RecordPaths      []string `json:"recordPaths"`
		}
		if format == "json" {
			if err := json.Unmarshal([]byte(out), &doc); err != nil || !doc.NothingInstalled || doc.RecordRemoved || doc.Writes != 0 {
				t.Errorf("uninstall --sid %s (nothing installed), JSON: %+v %v\n%s", other, doc, err, out)
			}
		} else if !strings.Contains(out, "nothing installed for "+other) {
			t.Errorf("uninstall --sid %s (nothing installed) does not say so:\n%s", other, out)
		}
		if _, err := os.Stat(record); err != nil {
			t.Fatalf("uninstall of another account removed the record: %v", err)
		}

		code, out, stderr = wfpsandbox(t, h.args("uninstall", "--sid", sid, "--format", format)...)
		if code != exitOK {
			t.Fatalf("uninstall: exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(record); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the record is still there: %v", err)
		}
		if format == "json" {
			doc = struct {
				Writes           int      `json:"writes"`
				NothingInstalled bool     `json:"nothingInstalled"`
				RecordRemoved    bool     `json:"recordRemoved"`
				RecordPaths      []string `json:"recordPaths"`
			}{}
			if err := json.Unmarshal([]byte(out), &doc); err != nil || !doc.RecordRemoved || !slices.Equal(doc.RecordPaths, []string{record}) || doc.NothingInstalled || doc.Writes == 0 {
				t.Errorf("uninstall JSON does not say it removed the record %s: %+v %v\n%s", record, doc, err, out)
			}
		} else if !strings.Contains(out, "removed the setup record "+record) {
			t.Errorf("uninstall does not say it removed the record:\n%s", out)
		}
	}
}
