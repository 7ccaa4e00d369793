package main

import (
	"encoding/json"
	"strings"
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

// "help CMD" for a command that does not exist is an error naming it, not the list
// with exit 0 (as if the command had help).
func TestHelpOfAnUnknownCommand(t *testing.T) {
	code, _, stderr := wfpsandbox(t, "help", "stup")
	if code != exitError || !strings.Contains(stderr, `unknown command "stup"`) {
		t.Errorf("help stup: exit %d, stderr %q; want exit %d naming stup", code, stderr, exitError)
	}
	if code, out, _ := wfpsandbox(t, "help", "setup"); code != exitOK || !strings.Contains(out, "usage: wfpsandbox setup") {
		t.Errorf("help setup: exit %d:\n%s", code, out)
	}
}

// setup's JSON lists no reasons (a re-run on a current host) as [], not null.
func TestSetupJSONReasonsIsAnArray(t *testing.T) {
	h := newSimHost(t)
	for i := 0; i < 2; i++ {
		code, out, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--format", "json")...)
		if code != exitOK {
			t.Fatalf("setup: exit %d: %s", code, stderr)
		}
		var doc struct {
			Reasons json.RawMessage `json:"reasons"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		if r := string(doc.Reasons); r == "null" || r == "" || (i == 1 && r != "[]") {
			t.Errorf("setup run %d: reasons = %s, want an array ([] on the re-run)", i+1, r)
		}
	}
}
