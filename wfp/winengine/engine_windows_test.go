//go:build windows && wfpintegration

package winengine

// Integration tests against the live Base Filtering Engine. They need an elevated
// prompt and run with:
//
//	go test -tags wfpintegration ./wfp/winengine/
//
// They also run under Wine against the WFP emulation DLL of wine/fwpemu (built with
// mingw-w64 and placed in the prefix's system32 as fwpuclnt.dll, with
// WINEDLLOVERRIDES="fwpuclnt=n"), which checks the structures from the C side.
//
// Every session is dynamic, so whatever a failing test leaves behind disappears when
// the test process exits. The filters match only TEST-NET-1 (192.0.2.0/24), a remote
// port and an ALE_USER_ID SD naming a SID that exists on no machine: they never
// affect real traffic.

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

func requireElevated(t *testing.T) {
	t.Helper()
	if windows.GetCurrentProcessToken().IsElevated() {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the WFP integration tests need an elevated (Administrator) process, and CI is set")
	}
	t.Skip("not elevated: the WFP integration tests need an Administrator prompt")
}

func randomGUID(t *testing.T) wfp.GUID {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return wfp.NameGUID(wfp.GUID{}, fmt.Sprintf("%x", b))
}

func openDynamic(t *testing.T) *Engine {
	t.Helper()
	e, err := Open(Options{Name: "wfpsandbox integration test", Description: t.Name(), Dynamic: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

type testObjects struct {
	provider *wfp.Provider
	sublayer *wfp.Sublayer
	filter   *wfp.Filter
}

func newTestObjects(t *testing.T) testObjects {
	prov := &wfp.Provider{Key: randomGUID(t), Name: "wfpsandbox test provider", Description: "integration test", Data: []byte("wfpsandbox")}
	sub := &wfp.Sublayer{Key: randomGUID(t), Name: "wfpsandbox test sublayer", ProviderKey: &prov.Key, Weight: 0x0100}
	f := &wfp.Filter{
		Key:         randomGUID(t),
		Name:        "wfpsandbox test: block TEST-NET-1 port 53",
		Description: "integration test",
		Flags:       wfp.FilterFlagClearActionRight,
		ProviderKey: &prov.Key,
		Layer:       wfp.LayerALEAuthConnectV4,
		Sublayer:    sub.Key,
		Weight:      wfp.U8(3),
		Action:      wfp.Action{Type: wfp.ActionBlock},
		Conditions: []wfp.Condition{
			{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(netip.MustParsePrefix("192.0.2.0/24"))},
			{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(53)},
			{Field: wfp.FieldALEUserID, Match: wfp.MatchEqual, Value: wfp.SD(testSD)},
		},
	}
	return testObjects{prov, sub, f}
}

func inTxn(t *testing.T, e *Engine, fn func() error) {
	t.Helper()
	if err := e.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := fn(); err != nil {
		if aerr := e.AbortTransaction(); aerr != nil {
			t.Errorf("abort: %v", aerr)
		}
		t.Fatal(err)
	}
	if err := e.CommitTransaction(); err != nil {
		t.Fatal(err)
	}
}

// sameConditions compares condition lists as multisets: the engine may return them in
// another order.
func sameConditions(got, want []wfp.Condition) bool {
	if len(got) != len(want) {
		return false
	}
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && g.Field == w.Field && g.Match == w.Match && g.Value.Equal(w.Value) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestIntegrationAddGetEnumerateDelete(t *testing.T) {
	requireElevated(t)
	e := openDynamic(t)
	o := newTestObjects(t)

	var id uint64
	inTxn(t, e, func() error {
		if err := e.AddProvider(o.provider); err != nil {
			return err
		}
		if err := e.AddSublayer(o.sublayer); err != nil {
			return err
		}
		var err error
		id, err = e.AddFilter(o.filter)
		return err
	})
	if id == 0 {
		t.Error("AddFilter returned filter ID 0")
	}

	p, err := e.Provider(o.provider.Key)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != o.provider.Name || p.Description != o.provider.Description || string(p.Data) != "wfpsandbox" || p.ServiceName != "" {
		t.Errorf("Provider: got %+v, want %+v", p, o.provider)
	}
	s, err := e.Sublayer(o.sublayer.Key)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != o.sublayer.Name || s.Weight != 0x0100 || !wfp.SameProvider(s.ProviderKey, &o.provider.Key) {
		t.Errorf("Sublayer: got %+v, want %+v", s, o.sublayer)
	}
	f, err := e.Filter(o.filter.Key)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != o.filter.Name || f.Layer != o.filter.Layer || f.Sublayer != o.filter.Sublayer ||
		f.Action != o.filter.Action || !wfp.SameProvider(f.ProviderKey, &o.provider.Key) ||
		f.Flags&wfp.FilterFlagClearActionRight == 0 || !f.Weight.Equal(o.filter.Weight) {
		t.Errorf("Filter: got %+v, want %+v", f, o.filter)
	}
	if !sameConditions(f.Conditions, o.filter.Conditions) {
		t.Errorf("Filter conditions: got %v, want %v", f.Conditions, o.filter.Conditions)
	}
	if f.ID != id {
		t.Errorf("Filter ID %d, AddFilter returned %d", f.ID, id)
	}
	// FWP_UINT8 weight 3 selects range 3: the top four bits of the effective weight.
	if f.EffectiveWeight>>60 != 3 {
		t.Errorf("effective weight %#x is not in range 3", f.EffectiveWeight)
	}
	byID, err := e.FilterByID(id)
	if err != nil {
		t.Fatal(err)
	}
	if byID.Key != o.filter.Key {
		t.Errorf("FilterByID(%d) returned filter %s, want %s", id, byID.Key, o.filter.Key)
	}

	fs, err := e.Filters(&o.provider.Key)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Key != o.filter.Key {
		t.Errorf("Filters(provider) returned %d filters, want exactly ours", len(fs))
	}
	subs, err := e.Sublayers(&o.provider.Key)
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 1 || subs[0].Key != o.sublayer.Key {
		t.Errorf("Sublayers(provider) returned %d sublayers, want exactly ours", len(subs))
	}
	provs, err := e.Providers()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range provs {
		found = found || p.Key == o.provider.Key
	}
	if !found {
		t.Errorf("Providers() (%d) lacks ours", len(provs))
	}

	// Deleting the provider first must fail: it is still referenced.
	if err := e.DeleteProvider(o.provider.Key); !errors.Is(err, wfp.ErrInUse) {
		t.Errorf("DeleteProvider before its sublayer: %v, want FWP_E_IN_USE", err)
	}
	inTxn(t, e, func() error {
		if err := e.DeleteFilter(o.filter.Key); err != nil {
			return err
		}
		if err := e.DeleteSublayer(o.sublayer.Key); err != nil {
			return err
		}
		return e.DeleteProvider(o.provider.Key)
	})
	if _, err := e.Filter(o.filter.Key); !errors.Is(err, wfp.ErrFilterNotFound) {
		t.Errorf("Filter after delete: %v, want FWP_E_FILTER_NOT_FOUND", err)
	}
	if _, err := e.Sublayer(o.sublayer.Key); !errors.Is(err, wfp.ErrSublayerNotFound) {
		t.Errorf("Sublayer after delete: %v, want FWP_E_SUBLAYER_NOT_FOUND", err)
	}
	if _, err := e.Provider(o.provider.Key); !errors.Is(err, wfp.ErrProviderNotFound) {
		t.Errorf("Provider after delete: %v, want FWP_E_PROVIDER_NOT_FOUND", err)
	}
}

// TestIntegrationPagingAbortAndErrors enumerates more filters than one page, checks
// that Abort discards a transaction, and that errors name the call and carry the code.
func TestIntegrationPagingAbortAndErrors(t *testing.T) {
	requireElevated(t)
	e := openDynamic(t)
	o := newTestObjects(t)
	const n = 2*enumPageSize + 7
	inTxn(t, e, func() error {
		if err := e.AddProvider(o.provider); err != nil {
			return err
		}
		if err := e.AddSublayer(o.sublayer); err != nil {
			return err
		}
		for i := range n {
			f := o.filter.Clone()
			f.Key = wfp.NameGUID(o.filter.Key, fmt.Sprint(i))
			f.Conditions[1].Value = wfp.U16(uint16(1000 + i))
			if _, err := e.AddFilter(f); err != nil {
				return err
			}
		}
		return nil
	})
	fs, err := e.Filters(&o.provider.Key)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != n {
		t.Errorf("Filters(provider) returned %d filters, want %d (pages of %d)", len(fs), n, enumPageSize)
	}

	_, err = e.AddFilter(func() *wfp.Filter { f := o.filter.Clone(); f.Key = wfp.NameGUID(o.filter.Key, "0"); return f }())
	var ce *wfp.CallError
	if !errors.As(err, &ce) || ce.Call != "FwpmFilterAdd0" || ce.Code != wfp.ErrAlreadyExists {
		t.Errorf("duplicate AddFilter: %v, want a FwpmFilterAdd0 CallError with FWP_E_ALREADY_EXISTS", err)
	}

	extra := o.filter.Clone()
	extra.Key = randomGUID(t)
	if err := e.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddFilter(extra); err != nil {
		t.Fatal(err)
	}
	if err := e.BeginTransaction(); !errors.Is(err, wfp.ErrTxnInProgress) {
		t.Errorf("nested BeginTransaction: %v, want FWP_E_TXN_IN_PROGRESS", err)
	}
	if err := e.AbortTransaction(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Filter(extra.Key); !errors.Is(err, wfp.ErrFilterNotFound) {
		t.Errorf("filter added in an aborted transaction: %v, want FWP_E_FILTER_NOT_FOUND", err)
	}
	if _, err := e.FilterByID(1<<40 + 12345); !errors.Is(err, wfp.ErrFilterNotFound) {
		t.Errorf("FilterByID of an unknown ID: %v, want FWP_E_FILTER_NOT_FOUND", err)
	}

	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); !errors.As(err, &ce) || ce.Code != errInvalidHandle {
		t.Errorf("second Close: %v, want ERROR_INVALID_HANDLE", err)
	}
	if _, err := e.Providers(); !errors.As(err, &ce) || ce.Code != errInvalidHandle {
		t.Errorf("Providers after Close: %v, want ERROR_INVALID_HANDLE", err)
	}
}
