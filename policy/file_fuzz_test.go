package policy_test

import (
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// FuzzParseFile: ParseFile never panics, and every file it accepts yields a plan that
// Build accepts, whose extra rules only block, and that an engine enforcing WFP's
// documented contract (wfp/memengine, which checks conditions, value types, masks and
// ranges on its own) installs without a refusal. The seed corpus is in
// testdata/fuzz/FuzzParseFile, plus deeply nested documents (inline tables, dotted
// keys, headers, arrays) from which the fuzzer can reach any depth: ParseFile must
// refuse those before decoding them, or the fuzzer's per-input time and memory
// limits fail the run.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte(exampleFile))
	for _, d := range deepPolicies(2048) {
		f.Add([]byte(d))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := policy.ParseFile("fuzz.toml", data)
		if err != nil {
			return
		}
		p, err := policy.Build(file.Options(sandboxSID))
		if err != nil {
			t.Fatalf("accepted file does not build: %v\n%s", err, data)
		}
		for _, fl := range p.Filters {
			o, err := policy.ParseOwner(fl.ProviderData)
			if err != nil {
				t.Fatalf("filter %q has no ownership tag: %v", fl.Name, err)
			}
			if strings.HasPrefix(o.Rule, "file-") && fl.Action.Type != wfp.ActionBlock {
				t.Fatalf("policy file rule %q became a %s: a file may only add blocks\n%s", o.Rule, fl.Action.Type, data)
			}
		}
		e := memengine.NewBFE().Open()
		defer e.Close()
		if err := e.AddProvider(p.Provider); err != nil {
			t.Fatalf("provider refused: %v", err)
		}
		if err := e.AddSublayer(p.Sublayer); err != nil {
			t.Fatalf("sublayer refused: %v", err)
		}
		for _, fl := range p.Filters {
			if _, err := e.AddFilter(fl); err != nil {
				t.Fatalf("accepted file builds a filter the engine refuses: %v\n%s", err, data)
			}
		}
	})
}
