package main

import (
	"encoding/json"
	"testing"
)

// ensure's JSON lists no reasons as [] when current, as README's schema shows, not as
// null (a detection script's `jq '.check.reasons[]'` fails on null).
func TestEnsureJSONReasonsIsAnArray(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	for _, args := range [][]string{{"--sid", sid}, nil} {
		code, out, stderr := wfpsandbox(t, h.args("ensure", append(args, "--format", "json")...)...)
		if code != exitOK {
			t.Fatalf("ensure %v: exit %d: %s", args, code, stderr)
		}
		var doc struct {
			Check struct {
				Reasons json.RawMessage `json:"reasons"`
			} `json:"check"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		if string(doc.Check.Reasons) != "[]" {
			t.Errorf("ensure %v: check.reasons = %s, want []", args, doc.Check.Reasons)
		}
	}
}
