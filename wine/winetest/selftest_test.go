//go:build wine

package winetest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/selftest"
)

// The real exe's selftest under Wine with the emulator: nothing enforces a filter
// there, so the report must say enforcement was not observed and the exit code must not
// be 0; and nothing of the selftest may be left in the emulator's store.
func TestSelftestUnderWine(t *testing.T) {
	dir := t.TempDir()
	exe := h.wfpsandboxExe(t)
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
	// The dynamic session is dynamic: nothing of the selftest's provider is stored.
	state := fileText(t, filepath.Join(dir, "state.txt"))
	if strings.Contains(strings.ToLower(state), strings.ToLower(strings.Trim(selftest.ProviderKey.String(), "{}"))) {
		t.Errorf("the emulator's store holds selftest objects after the run:\n%s", state)
	}
}
