package main

import (
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// ensure says plainly whether the live policy was read, and --require-live turns
// "current by the record alone" into exit 4 (live-unreadable) without running setup.
func TestEnsureRequireLive(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
		t.Fatalf("setup: exit %d: %s", code, stderr)
	}
	ensure := func(args ...string) (int, ensureDoc, string) {
		t.Helper()
		code, out, stderr := wfpsandbox(t, append([]string{"ensure", "--state-dir", h.state, "--no-elevate", "--format", "json"}, args...)...)
		var doc ensureDoc
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("ensure %v: %v\n%s%s", args, err, out, stderr)
		}
		return code, doc, out
	}
	// Readable: live, current, with or without --require-live.
	for _, extra := range [][]string{nil, {"--require-live"}} {
		code, doc, out := ensure(append([]string{"--engine", h.engine}, extra...)...)
		if code != exitOK || !doc.Current || !doc.Live || doc.LiveReason != "" || !strings.Contains(out, `"live": true`) {
			t.Fatalf("ensure %v on a readable host: exit %d, doc %+v", extra, code, doc)
		}
	}
	if runtime.GOOS == "windows" {
		return // no engine to read is the non-Windows default only
	}
	before, err := os.ReadFile(state.Path(h.state, sid))
	if err != nil {
		t.Fatal(err)
	}
	// Unreadable (no engine): current by the record, but it says so.
	code, doc, out := ensure()
	if code != exitOK || !doc.Current || doc.Live || doc.LiveReason != setup.LiveNoEngine || !strings.Contains(out, `"live": false`) {
		t.Fatalf("ensure without an engine: exit %d, doc %+v\n%s", code, doc, out)
	}
	code, doc, _ = ensure("--require-live")
	if code != exitSetupNeeded || doc.Current || doc.Action != "live-unreadable" || !hasCheckReason(doc, setup.ReasonLiveUnreadable) {
		t.Fatalf("ensure --require-live without an engine: exit %d, doc %+v", code, doc)
	}
	// And in text.
	code, text, _ := wfpsandbox(t, "ensure", "--state-dir", h.state, "--no-elevate")
	if code != exitOK || !strings.Contains(text, "live: false (no-engine)") {
		t.Fatalf("ensure text: exit %d:\n%s", code, text)
	}
	code, text, _ = wfpsandbox(t, "ensure", "--state-dir", h.state, "--no-elevate", "--require-live")
	if code != exitSetupNeeded || !strings.Contains(text, "not current (--require-live)") || !strings.Contains(text, "live-unreadable") {
		t.Fatalf("ensure --require-live text: exit %d:\n%s", code, text)
	}
	if after, _ := os.ReadFile(state.Path(h.state, sid)); string(after) != string(before) {
		t.Error("ensure --require-live ran setup: an unreadable policy is reported, not \"fixed\" by elevating")
	}
}

func hasCheckReason(doc ensureDoc, c setup.ReasonCode) bool {
	for _, r := range doc.Check.Reasons {
		if r.Code == c {
			return true
		}
	}
	return false
}

// setup --reader grants READ to the given principals instead of BUILTIN\Users.
func TestSetupReaderFlag(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--reader", "S-1-5-11")...); code != exitOK {
		t.Fatalf("setup: exit %d: %s", code, stderr)
	}
	s, err := memengine.OpenFile(strings.TrimPrefix(h.engine, "memory:"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fs, err := s.Filters(nil)
	if err != nil || len(fs) == 0 {
		t.Fatalf("filters: %d, %v", len(fs), err)
	}
	b, err := s.SecurityDescriptor("filter", fs[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := account.ParseSD(b)
	if err != nil {
		t.Fatalf("filter sd: %v", err)
	}
	if got := sd.SDDL(); !strings.HasSuffix(got, "(A;;0x80;;;AU)") || strings.Contains(got, ";;;BU)") {
		t.Errorf("filter sd %s: want FWPM_ACTRL_READ for Authenticated Users only", got)
	}
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--reader", "Users")...); code != exitError || !strings.Contains(stderr, `reader "Users"`) {
		t.Errorf("setup --reader Users: exit %d: %s", code, stderr)
	}
}
