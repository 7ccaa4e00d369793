package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

type explainDoc struct {
	Decision string `json:"decision"`
	Layer    string `json:"layer"`
	Filter   *struct {
		Key  string `json:"key"`
		Name string `json:"name"`
	} `json:"filter"`
	Trace        []string `json:"trace"`
	Cautions     []string `json:"cautions"`
	NotEvaluated []string `json:"notEvaluated"`
}

func explainJSON(t *testing.T, args ...string) explainDoc {
	t.Helper()
	code, out, stderr := wfpsandbox(t, append([]string{"explain", "--format", "json"}, args...)...)
	if code != exitOK {
		t.Fatalf("explain %v: exit %d: %s", args, code, stderr)
	}
	var d explainDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("explain JSON: %v\n%s", err, out)
	}
	return d
}

func TestExplainPlan(t *testing.T) {
	other := "S-1-5-21-1000-1000-1000-1002"
	tests := []struct {
		args     []string
		decision string
		rule     string // deciding rule ID, "" = none
	}{
		// Baseline DNS block for the sandbox account.
		{[]string{"--proto", "udp", "--remote", "8.8.8.8:53"}, "block", "dns-v4"},
		// HTTPS stays open in the baseline.
		{[]string{"--proto", "tcp", "--remote", "8.8.8.8:443"}, "permit", ""},
		// Another account matches the account's soft guard permit, which decides the
		// account's sublayer only; no block is reached.
		{[]string{"--as", other, "--proto", "udp", "--remote", "8.8.8.8:53"}, "permit", "guard-connect-v4"},
		// The AppContainer escape under allow, closed under deny (the default).
		{[]string{"--token", "appcontainer", "--user-match", "allow", "--proto", "udp", "--remote", "8.8.8.8:53"}, "permit", ""},
		{[]string{"--token", "appcontainer", "--proto", "udp", "--remote", "8.8.8.8:53"}, "block", "dns-v4"},
		// Strict: loopback only; ICMPv6 blocked at bind.
		{[]string{"--profile", "strict", "--proto", "tcp", "--remote", "[::1]:8080"}, "permit", "strict-loopback-connect-v6"},
		{[]string{"--profile", "strict", "--proto", "tcp", "--remote", "[::ffff:8.8.8.8]:443"}, "block", "strict-block-connect-v6"},
		{[]string{"--profile", "strict", "--direction", "in", "--proto", "tcp", "--remote", "10.0.0.9:5000"}, "block", "strict-block-accept-v4"},
		{[]string{"--proto", "icmpv6", "--remote", "2001:db8::1"}, "block", "icmp-bind-v6"},
	}
	for _, tt := range tests {
		d := explainJSON(t, append([]string{"--plan", "--sid", sid}, tt.args...)...)
		if d.Decision != tt.decision {
			t.Errorf("%v: decision %s, want %s", tt.args, d.Decision, tt.decision)
			continue
		}
		switch {
		case tt.rule == "" && d.Filter != nil && !strings.Contains(d.Filter.Name, "guard"):
			// A permit is by no filter, or (the deny layout of issue 9) by the
			// account's guard permit, which lets everyone else through.
			t.Errorf("%v: deciding filter %q, want none or a guard", tt.args, d.Filter.Name)
		case tt.rule != "" && (d.Filter == nil || d.Filter.Key != policy.FilterKey(sid, tt.rule).String()):
			t.Errorf("%v: deciding filter %+v, want rule %s", tt.args, d.Filter, tt.rule)
		}
		if len(d.Trace) == 0 || d.Layer == "" {
			t.Errorf("%v: empty trace or layer", tt.args)
		}
	}
}

func TestExplainPolicyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(path, []byte("profile = \"strict\"\nproxy_ports = [3128]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if d := explainJSON(t, "--plan", "--sid", sid, "--policy", path, "--proto", "tcp", "--remote", "127.0.0.1:3128"); d.Decision != "permit" {
		t.Errorf("proxy port: %s", d.Decision)
	}
	if d := explainJSON(t, "--plan", "--sid", sid, "--policy", path, "--proto", "tcp", "--remote", "127.0.0.1:8080"); d.Decision != "block" {
		t.Errorf("non-proxy loopback port: %s", d.Decision)
	}
	if code, _, stderr := wfpsandbox(t, "explain", "--plan", "--sid", sid, "--policy", path, "--profile", "baseline", "--proto", "tcp", "--remote", "1.1.1.1:1"); code != exitError || !strings.Contains(stderr, "--policy") {
		t.Errorf("--policy with --profile: exit %d %s", code, stderr)
	}
}

// TestExplainEngine: explain on a simulated host sees every provider's filters; a
// third-party hard permit in a sublayer of the same weight shows up in the trace with
// the caution that WFP does not document the order of equal weights.
func TestExplainEngine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.json")
	if code, _, stderr := wfpsandbox(t, "setup", "--sid", sid, "--engine", "memory:"+path); code != exitOK {
		t.Fatalf("setup: exit %d: %s", code, stderr)
	}
	d := explainJSON(t, "--sid", sid, "--engine", "memory:"+path, "--proto", "udp", "--remote", "8.8.8.8:53")
	if d.Decision != "block" || d.Filter == nil || d.Filter.Key != policy.FilterKey(sid, "dns-v4").String() {
		t.Fatalf("installed baseline: %+v", d)
	}

	e, err := memengine.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pk := wfp.MustParseGUID("a1b2c3d4-0000-4000-8000-00000000000a")
	sk := wfp.MustParseGUID("a1b2c3d4-0000-4000-8000-00000000000b")
	name := "third-party hard permit 53"
	steps := []error{
		e.BeginTransaction(),
		e.AddProvider(&wfp.Provider{Key: pk, Name: "vpn", Flags: wfp.ProviderFlagPersistent}),
		e.AddSublayer(&wfp.Sublayer{Key: sk, Name: "vpn", Flags: wfp.SublayerFlagPersistent, ProviderKey: &pk, Weight: 0xFFFF}),
	}
	_, ferr := e.AddFilter(&wfp.Filter{Key: wfp.NameGUID(pk, name), Name: name, Flags: wfp.FilterFlagPersistent | wfp.FilterFlagClearActionRight,
		ProviderKey: &pk, Layer: wfp.LayerALEAuthConnectV4, Sublayer: sk, Action: wfp.Action{Type: wfp.ActionPermit},
		Conditions: []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(53)}}})
	steps = append(steps, ferr, e.CommitTransaction(), e.Close())
	for i, err := range steps {
		if err != nil {
			t.Fatalf("adding the third-party filter, step %d: %v", i, err)
		}
	}
	d = explainJSON(t, "--sid", sid, "--engine", "memory:"+path, "--proto", "udp", "--remote", "8.8.8.8:53")
	trace := strings.Join(d.Trace, "\n")
	// Which of the two equal-weight sublayers the arbiter takes first is its choice (key
	// order); the other order must be named with its other result.
	other := "the result would be permit by \"" + name + "\""
	if d.Decision == "permit" {
		other = "the result would be block by \"wfpsandbox: block DNS (53)"
	}
	if !strings.Contains(trace, "same weight") || !strings.Contains(strings.Join(d.Cautions, "\n"), other) {
		t.Fatalf("trace does not show the tie and the other order's result (%s):\n%s", other, trace)
	}
}

// TestExplainTokens: the token kinds of --token, each with its caution.
func TestExplainTokens(t *testing.T) {
	dns := []string{"--plan", "--sid", sid, "--proto", "udp", "--remote", "8.8.8.8:53"}
	d := explainJSON(t, append(dns, "--token", "low")...)
	if d.Decision != "block" || !strings.Contains(strings.Join(d.Cautions, "\n"), "mandatory integrity") {
		t.Errorf("low: %s, cautions %q", d.Decision, d.Cautions)
	}
	d = explainJSON(t, append(dns, "--token", "anonymous")...)
	if !strings.Contains(strings.Join(d.Cautions, "\n"), "anonymous logon token") {
		t.Errorf("anonymous: %s, cautions %q", d.Decision, d.Cautions)
	}
	d = explainJSON(t, append(dns, "--token", "none")...)
	if !strings.Contains(strings.Join(d.Cautions, "\n"), "carries no user token") || !strings.Contains(strings.Join(d.Trace, "\n"), "token none") {
		t.Errorf("none: %s, cautions %q", d.Decision, d.Cautions)
	}
	// ping names the IcmpSendEcho path in its caution.
	d = explainJSON(t, "--plan", "--sid", sid, "--proto", "icmp", "--remote", "8.8.8.8")
	if !strings.Contains(strings.Join(d.Cautions, "\n"), "IcmpSendEcho") {
		t.Errorf("icmp: cautions %q", d.Cautions)
	}
}

// TestExplainSummaryTrace: on a host with many filters of another provider the default
// output stays short — the sublayer is summarised — and --trace lists every filter.
func TestExplainSummaryTrace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.json")
	if code, _, stderr := wfpsandbox(t, "setup", "--sid", sid, "--engine", "memory:"+path); code != exitOK {
		t.Fatalf("setup: exit %d: %s", code, stderr)
	}
	e, err := memengine.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pk := wfp.MustParseGUID("a1b2c3d4-0000-4000-8000-00000000000a")
	sk := wfp.MustParseGUID("a1b2c3d4-0000-4000-8000-00000000000b")
	steps := []error{e.BeginTransaction(),
		e.AddProvider(&wfp.Provider{Key: pk, Name: "other", Flags: wfp.ProviderFlagPersistent}),
		e.AddSublayer(&wfp.Sublayer{Key: sk, Name: "other", Flags: wfp.SublayerFlagPersistent, ProviderKey: &pk, Weight: 0x4000})}
	const n = 300
	for i := range n {
		name := fmt.Sprintf("other permit %d", i)
		_, err := e.AddFilter(&wfp.Filter{Key: wfp.NameGUID(pk, name), Name: name, Flags: wfp.FilterFlagPersistent, ProviderKey: &pk,
			Layer: wfp.LayerALEAuthConnectV4, Sublayer: sk, Action: wfp.Action{Type: wfp.ActionPermit},
			Conditions: []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(uint16(10000 + i))}}})
		steps = append(steps, err)
	}
	steps = append(steps, e.CommitTransaction(), e.Close())
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	// HTTPS is open in the baseline, so every sublayer is evaluated.
	args := []string{"explain", "--sid", sid, "--engine", "memory:" + path, "--proto", "tcp", "--remote", "8.8.8.8:443"}
	code, out, stderr := wfpsandbox(t, args...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if lines := strings.Count(out, "\n"); lines > 40 || !strings.Contains(out, fmt.Sprintf("%d evaluated, no match", n)) {
		t.Errorf("summary output has %d lines (want ≤ 40) or lacks the count:\n%s", lines, out)
	}
	code, out, stderr = wfpsandbox(t, append(args, "--trace")...)
	if code != exitOK {
		t.Fatalf("--trace: exit %d: %s", code, stderr)
	}
	if got := strings.Count(out, `filter "other permit`); got != n {
		t.Errorf("--trace names %d of the %d filters", got, n)
	}
}

// TestExplainCallout: --callout gives a callout filter an assumed result; a key that is
// not a callout filter of the set is refused with a clear error.
func TestExplainCallout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.json")
	if code, _, stderr := wfpsandbox(t, "setup", "--sid", sid, "--engine", "memory:"+path); code != exitOK {
		t.Fatalf("setup: exit %d: %s", code, stderr)
	}
	e, err := memengine.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pk := wfp.MustParseGUID("a1b2c3d4-0000-4000-8000-00000000000a")
	sk := wfp.MustParseGUID("a1b2c3d4-0000-4000-8000-00000000000b")
	ck := wfp.MustParseGUID("a1b2c3d4-0000-4000-8000-00000000000c")
	fk := wfp.NameGUID(pk, "ids")
	steps := []error{e.BeginTransaction(),
		e.AddProvider(&wfp.Provider{Key: pk, Name: "ids", Flags: wfp.ProviderFlagPersistent}),
		e.AddSublayer(&wfp.Sublayer{Key: sk, Name: "ids", Flags: wfp.SublayerFlagPersistent, ProviderKey: &pk, Weight: 0x4000})}
	// memengine has no callouts, so it refuses callout filters: add a permit and turn
	// it into a callout filter in the stored state (what a host with a callout driver
	// would hold; loading does not check callouts).
	_, ferr := e.AddFilter(&wfp.Filter{Key: fk, Name: "ids callout", Flags: wfp.FilterFlagPersistent, ProviderKey: &pk,
		Layer: wfp.LayerALEAuthConnectV4, Sublayer: sk, Action: wfp.Action{Type: wfp.ActionPermit}})
	steps = append(steps, ferr, e.CommitTransaction(), e.Close())
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var state map[string]any
	if err := json.Unmarshal(raw, &state); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range state["filters"].([]any) {
		if m := f.(map[string]any); m["key"] == fk.String() {
			m["action"], m["calloutKey"], found = wfp.ActionCalloutTerminating.String(), ck.String(), true
		}
	}
	if raw, err = json.Marshal(state); err != nil || !found {
		t.Fatalf("rewriting the state: %v (found %v)", err, found)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--sid", sid, "--engine", "memory:" + path, "--proto", "tcp", "--remote", "8.8.8.8:443"}
	if d := explainJSON(t, base...); d.Decision != "permit" || len(d.NotEvaluated) != 1 {
		t.Errorf("callout not assumed: %s, notEvaluated %q", d.Decision, d.NotEvaluated)
	}
	if d := explainJSON(t, append(base, "--callout", fk.String()+"=soft-block")...); d.Decision != "block" || d.Filter == nil || d.Filter.Key != fk.String() {
		t.Errorf("callout soft-block: %+v", d)
	}
	for _, bad := range []string{fk.String() + "=maybe", fk.String(), "nokey=soft-block", policy.FilterKey(sid, "dns-v4").String() + "=soft-block"} {
		if code, _, stderr := wfpsandbox(t, append([]string{"explain", "--callout", bad}, base...)...); code != exitError || !strings.Contains(stderr, "callout") {
			t.Errorf("--callout %s: exit %d %s", bad, code, stderr)
		}
	}
}

func TestExplainUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"explain", "--plan", "--sid", sid, "--remote", "8.8.8.8:53"},                // no --proto
		{"explain", "--plan", "--sid", sid, "--proto", "udp", "--remote", "8.8.8.8"}, // no port
		{"explain", "--plan", "--sid", sid, "--proto", "udp", "--remote", "8.8.8.8:53", "--token", "x"},
		{"explain", "--plan", "--sid", sid, "--proto", "udp", "--remote", "8.8.8.8:53", "--direction", "sideways"},
		{"explain", "--sid", sid, "--profile", "strict", "--proto", "udp", "--remote", "8.8.8.8:53", "--engine", "memory:x"},
		{"explain", "--plan", "--engine", "memory:x", "--sid", sid, "--proto", "udp", "--remote", "8.8.8.8:53"},
		{"explain", "--plan", "--proto", "udp", "--remote", "8.8.8.8:53"}, // no account
	} {
		if code, _, _ := wfpsandbox(t, args...); code != exitError {
			t.Errorf("%v: exit %d, want %d", args, code, exitError)
		}
	}
}
