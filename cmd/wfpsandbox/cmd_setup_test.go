package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// TestMain keeps every test of this package away from the real state directory:
// setup writes its records, lock and log there by default.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wfpsandbox-cli-state-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	os.Setenv(setup.StateDirEnv, dir) // Windows too: never %ProgramData%\wfpsandbox
	os.Setenv(setup.AnalyticsEnv, "0")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type simHost struct {
	state, engine string
}

func newSimHost(t *testing.T) simHost {
	d := t.TempDir()
	return simHost{state: filepath.Join(d, "state"), engine: "memory:" + filepath.Join(d, "host.json")}
}

func (h simHost) args(cmd string, extra ...string) []string {
	return append([]string{cmd, "--state-dir", h.state, "--engine", h.engine}, extra...)
}

func TestSetupWritesRecord(t *testing.T) {
	h := newSimHost(t)
	code, out, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--format", "json")...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep setup.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	m, err := state.Read(h.state, sid)
	if err != nil {
		t.Fatal(err)
	}
	if m.Account.SID != sid || m.PlanHash != rep.PlanHash || len(m.Steps) != 2 || rep.Writes != 18 ||
		rep.RecordPath != state.Path(h.state, sid) {
		t.Errorf("record %+v, report %+v", m, rep)
	}
	if _, err := os.Stat(filepath.Join(h.state, setup.LogFile)); err != nil {
		t.Errorf("no log file: %v", err)
	}
	if !strings.Contains(stderr, "step wfp: ok") {
		t.Errorf("stderr lacks the step line:\n%s", stderr)
	}
}

func TestEnsure(t *testing.T) {
	h := newSimHost(t)
	if code, out, _ := wfpsandbox(t, h.args("ensure", "--no-elevate", "--format", "json")...); code != exitSetupNeeded || !strings.Contains(out, `"no-record"`) {
		t.Fatalf("before setup: exit %d: %s", code, out)
	}
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	if code, out, _ := wfpsandbox(t, h.args("ensure", "--no-elevate")...); code != exitOK || !strings.Contains(out, "live policy read back by key as planned") {
		t.Fatalf("after setup: exit %d: %s", code, out)
	}
	if code, out, _ := wfpsandbox(t, h.args("ensure", "--no-elevate", "--profile", "strict")...); code != exitSetupNeeded || !strings.Contains(out, "profile-changed") {
		t.Fatalf("another profile: exit %d: %s", code, out)
	}
	// Drift: remove one filter behind wfpsandbox's back.
	plan, err := policy.Build(policy.Options{SID: sid})
	if err != nil {
		t.Fatal(err)
	}
	e, err := memengine.OpenFile(strings.TrimPrefix(h.engine, "memory:"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteFilter(plan.Filters[3].Key); err != nil {
		t.Fatal(err)
	}
	e.Close()
	if code, out, _ := wfpsandbox(t, h.args("ensure", "--no-elevate")...); code != exitSetupNeeded || !strings.Contains(out, "policy-drift") {
		t.Fatalf("drift: exit %d: %s", code, out)
	}
	// Without --no-elevate, on a system where this process is as privileged as it
	// gets, ensure runs setup itself, which repairs the drift.
	if defaultEngine() == "" {
		code, out, stderr := wfpsandbox(t, h.args("ensure")...)
		if code != exitOK || !strings.Contains(out, "write(s)") {
			t.Fatalf("ensure running setup: exit %d: %s%s", code, out, stderr)
		}
		if code, _, _ := wfpsandbox(t, "verify", "--sid", sid, "--engine", h.engine); code != exitOK {
			t.Fatalf("verify after ensure: exit %d", code)
		}
	}
	if code, out, _ := wfpsandbox(t, h.args("ensure", "--no-elevate")...); code != exitOK {
		t.Fatalf("after repair: exit %d: %s", code, out)
	}
}

// TestEnsureDoesNothingWhenCurrent: the whole point of ensure (openai/codex issue
// 31556): when setup is current it must not run setup, let alone ask for elevation.
func TestEnsureDoesNothingWhenCurrent(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--profile", "strict", "--proxy-port", "8080")...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	before, err := os.ReadFile(state.Path(h.state, sid))
	if err != nil {
		t.Fatal(err)
	}
	// No --no-elevate: ensure would run setup if it thought it needed to.
	code, out, stderr := wfpsandbox(t, h.args("ensure", "--format", "json")...)
	if code != exitOK {
		t.Fatalf("ensure: exit %d: %s%s", code, out, stderr)
	}
	var doc struct {
		Current bool   `json:"current"`
		Action  string `json:"action"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || !doc.Current || doc.Action != "none" {
		t.Fatalf("ensure output %s (%v)", out, err)
	}
	after, _ := os.ReadFile(state.Path(h.state, sid))
	if string(before) != string(after) {
		t.Error("ensure rewrote the record although setup was current")
	}
}

// TestEnsureSetupArgsRoundTrip: the setup command line ensure builds (the one it
// relaunches elevated on Windows) must bring the host to what ensure checked for.
func TestEnsureSetupArgsRoundTrip(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	want := []string{"--profile", "strict", "--proxy-port", "3128", "--user-match", "allow"}
	if code, out, _ := wfpsandbox(t, h.args("ensure", append(want, "--no-elevate")...)...); code != exitSetupNeeded {
		t.Fatalf("ensure with new options: exit %d: %s", code, out)
	}
	if code, out, stderr := wfpsandbox(t, h.args("ensure", want...)...); code != exitOK {
		t.Fatalf("ensure running setup: exit %d: %s%s", code, out, stderr)
	}
	m, err := state.Read(h.state, sid)
	if err != nil {
		t.Fatal(err)
	}
	if m.Profile != "strict" || m.UserMatch != "allow" || len(m.ProxyPorts) != 1 || m.ProxyPorts[0] != 3128 {
		t.Errorf("record after ensure: profile %s, user match %s, proxy ports %v", m.Profile, m.UserMatch, m.ProxyPorts)
	}
	// Both with the options and bare (from the record), it is now current.
	for _, args := range [][]string{append(want, "--no-elevate"), {"--no-elevate"}} {
		if code, out, _ := wfpsandbox(t, h.args("ensure", args...)...); code != exitOK {
			t.Errorf("ensure %v after setup: exit %d: %s", args, code, out)
		}
	}
}

// TestEnsureWithoutAccountPrintsOneJSONDocument: with no record and no account, ensure
// cannot run setup. Scripts reading stdout must get one JSON document, the error, with
// exit code 2 — not a "setup-needed" document followed by an error document.
func TestEnsureWithoutAccountPrintsOneJSONDocument(t *testing.T) {
	h := newSimHost(t)
	code, out, stderr := wfpsandbox(t, h.args("ensure", "--format", "json")...)
	if code != exitError {
		t.Fatalf("exit %d, want %d: %s%s", code, exitError, out, stderr)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var doc errorDoc
	if err := dec.Decode(&doc); err != nil || !strings.Contains(doc.Error, "no account") {
		t.Fatalf("stdout is not the error document (%v): %s", err, out)
	}
	if dec.More() {
		t.Errorf("stdout holds more than one JSON document:\n%s", out)
	}
	if !strings.Contains(stderr, "no-record") {
		t.Errorf("stderr lacks the reasons:\n%s", stderr)
	}
}

// TestEnsureSetupArgsAbsolutePaths: the setup command line ensure relaunches elevated
// carries absolute paths only: the elevated process need not start in ensure's working
// directory, and a relative --state-dir, --policy or memory engine would then name
// other files than the ones ensure checked.
func TestEnsureSetupArgsAbsolutePaths(t *testing.T) {
	fs := flag.NewFlagSet("ensure", flag.ContinueOnError)
	sf := addSetupFlags(fs)
	if err := fs.Parse([]string{"--policy", "pol.toml", "--engine", "memory:bfe.json"}); err != nil {
		t.Fatal(err)
	}
	res := &setup.CheckResult{Account: setup.Account{SID: sid}, Profile: "baseline"}
	args := ensureSetupArgs(sf, res, "state")
	paths := map[string]string{}
	for i := 0; i+1 < len(args); i++ {
		paths[args[i]] = args[i+1]
	}
	for flagName, rel := range map[string]string{"--state-dir": "state", "--policy": "pol.toml", "--engine": "bfe.json"} {
		p := strings.TrimPrefix(paths[flagName], "memory:")
		if !filepath.IsAbs(p) || filepath.Base(p) != rel {
			t.Errorf("%s %q in %q: want an absolute path ending in %s", flagName, paths[flagName], args, rel)
		}
	}
}

// TestUninstallForgetsTheRecord: after uninstall removes an account's filters, ensure
// relying on the record alone (no readable engine: the unelevated case on Windows) must
// not call the host current. Uninstalling another account keeps the record.
func TestUninstallForgetsTheRecord(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	recordOnly := []string{"ensure", "--state-dir", h.state, "--engine", "", "--no-elevate"}
	if code, out, stderr := wfpsandbox(t, recordOnly...); code != exitOK {
		t.Fatalf("ensure after setup: exit %d: %s%s", code, out, stderr)
	}
	other := "S-1-5-21-1000-1000-1000-1002"
	if code, _, stderr := wfpsandbox(t, h.args("uninstall", "--sid", other)...); code != exitOK {
		t.Fatalf("uninstall of another account: %s", stderr)
	}
	if _, err := state.Read(h.state, sid); err != nil {
		t.Fatalf("uninstalling another account removed the record: %v", err)
	}
	if code, _, stderr := wfpsandbox(t, h.args("uninstall", "--sid", sid, "--dry-run")...); code != exitOK {
		t.Fatalf("uninstall --dry-run: %s", stderr)
	}
	if _, err := state.Read(h.state, sid); err != nil {
		t.Fatalf("uninstall --dry-run removed the record: %v", err)
	}
	if code, _, stderr := wfpsandbox(t, h.args("uninstall", "--sid", sid)...); code != exitOK {
		t.Fatalf("uninstall: %s", stderr)
	}
	code, out, _ := wfpsandbox(t, recordOnly...)
	if code != exitSetupNeeded || !strings.Contains(out, "no-record") {
		t.Errorf("ensure after uninstall: exit %d, want %d with no-record: %s", code, exitSetupNeeded, out)
	}
}

// TestEnsureKeepsPolicyFileRules: after a setup with a policy file, a bare ensure that
// finds setup needed (here: the WFP step failed last time) runs setup from the record,
// which holds the file's rules: they stay installed, file or no file.
func TestEnsureKeepsPolicyFileRules(t *testing.T) {
	h := newSimHost(t)
	pol := filepath.Join(t.TempDir(), "policy.toml")
	rules := "profile = \"baseline\"\n\n[[rule]]\nid = \"ssh\"\naction = \"block\"\ndirection = \"out\"\nprotocol = \"tcp\"\nports = [22]\n"
	if err := os.WriteFile(pol, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--policy", pol)...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	m, err := state.Read(h.state, sid)
	if err != nil {
		t.Fatal(err)
	}
	m.Steps[1].Status, m.Steps[1].Error, m.Steps[1].Failures = setup.StatusFailed, "simulated", 1
	if err := state.Write(h.state, m); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(pol); err != nil { // the file is gone: the record is enough
		t.Fatal(err)
	}
	code, out, stderr := wfpsandbox(t, h.args("ensure", "--retry-backoff", "0")...)
	if code != exitOK || !strings.Contains(out, "setup for") {
		t.Fatalf("bare ensure: exit %d, want setup run and exit 0: %s%s", code, out, stderr)
	}
	if r, err := state.Read(h.state, sid); err != nil || len(r.Rules) != 1 || r.FilterCount != 18 {
		t.Errorf("record after the bare ensure: %+v, %v", r, err)
	}
	code, out, stderr = wfpsandbox(t, "verify", "--sid", sid, "--state-dir", h.state, "--engine", h.engine)
	if code != exitOK || !strings.Contains(out, "18 filters") {
		t.Errorf("policy file rules lost after a bare ensure: exit %d: %s%s", code, out, stderr)
	}
}

// TestEnsureSetupArgsCarryAnalytics: the elevated setup may not inherit ensure's
// environment, so analytics switched on by WFPSANDBOX_ANALYTICS must reach it as the
// flag; with analytics off the flag must not appear.
func TestEnsureSetupArgsCarryAnalytics(t *testing.T) {
	res := &setup.CheckResult{Account: setup.Account{SID: sid}, Profile: "baseline"}
	for _, tc := range []struct {
		env  string
		want bool
	}{{"1", true}, {"", false}} {
		t.Setenv(setup.AnalyticsEnv, tc.env)
		sf := addSetupFlags(flag.NewFlagSet("ensure", flag.ContinueOnError))
		args := ensureSetupArgs(sf, res, t.TempDir())
		if got := slices.Contains(args, "--analytics"); got != tc.want {
			t.Errorf("%s=%q: --analytics in %q is %v, want %v", setup.AnalyticsEnv, tc.env, args, got, tc.want)
		}
	}
}

// TestDryRunWithoutEngineIsAnError: a dry run whose engine cannot be read has no
// change set to show and records nothing to retry, so it is exit 2 (nothing changed),
// not exit 3 ("retried on the next run"), and it leaves no state behind.
func TestDryRunWithoutEngineIsAnError(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("--engine windows is the live engine here")
	}
	state := filepath.Join(t.TempDir(), "state")
	code, out, stderr := wfpsandbox(t, "setup", "--dry-run", "--sid", sid, "--engine", "windows", "--state-dir", state)
	if code != exitError {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitError, out, stderr)
	}
	if !strings.Contains(out, "nothing was written") || strings.Contains(out, "retried") {
		t.Errorf("the report does not say plainly that nothing happened:\n%s", out)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("a dry run created the state directory: %v", err)
	}
}
