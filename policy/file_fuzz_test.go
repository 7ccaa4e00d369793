package policy_test

import (
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
)

// FuzzParseFile: ParseFile never panics, and every file it accepts yields options that
// Build turns into a plan that validates against the layer field table. The seed corpus
// is in testdata/fuzz/FuzzParseFile.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte(exampleFile))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := policy.ParseFile("fuzz.toml", data)
		if err != nil {
			return
		}
		p, err := policy.Build(file.Options(sandboxSID))
		if err != nil {
			t.Fatalf("accepted file does not build: %v\n%s", err, data)
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted file builds an invalid plan: %v\n%s", err, data)
		}
	})
}
