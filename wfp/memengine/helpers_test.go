package memengine_test

import (
	"errors"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

var (
	provA = wfp.MustParseGUID("a0000000-0000-4000-8000-00000000000a")
	provB = wfp.MustParseGUID("b0000000-0000-4000-8000-00000000000b")
	subA  = wfp.MustParseGUID("a5000000-0000-4000-8000-00000000000a")
	subB  = wfp.MustParseGUID("b5000000-0000-4000-8000-00000000000b")
)

func guid(n int) wfp.GUID {
	return wfp.NameGUID(wfp.MustParseGUID("f1000000-0000-4000-8000-000000000000"), string(rune('a'+n%26))+string(rune('0'+n/26)))
}

func ptr(g wfp.GUID) *wfp.GUID { return &g }

func provider(key wfp.GUID, persistent bool) *wfp.Provider {
	p := &wfp.Provider{Key: key, Name: "provider " + key.String()[:8]}
	if persistent {
		p.Flags = wfp.ProviderFlagPersistent
	}
	return p
}

func sublayer(key wfp.GUID, prov *wfp.GUID, persistent bool) *wfp.Sublayer {
	s := &wfp.Sublayer{Key: key, Name: "sublayer " + key.String()[:8], ProviderKey: prov, Weight: 0xFFFF}
	if persistent {
		s.Flags = wfp.SublayerFlagPersistent
	}
	return s
}

// filter is a DNS-style block at ALE_AUTH_CONNECT_V4: remote port 53.
func filter(key, sub wfp.GUID, prov *wfp.GUID, persistent bool) *wfp.Filter {
	f := &wfp.Filter{
		Key: key, Name: "filter " + key.String()[:8], ProviderKey: prov,
		Layer: wfp.LayerALEAuthConnectV4, Sublayer: sub,
		Conditions: []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(53)}},
		Action:     wfp.Action{Type: wfp.ActionBlock},
	}
	if persistent {
		f.Flags = wfp.FilterFlagPersistent | wfp.FilterFlagClearActionRight
	}
	return f
}

// userSD is a valid self-relative SD from the account package's builder.
func userSD(t testing.TB) []byte {
	t.Helper()
	b, err := account.UserConditionSD("S-1-5-21-1004336348-1177238915-682003330-1001", account.ShapeAllow)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// base opens a BFE holding persistent provider A with persistent sublayer A.
func base(t *testing.T) (*memengine.BFE, *memengine.Session) {
	t.Helper()
	b := memengine.NewBFE()
	s := b.Open()
	must(t, s.AddProvider(provider(provA, true)))
	must(t, s.AddSublayer(sublayer(subA, ptr(provA), true)))
	return b, s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantCode checks that err carries code inside a *wfp.CallError naming call.
func wantCode(t *testing.T, err error, call string, code wfp.Code) {
	t.Helper()
	var ce *wfp.CallError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *wfp.CallError with %s", err, code)
	}
	if ce.Code != code || (call != "" && ce.Call != call) {
		t.Fatalf("got %s / %s, want %s / %s (error: %v)", ce.Call, ce.Code, call, code, err)
	}
}

func snapshot(t *testing.T, b *memengine.BFE) string {
	t.Helper()
	s, err := b.Snapshot()
	must(t, err)
	return s
}
