//go:build wine

package winetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServiceRepairsOnChangeNotification: `wfpsandbox service run` with an hour's poll
// subscribes to the changes of the wfpsandbox provider's objects (the emulator's call
// log shows FwpmFilterSubscribeChanges0, FwpmSubLayerSubscribeChanges0 and
// FwpmProviderSubscribeChanges0 succeed in the service's process), and a filter deleted
// by another process through the WFP API (testdata/delfilter.c: FwpmFilterDeleteByKey0)
// is put back within seconds: only the notification path can do
// that before the poll. Then the service goes quiet: the pass that its own repair's
// notification causes writes nothing, so no further pass follows.
//
// What this exercises of the emulator is an emulation (wine/fwpemu/changes.c: a watcher
// thread diffing the state file), not WFP's delivery; see the README.
func TestServiceRepairsOnChangeNotification(t *testing.T) {
	exe, sandboxSID := h.wfpsandboxExe(t), h.userSID(t)
	dir := t.TempDir()
	setup := h.run(t, runOpts{dir: dir, name: "setup"}, exe, "setup", "--sid", sandboxSID, "--profile", "baseline",
		"--user-match", "allow", "--format", "json")
	if setup.code != 0 {
		t.Fatalf("setup: %s", setup.describe())
	}
	stateDir := filepath.Join(dir, "wfpsandbox-state")
	if err := os.WriteFile(filepath.Join(stateDir, "config.toml"), []byte("[service]\npoll = \"1h\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	callLog := filepath.Join(dir, "service.jsonl")
	state := filepath.Join(dir, "state.txt")
	svc := startServiceRun(t, dir, stateDir, "WFPEMU_RELOAD=1")
	svcOut := func() string { return svc.output(t) }
	svc.waitUntil(t, 60*time.Second, "subscribing", func(out string) bool {
		return strings.Contains(out, "converging on WFP change notifications") || strings.Contains(out, "cannot subscribe")
	})
	if strings.Contains(svcOut(), "cannot subscribe") {
		t.Fatalf("the service did not subscribe:\n%s", svcOut())
	}
	svcPID := 0
	for _, fn := range []string{"FwpmFilterSubscribeChanges0", "FwpmSubLayerSubscribeChanges0", "FwpmProviderSubscribeChanges0"} {
		calls := readCallLog(t, callLog).calls(fn)
		if len(calls) != 1 || calls[0].Status != statusOK {
			t.Fatalf("%s in the service's call log: %+v", fn, calls)
		}
		svcPID = calls[0].PID
	}
	// The start pass is over when it has closed its sessions; give it a moment.
	time.Sleep(time.Second)

	removed := h.deleteFirstFilter(t, dir, "tamper")
	start := time.Now()
	for !strings.Contains(fileText(t, state), "F "+removed) {
		if time.Since(start) > 20*time.Second {
			t.Fatalf("filter %s not repaired within 20 s (the poll is 1 h: the notification path failed)\nservice:\n%s", removed, svcOut())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("filter %s repaired %s after the delete, with a 1 h poll", removed, time.Since(start).Round(time.Millisecond))
	if !strings.Contains(svcOut(), "WFP change notification") {
		t.Errorf("the service logged no change notification:\n%s", svcOut())
	}

	// Quiet afterwards: the repair's own add is notified too (the emulator, like WFP for
	// another session's write, reports it), the pass it causes finds everything current
	// and writes nothing, and nothing follows.
	time.Sleep(3 * time.Second)
	opens := func() int {
		n := 0
		for _, r := range readCallLog(t, callLog).calls("FwpmEngineOpen0") {
			if r.PID == svcPID {
				n++
			}
		}
		return n
	}
	before := opens()
	time.Sleep(3 * time.Second)
	if after := opens(); after != before {
		t.Errorf("the service kept opening sessions after the repair: %d → %d", before, after)
	}
	var adds []string
	for _, r := range readCallLog(t, callLog) {
		if r.PID == svcPID && r.Fn == "FwpmFilterAdd0" && r.Status == statusOK {
			adds = append(adds, decode[struct{ Filter logFilter }](t, r.Args).Filter.Key)
		}
	}
	if len(adds) != 1 || adds[0] != removed {
		t.Errorf("the service added %v, want only %s", adds, removed)
	}
}
