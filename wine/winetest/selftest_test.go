//go:build wine

package winetest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/selftest"
)

// The real exe's selftest under Wine with the emulator: nothing enforces a filter
// there, so the report must say enforcement was not observed and the exit code must not
// be 0; and nothing of the selftest may be left in the emulator's store.
func TestSelftestUnderWine(t *testing.T) {
	dir := t.TempDir()
	exe := h.wfpsandboxExe(t)
	// A real install is in place and must come through the selftest untouched.
	if s := h.run(t, runOpts{dir: dir, name: "setup"}, exe, "setup", "--sid", h.userSID(t)); s.code != 0 {
		t.Fatalf("setup: %s", s.describe())
	}
	before := fileText(t, filepath.Join(dir, "state.txt"))
	if !strings.Contains(strings.ToLower(before), strings.ToLower(strings.Trim(policy.ProviderKey.String(), "{}"))) {
		t.Fatalf("the emulator's store does not hold the real install:\n%s", before)
	}
	report := filepath.Join(dir, "report.json")
	r := h.run(t, runOpts{dir: dir, name: "selftest"}, exe, "selftest", "--format", "json", "--report", "Z:"+report)
	t.Logf("%s", r.describe())
	if r.code == selftest.ExitHeld {
		t.Fatalf("selftest passed under Wine, where nothing is enforced:\n%s", r.describe())
	}
	var rep selftest.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not a report: %v\n%s", err, r.describe())
	}
	if !rep.Host.Wine || rep.Verdict.Status == "held" || !strings.Contains(rep.Verdict.Summary, "not observed") || rep.Verdict.ExitCode != r.code {
		t.Errorf("verdict %+v (wine %v, exit %d)", rep.Verdict, rep.Host.Wine, r.code)
	}
	if b, err := os.ReadFile(report); err != nil || !json.Valid(b) {
		t.Errorf("--report file: %v", err)
	}
	// As far as Wine goes: the plan was added in the dynamic session (the rehearsal,
	// since Wine cannot make the account), and closing the session removed it.
	checks := map[string]selftest.Check{}
	for _, c := range rep.Checks {
		checks[c.ID] = c
	}
	for _, id := range []string{selftest.CheckInstall, selftest.CheckVerify, selftest.CheckCleanup} {
		if c := checks[id]; !c.Ran || !c.OK {
			t.Errorf("check %s: %+v", id, c)
		}
	}
	opened := false
	for _, e := range r.log {
		var args struct {
			Session struct{ Flags uint32 } `json:"session"`
		}
		if e.Fn == "FwpmEngineOpen0" && json.Unmarshal(e.Args, &args) == nil && args.Session.Flags&1 != 0 { // FWPM_SESSION_FLAG_DYNAMIC
			opened = true
		}
	}
	if !opened {
		t.Errorf("no FwpmEngineOpen0 with FWPM_SESSION_FLAG_DYNAMIC in the call log")
	}
	// The dynamic session is dynamic: nothing of the selftest's provider is stored, and
	// the real install is exactly as it was.
	state := fileText(t, filepath.Join(dir, "state.txt"))
	if strings.Contains(strings.ToLower(state), strings.ToLower(strings.Trim(selftest.ProviderKey.String(), "{}"))) {
		t.Errorf("the emulator's store holds selftest objects after the run:\n%s", state)
	}
	if objectLines(state) != objectLines(before) {
		t.Errorf("the selftest changed the real install's stored objects:\nbefore:\n%s\nafter:\n%s", before, state)
	}
}

// `selftest --policy FILE` under Wine: the file's rules are in the plan the rehearsal
// installs (and reads back) in the dynamic session, the report lays out probes and
// claims for each of them, none is settled (nothing enforces here), and nothing is
// left in the store.
func TestSelftestPolicyFileUnderWine(t *testing.T) {
	dir := t.TempDir()
	exe := h.wfpsandboxExe(t)
	pol := filepath.Join(dir, "policy.toml")
	const file = "profile = \"baseline\"\n\n[[rule]]\nid = \"ssh\"\naction = \"block\"\nprotocol = \"tcp\"\nports = [22, \"6000-6010\"]\n\n" +
		"[[rule]]\nid = \"corp\"\naction = \"block\"\nremote = [\"203.0.113.0/24\"]\n"
	if err := os.WriteFile(pol, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	r := h.run(t, runOpts{dir: dir, name: "selftest-policy"}, exe, "selftest", "--policy", "Z:"+pol, "--format", "json")
	t.Logf("%s", r.describe())
	if r.code == selftest.ExitHeld {
		t.Fatalf("selftest passed under Wine:\n%s", r.describe())
	}
	var rep selftest.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not a report: %v\n%s", err, r.describe())
	}
	var ids []string
	for _, x := range rep.Config.Extra {
		ids = append(ids, x.ID)
	}
	if strings.Join(ids, " ") != "file-ssh-v4 file-ssh-v6 file-corp-v4" || !strings.HasSuffix(rep.Config.PolicyFile, "policy.toml") {
		t.Errorf("extra rules %v, policy file %q", ids, rep.Config.PolicyFile)
	}
	probes := 0
	for _, p := range rep.Probes {
		if p.Rule != "" {
			probes++
		}
	}
	if probes != 6 { // ssh: TCP on loopback and the local address, v4 and v6; corp: TCP and UDP on the local address
		t.Errorf("%d rule probes, want 6", probes)
	}
	hyps := map[string]selftest.Hypothesis{}
	for _, hy := range rep.Hypotheses {
		hyps[hy.ID] = hy
	}
	for _, id := range []string{"policy-rule-ssh-blocks", "policy-rule-ssh-other-unaffected", "policy-rule-corp-blocks", "policy-rule-corp-other-unaffected"} {
		if hy, ok := hyps[id]; !ok || hy.Status != selftest.NotObservable {
			t.Errorf("%s: %+v (present %v)", id, hy, ok)
		}
	}
	checks := map[string]selftest.Check{}
	for _, c := range rep.Checks {
		checks[c.ID] = c
	}
	// Baseline under deny: 4 guards and 12 blocks; the file adds 3 filters at connect.
	if c := checks[selftest.CheckInstall]; !c.Ran || !c.OK || !strings.Contains(c.Detail, "19 filters") {
		t.Errorf("install: %+v", c)
	}
	for _, id := range []string{selftest.CheckVerify, selftest.CheckCleanup} {
		if c := checks[id]; !c.Ran || !c.OK {
			t.Errorf("check %s: %+v", id, c)
		}
	}
	state := fileText(t, filepath.Join(dir, "state.txt"))
	if strings.Contains(strings.ToLower(state), strings.ToLower(strings.Trim(selftest.ProviderKey.String(), "{}"))) {
		t.Errorf("the emulator's store holds selftest objects after the run:\n%s", state)
	}
}

// A selftest that ends without closing its dynamic session (FwpmEngineClose0 fails,
// as when the process is killed before it closes) still leaves nothing in the store
// once the process has ended: dynamic objects are never persisted. Within the process,
// the leftover check sees the objects and the report says the cleanup failed.
func TestSelftestUnclosedSessionLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	exe := h.wfpsandboxExe(t)
	r := h.run(t, runOpts{dir: dir, name: "selftest-noclose", env: []string{"WFPEMU_FAIL=FwpmEngineClose0:1:0x80320017"}},
		exe, "selftest", "--format", "json")
	if r.code == selftest.ExitHeld {
		t.Fatalf("selftest passed under Wine:\n%s", r.describe())
	}
	var rep selftest.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not a report: %v\n%s", err, r.describe())
	}
	var cleanup selftest.Check
	for _, c := range rep.Checks {
		if c.ID == selftest.CheckCleanup {
			cleanup = c
		}
	}
	if !cleanup.Ran || cleanup.OK || !strings.Contains(cleanup.Detail, "left") {
		t.Errorf("with the session not closed the cleanup check says %+v", cleanup)
	}
	if !strings.Contains(strings.Join(rep.Errors, "\n"), "FwpmEngineClose0") {
		t.Errorf("the failed close is not reported: %v", rep.Errors)
	}
	state := fileText(t, filepath.Join(dir, "state.txt"))
	if strings.Contains(strings.ToLower(state), strings.ToLower(strings.Trim(selftest.ProviderKey.String(), "{}"))) {
		t.Errorf("the emulator's store holds selftest objects after the process ended:\n%s", state)
	}
}

// objectLines is a state file without its "next <filter id>" line: the ID counter moves
// with every filter added, dynamic ones included, as BFE's run-time IDs do.
func objectLines(state string) string {
	var keep []string
	for _, l := range strings.Split(state, "\n") {
		if !strings.HasPrefix(l, "next ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
