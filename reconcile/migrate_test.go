package reconcile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// oldHostFixture is a host written by main's setup (setup version 1); see
// testdata/README.md: sidA strict with proxy port 3128 and sidB baseline, both with
// NOT_EQUAL blocks, and sidC baseline --user-match allow, all in the shared sublayer.
const oldHostFixture = "testdata/host-setup-v1.json"

// oldHostWorld opens a copy of the fixture as a file-backed BFE.
func oldHostWorld(t testing.TB) *world {
	t.Helper()
	return editedOldHostWorld(t, nil)
}

// editedOldHostWorld is oldHostWorld with edit applied to the host file's JSON first:
// old-layout objects that the engines now refuse to add (NOT_EQUAL on an SD) can only
// be varied in the stored state, as an old version would have left them.
func editedOldHostWorld(t testing.TB, edit func(host map[string]any)) *world {
	t.Helper()
	b, err := os.ReadFile(oldHostFixture)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var host map[string]any
		if err := json.Unmarshal(b, &host); err != nil {
			t.Fatal(err)
		}
		edit(host)
		if b, err = json.Marshal(host); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "host.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	bfe, err := memengine.OpenFileBFE(path)
	if err != nil {
		t.Fatalf("main's host file does not load: %v", err)
	}
	s := bfe.Open()
	t.Cleanup(func() { _ = s.Close() })
	return &world{bfe: bfe, rec: &recorder{Engine: s}}
}

// Plans of the fixture's accounts under this version.
func fixturePlans(t testing.TB) (a, b, c *policy.Plan) {
	t.Helper()
	var err error
	if a, err = policy.Build(policy.Options{SID: sidA, Profile: policy.Strict, ProxyPorts: []uint16{3128}}); err != nil {
		t.Fatal(err)
	}
	return a, buildPlan(t, sidB, policy.MatchDeny), buildPlan(t, sidC, policy.MatchAllow)
}

func TestMigrateFromSetupV1Host(t *testing.T) {
	pa, pb, pc := fixturePlans(t)
	w := oldHostWorld(t)
	before, err := Installed(w.session(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Accounts[sidA]) != 20 || len(before.Accounts[sidB]) != 12 || len(before.Accounts[sidC]) != 12 || before.Sublayer == nil {
		t.Fatalf("fixture: %d/%d/%d filters, shared sublayer %v; want 20/12/12 and the shared sublayer",
			len(before.Accounts[sidA]), len(before.Accounts[sidB]), len(before.Accounts[sidC]), before.Sublayer)
	}
	// Setting up B migrates A (NOT_EQUAL-shaped) in the same transaction; C (allow) stays.
	res, err := Install(w.rec, pb, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.Join(w.rec.calls, " "), "Commit"); n != 1 {
		t.Fatalf("calls %v: want one transaction", w.rec.calls)
	}
	migrated := 0
	for _, c := range res.Changes {
		if c.Reason == ReasonMigrated {
			migrated++
		}
	}
	// A: own sublayer added, 20 filters deleted from the shared sublayer, 6 guards + 20
	// added; B (the account set up): its 12 blocks deleted and added again.
	if migrated != 1+20+6+20+12+12 {
		t.Errorf("%d changes migrated, want 71: %+v", migrated, res.Changes)
	}
	for _, p := range []*policy.Plan{pa, pb, pc} {
		rep, err := Verify(w.session(t), p)
		if err != nil || !rep.Compliant {
			t.Errorf("%s not compliant after the migration: %+v %v", p.SID, rep, err)
		}
	}
	// A's next setup converges with no writes: the translation is exactly its plan.
	if res, err := Install(w.session(t), pa, Options{}); err != nil || res.Writes != 0 {
		t.Errorf("A's setup after the migration: %+v %v, want 0 writes", res, err)
	}
	after, err := Installed(w.session(t))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before.Accounts[sidC], after.Accounts[sidC]) {
		t.Error("the allow account's filters changed")
	}
	if after.Sublayer == nil || after.AccountSublayers[sidA] == nil || after.AccountSublayers[sidB] == nil || after.AccountSublayers[sidC] != nil {
		t.Errorf("after: shared %v, account sublayers %v", after.Sublayer, after.AccountSublayers)
	}
	for _, sid := range []string{sidA, sidB} {
		for _, f := range after.Accounts[sid] {
			if f.Sublayer != policy.SublayerKeyFor(sid) || oldLayout(f) {
				t.Errorf("%s: %s left in sublayer %s (old layout: %v)", sid, f.Name, f.Sublayer, oldLayout(f))
			}
		}
	}
	// Once C is gone, no filter is left in the shared sublayer: its uninstall removes it.
	if _, err := Uninstall(w.session(t), sidC, Options{}); err != nil {
		t.Fatal(err)
	}
	if s, err := w.session(t).Sublayer(policy.SublayerKey); err == nil {
		t.Errorf("shared sublayer still there after the last allow account left: %+v", s)
	}
}

// Without an allow account, the migration also deletes the shared sublayer.
func TestMigrateDeletesSharedSublayer(t *testing.T) {
	pa, pb, _ := fixturePlans(t)
	w := oldHostWorld(t)
	if _, err := Uninstall(w.session(t), sidC, Options{}); err != nil {
		t.Fatal(err)
	}
	res, err := Install(w.session(t), pa, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(res.Changes, func(c Change) bool {
		return c.Op == OpDelete && c.Kind == KindSublayer && c.Key == policy.SublayerKey && strings.Contains(c.Reason, ReasonMigrated)
	}) {
		t.Fatalf("shared sublayer not deleted: %+v", res.Changes)
	}
	for _, p := range []*policy.Plan{pa, pb} {
		if res, err := Install(w.session(t), p, Options{}); err != nil || res.Writes != 0 {
			t.Errorf("%s after the migration: %+v %v, want 0 writes", p.SID, res, err)
		}
	}
	st, err := Installed(w.session(t))
	if err != nil {
		t.Fatal(err)
	}
	if st.Sublayer != nil || len(st.AccountSublayers) != 2 || len(st.OtherSublayers) != 0 {
		t.Fatalf("after: shared %v, account sublayers %v, others %v", st.Sublayer, st.AccountSublayers, st.OtherSublayers)
	}
	// uninstall --all removes every layout.
	if _, err := Uninstall(w.session(t), "", Options{}); err != nil {
		t.Fatal(err)
	}
	if st, err = Installed(w.session(t)); err != nil || st.Provider != nil || len(st.AccountSublayers) != 0 || st.FilterCount() != 0 {
		t.Fatalf("after uninstall --all: %+v %v", st, err)
	}
}

// One account's uninstall removes its filters and its sublayer and leaves every other
// account's objects byte-identical: two deny accounts and one allow account.
func TestUninstallOneAccountLeavesOthersByteIdentical(t *testing.T) {
	w := newWorld(t)
	da, db, dc := buildPlan(t, sidA, policy.MatchDeny), buildPlan(t, sidB, policy.MatchDeny), buildPlan(t, sidC, policy.MatchAllow)
	for _, p := range []*policy.Plan{da, db, dc} {
		w.install(t, p)
	}
	read := func() map[string]any {
		s := w.session(t)
		out := map[string]any{}
		for _, sid := range []string{sidB, sidC} {
			var fs []*wfp.Filter
			for _, p := range []*policy.Plan{db, dc} {
				if p.SID != sid {
					continue
				}
				for _, f := range p.Filters {
					got, err := s.Filter(f.Key)
					if err != nil {
						t.Fatalf("%s: %v", f.Name, err)
					}
					fs = append(fs, got)
				}
				sub, err := s.Sublayer(p.Sublayer.Key)
				if err != nil {
					t.Fatal(err)
				}
				out[sid+"/sublayer"] = sub
			}
			out[sid] = fs
		}
		prov, err := s.Provider(policy.ProviderKey)
		if err != nil {
			t.Fatal(err)
		}
		out["provider"] = prov
		return out
	}
	before := read()
	res, err := Uninstall(w.session(t), sidA, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Writes != 16+1 {
		t.Fatalf("uninstall A: %d writes, want 16 filters + its sublayer: %+v", res.Writes, res.Changes)
	}
	if !reflect.DeepEqual(before, read()) {
		t.Fatal("uninstalling A changed another account's objects or the provider")
	}
	if _, err := w.session(t).Sublayer(policy.SublayerKeyFor(sidA)); err == nil {
		t.Fatal("A's sublayer is still there")
	}
	for _, p := range []*policy.Plan{db, dc} {
		if rep, err := Verify(w.session(t), p); err != nil || !rep.Compliant {
			t.Fatalf("%s: %+v %v", p.SID, rep, err)
		}
	}
	// The allow account's uninstall removes the shared sublayer (nothing left in it) and
	// leaves B alone.
	before = read()
	delete(before, sidC)
	delete(before, sidC+"/sublayer")
	if _, err := Uninstall(w.session(t), sidC, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.session(t).Sublayer(policy.SublayerKey); err == nil {
		t.Fatal("shared sublayer still there")
	}
	if rep, err := Verify(w.session(t), db); err != nil || !rep.Compliant {
		t.Fatalf("B: %+v %v", rep, err)
	}
}

// Verify reports, for an allow plan, the account's own deny-layout sublayer and filters
// in it as extra; and for a deny plan the account's leftovers in the shared sublayer.
func TestVerifyReportsOtherLayoutLeftovers(t *testing.T) {
	w := newWorld(t)
	da, pAllow := buildPlan(t, sidA, policy.MatchDeny), buildPlan(t, sidA, policy.MatchAllow)
	w.install(t, da)
	rep, err := Verify(w.session(t), pAllow)
	if err != nil {
		t.Fatal(err)
	}
	extra := 0
	for _, f := range rep.Findings {
		if f.Problem == ProblemExtra {
			extra++
		}
	}
	// 4 guards and the sublayer are extra; the 12 blocks are drifted (same keys).
	if extra != 4+1 {
		t.Fatalf("findings %+v: want 5 extra", rep.Findings)
	}
	w2 := oldHostWorld(t)
	_, pb, _ := fixturePlans(t)
	rep, err = Verify(w2.session(t), pb)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Compliant {
		t.Fatal("B's old-layout filters reported compliant")
	}
}

// An old-layout account whose filters cannot be translated safely (here a block at the
// guard's weight range, which no guard could cover) is left exactly as it is, and the
// shared sublayer with it; the account being set up is still installed.
func TestMigrateLeavesUntranslatableAccount(t *testing.T) {
	_, pb, _ := fixturePlans(t)
	st, err := Installed(oldHostWorld(t).session(t))
	if err != nil {
		t.Fatal(err)
	}
	top := st.Accounts[sidA][0].Key.String()
	w := editedOldHostWorld(t, func(host map[string]any) {
		for _, f := range host["filters"].([]any) {
			if f := f.(map[string]any); f["key"] == top {
				f["weight"] = map[string]any{"type": "FWP_UINT8", "uint": 15}
				return
			}
		}
		t.Fatalf("filter %s not in the host file", top)
	})
	before, err := Installed(w.session(t))
	if err != nil {
		t.Fatal(err)
	}
	if f := before.Accounts[sidA][0]; f.Key.String() != top || f.Weight.Uint != 15 {
		t.Fatalf("the edit did not take: %+v", f)
	}
	res, err := Install(w.session(t), pb, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Changes {
		if strings.Contains(c.Name, sidA) {
			t.Fatalf("account A touched although it cannot be translated: %+v", c)
		}
	}
	after, err := Installed(w.session(t))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before.Accounts[sidA], after.Accounts[sidA]) || after.Sublayer == nil {
		t.Fatal("A's filters or the shared sublayer changed")
	}
	if rep, err := Verify(w.session(t), pb); err != nil || !rep.Compliant {
		t.Fatalf("B: %+v %v", rep, err)
	}
}

// A filter of another provider in the shared sublayer keeps it in place after the
// migration (deleting it would fail with FWP_E_IN_USE and abort everything).
func TestMigrateKeepsSharedSublayerWithForeignFilter(t *testing.T) {
	pa, _, pc := fixturePlans(t)
	w := oldHostWorld(t)
	contoso := wfp.MustParseGUID("0c0c0c0c-1111-4222-8333-444444444444")
	w.mutate(t, func(e wfp.Engine) error {
		for _, f := range pc.Filters {
			if err := e.DeleteFilter(f.Key); err != nil {
				return err
			}
		}
		if err := e.AddProvider(&wfp.Provider{Key: contoso, Name: "contoso", Flags: wfp.ProviderFlagPersistent}); err != nil {
			return err
		}
		f := pa.Filters[10].Clone()
		f.Key, f.Name, f.ProviderKey, f.ProviderData, f.Sublayer = wfp.MustParseGUID("0eeeeeee-0000-4000-8000-000000000077"), "contoso in our sublayer", &contoso, nil, policy.SublayerKey
		f.Conditions, f.Flags = nil, 0 // non-persistent: a persistent filter may not use another provider's sublayer
		_, err := e.AddFilter(f)
		return err
	})
	res, err := Install(w.session(t), pa, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(res.Changes, func(c Change) bool { return c.Kind == KindSublayer && c.Op == OpDelete }) {
		t.Fatalf("a sublayer was deleted: %+v", res.Changes)
	}
	if s, err := w.session(t).Sublayer(policy.SublayerKey); err != nil || s == nil {
		t.Fatalf("shared sublayer gone: %v", err)
	}
}
