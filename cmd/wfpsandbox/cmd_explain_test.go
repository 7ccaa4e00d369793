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

type explainDoc struct {
	Decision string `json:"decision"`
	Layer    string `json:"layer"`
	Filter   *struct {
		Key  string `json:"key"`
		Name string `json:"name"`
	} `json:"filter"`
	Trace []string `json:"trace"`
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
		case tt.rule == "" && d.Filter != nil:
			t.Errorf("%v: deciding filter %q, want none", tt.args, d.Filter.Name)
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
	if !strings.Contains(trace, "same weight") || !strings.Contains(trace, "the result would be permit by \""+name+"\"") {
		t.Fatalf("trace does not show the tie and the third-party hard permit winning in the other order:\n%s", trace)
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
