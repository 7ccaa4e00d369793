//go:build wine

package winetest

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
)

// SDK fwpmu.h GUIDs (wfp-facts.md §3), written out here rather than taken from package wfp
// so that a wrong table there would show up as a failure here.
const (
	layerConnectV4  = "c38d57d1-05a7-4c33-904f-7fbceee60e82" // FWPM_LAYER_ALE_AUTH_CONNECT_V4
	layerConnectV6  = "4a72393b-319f-44bc-84c3-ba54dcb3b6b4" // FWPM_LAYER_ALE_AUTH_CONNECT_V6
	layerResourceV4 = "1247d66d-0b60-4a15-8d44-7155d0f53a0c" // FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V4
	layerResourceV6 = "55a650e1-5f0a-4eca-a653-88f53b26aa8c" // FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V6
	fieldUserID     = "af043a0a-b34d-4f86-979c-c90371af6e66" // FWPM_CONDITION_ALE_USER_ID
	fieldProtocol   = "3971ef2b-623e-4f9a-8cb1-6e79b806b9a7" // FWPM_CONDITION_IP_PROTOCOL
	fieldRemotePort = "c35a604d-d22b-4e1a-91b4-68f674ee674b" // FWPM_CONDITION_IP_REMOTE_PORT
)

// SDK constants (fwptypes.h, fwpmtypes.h).
const (
	fwpUint8              = 1
	fwpUint16             = 2
	fwpSecurityDescriptor = 14
	matchEqual            = 0
	matchNotEqual         = 10
	actionBlock           = 0x1001 // FWP_ACTION_BLOCK
	actionPermit          = 0x1002 // FWP_ACTION_PERMIT
	flagPersistent        = 0x1
	flagClearActionRight  = 0x8
)

// userSDDL is the ALE_USER_ID descriptor of a user-match shape, spelled out from the
// layout spec (issue 9): allow on every filter; deny (the guard permits' only condition).
// Both use FWP_MATCH_EQUAL.
func userSDDL(m policy.UserMatch, sid string) string {
	if m == policy.MatchAllow {
		return "D:(A;;CC;;;" + sid + ")"
	}
	return "D:(D;;CC;;;" + sid + ")(A;;CC;;;WD)(A;;CC;;;AN)(A;;CC;;;AC)(A;;CC;;;S-1-15-2-2)(A;;CC;;;RC)(A;;CC;;;WR)"
}

// guardLayers are the layers of the baseline's guard permits under deny.
var guardLayers = []string{layerConnectV4, layerResourceV4, layerConnectV6, layerResourceV6}

// planned is how many filters the baseline plan of a shape installs: 12 blocks, and
// under deny 4 guard permits.
func planned(m policy.UserMatch) int {
	if m == policy.MatchAllow {
		return len(baseline)
	}
	return len(guardLayers) + len(baseline)
}

// baseline is design.md §1's table: layer, the one condition besides the user, its value.
var baseline = []string{
	sig(layerConnectV4, fieldProtocol, fwpUint8, 1),
	sig(layerConnectV6, fieldProtocol, fwpUint8, 58),
	sig(layerResourceV4, fieldProtocol, fwpUint8, 1),
	sig(layerResourceV6, fieldProtocol, fwpUint8, 58),
	sig(layerConnectV4, fieldRemotePort, fwpUint16, 53),
	sig(layerConnectV6, fieldRemotePort, fwpUint16, 53),
	sig(layerConnectV4, fieldRemotePort, fwpUint16, 853),
	sig(layerConnectV6, fieldRemotePort, fwpUint16, 853),
	sig(layerConnectV4, fieldRemotePort, fwpUint16, 445),
	sig(layerConnectV6, fieldRemotePort, fwpUint16, 445),
	sig(layerConnectV4, fieldRemotePort, fwpUint16, 139),
	sig(layerConnectV6, fieldRemotePort, fwpUint16, 139),
}

func sig(layer, field string, typ uint32, value uint64) string {
	return fmt.Sprintf("%s %s type=%d value=%d", layer, field, typ, value)
}

// cliJSON is what setup and uninstall print with --format json.
type cliJSON struct {
	Writes *int   `json:"writes"`
	Error  string `json:"error"`
}

func parseJSON(t *testing.T, r run) cliJSON {
	t.Helper()
	var doc cliJSON
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.describe())
	}
	return doc
}

func wantWrites(t *testing.T, r run, want int) {
	t.Helper()
	doc := parseJSON(t, r)
	if doc.Writes == nil || *doc.Writes != want {
		t.Errorf("JSON writes = %v, want %d\n%s", doc.Writes, want, r.describe())
	}
}

// checkOneTransaction: exactly one read-write transaction, begun and committed
// successfully, with every write between the two; any other transaction is read-only
// (FWPM_TXN_READ_ONLY: setup's check for overriding filters after the commit) and
// aborted.
func checkOneTransaction(t *testing.T, log callLog) {
	t.Helper()
	var begins, readOnly []record
	for _, b := range log.calls("FwpmTransactionBegin0") {
		if decode[struct{ Flags uint32 }](t, b.Args).Flags&0x1 != 0 {
			readOnly = append(readOnly, b)
		} else {
			begins = append(begins, b)
		}
	}
	commits, aborts := log.calls("FwpmTransactionCommit0"), log.calls("FwpmTransactionAbort0")
	if len(begins) != 1 || len(commits) != 1 || len(aborts) != len(readOnly) {
		t.Fatalf("transactions: %d read-write Begin, %d Commit, %d Abort, %d read-only Begin; want 1, 1, one Abort per read-only Begin",
			len(begins), len(commits), len(aborts), len(readOnly))
	}
	if begins[0].Status != statusOK || commits[0].Status != statusOK {
		t.Fatalf("Begin %s, Commit %s; want both %s", begins[0].Status, commits[0].Status, statusOK)
	}
	for _, w := range log.writes() {
		if w.Seq < begins[0].Seq || w.Seq > commits[0].Seq || w.Txn != "write" {
			t.Errorf("%s (seq %d) outside the transaction (Begin %d, Commit %d)", w.Fn, w.Seq, begins[0].Seq, commits[0].Seq)
		}
	}
}

// checkSetupCalls asserts what a fresh setup asked of WFP, from the decoded call log.
func checkSetupCalls(t *testing.T, log callLog, shape policy.UserMatch, sid string) {
	t.Helper()
	checkOneTransaction(t, log)
	log.checkMemory(t)
	providerKey, sublayerKey := policy.ProviderKey.String(), policy.SublayerKey.String()
	if shape == policy.MatchDeny {
		sublayerKey = policy.SublayerKeyFor(sid).String() // the account's own sublayer
	}

	provs := log.calls("FwpmProviderAdd0")
	if len(provs) != 1 || provs[0].Status != statusOK {
		t.Fatalf("want one successful FwpmProviderAdd0, got %d: %+v", len(provs), provs)
	}
	p := decode[struct{ Provider logProvider }](t, provs[0].Args).Provider
	if p.Key != providerKey || p.Flags != flagPersistent || p.ServiceName != nil || p.Name == nil {
		t.Errorf("provider: key %s flags %#x serviceName %v name %v; want key %s, PERSISTENT, NULL serviceName, a name",
			p.Key, p.Flags, p.ServiceName, p.Name, providerKey)
	}

	subs := log.calls("FwpmSubLayerAdd0")
	if len(subs) != 1 || subs[0].Status != statusOK {
		t.Fatalf("want one successful FwpmSubLayerAdd0, got %d", len(subs))
	}
	s := decode[struct{ SubLayer logSublayer }](t, subs[0].Args).SubLayer
	if s.Key != sublayerKey || s.Weight != 0xFFFF || s.Flags != flagPersistent || s.ProviderKey == nil || *s.ProviderKey != providerKey {
		t.Errorf("sublayer: key %s weight %#x flags %#x providerKey %v; want %s, 0xFFFF, PERSISTENT, %s",
			s.Key, s.Weight, s.Flags, s.ProviderKey, sublayerKey, providerKey)
	}
	if provs[0].Seq > subs[0].Seq {
		t.Error("the sublayer was added before its provider")
	}

	adds := log.calls("FwpmFilterAdd0")
	if len(adds) != planned(shape) {
		t.Fatalf("%d FwpmFilterAdd0 calls, want %d", len(adds), planned(shape))
	}
	wantSDDL := userSDDL(shape, sid)
	var got, guards []string
	keys := map[string]bool{}
	for _, a := range adds {
		if a.Status != statusOK {
			t.Errorf("FwpmFilterAdd0 returned %s", a.Status)
		}
		f := decode[struct{ Filter logFilter }](t, a.Args).Filter
		keys[f.Key] = true
		if f.ProviderKey == nil || *f.ProviderKey != providerKey || f.SubLayerKey != sublayerKey {
			t.Errorf("filter %s: providerKey %v subLayerKey %s; want %s, %s", f.Key, f.ProviderKey, f.SubLayerKey, providerKey, sublayerKey)
		}
		var other *logCondition
		users := 0
		for i := range f.Conditions {
			c := &f.Conditions[i]
			if c.FieldKey != fieldUserID {
				other = c
				continue
			}
			users++
			if c.MatchType != matchEqual || c.Value.Type != fwpSecurityDescriptor || !c.Value.Valid || c.Value.SDDL != wantSDDL {
				t.Errorf("filter %s user condition: match %d type %d valid %v SDDL %q; want FWP_MATCH_EQUAL, FWP_SECURITY_DESCRIPTOR_TYPE, a valid self-relative SD %q",
					f.Key, c.MatchType, c.Value.Type, c.Value.Valid, c.Value.SDDL, wantSDDL)
			}
		}
		if f.Action.Type == actionPermit {
			// A deny-layout guard: soft (PERSISTENT only), weight range 15, the user
			// condition alone.
			if shape != policy.MatchDeny || f.Flags != flagPersistent || users != 1 || len(f.Conditions) != 1 ||
				f.Weight.Type != fwpUint8 || f.Weight.Value.String() != "15" {
				t.Errorf("permit %s: shape %s flags %#x conditions %d weight %+v; want a deny guard: PERSISTENT, one user condition, FWP_UINT8 15",
					f.Key, shape, f.Flags, len(f.Conditions), f.Weight)
			}
			guards = append(guards, f.LayerKey)
			continue
		}
		if f.Flags != flagPersistent|flagClearActionRight || f.Action.Type != actionBlock {
			t.Errorf("filter %s: flags %#x action %#x; want PERSISTENT|CLEAR_ACTION_RIGHT (0x9), BLOCK (0x1001)", f.Key, f.Flags, f.Action.Type)
		}
		wantUsers := map[policy.UserMatch]int{policy.MatchAllow: 1, policy.MatchDeny: 0}[shape]
		if users != wantUsers || other == nil || len(f.Conditions) != wantUsers+1 {
			t.Errorf("block %s: %d ALE_USER_ID conditions of %d, want %d plus one other", f.Key, users, len(f.Conditions), wantUsers)
			continue
		}
		if other.MatchType != matchEqual {
			t.Errorf("filter %s: %s match type %d, want FWP_MATCH_EQUAL", f.Key, other.FieldKeyName, other.MatchType)
		}
		v, err := other.Value.Value.Int64()
		if err != nil {
			t.Errorf("filter %s: %s value %q: %v", f.Key, other.FieldKeyName, other.Value.Value, err)
		}
		got = append(got, sig(f.LayerKey, other.FieldKey, other.Value.Type, uint64(v)))
	}
	if len(keys) != len(adds) {
		t.Errorf("%d filter adds but %d distinct keys", len(adds), len(keys))
	}
	wantSigs := slices.Clone(baseline)
	slices.Sort(got)
	slices.Sort(wantSigs)
	if !slices.Equal(got, wantSigs) {
		t.Errorf("filters (layer field type value):\n got  %s\n want %s", strings.Join(got, "\n      "), strings.Join(wantSigs, "\n      "))
	}
	if shape == policy.MatchDeny {
		wantGuards := slices.Clone(guardLayers)
		slices.Sort(guards)
		slices.Sort(wantGuards)
		if !slices.Equal(guards, wantGuards) {
			t.Errorf("guard permits at layers %v, want %v", guards, wantGuards)
		}
	}
}

// TestSetupVerifyRerunUninstall is the life cycle on one emulated host: a fresh setup,
// verify, a converged re-run (zero writes), uninstall, verify again.
func TestSetupVerifyRerunUninstall(t *testing.T) {
	exe, sandboxSID := h.wfpsandboxExe(t), h.userSID(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state.txt")
	o := func(name string) runOpts { return runOpts{dir: dir, name: name} }

	setup := h.run(t, o("setup"), exe, "setup", "--sid", sandboxSID, "--format", "json")
	if setup.code != 0 {
		t.Fatalf("setup: %s", setup.describe())
	}
	wantWrites(t, setup, 2+planned(policy.DefaultUserMatch))
	checkSetupCalls(t, setup.log, policy.DefaultUserMatch, sandboxSID)
	if s := fileText(t, state); strings.Count(s, "\nF ") != planned(policy.DefaultUserMatch) {
		t.Fatalf("state file after setup holds %d filters, want %d:\n%s", strings.Count(s, "\nF "), planned(policy.DefaultUserMatch), s)
	}
	if marker, _ := filepath.Glob(filepath.Join(dir, "wfpsandbox-state", "*")); len(marker) == 0 {
		t.Error("setup left nothing in WFPSANDBOX_STATE_DIR (no marker)")
	}

	verify := h.run(t, o("verify"), exe, "verify", "--sid", sandboxSID)
	if verify.code != 0 {
		t.Fatalf("verify after setup: %s", verify.describe())
	}
	if w := verify.log.writes(); len(w) != 0 {
		t.Errorf("verify made %d Add/Delete calls", len(w))
	}
	verify.log.checkMemory(t)

	again := h.run(t, o("setup-again"), exe, "setup", "--sid", sandboxSID, "--format", "json")
	if again.code != 0 {
		t.Fatalf("second setup: %s", again.describe())
	}
	wantWrites(t, again, 0)
	if w := again.log.writes(); len(w) != 0 {
		t.Errorf("second setup made %d Add/Delete calls, want none: first %s", len(w), w[0].Fn)
	}
	again.log.checkMemory(t)

	un := h.run(t, o("uninstall"), exe, "uninstall", "--all", "--format", "json")
	if un.code != 0 {
		t.Fatalf("uninstall --all: %s", un.describe())
	}
	wantWrites(t, un, 2+planned(policy.DefaultUserMatch))
	checkOneTransaction(t, un.log)
	un.log.checkMemory(t)
	var order []string
	for _, w := range un.log.writes() {
		if w.Status != statusOK {
			t.Errorf("%s returned %s", w.Fn, w.Status)
		}
		if len(order) == 0 || order[len(order)-1] != w.Fn {
			order = append(order, w.Fn)
		}
	}
	wantOrder := []string{"FwpmFilterDeleteByKey0", "FwpmSubLayerDeleteByKey0", "FwpmProviderDeleteByKey0"}
	if !slices.Equal(order, wantOrder) || len(un.log.calls("FwpmFilterDeleteByKey0")) != planned(policy.DefaultUserMatch) {
		t.Errorf("uninstall deleted in the order %v (%d filter deletes); want %v with %d filter deletes",
			order, len(un.log.calls("FwpmFilterDeleteByKey0")), wantOrder, planned(policy.DefaultUserMatch))
	}
	if s := fileText(t, state); strings.Contains(s, "\nP ") || strings.Contains(s, "\nS ") || strings.Contains(s, "\nF ") {
		t.Errorf("state file after uninstall still holds objects:\n%s", s)
	}

	gone := h.run(t, o("verify-after-uninstall"), exe, "verify", "--sid", sandboxSID)
	if gone.code != 1 {
		t.Errorf("verify after uninstall: exit %d, want 1 (missing)\n%s", gone.code, gone.describe())
	}
}

// TestSetupAllowShape: the original design's shape is still installable on request.
func TestSetupAllowShape(t *testing.T) {
	exe, sandboxSID := h.wfpsandboxExe(t), h.userSID(t)
	r := h.run(t, runOpts{dir: t.TempDir(), name: "setup"}, exe, "setup", "--sid", sandboxSID, "--user-match", string(policy.MatchAllow), "--format", "json")
	if r.code != 0 {
		t.Fatalf("setup --user-match allow: %s", r.describe())
	}
	checkSetupCalls(t, r.log, policy.MatchAllow, sandboxSID)
}

// TestSetupWithWineStub: Wine's own fwpuclnt.dll answers FwpmEngineOpen0 with
// RPC_S_CANNOT_SUPPORT; setup must say WFP is unavailable and change nothing.
func TestSetupWithWineStub(t *testing.T) {
	exe, sandboxSID := h.wfpsandboxExe(t), h.userSID(t)
	dir := t.TempDir()
	r := h.run(t, runOpts{dir: dir, name: "stub", overrides: overridesStub}, exe, "setup", "--sid", sandboxSID)
	if r.code != 2 && r.code != 3 {
		t.Errorf("exit %d, want 2 (error) or 3 (WFP step failed)", r.code)
	}
	msg := strings.ToLower(r.stderr)
	if !strings.Contains(msg, "wfp") || !(strings.Contains(msg, "unavailable") || strings.Contains(msg, "does not implement")) {
		t.Errorf("stderr does not say WFP is unavailable:\n%s", r.describe())
	}
	if len(r.log) != 0 {
		t.Errorf("the emulator logged %d calls: the stub was not the DLL in use", len(r.log))
	}
	if s := fileText(t, filepath.Join(dir, "state.txt")); s != "" {
		t.Errorf("a state file appeared:\n%s", s)
	}
}

// TestSetupBFEStopped: FwpmEngineOpen0 fails with EPT_S_NOT_REGISTERED (0x6D9), as when
// the Base Filtering Engine service is stopped; the message must name BFE.
func TestSetupBFEStopped(t *testing.T) {
	exe, sandboxSID := h.wfpsandboxExe(t), h.userSID(t)
	r := h.run(t, runOpts{dir: t.TempDir(), name: "bfe", env: []string{"WFPEMU_OPEN_STATUS=0x6D9"}}, exe, "setup", "--sid", sandboxSID)
	if r.code != 2 && r.code != 3 {
		t.Errorf("exit %d, want 2 (error) or 3 (WFP step failed)", r.code)
	}
	if !strings.Contains(r.stderr, "BFE") {
		t.Errorf("stderr does not mention BFE:\n%s", r.describe())
	}
	opens := r.log.calls("FwpmEngineOpen0")
	if len(opens) == 0 || opens[len(opens)-1].Status != "0x000006D9" {
		t.Fatalf("want FwpmEngineOpen0 returning 0x000006D9 in the log, got %+v", opens)
	}
	for _, c := range r.log {
		if strings.HasPrefix(c.Fn, "Fwpm") && c.Fn != "FwpmEngineOpen0" {
			t.Errorf("%s called after FwpmEngineOpen0 failed", c.Fn)
		}
	}
}

// TestSetupAbortsOnFailedAdd: the third FwpmFilterAdd0 fails; WFP does not abort the
// transaction by itself, so setup must, and nothing may be committed. A re-run installs all.
func TestSetupAbortsOnFailedAdd(t *testing.T) {
	exe, sandboxSID := h.wfpsandboxExe(t), h.userSID(t)
	dir := t.TempDir()
	r := h.run(t, runOpts{dir: dir, name: "fail", env: []string{"WFPEMU_FAIL=FwpmFilterAdd0:3:0x80320027"}},
		exe, "setup", "--sid", sandboxSID, "--format", "json")
	if r.code == 0 {
		t.Fatalf("setup succeeded although FwpmFilterAdd0 failed: %s", r.describe())
	}
	if !strings.Contains(r.stderr, "FWP_E_TYPE_MISMATCH") {
		t.Errorf("stderr does not name the failing status:\n%s", r.describe())
	}
	adds := r.log.calls("FwpmFilterAdd0")
	if len(adds) != 3 || !adds[2].Injected {
		t.Errorf("%d FwpmFilterAdd0 calls (want 3, the last one failing), injected=%v", len(adds), len(adds) == 3 && adds[2].Injected)
	}
	if n := len(r.log.calls("FwpmTransactionCommit0")); n != 0 {
		t.Errorf("%d commits after a failed add", n)
	}
	if ab := r.log.calls("FwpmTransactionAbort0"); len(ab) != 1 || ab[0].Status != statusOK {
		t.Errorf("want one successful abort, got %+v", ab)
	}
	r.log.checkMemory(t)
	if s := fileText(t, filepath.Join(dir, "state.txt")); strings.Contains(s, "\nP ") {
		t.Errorf("objects were committed:\n%s", s)
	}

	retry := h.run(t, runOpts{dir: dir, name: "retry"}, exe, "setup", "--sid", sandboxSID, "--format", "json")
	if retry.code != 0 {
		t.Fatalf("retry: %s", retry.describe())
	}
	wantWrites(t, retry, 2+planned(policy.DefaultUserMatch))
}
