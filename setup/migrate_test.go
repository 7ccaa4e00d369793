package setup

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/state"
)

// TestSetupMigratesVersion1Host: a host and marker written by main's setup version 1
// (../reconcile/testdata/README.md; the marker is sidB's, testdata/setup-v1-marker-1002.json)
// make Check ask for setup (version changed); the next setup moves sidB and every other
// NOT_EQUAL account (sidA, strict) in one run, records version 2, and converges.
func TestSetupMigratesVersion1Host(t *testing.T) {
	h := newHost(t)
	copyFile := func(from, to string) {
		t.Helper()
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile("../reconcile/testdata/host-setup-v1.json", h.engine)
	copyFile("testdata/setup-v1-marker-1002.json", filepath.Join(h.dir, state.LegacyMarkerFile))

	c := h.check(CheckOptions{Account: "other"})
	if !hasReason(c.Reasons, ReasonVersionChanged) {
		t.Fatalf("check on a version-1 host: reasons %v, want version-changed", reasonCodes(c.Reasons))
	}
	rep := h.run(h.opts("other"))
	if rep.WFPFailed() || rep.FilterCount != 16 {
		t.Fatalf("setup: %+v\n%s", rep, h.log.String())
	}
	migrated := 0
	for _, ch := range rep.Changes {
		if ch.Reason == reconcile.ReasonMigrated {
			migrated++
		}
	}
	// sidA: its sublayer, 20 deletes, 6 guards + 20 adds; sidB: 12 blocks deleted and
	// added again in its own sublayer.
	if migrated != 47+24 {
		t.Errorf("%d changes migrated, want 71", migrated)
	}
	if m := h.record(sidB); m.SetupVersion != SetupVersion || SetupVersion != 2 {
		t.Errorf("record setup version %d, want %d", m.SetupVersion, SetupVersion)
	}
	if v := h.verify(sidB, policy.Baseline, ""); !v.Compliant {
		t.Fatalf("sidB not compliant: %+v", v)
	}
	a, err := policy.Build(policy.Options{SID: sidA, Profile: policy.Strict, ProxyPorts: []uint16{3128}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := h.open()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if res, err := reconcile.Install(e, a, reconcile.Options{DryRun: true}); err != nil || len(res.Changes) != 0 {
		t.Errorf("sidA after the migration: %+v %v, want nothing to change", res, err)
	}
	if rep := h.run(h.opts("other")); rep.Writes != 0 || rep.WFPFailed() {
		t.Errorf("second setup: %d writes, %+v", rep.Writes, rep.Steps)
	}
}
