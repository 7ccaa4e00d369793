package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// fakeSource is a net event log holding fixed events.
type fakeSource struct {
	raws  []Raw
	err   error
	since time.Time
}

func (f *fakeSource) Enum(since time.Time) ([]Raw, error) {
	f.since = since
	return f.raws, f.err
}

func (f *fakeSource) Subscribe(ctx context.Context, fn func(Raw)) error {
	for _, r := range f.raws {
		fn(r)
	}
	<-ctx.Done()
	return nil
}

func TestResolveOurFilter(t *testing.T) {
	h := newHost(t)
	rule, id := h.dnsV4(t)
	res := NewResolver(h)
	res.LookupAccount = func(sid string) (string, error) {
		if sid == sandboxSID {
			return `HOST\sandbox`, nil
		}
		return "", errors.New("unknown")
	}
	e := Decode(drop(t, id))
	res.Resolve(&e)
	want, err := h.e.FilterByID(id)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Ours || e.Filter == nil || e.Filter.Name != want.Name || e.Filter.Key != want.Key.String() ||
		e.Filter.Rule != rule || e.Filter.SID != sandboxSID || e.Filter.Provider != policy.ProviderName ||
		e.Filter.ProviderKey != policy.ProviderKey.String() || e.Account != `HOST\sandbox` {
		t.Errorf("resolved %+v filter %+v", e, e.Filter)
	}
	// A burst of drops by the same filter costs one lookup.
	for range 5 {
		e := Decode(drop(t, id))
		res.Resolve(&e)
	}
	if h.calls != 1 {
		t.Errorf("%d FilterByID calls for one filter ID, want 1 (cached)", h.calls)
	}
}

func TestResolveUserFromOwnerTag(t *testing.T) {
	h := newHost(t)
	_, id := h.dnsV4(t)
	r := drop(t, id)
	r.Flags &^= wfp.NetEventFlagUserIDSet
	e := Decode(r)
	NewResolver(h).Resolve(&e)
	if e.SID != sandboxSID || !strings.Contains(strings.Join(e.Notes, "|"), "ownership tag") {
		t.Errorf("SID %q notes %q: a drop by our filter belongs to the filter's account, and the note says where it came from", e.SID, e.Notes)
	}
}

func TestSelection(t *testing.T) {
	h := newHost(t)
	_, ours := h.dnsV4(t)
	older := drop(t, ours)
	older.TimeStamp = wfp.ToFileTime(when.Add(-2 * time.Hour))
	otherUser := drop(t, ours)
	otherUser.UserID = sidBytes(t, otherSID)
	noDrop := drop(t, ours)
	noDrop.Drop = nil
	allow := drop(t, ours)
	allow.Type = 6 // CLASSIFY_ALLOW
	src := &fakeSource{raws: []Raw{drop(t, ours), drop(t, h.foreign), drop(t, 999999), older, otherUser, noDrop, allow}}

	count := func(sel Selection) (*Report, []string) {
		rep, err := Collect(src, NewResolver(h), sel)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, e := range rep.Events {
			switch {
			case e.Filter != nil && e.Ours:
				kinds = append(kinds, "ours")
			case e.Filter != nil:
				kinds = append(kinds, "foreign:"+e.Filter.Provider)
			case e.FilterID != nil:
				kinds = append(kinds, "gone")
			default:
				kinds = append(kinds, "undecodable")
			}
		}
		return rep, kinds
	}

	rep, kinds := count(Selection{})
	// ours, older, otherUser (no --sid), and the drop without classifyDrop (may be ours).
	if got := strings.Join(kinds, ","); got != "ours,ours,ours,undecodable" {
		t.Errorf("default selection: %s", got)
	}
	if rep.Hidden != (Hidden{NotADrop: 1, NotOurs: 2}) || rep.Undecodable != 1 {
		t.Errorf("hidden %+v undecodable %d", rep.Hidden, rep.Undecodable)
	}

	rep, kinds = count(Selection{All: true, Since: when.Add(-time.Hour), SID: sandboxSID})
	if got := strings.Join(kinds, ","); got != "ours,foreign:Contoso Firewall,gone,undecodable" {
		t.Errorf("--all --since 1h --sid: %s", got)
	}
	if rep.Hidden != (Hidden{NotADrop: 1, Older: 1, OtherAccount: 1}) {
		t.Errorf("hidden %+v", rep.Hidden)
	}
	// The vanished filter's drop carries a lookup note but decoded completely.
	if rep.Undecodable != 1 || rep.Events[2].Incomplete || len(rep.Events[2].Notes) != 1 || !rep.Events[3].Incomplete {
		t.Errorf("undecodable %d, events %+v", rep.Undecodable, rep.Events)
	}
	if !src.since.Equal(when.Add(-time.Hour)) {
		t.Errorf("Enum got since %v: the time window must reach the engine's template", src.since)
	}

	src.err = wfp.ErrNetEventsDisabled
	if _, err := Collect(src, NewResolver(h), Selection{}); !errors.Is(err, wfp.ErrNetEventsDisabled) {
		t.Errorf("Collect error %v, want the source's", err)
	}
}

func TestRender(t *testing.T) {
	h := newHost(t)
	rule, ours := h.dnsV4(t)
	bad := drop(t, ours)
	bad.AppID = []byte{1}
	src := &fakeSource{raws: []Raw{drop(t, ours), drop(t, h.foreign), bad}}
	rep, err := Collect(src, NewResolver(h), Selection{All: true})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	out := text.String()
	f, _ := h.e.FilterByID(ours)
	for _, want := range []string{
		"TIME", "ACCOUNT", "APP", "PROTO", "LOCAL", "REMOTE", "LAYER", "FILTER",
		sandboxSID, `\device\harddiskvolume3\tools\curl.exe`, "udp", "192.168.1.20:50000", "9.9.9.9:53",
		"ALE_AUTH_CONNECT_V4", f.Name, f.Key.String(), "rule " + rule,
		"Contoso: block all outbound", "(Contoso Firewall)",
		"#3: could not decode the application: the appId blob has an odd length 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}

	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Events []struct {
			Time          time.Time
			SID, App      string
			Protocol      string
			RemoteAddress string
			RemotePort    uint16
			Layer         string
			FilterID      uint64
			Ours          bool
			StructVersion int
			Filter        struct{ Name, Key, Rule, SID, Provider string }
			Notes         []string
		}
		Undecodable int
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	e := doc.Events[0]
	if len(doc.Events) != 3 || !e.Time.Equal(when.Truncate(100)) || e.SID != sandboxSID || e.RemoteAddress != "9.9.9.9" ||
		e.RemotePort != 53 || e.Layer != "ALE_AUTH_CONNECT_V4" || e.FilterID != ours || !e.Ours || e.StructVersion != 1 ||
		e.Filter.Name != f.Name || e.Filter.Rule != rule || e.Filter.SID != sandboxSID || e.Filter.Provider != "wfpsandbox" {
		t.Errorf("JSON %s", b)
	}
	if doc.Events[1].Ours || doc.Events[1].Filter.Provider != "Contoso Firewall" || doc.Undecodable != 1 || len(doc.Events[2].Notes) != 1 {
		t.Errorf("JSON %s", b)
	}

	var empty bytes.Buffer
	(&Report{Hidden: Hidden{NotOurs: 4}}).WriteText(&empty)
	if !strings.Contains(empty.String(), "no matching drops") || !strings.Contains(empty.String(), "4 drop(s) by other providers' filters not shown (use --all)") {
		t.Errorf("empty report: %q", empty.String())
	}
}

// TestResolveNamesTheAccountSublayer: a drop by a filter of the default (deny) layout,
// a guard permit's layer included, names the rule and says the filter sits in the
// account's own sublayer; a filter in the shared sublayer (the allow shape) says
// "shared".
func TestResolveNamesTheAccountSublayer(t *testing.T) {
	h := newHost(t)
	res := NewResolver(h)
	for _, rule := range []string{"guard-connect-v4", "dns-v4"} {
		id, ok := h.ids[rule]
		if !ok {
			t.Fatalf("the default plan has no rule %s: %v", rule, h.ids)
		}
		e := Decode(drop(t, id))
		res.Resolve(&e)
		if !e.Ours || e.Filter == nil || e.Filter.Rule != rule || e.Filter.SID != sandboxSID || e.Filter.Sublayer != "account" {
			t.Errorf("%s: resolved %+v, want ours, rule %s, sublayer \"account\"", rule, e.Filter, rule)
		}
	}

	allow, err := policy.Build(policy.Options{SID: sandboxSID, Profile: policy.Baseline, UserMatch: policy.MatchAllow})
	if err != nil {
		t.Fatal(err)
	}
	f := allow.Filters[0].Clone()
	f.Key = policy.FilterKey(otherSID, "dns-v4")
	f.ProviderData = policy.Owner{SID: otherSID, Rule: "dns-v4"}.Encode()
	if err := h.e.AddSublayer(allow.Sublayer); err != nil {
		t.Fatal(err)
	}
	id, err := h.e.AddFilter(f)
	if err != nil {
		t.Fatal(err)
	}
	e := Decode(drop(t, id))
	res.Resolve(&e)
	if e.Filter == nil || e.Filter.Sublayer != "shared" || e.Filter.SID != otherSID {
		t.Errorf("a filter in the shared sublayer resolved as %+v, want sublayer \"shared\"", e.Filter)
	}
}

// TestResolverReset: lookups are cached until Reset, after which the engine is asked
// again; a filter ID the engine does not know is FilterGone, a failed lookup is not.
func TestResolverReset(t *testing.T) {
	h := newHost(t)
	_, ours := h.dnsV4(t)
	res := NewResolver(h)
	for i := 0; i < 2; i++ {
		e := Decode(drop(t, ours))
		res.Resolve(&e)
		if !e.Ours || e.FilterGone() {
			t.Fatalf("resolved %+v", e)
		}
	}
	if h.calls != 1 {
		t.Fatalf("%d lookups for two drops by one filter, want 1 (cached)", h.calls)
	}
	res.Reset()
	e := Decode(drop(t, ours))
	res.Resolve(&e)
	if h.calls != 2 || !e.Ours {
		t.Errorf("after Reset: %d lookups, ours %v; want the engine asked again", h.calls, e.Ours)
	}
	g := Decode(drop(t, 1<<40))
	res.Resolve(&g)
	if !g.FilterGone() || g.Filter != nil || g.Ours {
		t.Errorf("unknown filter ID: gone %v, filter %+v", g.FilterGone(), g.Filter)
	}
	f := Decode(drop(t, ours))
	NewResolver(failing{}).Resolve(&f)
	if f.FilterGone() || f.Filter != nil {
		t.Errorf("failed lookup: gone %v, filter %+v; want neither", f.FilterGone(), f.Filter)
	}
}

type failing struct{}

func (failing) FilterByID(uint64) (*wfp.Filter, error)   { return nil, wfp.ErrRPCServerUnavailable }
func (failing) Provider(wfp.GUID) (*wfp.Provider, error) { return nil, wfp.ErrRPCServerUnavailable }
