package arbiter_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/arbiter"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// fakeEngine serves enumerations only; every other method panics through the nil
// embedded interface, which proves FromEngine writes nothing.
type fakeEngine struct {
	wfp.Engine
	filters   []*wfp.Filter
	sublayers []*wfp.Sublayer
	providers []*wfp.GUID // the provider argument of each enumeration
	txn       []string    // transaction calls, and "enum" for each enumeration
}

// BeginReadTransaction and AbortTransaction record the read-only transaction
// (BeginTransaction, read-write, still panics).
func (e *fakeEngine) BeginReadTransaction() error { e.txn = append(e.txn, "begin-read"); return nil }
func (e *fakeEngine) AbortTransaction() error     { e.txn = append(e.txn, "abort"); return nil }

func (e *fakeEngine) Filters(p *wfp.GUID) ([]*wfp.Filter, error) {
	e.providers = append(e.providers, p)
	e.txn = append(e.txn, "enum")
	var out []*wfp.Filter
	for _, f := range e.filters {
		if p == nil || wfp.SameProvider(p, f.ProviderKey) {
			out = append(out, f)
		}
	}
	return out, nil
}

func (e *fakeEngine) Sublayers(p *wfp.GUID) ([]*wfp.Sublayer, error) {
	e.providers = append(e.providers, p)
	e.txn = append(e.txn, "enum")
	var out []*wfp.Sublayer
	for _, s := range e.sublayers {
		if p == nil || wfp.SameProvider(p, s.ProviderKey) {
			out = append(out, s)
		}
	}
	return out, nil
}

// TestFromEngineSeesOtherProviders: explain on an engine enumerates every provider, so a
// third-party hard permit in a higher sublayer decides, as WFP would let it.
func TestFromEngineSeesOtherProviders(t *testing.T) {
	p := plan(t, policy.Options{})
	ours := p.Sublayer.Clone()
	ours.Weight = 0x8000
	tp := thirdProvider
	theirs := &wfp.Sublayer{Key: thirdSublayer, Name: "vpn", Weight: 0x9000, ProviderKey: &tp}
	permit := filter("vpn hard permit", thirdSublayer, wfp.LayerALEAuthConnectV4, wfp.ActionPermit, wfp.FilterFlagClearActionRight, wfp.Value{}, port(53))
	e := &fakeEngine{filters: append(append([]*wfp.Filter(nil), p.Filters...), permit), sublayers: []*wfp.Sublayer{ours, theirs}}
	set, err := arbiter.FromEngine(e)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(e.txn, " "); got != "begin-read enum enum abort" {
		t.Errorf("calls %q: want both enumerations inside one read-only transaction, then abort", got)
	}
	for _, pk := range e.providers {
		if pk != nil {
			t.Fatalf("FromEngine enumerated with provider %s; it must enumerate every provider", pk)
		}
	}
	fl := flow(t, arbiter.Outbound, arbiter.ProtoUDP, "8.8.8.8:53", token(t, arbiter.TokenNormal, sandboxSID))
	d, err := arbiter.Evaluate(set, fl)
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != arbiter.Permit || d.Filter == nil || d.Filter.Key != permit.Key {
		t.Fatalf("got %s by %v, want permit by the third-party hard permit\n%s", d.Action, d.Filter, d.Text())
	}

	// The JSON form carries decision, layer, filter {key, name} and trace.
	b, err := json.Marshal(d.Doc(fl))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Decision string
		Layer    string
		Filter   *struct{ Key, Name string }
		Trace    []string
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Decision != "permit" || doc.Layer != "FWPM_LAYER_ALE_AUTH_CONNECT_V4" || doc.Filter == nil ||
		doc.Filter.Key != permit.Key.String() || doc.Filter.Name != permit.Name || len(doc.Trace) == 0 {
		t.Fatalf("JSON %s", b)
	}
}

func TestParseRemote(t *testing.T) {
	tests := []struct {
		in    string
		proto uint8
		want  string // "" = error
	}{
		{"8.8.8.8:53", arbiter.ProtoUDP, "8.8.8.8:53"},
		{"[::1]:8080", arbiter.ProtoTCP, "[::1]:8080"},
		{"[::ffff:8.8.8.8]:443", arbiter.ProtoTCP, "[::ffff:8.8.8.8]:443"},
		{"8.8.8.8", arbiter.ProtoICMP, "8.8.8.8:0"},
		{"::1", arbiter.ProtoICMPv6, "[::1]:0"},
		{"[::1]", arbiter.ProtoICMPv6, "[::1]:0"},
		{"8.8.8.8", arbiter.ProtoTCP, ""},      // TCP needs a port
		{"8.8.8.8:300", arbiter.ProtoICMP, ""}, // ICMP code > 255
		{"example.com:80", arbiter.ProtoTCP, ""},
		{"[fe80::1%eth0]:80", arbiter.ProtoTCP, ""},
		{"", arbiter.ProtoTCP, ""},
	}
	for _, tt := range tests {
		got, err := arbiter.ParseRemote(tt.in, tt.proto)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("ParseRemote(%q) = %s, want an error", tt.in, got)
		case tt.want != "" && (err != nil || got.String() != tt.want):
			t.Errorf("ParseRemote(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestBuildFlowRejects(t *testing.T) {
	for _, r := range []arbiter.Request{
		{As: "bob", Proto: "tcp", Remote: "1.2.3.4:1"},
		{As: sandboxSID, Proto: "sctp", Remote: "1.2.3.4:1"},
		{As: sandboxSID, Proto: "icmp", Remote: "::1"},
		{As: sandboxSID, Proto: "icmpv6", Remote: "1.2.3.4"},
		{As: sandboxSID, Proto: "tcp", Remote: "1.2.3.4:1", Token: "admin"},
	} {
		if _, err := arbiter.BuildFlow(r); err == nil {
			t.Errorf("BuildFlow(%+v) accepted", r)
		}
	}
}
