package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// addVendorFilter adds to the simulated host at path another vendor's provider, a
// sublayer of the given weight and one filter in it.
func addVendorFilter(t *testing.T, path string, weight uint16, f *wfp.Filter) (provider, sublayer wfp.GUID) {
	t.Helper()
	e, err := memengine.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pk := wfp.MustParseGUID("a1b2c3d4-0000-4000-8000-00000000000a")
	sk := wfp.MustParseGUID("a1b2c3d4-0000-4000-8000-00000000000b")
	f.Key, f.ProviderKey, f.Sublayer = wfp.NameGUID(pk, f.Name), &pk, sk
	steps := []error{
		e.BeginTransaction(),
		e.AddProvider(&wfp.Provider{Key: pk, Name: "vpn", Flags: wfp.ProviderFlagPersistent}),
		e.AddSublayer(&wfp.Sublayer{Key: sk, Name: "vpn", Flags: wfp.SublayerFlagPersistent, ProviderKey: &pk, Weight: weight}),
	}
	_, ferr := e.AddFilter(f)
	steps = append(steps, ferr, e.CommitTransaction(), e.Close())
	for i, err := range steps {
		if err != nil {
			t.Fatalf("adding the vendor's filter, step %d: %v", i, err)
		}
	}
	return pk, sk
}

type verifyDoc struct {
	Compliant bool `json:"compliant"`
	Findings  []struct {
		Kind     string `json:"kind"`
		Key      string `json:"key"`
		Name     string `json:"name"`
		Problem  string `json:"problem"`
		Detail   string `json:"detail"`
		Override *struct {
			Reason   string `json:"reason"`
			Provider *struct{ Key, Name string }
			Filter   struct{ Key, Name string }
			Action   string `json:"action"`
			Layer    string `json:"layer"`
			Block    struct {
				Key, Name, Rule string
			} `json:"block"`
			Flow struct {
				Direction, Protocol, Remote, Token, Text string
			} `json:"flow"`
			Tokens      []string `json:"tokens"`
			LetsThrough bool     `json:"letsThrough"`
		} `json:"override"`
	} `json:"findings"`
	PossibleOverrides []struct {
		Filter  struct{ Key, Name string }
		Assumed []string `json:"assumed"`
	} `json:"possibleOverrides"`
}

// TestVerifyReportsOverride: a foreign hard permit for port 53 in a sublayer of the same
// weight as ours lets the account's DNS through in one of the two (undocumented) orders:
// verify exits 1 and names the provider, the filter, the layer and the flow.
func TestVerifyReportsOverride(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.json")
	engine := "memory:" + path
	if code, _, stderr := wfpsandbox(t, "setup", "--sid", sid, "--engine", engine); code != exitOK {
		t.Fatalf("setup: exit %d: %s", code, stderr)
	}
	name := "third-party hard permit 53"
	pk, _ := addVendorFilter(t, path, 0xFFFF, &wfp.Filter{Name: name, Flags: wfp.FilterFlagPersistent | wfp.FilterFlagClearActionRight,
		Layer: wfp.LayerALEAuthConnectV4, Action: wfp.Action{Type: wfp.ActionPermit},
		Conditions: []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(53)}}})

	code, out, stderr := wfpsandbox(t, "verify", "--sid", sid, "--engine", engine, "--format", "json")
	if code != exitDrift {
		t.Fatalf("verify: exit %d, want %d: %s%s", code, exitDrift, out, stderr)
	}
	var doc verifyDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("verify JSON: %v\n%s", err, out)
	}
	if doc.Compliant || len(doc.Findings) != 1 || doc.PossibleOverrides == nil || len(doc.PossibleOverrides) != 0 {
		t.Fatalf("want one finding and an empty possibleOverrides: %s", out)
	}
	f := doc.Findings[0]
	o := f.Override
	if f.Problem != "override" || f.Kind != "filter" || o == nil {
		t.Fatalf("finding %+v", f)
	}
	fk := wfp.NameGUID(pk, name).String()
	if o.Provider == nil || o.Provider.Name != "vpn" || o.Provider.Key != pk.String() || o.Filter.Name != name || o.Filter.Key != fk || f.Key != fk ||
		o.Layer != "FWPM_LAYER_ALE_AUTH_CONNECT_V4" || o.Reason != "hard-permit-equal-weight" || o.Action != "hard permit" || !o.LetsThrough {
		t.Errorf("override does not name the provider, the filter and the layer: %+v", o)
	}
	if o.Block.Key != policy.FilterKey(sid, "dns-v4").String() || o.Block.Rule != "dns-v4" {
		t.Errorf("overridden block %+v, want dns-v4", o.Block)
	}
	if o.Flow.Text != "out tcp 10.0.0.1:53 from the account's normal token" || o.Flow.Remote != "10.0.0.1:53" || o.Flow.Token != "normal" {
		t.Errorf("witness flow %+v", o.Flow)
	}

	code, out, _ = wfpsandbox(t, "verify", "--sid", sid, "--engine", engine)
	if code != exitDrift || !strings.Contains(out, "override") || !strings.Contains(out, `provider "vpn"`) || !strings.Contains(out, "10.0.0.1:53") {
		t.Errorf("text verify: exit %d\n%s", code, out)
	}
	// The text names the explain command that traces the flow; run it: the trace shows
	// the permit winning in the other order of the equal weights.
	_, hint, ok := strings.Cut(out, "trace it: wfpsandbox ")
	if !ok {
		t.Fatalf("no explain hint in:\n%s", out)
	}
	hint, _, _ = strings.Cut(hint, "\n")
	d := explainJSON(t, strings.Fields(hint)[1:]...)
	if trace := strings.Join(d.Trace, "\n"); !strings.Contains(trace, "the result would be permit by \""+name+"\"") {
		t.Errorf("explain %s: the trace does not show %q winning:\n%s", hint, name, trace)
	}
}

// TestVerifyIgnoresHarmlessForeignFilters: a soft permit at the same weight (our block
// overrides it) and a hard permit that also needs an application ID (only a possible
// override) do not fail verify; the latter is listed as a note.
func TestVerifyIgnoresHarmlessForeignFilters(t *testing.T) {
	for _, tc := range []struct {
		name     string
		f        *wfp.Filter
		possible int
	}{
		{"soft permit 53", &wfp.Filter{Name: "soft permit 53", Flags: wfp.FilterFlagPersistent, Layer: wfp.LayerALEAuthConnectV4,
			Action: wfp.Action{Type: wfp.ActionPermit}, Conditions: []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(53)}}}, 0},
		{"hard permit 53 for vpn.exe", &wfp.Filter{Name: "hard permit 53 for vpn.exe", Flags: wfp.FilterFlagPersistent | wfp.FilterFlagClearActionRight,
			Layer: wfp.LayerALEAuthConnectV4, Action: wfp.Action{Type: wfp.ActionPermit}, Conditions: []wfp.Condition{
				{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(53)},
				{Field: wfp.FieldALEAppID, Match: wfp.MatchEqual, Value: wfp.Value{Type: wfp.ByteBlob, Bytes: []byte("\\device\\vpn.exe\x00")}},
			}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "host.json")
			engine := "memory:" + path
			if code, _, stderr := wfpsandbox(t, "setup", "--sid", sid, "--engine", engine); code != exitOK {
				t.Fatalf("setup: exit %d: %s", code, stderr)
			}
			addVendorFilter(t, path, 0xFFFF, tc.f)
			code, out, stderr := wfpsandbox(t, "verify", "--sid", sid, "--engine", engine, "--format", "json")
			var doc verifyDoc
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("verify JSON: %v\n%s%s", err, out, stderr)
			}
			if code != exitOK || !doc.Compliant || len(doc.PossibleOverrides) != tc.possible {
				t.Fatalf("exit %d, want 0 with %d possible override(s): %s", code, tc.possible, out)
			}
			if tc.possible > 0 && (doc.PossibleOverrides[0].Filter.Name != tc.name || strings.Join(doc.PossibleOverrides[0].Assumed, ",") != "ALE_APP_ID") {
				t.Errorf("possible override %+v", doc.PossibleOverrides[0])
			}
			_, text, _ := wfpsandbox(t, "verify", "--sid", sid, "--engine", engine)
			if got := strings.Contains(text, "possible override"); got != (tc.possible > 0) {
				t.Errorf("text mentions a possible override: %v, want %v\n%s", got, tc.possible > 0, text)
			}
		})
	}
}

// TestEnsureDoesNotLoopOnAnOverride: setup cannot remove another owner's filter, so an
// override must not make ensure run setup (on Windows: a UAC prompt on every start,
// openai/codex issues 31556 and 42213). ensure's live check reads our own objects by
// key — what an unelevated caller can read, at a cost independent of the host — so it
// sees them in place and says current, without touching the host; whether another
// owner's filter overrides them is verify's question, which exits 1 naming it.
func TestEnsureDoesNotLoopOnAnOverride(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	path := strings.TrimPrefix(h.engine, "memory:")
	name := "third-party hard permit 53"
	addVendorFilter(t, path, 0xFFFF, &wfp.Filter{Name: name, Flags: wfp.FilterFlagPersistent | wfp.FilterFlagClearActionRight,
		Layer: wfp.LayerALEAuthConnectV4, Action: wfp.Action{Type: wfp.ActionPermit},
		Conditions: []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(53)}}})
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		// No --no-elevate: ensure would run setup if it thought setup could help.
		code, out, stderr := wfpsandbox(t, h.args("ensure", "--format", "json")...)
		var doc struct {
			Current bool   `json:"current"`
			Action  string `json:"action"`
			Live    bool   `json:"live"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("run %d: ensure JSON: %v\n%s%s", i, err, out, stderr)
		}
		if code != exitOK || !doc.Current || doc.Action != "none" || !doc.Live {
			t.Fatalf("run %d: exit %d, want %d, current, live, no action: %s", i, code, exitOK, out)
		}
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("ensure changed the host although setup cannot remove the override")
	}
	code, text, _ := wfpsandbox(t, "verify", "--sid", sid, "--state-dir", h.state, "--engine", h.engine)
	if code != exitDrift || !strings.Contains(text, name) {
		t.Errorf("verify: exit %d, want %d naming the override %q:\n%s", code, exitDrift, name, text)
	}
}

// TestSetupWarnsOfAnOverride: setup is the elevated moment that can see every
// provider's filters. A foreign hard permit that overrides the account's DNS block is
// not setup's to remove, so setup still exits 0 — but it must not say "0 writes" and
// nothing else: the report lists the override (JSON "overrides") and the text warns.
func TestSetupWarnsOfAnOverride(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid)...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	path := strings.TrimPrefix(h.engine, "memory:")
	name := "third-party hard permit 53"
	addVendorFilter(t, path, 0xFFFF, &wfp.Filter{Name: name, Flags: wfp.FilterFlagPersistent | wfp.FilterFlagClearActionRight,
		Layer: wfp.LayerALEAuthConnectV4, Action: wfp.Action{Type: wfp.ActionPermit},
		Conditions: []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(53)}}})

	code, out, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--format", "json")...)
	var rep struct {
		Writes    int `json:"writes"`
		Overrides []struct {
			Name    string `json:"name"`
			Problem string `json:"problem"`
		} `json:"overrides"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("setup JSON: %v\n%s%s", err, out, stderr)
	}
	if code != exitOK || rep.Writes != 0 || len(rep.Overrides) != 1 || rep.Overrides[0].Name != name || rep.Overrides[0].Problem != "override" {
		t.Fatalf("setup with an override: exit %d, %+v; want exit 0, 0 writes, the override listed\n%s", code, rep, out)
	}
	code, text, _ := wfpsandbox(t, h.args("setup", "--sid", sid)...)
	if code != exitOK || !strings.Contains(text, "warning: "+name) || !strings.Contains(text, "wfpsandbox verify") {
		t.Errorf("setup text does not warn of the override: exit %d\n%s", code, text)
	}
	// Without the foreign filter there is nothing to warn of.
	h2 := newSimHost(t)
	code, out, _ = wfpsandbox(t, h2.args("setup", "--sid", sid, "--format", "json")...)
	if code != exitOK || strings.Contains(out, `"overrides"`) {
		t.Errorf("setup on a clean host reports overrides: exit %d\n%s", code, out)
	}
}
