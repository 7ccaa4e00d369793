package reconcile

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// codexStrategy is the install strategy of the original design (openai/codex
// windows-sandbox-rs wfp.rs, install_wfp_filters_for_account), written here from its
// description to compare with Install: in one transaction, add the provider and the
// sublayer tolerating FWP_E_ALREADY_EXISTS, then for every filter delete it by key
// (tolerating FWP_E_FILTER_NOT_FOUND and FWP_E_NOT_FOUND) and add it; commit; abort on
// any other error. It reads nothing, so it cannot see drift of the provider or
// sublayer, nor filters the plan no longer has.
func codexStrategy(e wfp.Engine, plan *policy.Plan) error {
	if err := e.BeginTransaction(); err != nil {
		return err
	}
	err := func() error {
		if err := e.AddProvider(plan.Provider); err != nil && !errors.Is(err, wfp.ErrAlreadyExists) {
			return err
		}
		if err := e.AddSublayer(plan.Sublayer); err != nil && !errors.Is(err, wfp.ErrAlreadyExists) {
			return err
		}
		for _, f := range plan.Filters {
			if err := e.DeleteFilter(f.Key); err != nil && !errors.Is(err, wfp.ErrFilterNotFound) && !errors.Is(err, wfp.ErrNotFound) {
				return err
			}
			if _, err := e.AddFilter(f); err != nil {
				return err
			}
		}
		return e.CommitTransaction()
	}()
	if err != nil {
		_ = e.AbortTransaction()
	}
	return err
}

// strategy is one way of installing a plan, with the plan shape it installs: ours with
// the default layout (per-account sublayer, guards), ours with the original design's
// shape, and the original design's strategy with its own shape.
type strategy struct {
	name  string
	shape policy.UserMatch
	run   func(e wfp.Engine, plan *policy.Plan) error
}

func ours(e wfp.Engine, p *policy.Plan) error { _, err := Install(e, p, Options{}); return err }

var strategies = []strategy{
	{"ours", policy.MatchDeny, ours},
	{"ours-allow", policy.MatchAllow, ours},
	{"codex", policy.MatchAllow, codexStrategy},
}

// changeCounter counts the add and delete calls that succeeded, i.e. the writes that
// changed the engine (memengine's Stats count failed calls too).
type changeCounter struct {
	wfp.Engine
	n int
}

func (c *changeCounter) count(err error) error {
	if err == nil {
		c.n++
	}
	return err
}
func (c *changeCounter) AddProvider(p *wfp.Provider) error { return c.count(c.Engine.AddProvider(p)) }
func (c *changeCounter) AddSublayer(s *wfp.Sublayer) error { return c.count(c.Engine.AddSublayer(s)) }
func (c *changeCounter) AddFilter(f *wfp.Filter) (uint64, error) {
	id, err := c.Engine.AddFilter(f)
	return id, c.count(err)
}
func (c *changeCounter) DeleteProvider(k wfp.GUID) error { return c.count(c.Engine.DeleteProvider(k)) }
func (c *changeCounter) DeleteSublayer(k wfp.GUID) error { return c.count(c.Engine.DeleteSublayer(k)) }
func (c *changeCounter) DeleteFilter(k wfp.GUID) error   { return c.count(c.Engine.DeleteFilter(k)) }

// benchScenario prepares a BFE before each run: fresh (nothing installed), converged
// (the plan installed), one drift (the plan installed, then one filter's weight
// changed by someone else), migration (the host main's setup version 1 wrote,
// testdata/host-setup-v1.json, where the plan's account sidB has 12 NOT_EQUAL blocks in
// the shared sublayer beside sidA's 20 strict filters and sidC's 12 allow filters).
type benchScenario struct {
	name    string
	prepare func(tb testing.TB, plan *policy.Plan) *memengine.BFE
}

func benchScenarios() []benchScenario {
	installed := func(tb testing.TB, plan *policy.Plan) *memengine.BFE {
		bfe := memengine.NewBFE()
		s := bfe.Open()
		defer s.Close()
		if _, err := Install(s, plan, Options{}); err != nil {
			tb.Fatal(err)
		}
		return bfe
	}
	return []benchScenario{
		{"fresh", func(testing.TB, *policy.Plan) *memengine.BFE { return memengine.NewBFE() }},
		{"migration", func(tb testing.TB, _ *policy.Plan) *memengine.BFE { return oldHostWorld(tb).bfe }},
		{"converged", installed},
		{"one-drift", func(tb testing.TB, plan *policy.Plan) *memengine.BFE {
			bfe := installed(tb, plan)
			s := bfe.Open()
			defer s.Close()
			g := plan.Filters[4].Clone()
			g.Weight = wfp.U8(2)
			if err := s.BeginTransaction(); err != nil {
				tb.Fatal(err)
			}
			if err := replaceFilter(s, g); err != nil {
				tb.Fatal(err)
			}
			if err := s.CommitTransaction(); err != nil {
				tb.Fatal(err)
			}
			return bfe
		}},
	}
}

// BenchmarkInstall measures, per run of each strategy on each scenario: ns/op,
// writes/op (add and delete calls, failed ones included, from memengine's Stats),
// changes/op (add and delete calls that succeeded) and calls/op (every engine call).
//
//	go test -run '^$' -bench BenchmarkInstall -benchtime 2000x ./reconcile/
func BenchmarkInstall(b *testing.B) {
	for _, sc := range benchScenarios() {
		for _, st := range strategies {
			plan := buildPlan(b, sidB, st.shape)
			b.Run(sc.name+"/"+st.name, func(b *testing.B) {
				// Prepare every run's engine before the clock starts: StopTimer and
				// StartTimer in the loop would cost more than a run.
				sessions := make([]*memengine.Session, b.N)
				counters := make([]*changeCounter, b.N)
				for i := range sessions {
					sessions[i] = sc.prepare(b, plan).Open()
					counters[i] = &changeCounter{Engine: sessions[i]}
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := st.run(counters[i], plan); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				var writes, changes, calls int
				for i, s := range sessions {
					stats := s.Stats()
					writes += stats.Writes()
					calls += stats.Calls
					changes += counters[i].n
					_ = s.Close()
				}
				b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
				b.ReportMetric(float64(changes)/float64(b.N), "changes/op")
				b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
			})
		}
	}
}

// TestStrategiesCompared pins the figures BENCHMARKS.md reports, and what each strategy
// leaves behind: whether Verify finds the host compliant afterwards. The codex
// strategy is not a straw man: it converges filter drift too — by rewriting every
// filter every time — but it cannot repair a drifted sublayer or remove a rule that a
// newer plan dropped, because it reads nothing.
func TestStrategiesCompared(t *testing.T) {
	type outcome struct{ writes, changes, calls int }
	// ours fresh (deny): begin, provider, own sublayer, enumeration, 16 lookups by key,
	// shared sublayer lookup, 18 adds (provider, sublayer, 4 guards, 12 blocks), commit.
	// ours-allow: the same with 12 lookups, the own-sublayer lookup and 14 adds. codex:
	// begin, 2 adds, 12 × (delete, add), commit. Migration (ours): sidB's sublayer, 12
	// deletes, 16 adds; sidA's sublayer, 20 deletes, 26 adds (6 guards); the shared
	// sublayer stays for sidC. ours-allow rewrites sidB's 12 filters into the allow shape
	// and migrates sidA all the same (47 writes); codex rewrites sidB's 12 filters and
	// leaves sidA's NOT_EQUAL filters as they are (it reads nothing).
	want := map[string]map[string]outcome{
		"fresh":     {"ours": {18, 18, 40}, "ours-allow": {14, 14, 32}, "codex": {26, 14, 28}},
		"migration": {"ours": {76, 76, 93}, "ours-allow": {71, 71, 84}, "codex": {26, 24, 28}},
		"converged": {"ours": {0, 0, 6}, "ours-allow": {0, 0, 6}, "codex": {26, 24, 28}},
		"one-drift": {"ours": {2, 2, 8}, "ours-allow": {2, 2, 8}, "codex": {26, 24, 28}},
	}
	for _, sc := range benchScenarios() {
		for _, st := range strategies {
			plan := buildPlan(t, sidB, st.shape)
			bfe := sc.prepare(t, plan)
			s := bfe.Open()
			cc := &changeCounter{Engine: s}
			if err := st.run(cc, plan); err != nil {
				t.Fatalf("%s/%s: %v", sc.name, st.name, err)
			}
			got := outcome{s.Stats().Writes(), cc.n, s.Stats().Calls}
			if got != want[sc.name][st.name] {
				t.Errorf("%s/%s: %+v, want %+v", sc.name, st.name, got, want[sc.name][st.name])
			}
			rep, err := Verify(s, plan)
			if err != nil || !rep.Compliant {
				t.Errorf("%s/%s: not compliant afterwards: %+v %v", sc.name, st.name, rep, err)
			}
			_ = s.Close()
		}
	}

	// What only reading first can fix (with the original design's shape, so that both
	// strategies install the same plan).
	plan := buildPlan(t, sidA, policy.MatchAllow)
	gaps := []struct {
		name    string
		prepare func(t *testing.T, w *world) *policy.Plan // returns the plan to install
		finding Problem
	}{
		{"rule dropped by a newer plan", func(t *testing.T, w *world) *policy.Plan {
			w.install(t, plan)
			return planV2(plan)
		}, ProblemExtra},
		{"sublayer weight drifted", func(t *testing.T, w *world) *policy.Plan {
			w.install(t, plan)
			pk := policy.ProviderKey
			all, err := w.session(t).Filters(&pk)
			if err != nil {
				t.Fatal(err)
			}
			s := policy.Sublayer()
			s.Weight = 0x8000
			w.mutate(t, func(e wfp.Engine) error { return rebuild(e, all, policy.Provider(), s) })
			return plan
		}, ProblemDrifted},
	}
	for _, g := range gaps {
		for _, st := range strategies {
			if st.shape != policy.MatchAllow {
				continue
			}
			w := newWorld(t)
			p := g.prepare(t, w)
			if err := st.run(w.session(t), p); err != nil {
				t.Fatalf("%s/%s: %v", g.name, st.name, err)
			}
			rep, err := Verify(w.session(t), p)
			if err != nil {
				t.Fatal(err)
			}
			var problems []string
			for _, f := range rep.Findings {
				problems = append(problems, string(f.Problem))
			}
			got := fmt.Sprintf("compliant=%v findings=%s", rep.Compliant, strings.Join(problems, ","))
			wantGot := "compliant=true findings="
			if st.name == "codex" {
				wantGot = "compliant=false findings=" + string(g.finding)
			}
			if got != wantGot {
				t.Errorf("%s/%s: %s, want %s", g.name, st.name, got, wantGot)
			}
		}
	}
}
