package reconcile

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// Accounts used by the tests: ordinary local accounts (RID ≥ 1000).
const (
	sidA = "S-1-5-21-1111111111-2222222222-3333333333-1001"
	sidB = "S-1-5-21-1111111111-2222222222-3333333333-1002"
	sidC = "S-1-5-21-1111111111-2222222222-3333333333-1003"
)

// buildPlan returns the baseline plan for sid with the given user-match shape.
func buildPlan(t testing.TB, sid string, m policy.UserMatch) *policy.Plan {
	t.Helper()
	p, err := policy.Build(policy.Options{SID: sid, Profile: policy.Baseline, UserMatch: m})
	if err != nil {
		t.Fatalf("policy.Build(%s): %v", sid, err)
	}
	// deny: 4 guard permits + 12 blocks in the account's own sublayer; allow: 12 blocks.
	if want := map[policy.UserMatch]int{policy.MatchDeny: 16, policy.MatchAllow: 12}[m]; len(p.Filters) != want {
		t.Fatalf("baseline %s plan has %d filters, the tests assume %d", m, len(p.Filters), want)
	}
	return p
}

// clonePlan deep-copies a plan so a test can change it.
func clonePlan(p *policy.Plan) *policy.Plan {
	c := *p
	c.Provider = p.Provider.Clone()
	c.Sublayer = p.Sublayer.Clone()
	c.Filters = make([]*wfp.Filter, len(p.Filters))
	for i, f := range p.Filters {
		c.Filters[i] = f.Clone()
	}
	return &c
}

// planV2 is a later version of p: its last rule is dropped, and its first rule has a
// new weight and description.
func planV2(p *policy.Plan) *policy.Plan {
	v2 := clonePlan(p)
	v2.Filters = v2.Filters[:len(v2.Filters)-1]
	v2.Filters[0].Weight = wfp.U8(7)
	v2.Filters[0].Description += " (v2)"
	return v2
}

// recorder is an Engine that records the name of every call before passing it on, so a
// test can count writes and check their order independently of Result.Writes.
type recorder struct {
	wfp.Engine
	calls []string
}

func (r *recorder) rec(name string) { r.calls = append(r.calls, name) }

func (r *recorder) BeginTransaction() error { r.rec("Begin"); return r.Engine.BeginTransaction() }
func (r *recorder) BeginReadTransaction() error {
	r.rec("BeginRead")
	return r.Engine.BeginReadTransaction()
}
func (r *recorder) CommitTransaction() error { r.rec("Commit"); return r.Engine.CommitTransaction() }
func (r *recorder) AbortTransaction() error  { r.rec("Abort"); return r.Engine.AbortTransaction() }
func (r *recorder) AddProvider(p *wfp.Provider) error {
	r.rec("AddProvider")
	return r.Engine.AddProvider(p)
}
func (r *recorder) AddSublayer(s *wfp.Sublayer) error {
	r.rec("AddSublayer")
	return r.Engine.AddSublayer(s)
}
func (r *recorder) AddFilter(f *wfp.Filter) (uint64, error) {
	r.rec("AddFilter")
	return r.Engine.AddFilter(f)
}
func (r *recorder) DeleteProvider(k wfp.GUID) error {
	r.rec("DeleteProvider")
	return r.Engine.DeleteProvider(k)
}
func (r *recorder) DeleteSublayer(k wfp.GUID) error {
	r.rec("DeleteSublayer")
	return r.Engine.DeleteSublayer(k)
}
func (r *recorder) DeleteFilter(k wfp.GUID) error {
	r.rec("DeleteFilter")
	return r.Engine.DeleteFilter(k)
}
func (r *recorder) Provider(k wfp.GUID) (*wfp.Provider, error) {
	r.rec("Provider")
	return r.Engine.Provider(k)
}
func (r *recorder) Sublayer(k wfp.GUID) (*wfp.Sublayer, error) {
	r.rec("Sublayer")
	return r.Engine.Sublayer(k)
}
func (r *recorder) Filter(k wfp.GUID) (*wfp.Filter, error) {
	r.rec("Filter")
	return r.Engine.Filter(k)
}
func (r *recorder) FilterByID(id uint64) (*wfp.Filter, error) {
	r.rec("FilterByID")
	return r.Engine.FilterByID(id)
}
func (r *recorder) Providers() ([]*wfp.Provider, error) {
	r.rec("Providers")
	return r.Engine.Providers()
}
func (r *recorder) Sublayers(p *wfp.GUID) ([]*wfp.Sublayer, error) {
	r.rec("Sublayers")
	return r.Engine.Sublayers(p)
}
func (r *recorder) Filters(p *wfp.GUID) ([]*wfp.Filter, error) {
	r.rec("Filters")
	return r.Engine.Filters(p)
}

// writes returns the recorded add and delete calls, in order.
func (r *recorder) writes() []string {
	var w []string
	for _, c := range r.calls {
		if strings.HasPrefix(c, "Add") || strings.HasPrefix(c, "Delete") {
			w = append(w, c)
		}
	}
	return w
}

// world is a BFE with a recorded session on it.
type world struct {
	bfe *memengine.BFE
	rec *recorder
}

func newWorld(t testing.TB) *world {
	t.Helper()
	bfe := memengine.NewBFE()
	s := bfe.Open()
	t.Cleanup(func() { _ = s.Close() })
	return &world{bfe: bfe, rec: &recorder{Engine: s}}
}

// session opens a fresh session on the world's BFE (as another program would).
func (w *world) session(t testing.TB) wfp.Engine {
	t.Helper()
	s := w.bfe.Open()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// mutate commits a change made by "someone else" through its own session.
func (w *world) mutate(t testing.TB, fn func(e wfp.Engine) error) {
	t.Helper()
	e := w.session(t)
	if err := e.BeginTransaction(); err != nil {
		t.Fatalf("mutate: begin: %v", err)
	}
	if err := fn(e); err != nil {
		_ = e.AbortTransaction()
		t.Fatalf("mutate: %v", err)
	}
	if err := e.CommitTransaction(); err != nil {
		t.Fatalf("mutate: commit: %v", err)
	}
}

// install runs Install on a fresh session and fails the test on error.
func (w *world) install(t testing.TB, p *policy.Plan) *Result {
	t.Helper()
	res, err := Install(w.session(t), p, Options{})
	if err != nil {
		t.Fatalf("Install(%s): %v", p.SID, err)
	}
	return res
}

// filtersOf returns the committed filters of our provider tagged for sid, sorted by
// key, as a fresh session reads them.
func (w *world) filtersOf(t testing.TB, sid string) []*wfp.Filter {
	t.Helper()
	pk := policy.ProviderKey
	all, err := w.session(t).Filters(&pk)
	if errors.Is(err, wfp.ErrProviderNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("Filters: %v", err)
	}
	var out []*wfp.Filter
	for _, f := range all {
		if o, err := policy.ParseOwner(f.ProviderData); err == nil && o.SID == sid {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b *wfp.Filter) int { return strings.Compare(a.Key.String(), b.Key.String()) })
	return out
}

// replaceFilter deletes the filter with f's key and adds f in its place.
func replaceFilter(e wfp.Engine, f *wfp.Filter) error {
	if err := e.DeleteFilter(f.Key); err != nil {
		return err
	}
	_, err := e.AddFilter(f)
	return err
}

// foreignProviderKey and foreignSublayerKey belong to "contoso", another WFP user.
var (
	foreignProviderKey = wfp.MustParseGUID("0c0c0c0c-1111-4222-8333-444444444444")
	foreignSublayerKey = wfp.MustParseGUID("0c0c0c0c-5555-4666-8777-888888888888")
)

// addContoso adds contoso's persistent provider and sublayer.
func addContoso(e wfp.Engine) error {
	pk := foreignProviderKey
	if err := e.AddProvider(&wfp.Provider{Key: pk, Name: "contoso", Flags: wfp.ProviderFlagPersistent}); err != nil {
		return err
	}
	return e.AddSublayer(&wfp.Sublayer{Key: foreignSublayerKey, Name: "contoso sublayer", Flags: wfp.SublayerFlagPersistent,
		ProviderKey: &pk, Weight: 0x100})
}

// snapshot returns the BFE's committed state as a comparable dump.
func snapshot(t testing.TB, b *memengine.BFE) string {
	t.Helper()
	s, err := b.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return s
}
