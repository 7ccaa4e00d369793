//go:build wine

package winetest

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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

// A selftest killed mid-run (SIGKILL, nothing of its own cleanup runs) leaves no WFP
// object, and the next selftest starts (the lock died with the process), finds the
// crash record the dead run left and sweeps it.
//
// What this proves and what it does not: the emulator keeps dynamic objects in the
// process's memory and never writes them to its state file, so "nothing of the selftest
// in the store after the kill" is true by the emulator's construction — it shows that
// the selftest put nothing persistent there (no PERSISTENT flag slipped into its plan,
// nothing added outside the dynamic session), not that BFE deletes a dead session's
// objects; that is Microsoft's documented behaviour (FWPM_SESSION_FLAG_DYNAMIC) and only
// a Windows host shows it. Wine cannot make the temporary account (its NetUserAdd keeps
// the account in the process's memory, LookupAccountName then fails), so the killed
// run's record names an account without a SID and no work directory, loopback exemption
// or AppContainer profile (the run stops before them): the sweep finds the account gone.
// The sweep's other decisions are unit-tested on fakes (selftest/journal_test.go).
func TestSelftestKilledLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	exe := h.wfpsandboxExe(t)
	if s := h.run(t, runOpts{dir: dir, name: "setup"}, exe, "setup", "--sid", h.userSID(t)); s.code != 0 {
		t.Fatalf("setup: %s", s.describe())
	}
	statePath := filepath.Join(dir, "state.txt")
	before := fileText(t, statePath)
	selftestKey := strings.ToLower(strings.Trim(selftest.ProviderKey.String(), "{}"))
	recordPath := filepath.Join(dir, "wfpsandbox-state", selftest.JournalDir, selftest.JournalFile)

	// The selftest stalls right after its plan is committed in the dynamic session.
	logPath := filepath.Join(dir, "selftest-killed.jsonl")
	cmd := exec.Command("wine", exe, "selftest", "--format", "json")
	cmd.Env = h.wineEnv(overridesEmu, "WFPEMU_LOG="+logPath, "WFPEMU_STATE="+statePath,
		"WFPSANDBOX_STATE_DIR=Z:"+filepath.Join(dir, "wfpsandbox-state"), "WFPEMU_STALL=FwpmTransactionCommit0")
	cmd.Dir = dir
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if slices.ContainsFunc(readCallLog(t, logPath), func(r record) bool { return r.Fn == "wfpemu.stall" }) {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the selftest ended (%v) before it stalled:\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no stall within 2 minutes; stderr:\n%s", stderr.String())
		}
	}
	// It stalled with its plan installed: filters were added in a dynamic session and
	// committed. (The log's top-level "session" is the session a call used; the record
	// type of calllog_test.go does not hold it, so the lines are read again here.)
	dynamic := map[uint64]bool{}
	added := 0
	for _, line := range strings.Split(strings.TrimSpace(fileText(t, logPath)), "\n") {
		var e struct {
			Fn      string
			Status  string
			Session *uint64
			Args    struct {
				Session struct{ Flags uint32 } `json:"session"`
			}
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Session == nil || e.Status != statusOK {
			continue
		}
		if e.Fn == "FwpmEngineOpen0" && e.Args.Session.Flags&1 != 0 { // FWPM_SESSION_FLAG_DYNAMIC
			dynamic[*e.Session] = true
		}
		if e.Fn == "FwpmFilterAdd0" && dynamic[*e.Session] {
			added++
		}
	}
	if added == 0 {
		t.Fatalf("the selftest stalled before adding filters in its dynamic session; call log:\n%s", fileText(t, logPath))
	}
	rec, err := selftest.DecodeJournal([]byte(fileText(t, recordPath)))
	if err != nil {
		t.Fatalf("while the selftest runs its crash record %s: %v", recordPath, err)
	}
	var acct selftest.JournalEntry
	for _, e := range rec.Entries {
		if e.Kind == selftest.KindAccount {
			acct = e
		}
	}
	if acct.Name == "" {
		t.Fatalf("the running selftest's crash record names no temporary account: %+v", rec)
	}

	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no handler, no deferred cleanup runs
		t.Fatal(err)
	}
	<-exited
	t.Logf("killed the selftest after %d filters were added in its dynamic session; its record: %+v", added, rec)

	// Fresh processes: nothing of the selftest is stored, the real install is as it was
	// and verifies.
	state := fileText(t, statePath)
	if strings.Contains(strings.ToLower(state), selftestKey) {
		t.Errorf("the emulator's store holds selftest objects after the kill:\n%s", state)
	}
	if objectLines(state) != objectLines(before) {
		t.Errorf("the killed selftest changed the real install's stored objects:\nbefore:\n%s\nafter:\n%s", before, state)
	}
	if v := h.run(t, runOpts{dir: dir, name: "verify"}, exe, "verify", "--sid", h.userSID(t)); v.code != 0 {
		t.Errorf("verify of the real install after the kill: %s", v.describe())
	}
	// The dead run's record is still there (nothing could remove it)…
	if _, err := os.Stat(recordPath); err != nil {
		t.Fatalf("the killed run's crash record is gone: %v", err)
	}

	// …and the next selftest runs (not "another selftest is running": the lock died with
	// the process), sweeps it, reports the sweep, and leaves no record of its own.
	r := h.run(t, runOpts{dir: dir, name: "selftest-after"}, exe, "selftest", "--format", "json")
	var rep selftest.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not a report: %v\n%s", err, r.describe())
	}
	if r.code == selftest.ExitHeld || strings.Contains(strings.Join(rep.Errors, "\n"), "another wfpsandbox selftest") {
		t.Fatalf("the selftest after the kill: %s", r.describe())
	}
	for _, id := range []string{selftest.CheckInstall, selftest.CheckCleanup} {
		if c := checkOf(rep, id); !c.Ran || !c.OK {
			t.Errorf("the selftest after the kill: check %s %+v", id, c)
		}
	}
	if len(rep.Swept) != len(rec.Entries) {
		t.Fatalf("swept %+v, the dead run's record held %+v", rep.Swept, rec.Entries)
	}
	for _, o := range rep.Swept {
		if o.Run != rec.Run {
			t.Errorf("swept an entry of run %s, the dead run was %s", o.Run, rec.Run)
		}
		if o.Entry.Kind == selftest.KindAccount && (o.Entry.Name != acct.Name || o.Outcome != selftest.SweptGone) {
			t.Errorf("the dead run's account: %+v (Wine forgot it with the process: want %q)", o, selftest.SweptGone)
		}
	}
	if _, err := os.Stat(recordPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a crash record is left after a selftest that finished: %v\n%s", err, fileText(t, recordPath))
	}
	if state := fileText(t, statePath); strings.Contains(strings.ToLower(state), selftestKey) || objectLines(state) != objectLines(before) {
		t.Errorf("after the second selftest the store is:\n%s", state)
	}
	// The text form says what was swept.
	txt := h.run(t, runOpts{dir: dir, name: "selftest-text"}, exe, "selftest")
	if strings.Contains(txt.stdout, "swept first") {
		t.Errorf("a run with nothing to sweep reports a sweep:\n%s", txt.stdout)
	}
}

func checkOf(rep selftest.Report, id string) selftest.Check {
	for _, c := range rep.Checks {
		if c.ID == id {
			return c
		}
	}
	return selftest.Check{}
}

// The sweep's Win32 side (NetUserGetInfo, DeleteProfileW, the directory's attributes and
// owner, NetworkIsolation*, DeleteAppContainerProfile) runs under Wine on a record
// planted as a dead run would leave it. What Wine answers is Wine's, not Windows': it
// reports every file as owned by the prefix's user (the user the selftest runs as, so
// the planted directory counts as the sweeper's own and is not refused — a directory of
// another user is refused, which only the unit tests show); Go's os.RemoveAll fails
// there with ERROR_INVALID_FUNCTION (seen with Go 1.26 and Debian's Wine), so the
// directory is kept for the next run rather than removed; and Wine lacks DeleteProfileW,
// DeriveAppContainerSidFromAppContainerName and DeleteAppContainerProfile (those entries
// are kept: a missing export is an error of the step, not a crash). The test asserts what must hold anywhere: nothing the record does
// not name is touched, the run goes on, every entry has an outcome, and what was kept is
// carried into the record for the next run — and only that.
func TestSelftestSweepsAPlantedRecord(t *testing.T) {
	dir := t.TempDir()
	exe := h.wfpsandboxExe(t)
	recDir := filepath.Join(dir, "wfpsandbox-state", selftest.JournalDir)
	recordPath := filepath.Join(recDir, selftest.JournalFile)
	if err := os.MkdirAll(recDir, 0o755); err != nil {
		t.Fatal(err)
	}
	driveC := filepath.Join(h.prefix, "drive_c")
	const run = "00000000deadbeef"
	made := filepath.Join(driveC, selftest.WorkDirPrefix+"00000000000000aa")
	if err := os.MkdirAll(filepath.Join(made, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(made) })
	if err := os.WriteFile(filepath.Join(made, "out", "probe.jsonl"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	bystander := filepath.Join(driveC, selftest.WorkDirPrefix+"00000000000000ff") // not in the record
	if err := os.MkdirAll(bystander, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bystander) })
	now := time.Now().UTC()
	rec := selftest.JournalRecord{Format: 1, Run: run, PID: 99, Started: now, Note: "planted", Entries: []selftest.JournalEntry{
		{Kind: selftest.KindAccount, Run: run, Name: "wfpsbx00000001", SID: "S-1-5-21-0-0-0-1999", Added: now},
		{Kind: selftest.KindWorkDir, Run: run, Path: `C:\` + selftest.WorkDirPrefix + "00000000000000aa", Added: now},
		{Kind: selftest.KindWorkDir, Run: run, Path: `C:\` + selftest.WorkDirPrefix + "00000000000000bb", Added: now},
		{Kind: selftest.KindLoopbackExemption, Run: run, Name: "wfpsandbox.selftest.probe", Added: now},
		{Kind: selftest.KindAppContainerProfile, Run: run, Name: "wfpsandbox.selftest.probe", User: h.userSID(t), Added: now},
	}}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := selftest.DecodeJournal(b); err != nil {
		t.Fatalf("the planted record is not one a run writes: %v", err)
	}
	if err := os.WriteFile(recordPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := h.run(t, runOpts{dir: dir, name: "selftest-sweep"}, exe, "selftest", "--format", "json")
	var rep selftest.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not a report: %v\n%s", err, r.describe())
	}
	if c := checkOf(rep, selftest.CheckInstall); !c.Ran || !c.OK {
		t.Errorf("the run after the sweep did not go on: %+v\n%s", c, r.describe())
	}
	if len(rep.Swept) != len(rec.Entries) {
		t.Fatalf("swept %+v for %d entries", rep.Swept, len(rec.Entries))
	}
	var kept []selftest.JournalEntry
	for i, o := range rep.Swept {
		t.Logf("swept: %s", o.Line())
		if o.Entry.Kind != rec.Entries[i].Kind || o.Run != run {
			t.Errorf("outcome %d is of %+v, the record's entry %d is %+v", i, o.Entry, i, rec.Entries[i])
		}
		switch o.Outcome {
		case selftest.SweptKept:
			kept = append(kept, o.Entry)
		case selftest.SweptRemoved, selftest.SweptGone, selftest.SweptRefused:
		default:
			t.Errorf("outcome %q", o.Outcome)
		}
	}
	if o := rep.Swept[2]; o.Outcome != selftest.SweptGone {
		t.Errorf("a work directory that does not exist: %s", o.Line())
	}
	_, err = os.Stat(filepath.Join(made, "out", "probe.jsonl"))
	switch o := rep.Swept[1]; o.Outcome {
	case selftest.SweptRemoved:
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s, but it is still there: %v", o.Line(), err)
		}
	case selftest.SweptKept:
		if err != nil {
			t.Errorf("%s, but its content is gone: %v", o.Line(), err)
		}
	default: // Wine says the sweeper owns it: nothing to refuse
		t.Errorf("the planted work directory (owned, as Wine says, by the user who sweeps): %s", o.Line())
	}
	if _, err := os.Stat(bystander); err != nil {
		t.Errorf("a work directory the record does not name was touched: %v", err)
	}
	// What was kept waits in the record for the next run, under the dead run's ID.
	after, err := selftest.DecodeJournal([]byte(fileText(t, recordPath)))
	switch {
	case len(kept) == 0:
		if _, serr := os.Stat(recordPath); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("nothing was kept, yet a record is left: %v", serr)
		}
	case err != nil:
		t.Errorf("%d entries were kept, the record after the run: %v", len(kept), err)
	default:
		if len(after.Entries) != len(kept) {
			t.Errorf("kept %+v, the record after the run holds %+v", kept, after.Entries)
		}
		for i, e := range after.Entries {
			if i < len(kept) && (e.Kind != kept[i].Kind || e.Run != run) {
				t.Errorf("record entry %d %+v, kept %+v", i, e, kept[i])
			}
		}
	}
}
