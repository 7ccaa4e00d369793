package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

const sidB = "S-1-5-21-1000-1000-1000-1002"

// ensureJSON runs ensure with --format json and decodes its document.
func ensureJSON(t *testing.T, h simHost, extra ...string) (int, ensureDoc, string) {
	t.Helper()
	code, out, stderr := wfpsandbox(t, h.args("ensure", append(extra, "--format", "json")...)...)
	var doc ensureDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("ensure %v: %v\n%s%s", extra, err, out, stderr)
	}
	return code, doc, out + stderr
}

// TestEnsureTwoAccounts: two sandbox accounts on one host each have their own record.
// After setup A and setup B, ensure A and ensure B are both current (exit 0, no
// account-changed), and so is a bare ensure, which checks both. Uninstalling one
// forgets only its record.
func TestEnsureTwoAccounts(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
		t.Fatalf("setup A: %s", stderr)
	}
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sidB, "--profile", "strict")...); code != exitOK {
		t.Fatalf("setup B: %s", stderr)
	}
	for i := 0; i < 2; i++ { // alternately, twice: never a prompt for the other
		for _, s := range []string{sid, sidB} {
			code, doc, out := ensureJSON(t, h, "--sid", s, "--no-elevate")
			if code != exitOK || !doc.Current || strings.Contains(out, "account-changed") || !doc.Check.Live {
				t.Errorf("ensure --sid %s: exit %d: %s", s, code, out)
			}
		}
	}
	code, doc, out := ensureJSON(t, h, "--no-elevate")
	if code != exitOK || !doc.Current || len(doc.Checks) != 2 || doc.Checks[1].Profile != "strict" {
		t.Errorf("bare ensure: exit %d: %s", code, out)
	}
	if code, _, stderr := wfpsandbox(t, h.args("uninstall", "--sid", sid)...); code != exitOK {
		t.Fatalf("uninstall A: %s", stderr)
	}
	if _, err := state.Read(h.state, sidB); err != nil {
		t.Errorf("uninstalling A removed B's record: %v", err)
	}
	if code, _, out := ensureJSON(t, h, "--sid", sidB, "--no-elevate"); code != exitOK {
		t.Errorf("ensure B after uninstalling A: exit %d: %s", code, out)
	}
	if code, _, out := ensureJSON(t, h, "--sid", sid, "--no-elevate"); code != exitSetupNeeded || !strings.Contains(out, "no-record") {
		t.Errorf("ensure A after uninstalling A: exit %d: %s", code, out)
	}
	// Both need setup again: a bare ensure names them and runs neither.
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
		t.Fatalf("setup A: %s", stderr)
	}
	if code, _, stderr := wfpsandbox(t, h.args("uninstall", "--all")...); code != exitOK {
		t.Fatalf("uninstall --all: %s", stderr)
	}
	if ents, err := state.List(h.state); err != nil || len(ents) != 0 {
		t.Errorf("records after uninstall --all: %+v, %v", ents, err)
	}
}

// TestEnsureSeveralAccountsNeedingSetup: a bare ensure with two recorded accounts that
// both need setup runs neither (each deserves its own elevation) and names them.
func TestEnsureSeveralAccountsNeedingSetup(t *testing.T) {
	h := newSimHost(t)
	for _, s := range []string{sid, sidB} {
		if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", s)...); code != exitOK {
			t.Fatalf("setup %s: %s", s, stderr)
		}
	}
	if err := os.Remove(strings.TrimPrefix(h.engine, "memory:")); err != nil { // a fresh host: nothing installed
		t.Fatal(err)
	}
	code, out, stderr := wfpsandbox(t, h.args("ensure")...)
	if code != exitError || !strings.Contains(stderr, sid) || !strings.Contains(stderr, sidB) || !strings.Contains(stderr, "--sid") {
		t.Errorf("bare ensure: exit %d: %s%s", code, out, stderr)
	}
	if code, _, out := ensureJSON(t, h, "--sid", sidB); code != exitOK {
		t.Errorf("ensure --sid B: exit %d: %s", code, out)
	}
	if code, _, out := ensureJSON(t, h); code != exitOK {
		t.Errorf("bare ensure with one account left to set up: exit %d: %s", code, out)
	}
}

const policyWithRule = "profile = \"baseline\"\n\n[[rule]]\nid = \"ssh\"\naction = \"block\"\nprotocol = \"tcp\"\nports = [22]\n"

// deleteEverything removes every object from the simulated host.
func deleteEverything(t *testing.T, h simHost) int {
	t.Helper()
	e, err := memengine.OpenFile(strings.TrimPrefix(h.engine, "memory:"))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	n := 0
	fs, err := e.Filters(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if err := e.DeleteFilter(f.Key); err != nil {
			t.Fatal(err)
		}
		n++
	}
	sls, err := e.Sublayers(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sls {
		if err := e.DeleteSublayer(s.Key); err != nil {
			t.Fatal(err)
		}
		n++
	}
	ps, err := e.Providers()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := e.DeleteProvider(p.Key); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// TestEnsureChecksTheRecordedPolicy: after setup --policy F with every object deleted,
// a bare ensure (no --policy) must not say "current": the record holds the file's
// rules, so it checks the real plan; run, it reinstalls all of it, rules included.
func TestEnsureChecksTheRecordedPolicy(t *testing.T) {
	h := newSimHost(t)
	pol := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(pol, []byte(policyWithRule), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--policy", pol)...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	if code, doc, out := ensureJSON(t, h, "--no-elevate"); code != exitOK || !doc.Check.Live || doc.Check.LiveCheck.Planned != 18 {
		t.Fatalf("bare ensure after setup: exit %d: %s", code, out)
	}
	if n := deleteEverything(t, h); n != 20 {
		t.Fatalf("deleted %d objects, want 20 (provider, the account's sublayer, 4 guards, 12 blocks, 2 from the file)", n)
	}
	code, doc, out := ensureJSON(t, h, "--no-elevate")
	if code != exitSetupNeeded || doc.Current || !strings.Contains(out, "policy-drift") {
		t.Fatalf("bare ensure with everything deleted: exit %d, want %d policy-drift: %s", code, exitSetupNeeded, out)
	}
	if code, out, stderr := wfpsandbox(t, h.args("ensure")...); code != exitOK {
		t.Fatalf("bare ensure running setup: exit %d: %s%s", code, out, stderr)
	}
	// verify without --policy checks the recorded plan: all 18 filters, the file's two included.
	code, out, stderr := wfpsandbox(t, "verify", "--sid", sid, "--state-dir", h.state, "--engine", h.engine)
	if code != exitOK || !strings.Contains(out, "18 filters") {
		t.Errorf("verify after the repair: exit %d: %s%s", code, out, stderr)
	}
}

// TestEnsureConvergesWithARelativePolicyPath: the same policy file named relatively,
// as ./file or absolutely is the same plan, so ensure finds it current whichever
// path it is given (it used to rerun setup on every start).
func TestEnsureConvergesWithARelativePolicyPath(t *testing.T) {
	h := newSimHost(t)
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("policy.toml", []byte(policyWithRule), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--policy", "policy.toml")...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	for _, p := range []string{"policy.toml", "./policy.toml", filepath.Join(dir, "policy.toml")} {
		if code, doc, out := ensureJSON(t, h, "--sid", sid, "--policy", p, "--no-elevate"); code != exitOK || !doc.Current {
			t.Errorf("ensure --policy %s: exit %d: %s", p, code, out)
		}
	}
}

// TestVerifyChecksTheRecordedPlan: verify --sid with no plan flags checks what the
// account's last setup recorded; explicit flags still override it.
func TestVerifyChecksTheRecordedPlan(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--profile", "strict", "--proxy-port", "3128")...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	verify := []string{"verify", "--sid", sid, "--state-dir", h.state, "--engine", h.engine}
	if code, out, stderr := wfpsandbox(t, verify...); code != exitOK {
		t.Errorf("verify with no plan flags after a strict setup: exit %d: %s%s", code, out, stderr)
	}
	if code, out, _ := wfpsandbox(t, append(verify, "--profile", "baseline")...); code != exitDrift {
		t.Errorf("verify --profile baseline: exit %d, want %d: %s", code, exitDrift, out)
	}
	if code, out, _ := wfpsandbox(t, append(verify, "--user-match", "allow")...); code != exitDrift {
		t.Errorf("verify --user-match allow: exit %d, want %d: %s", code, exitDrift, out)
	}
	// No record for another account: the flags' defaults, as before.
	if code, out, _ := wfpsandbox(t, "verify", "--sid", sidB, "--state-dir", h.state, "--engine", h.engine, "--format", "json"); code != exitDrift ||
		!strings.Contains(out, "missing") {
		t.Errorf("verify of an account never set up: exit %d: %s", code, out)
	}
}

// TestEnsureRecoversFromAnInvalidRecord: a record that parses but holds impossible
// values is treated like a corrupt one — setup needed (exit 4, not exit 2), and the
// setup ensure runs sets it aside and writes a good one.
func TestEnsureRecoversFromAnInvalidRecord(t *testing.T) {
	for name, edit := range map[string][2]string{
		"unknown profile":       {`"profile": "baseline"`, `"profile": "bogus"`},
		"negative filter count": {`"filterCount": 16`, `"filterCount": -1`},
		"malformed SID":         {`"sid": "` + sid + `"`, `"sid": "S-1-5-21-nope"`},
		"another account's SID": {`"sid": "` + sid + `"`, `"sid": "` + sidB + `"`},
	} {
		t.Run(name, func(t *testing.T) {
			h := newSimHost(t)
			if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
				t.Fatalf("setup: %s", stderr)
			}
			path := state.Path(h.state, sid)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bad := strings.Replace(string(data), edit[0], edit[1], 1)
			if bad == string(data) {
				t.Fatal("the edit changed nothing")
			}
			if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"--no-elevate"}, {"--sid", sid, "--no-elevate"}} {
				code, doc, out := ensureJSON(t, h, args...)
				if code != exitSetupNeeded || !strings.Contains(out, "corrupt-record") || doc.Check.Account.SID != sid {
					t.Errorf("ensure %v: exit %d, want %d corrupt-record for %s: %s", args, code, exitSetupNeeded, sid, out)
				}
			}
			code, out, stderr := wfpsandbox(t, h.args("ensure")...)
			if code != exitOK || !strings.Contains(out, "kept as") {
				t.Fatalf("ensure running setup: exit %d: %s%s", code, out, stderr)
			}
			if code, _, out := ensureJSON(t, h, "--no-elevate"); code != exitOK {
				t.Errorf("ensure after the repair: exit %d: %s", code, out)
			}
		})
	}
}

// TestEnsureReadsAndSetupMigratesTheOldMarker: a host set up by an earlier version has
// one setup-marker.json; ensure reads it as its account's record, and the next setup
// (for any account) migrates it.
func TestEnsureReadsAndSetupMigratesTheOldMarker(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	data, err := os.ReadFile(state.Path(h.state, sid))
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(string(data), `"format": 2`, `"format": 1`, 1)
	if err := os.WriteFile(filepath.Join(h.state, state.LegacyMarkerFile), []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(h.state, state.AccountsDir)); err != nil {
		t.Fatal(err)
	}
	if code, _, out := ensureJSON(t, h, "--no-elevate"); code != exitOK {
		t.Errorf("ensure with the old marker: exit %d: %s", code, out)
	}
	code, out, stderr := wfpsandbox(t, h.args("setup", "--sid", sidB)...)
	if code != exitOK || !strings.Contains(out, "migrated into the record of "+sid) {
		t.Fatalf("setup B: exit %d: %s%s", code, out, stderr)
	}
	if _, err := os.Lstat(filepath.Join(h.state, state.LegacyMarkerFile)); !os.IsNotExist(err) {
		t.Errorf("old marker left behind: %v", err)
	}
	for _, s := range []string{sid, sidB} {
		if code, _, out := ensureJSON(t, h, "--sid", s, "--no-elevate"); code != exitOK {
			t.Errorf("ensure %s after the migration: exit %d: %s", s, code, out)
		}
	}
}
