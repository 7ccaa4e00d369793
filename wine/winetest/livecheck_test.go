//go:build wine

package winetest

import (
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
)

// logSD is the sd argument of Fwpm*Add0 as jsonobj.c's js_sd_param records it.
type logSD struct {
	Valid        bool    `json:"valid"`
	SelfRelative bool    `json:"selfRelative"`
	Bytes        *string `json:"bytes"`
}

// TestSetupPassesReadableSD: the real wfpsandbox.exe adds its provider, sublayer and
// every filter with a valid self-relative security descriptor whose DACL grants
// FWPM_ACTRL_READ (0x80) to BUILTIN\Users and is not protected (so BFE's inherited
// ACEs still apply); ensure then reads them by key — FwpmTransactionBegin0 with
// FWPM_TXN_READ_ONLY, one FwpmFilterGetByKey0 per filter, no enumeration — and verify
// reads in a read-only transaction too.
func TestSetupPassesReadableSD(t *testing.T) {
	exe, sandboxSID := h.wfpsandboxExe(t), h.userSID(t)
	dir := t.TempDir()
	o := func(name string) runOpts { return runOpts{dir: dir, name: name} }

	r := h.run(t, o("setup"), exe, "setup", "--sid", sandboxSID)
	if r.code != 0 {
		t.Fatalf("setup: %s", r.describe())
	}
	adds := 0
	for _, fn := range []string{"FwpmProviderAdd0", "FwpmSubLayerAdd0", "FwpmFilterAdd0"} {
		for _, c := range r.log.calls(fn) {
			adds++
			sd := decode[struct{ SD *logSD }](t, c.Args).SD
			if sd == nil || !sd.Valid || !sd.SelfRelative || sd.Bytes == nil {
				t.Fatalf("%s (seq %d): sd %+v; want a valid self-relative security descriptor", fn, c.Seq, sd)
			}
			b, err := hex.DecodeString(*sd.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			d, err := account.ParseSD(b)
			if err != nil {
				t.Fatalf("%s: sd does not decode: %v", fn, err)
			}
			if d.Control&account.ControlDACLProtected != 0 || d.DACL == nil {
				t.Errorf("%s: control %#x DACL %v: want an unprotected DACL", fn, d.Control, d.DACL)
				continue
			}
			grants := false
			for _, e := range d.DACL.ACEs {
				if e.Type == account.AccessAllowed && e.SID == account.BuiltinUsers && e.Mask&account.FWPMActrlRead != 0 {
					grants = true
				}
			}
			if !grants {
				t.Errorf("%s: DACL %s grants BUILTIN\\Users no FWPM_ACTRL_READ", fn, d.SDDL())
			}
		}
	}
	if adds != 2+planned(policy.DefaultUserMatch) {
		t.Fatalf("%d adds checked, want %d", adds, 2+planned(policy.DefaultUserMatch))
	}

	// After the commit, setup sets the same DACL on every object again (which is what
	// brings an older install up to date): DACL_SECURITY_INFORMATION only, outside the
	// transaction.
	commits := r.log.calls("FwpmTransactionCommit0")
	if len(commits) != 1 {
		t.Fatalf("%d commits", len(commits))
	}
	sets := 0
	for _, fn := range []string{"FwpmProviderSetSecurityInfoByKey0", "FwpmSubLayerSetSecurityInfoByKey0", "FwpmFilterSetSecurityInfoByKey0"} {
		for _, c := range r.log.calls(fn) {
			sets++
			a := decode[struct {
				SecurityInfo uint32
				Owner, Group bool
				Sacl         bool
				Dacl         *struct {
					Valid bool
					Bytes string
				}
			}](t, c.Args)
			if c.Status != statusOK || c.Seq < commits[0].Seq || c.Txn != "none" || a.SecurityInfo != 0x4 || a.Owner || a.Group || a.Sacl || a.Dacl == nil || !a.Dacl.Valid {
				t.Errorf("%s (seq %d, commit %d, txn %s): status %s, args %+v; want DACL_SECURITY_INFORMATION with a valid DACL only, after the commit",
					fn, c.Seq, commits[0].Seq, c.Txn, c.Status, a)
				continue
			}
			// The DACL is the one of the descriptor the objects were added with.
			sd, err := account.ObjectSD(account.DefaultObjectReaders)
			if err != nil {
				t.Fatal(err)
			}
			if want := hex.EncodeToString(sd[20:]); a.Dacl.Bytes != want {
				t.Errorf("%s: DACL %s, want %s", fn, a.Dacl.Bytes, want)
			}
		}
	}
	if sets != 2+planned(policy.DefaultUserMatch) {
		t.Errorf("%d Set*SecurityInfoByKey0 calls, want %d", sets, 2+planned(policy.DefaultUserMatch))
	}

	ens := h.run(t, o("ensure"), exe, "ensure", "--no-elevate", "--format", "json")
	if ens.code != 0 {
		t.Fatalf("ensure: %s", ens.describe())
	}
	var doc struct {
		Current bool `json:"current"`
		Live    bool `json:"live"`
	}
	if err := json.Unmarshal([]byte(ens.stdout), &doc); err != nil || !doc.Current || !doc.Live {
		t.Fatalf("ensure: %+v, %v: want current and live\n%s", doc, err, ens.describe())
	}
	wantReadOnlyTxn(t, "ensure", ens.log)
	if n := len(ens.log.calls("FwpmFilterCreateEnumHandle0")) + len(ens.log.calls("FwpmSubLayerCreateEnumHandle0")); n != 0 {
		t.Errorf("ensure enumerated (%d enum handles): the live check must read by key", n)
	}
	if n := len(ens.log.calls("FwpmFilterGetByKey0")); n != planned(policy.DefaultUserMatch) {
		t.Errorf("ensure made %d FwpmFilterGetByKey0 calls, want one per planned filter (%d)", n, planned(policy.DefaultUserMatch))
	}
	ens.log.checkMemory(t)

	ver := h.run(t, o("verify"), exe, "verify", "--sid", sandboxSID)
	if ver.code != 0 {
		t.Fatalf("verify: %s", ver.describe())
	}
	wantReadOnlyTxn(t, "verify", ver.log)
}

// wantReadOnlyTxn: every FwpmTransactionBegin0 of the run passed FWPM_TXN_READ_ONLY and
// the run wrote nothing.
func wantReadOnlyTxn(t *testing.T, what string, log callLog) {
	t.Helper()
	begins := log.calls("FwpmTransactionBegin0")
	if len(begins) == 0 {
		t.Errorf("%s began no transaction", what)
	}
	for _, b := range begins {
		if flags := decode[struct{ Flags uint32 }](t, b.Args).Flags; flags != 0x1 || b.Status != statusOK {
			t.Errorf("%s: FwpmTransactionBegin0 flags %#x status %s; want FWPM_TXN_READ_ONLY (0x1), success", what, flags, b.Status)
		}
	}
	if w := log.writes(); len(w) != 0 {
		t.Errorf("%s made %d Add/Delete calls", what, len(w))
	}
}
