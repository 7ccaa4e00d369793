package main

import (
	"encoding/json"
	"os"
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

// Text output shows control characters of other owners' strings as escapes: a foreign
// filter named with a terminal escape sequence could otherwise overwrite "NOT
// compliant" on the administrator's terminal.
func TestTextOutputEscapesForeignControlCharacters(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	hostFile := strings.TrimPrefix(h.engine, "memory:")
	data, err := os.ReadFile(hostFile)
	if err != nil {
		t.Fatal(err)
	}
	var host map[string]any
	if err := json.Unmarshal(data, &host); err != nil {
		t.Fatal(err)
	}
	filters := host["filters"].([]any)
	var block map[string]any
	for _, f := range filters {
		if m := f.(map[string]any); strings.Contains(m["name"].(string), "block DNS (53), IPv4") {
			block = m
		}
	}
	if block == nil {
		t.Fatal("no DNS block in the host file")
	}
	// A foreign permit in the account's sublayer, as the DNS block but with a hostile name.
	evil := map[string]any{}
	for k, v := range block {
		evil[k] = v
	}
	delete(evil, "providerKey")
	delete(evil, "providerData")
	delete(evil, "securityDescriptor")
	evil["key"] = "11111111-2222-3333-4444-555555555555"
	evil["name"] = "evil\x1b[1A\x1b[2K\rcompliant \u202e"
	evil["action"] = "FWP_ACTION_PERMIT"
	evil["flags"] = 1
	evil["id"] = host["nextFilterId"]
	host["nextFilterId"] = host["nextFilterId"].(float64) + 1
	host["filters"] = append(filters, evil)
	if data, err = json.Marshal(host); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hostFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := wfpsandbox(t, h.args("verify", "--sid", sid)...)
	if code != exitDrift {
		t.Fatalf("verify: exit %d, want %d: %s%s", code, exitDrift, out, stderr)
	}
	if strings.ContainsAny(out, "\x1b\r\u202e") || !strings.Contains(out, `evil\x1b[1A\x1b[2K\x0dcompliant \u202e`) {
		t.Errorf("verify's text output does not escape the foreign name's control characters:\n%q", out)
	}
}

// A bad --reader is bad input, refused before anything is created: it used to be found
// after the state directory and the log had been created for the run.
func TestBadReaderCreatesNothing(t *testing.T) {
	h := newSimHost(t)
	code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--reader", "bogus")...)
	if code != exitError || !strings.Contains(stderr, `reader "bogus"`) {
		t.Errorf("exit %d, stderr %q; want exit %d naming the reader", code, stderr, exitError)
	}
	if _, err := os.Stat(h.state); !os.IsNotExist(err) {
		t.Errorf("the state directory was created: %v", err)
	}
}
