package events

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

const (
	sandboxSID = "S-1-5-21-1000-1000-1000-1001"
	otherSID   = "S-1-5-21-1000-1000-1000-1002"
)

var when = time.Date(2026, 11, 27, 4, 30, 0, 123456700, time.UTC)

func sidBytes(t *testing.T, s string) []byte {
	t.Helper()
	sid, err := account.ParseSID(s)
	if err != nil {
		t.Fatal(err)
	}
	return sid.Bytes()
}

func utf16z(s string) []byte {
	var b []byte
	for _, r := range s + "\x00" {
		b = binary.LittleEndian.AppendUint16(b, uint16(r)) // test strings are ASCII
	}
	return b
}

func v4(s string) [16]byte {
	var b [16]byte
	a := netip.MustParseAddr(s).As4()
	binary.LittleEndian.PutUint32(b[:], binary.BigEndian.Uint32(a[:]))
	return b
}

const allFlags = wfp.NetEventFlagIPProtocolSet | wfp.NetEventFlagLocalAddrSet | wfp.NetEventFlagRemoteAddrSet | wfp.NetEventFlagLocalPortSet |
	wfp.NetEventFlagRemotePortSet | wfp.NetEventFlagAppIDSet | wfp.NetEventFlagUserIDSet | wfp.NetEventFlagIPVersionSet

// drop is a well-formed CLASSIFY_DROP1 of a UDP packet to 9.9.9.9:53 by curl.exe.
func drop(t *testing.T, filterID uint64) Raw {
	return Raw{
		Version: 1, TimeStamp: wfp.ToFileTime(when), Flags: allFlags, IPVersion: 0, IPProtocol: 17,
		LocalAddr: v4("192.168.1.20"), RemoteAddr: v4("9.9.9.9"), LocalPort: 50000, RemotePort: 53,
		AppID:  utf16z(`\device\harddiskvolume3\tools\curl.exe`),
		UserID: sidBytes(t, sandboxSID), Type: wfp.NetEventTypeClassifyDrop,
		Drop: &RawDrop{Version: 1, FilterID: filterID, LayerID: 48, Direction: wfp.NetEventDirectionOut},
	}
}

// host is a memory engine holding the sandbox account's baseline plan and one filter of
// another provider, "Contoso Firewall".
type host struct {
	e       wfp.Engine
	plan    *policy.Plan
	ids     map[string]uint64 // rule ID → filter ID
	foreign uint64
	calls   int
}

func (h *host) FilterByID(id uint64) (*wfp.Filter, error) {
	h.calls++
	return h.e.FilterByID(id)
}

func (h *host) Provider(key wfp.GUID) (*wfp.Provider, error) { return h.e.Provider(key) }

var contoso = wfp.MustParseGUID("0f0e0d0c-0b0a-4908-8706-050403020100")

func newHost(t *testing.T) *host {
	t.Helper()
	e := memengine.NewBFE().Open()
	t.Cleanup(func() { e.Close() })
	plan, err := policy.Build(policy.Options{SID: sandboxSID, Profile: policy.Baseline, UserMatch: policy.DefaultUserMatch})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reconcile.Install(e, plan, reconcile.Options{}); err != nil {
		t.Fatal(err)
	}
	h := &host{e: e, plan: plan, ids: map[string]uint64{}}
	for _, f := range plan.Filters {
		got, err := e.Filter(f.Key)
		if err != nil {
			t.Fatal(err)
		}
		o, err := policy.ParseOwner(got.ProviderData)
		if err != nil {
			t.Fatal(err)
		}
		h.ids[o.Rule] = got.ID
	}
	if err := e.AddProvider(&wfp.Provider{Key: contoso, Name: "Contoso Firewall"}); err != nil {
		t.Fatal(err)
	}
	pk := contoso
	h.foreign, err = e.AddFilter(&wfp.Filter{
		Key: wfp.MustParseGUID("1a2b3c4d-0000-4000-8000-000000000001"), Name: "Contoso: block all outbound",
		ProviderKey: &pk, Layer: wfp.LayerALEAuthConnectV4, Sublayer: wfp.MustParseGUID("eebecc03-ced4-4380-819a-2734397b2b74"),
		Action: wfp.Action{Type: wfp.ActionBlock},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// ruleID returns the ID of the plan's rule for DNS over IPv4 (any rule would do).
func (h *host) dnsV4(t *testing.T) (rule string, id uint64) {
	t.Helper()
	for r, id := range h.ids {
		f, err := h.e.FilterByID(id)
		if err != nil {
			t.Fatal(err)
		}
		if f.Layer != wfp.LayerALEAuthConnectV4 {
			continue
		}
		for _, c := range f.Conditions {
			if c.Field == wfp.FieldIPRemotePort && c.Value.Uint == 53 {
				return r, id
			}
		}
	}
	t.Fatal("the baseline plan has no IPv4 DNS filter")
	return "", 0
}
