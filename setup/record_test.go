package setup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/state"
)

// writeOldMarker writes account sid's record as the single setup-marker.json of
// earlier versions (format 1), and removes the record.
func (h *host) writeOldMarker(sid string) {
	h.t.Helper()
	path := state.Path(h.dir, sid)
	data, err := os.ReadFile(path)
	if err != nil {
		h.t.Fatal(err)
	}
	old := strings.Replace(string(data), `"format": 2`, `"format": 1`, 1)
	if err := os.WriteFile(filepath.Join(h.dir, state.LegacyMarkerFile), []byte(old), 0o644); err != nil {
		h.t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		h.t.Fatal(err)
	}
}

// TestRunMigratesOldMarker: the old single marker becomes its account's record, even
// when setup runs for another account, and that account stays current.
func TestRunMigratesOldMarker(t *testing.T) {
	h := newHost(t)
	o := h.opts("other")
	o.Profile = policy.Strict
	h.run(o)
	h.writeOldMarker(sidB)
	if c := h.check(CheckOptions{Account: "other", Open: h.open}); !c.Current() || c.Record == nil || c.Record.Format != 1 {
		t.Fatalf("before migration, other from the old marker: %v", c.Reasons)
	}
	rep := h.run(h.opts("sandbox"))
	if rep.Migrated != sidB || !hasReason(rep.Reasons, ReasonNoRecord) {
		t.Errorf("migrated %q, reasons %v", rep.Migrated, rep.Reasons)
	}
	if _, err := os.Lstat(filepath.Join(h.dir, state.LegacyMarkerFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old marker left: %v", err)
	}
	if r := h.record(sidB); r.Format != state.Format || r.Profile != "strict" {
		t.Errorf("other's record %+v", r)
	}
	for _, acct := range []string{"sandbox", "other"} {
		if c := h.check(CheckOptions{Account: acct, Open: h.open}); !c.Current() {
			t.Errorf("%s after the migration: %v", acct, c.Reasons)
		}
	}
}

func TestRunSetsCorruptOldMarkerAside(t *testing.T) {
	h := newHost(t)
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(h.dir, state.LegacyMarkerFile)
	if err := os.WriteFile(path, []byte("setup ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := h.run(h.opts("sandbox"))
	if !strings.HasPrefix(filepath.Base(rep.SetAside), state.LegacyMarkerFile+".corrupt-") || !hasReason(rep.Reasons, ReasonCorruptRecord) {
		t.Errorf("set aside %q, reasons %v", rep.SetAside, rep.Reasons)
	}
	if got, _ := os.ReadFile(rep.SetAside); string(got) != "setup ok\n" {
		t.Errorf("backup %q", got)
	}
	if r := h.record(sidA); r.Account.SID != sidA {
		t.Errorf("record %+v", r)
	}
	if !strings.Contains(h.log.String(), "event=105") {
		t.Errorf("no record-set-aside event logged")
	}
}
