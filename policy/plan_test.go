package policy

import (
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

const testSID = "S-1-5-21-1000-1000-1000-1001"

// want is one row of the mission's filter table, written out independently of
// BaselineRules: layer, and the one non-user condition.
type want struct {
	layer wfp.LayerID
	field wfp.FieldID
	value wfp.Value
}

var baselineTable = []want{
	{wfp.LayerALEAuthConnectV4, wfp.FieldIPProtocol, wfp.Value{Type: wfp.Uint8, Uint: 1}},
	{wfp.LayerALEAuthConnectV6, wfp.FieldIPProtocol, wfp.Value{Type: wfp.Uint8, Uint: 58}},
	{wfp.LayerALEResourceAssignmentV4, wfp.FieldIPProtocol, wfp.Value{Type: wfp.Uint8, Uint: 1}},
	{wfp.LayerALEResourceAssignmentV6, wfp.FieldIPProtocol, wfp.Value{Type: wfp.Uint8, Uint: 58}},
	{wfp.LayerALEAuthConnectV4, wfp.FieldIPRemotePort, wfp.Value{Type: wfp.Uint16, Uint: 53}},
	{wfp.LayerALEAuthConnectV6, wfp.FieldIPRemotePort, wfp.Value{Type: wfp.Uint16, Uint: 53}},
	{wfp.LayerALEAuthConnectV4, wfp.FieldIPRemotePort, wfp.Value{Type: wfp.Uint16, Uint: 853}},
	{wfp.LayerALEAuthConnectV6, wfp.FieldIPRemotePort, wfp.Value{Type: wfp.Uint16, Uint: 853}},
	{wfp.LayerALEAuthConnectV4, wfp.FieldIPRemotePort, wfp.Value{Type: wfp.Uint16, Uint: 445}},
	{wfp.LayerALEAuthConnectV6, wfp.FieldIPRemotePort, wfp.Value{Type: wfp.Uint16, Uint: 445}},
	{wfp.LayerALEAuthConnectV4, wfp.FieldIPRemotePort, wfp.Value{Type: wfp.Uint16, Uint: 139}},
	{wfp.LayerALEAuthConnectV6, wfp.FieldIPRemotePort, wfp.Value{Type: wfp.Uint16, Uint: 139}},
}

func TestBaselineIsExactlyTheMissionTable(t *testing.T) {
	for _, um := range []UserMatch{MatchAllow, MatchDeny} {
		p, err := Build(Options{SID: testSID, UserMatch: um})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Filters) != 12 {
			t.Fatalf("%s: %d filters, want 12", um, len(p.Filters))
		}
		remaining := append([]want(nil), baselineTable...)
		for _, f := range p.Filters {
			if f.Action.Type != wfp.ActionBlock {
				t.Errorf("%s: action %s, want block", f.Name, f.Action.Type)
			}
			if f.Flags != wfp.FilterFlagPersistent|wfp.FilterFlagClearActionRight {
				t.Errorf("%s: flags %s, want PERSISTENT|CLEAR_ACTION_RIGHT", f.Name, f.Flags)
			}
			if f.Sublayer != SublayerKey || f.ProviderKey == nil || *f.ProviderKey != ProviderKey {
				t.Errorf("%s: not in our sublayer/provider", f.Name)
			}
			if len(f.Conditions) != 2 {
				t.Fatalf("%s: %d conditions, want user + 1", f.Name, len(f.Conditions))
			}
			user, other := f.Conditions[0], f.Conditions[1]
			if user.Field != wfp.FieldALEUserID || user.Value.Type != wfp.SecurityDescriptor {
				t.Errorf("%s: first condition %s %s, want ALE_USER_ID SD", f.Name, user.Field, user.Value.Type)
			}
			wantMatch := map[UserMatch]wfp.MatchType{MatchAllow: wfp.MatchEqual, MatchDeny: wfp.MatchNotEqual}[um]
			if user.Match != wantMatch {
				t.Errorf("%s: user match %s, want %s", f.Name, user.Match, wantMatch)
			}
			if other.Match != wfp.MatchEqual {
				t.Errorf("%s: match %s, want EQUAL", f.Name, other.Match)
			}
			found := -1
			for i, w := range remaining {
				if w.layer == f.Layer && w.field == other.Field && w.value.Equal(other.Value) {
					found = i
					break
				}
			}
			if found < 0 {
				t.Errorf("%s: (%s, %s = %s) is not in the mission table (or is there twice)", f.Name, f.Layer, other.Field, other.Value)
				continue
			}
			remaining = append(remaining[:found], remaining[found+1:]...)
		}
		if len(remaining) != 0 {
			t.Errorf("%s: missing from the plan: %v", um, remaining)
		}
	}
}

func TestProviderAndSublayer(t *testing.T) {
	p, err := Build(Options{SID: testSID})
	if err != nil {
		t.Fatal(err)
	}
	if p.Provider.Key.String() != "799d3978-8541-477c-914c-836273a0e7c6" || p.Provider.Flags != wfp.ProviderFlagPersistent ||
		p.Provider.ServiceName != "" || p.Provider.Name == "" || p.Provider.Description == "" ||
		string(p.Provider.Data) != `{"wfpsandbox":"provider/1"}` {
		t.Errorf("provider = %+v", p.Provider)
	}
	s := p.Sublayer
	if s.Key.String() != "32626bf6-6ea6-4668-9dc7-9208ef85978e" || s.Weight != 0xFFFF || s.Flags != wfp.SublayerFlagPersistent ||
		s.ProviderKey == nil || *s.ProviderKey != p.Provider.Key || s.Name == "" || s.Description == "" {
		t.Errorf("sublayer = %+v", s)
	}
}

func TestDefaultUserMatchIsDeny(t *testing.T) {
	p, err := Build(Options{SID: testSID})
	if err != nil {
		t.Fatal(err)
	}
	if p.UserMatch != MatchDeny || p.Filters[0].Conditions[0].Match != wfp.MatchNotEqual {
		t.Fatalf("default user match = %s / %s, want deny / NOT_EQUAL", p.UserMatch, p.Filters[0].Conditions[0].Match)
	}
}

func TestKeysStableAndDistinctPerAccount(t *testing.T) {
	a1, _ := Build(Options{SID: testSID})
	a2, _ := Build(Options{SID: testSID, UserMatch: MatchAllow})
	b, _ := Build(Options{SID: "S-1-5-21-1000-1000-1000-1002"})
	seen := map[wfp.GUID]bool{}
	for i := range a1.Filters {
		if a1.Filters[i].Key != a2.Filters[i].Key {
			t.Errorf("key of %s depends on the user-match shape", a1.Filters[i].Name)
		}
		if a1.Filters[i].Key == b.Filters[i].Key {
			t.Errorf("two accounts share the key of %s", a1.Filters[i].Name)
		}
		seen[a1.Filters[i].Key], seen[b.Filters[i].Key] = true, true
	}
	if len(seen) != 24 {
		t.Errorf("%d distinct keys over two accounts, want 24", len(seen))
	}
	// Pinned: a key must never change across versions, or upgrades orphan filters.
	// UUIDv5(ProviderKey, "filter/dns-v4/"+testSID), computed independently with
	// python3 -c 'import uuid;print(uuid.uuid5(uuid.UUID("799d3978-8541-477c-914c-836273a0e7c6"),"filter/dns-v4/S-1-5-21-1000-1000-1000-1001"))'
	if got := FilterKey(testSID, "dns-v4").String(); got != pinnedDNSv4Key {
		t.Errorf("FilterKey(dns-v4) = %s, want %s", got, pinnedDNSv4Key)
	}
}

func TestOwnerTagRoundTrip(t *testing.T) {
	p, _ := Build(Options{SID: testSID})
	for _, f := range p.Filters {
		o, err := ParseOwner(f.ProviderData)
		if err != nil || o.SID != testSID || o.Rule == "" || FilterKey(o.SID, o.Rule) != f.Key {
			t.Errorf("%s: owner %+v, %v", f.Name, o, err)
		}
	}
	for _, bad := range []string{"", "{}", "not json", `{"wfpsandbox":"owner/9","sid":"S-1-1-0","rule":"x"}`, `{"wfpsandbox":"owner/1","sid":"","rule":"x"}`} {
		if _, err := ParseOwner([]byte(bad)); err == nil {
			t.Errorf("ParseOwner(%q) accepted", bad)
		}
	}
}

func TestBadInputs(t *testing.T) {
	cases := []struct {
		opts Options
		want string
	}{
		{Options{SID: "S-1-5-21-1-2-x"}, "S-1-5-21-1-2-x"},
		{Options{SID: ""}, "SID"},
		{Options{SID: "S-1-5-18"}, "S-1-5-18"}, // LocalSystem is not a sandbox account
		{Options{SID: testSID, Profile: "paranoid"}, `"paranoid"`},
		{Options{SID: testSID, UserMatch: "maybe"}, `"maybe"`},
		{Options{SID: testSID, ProxyPorts: []uint16{8080}}, "proxy ports"},
	}
	for _, c := range cases {
		_, err := Build(c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Build(%+v) error = %v, want one naming %s", c.opts, err, c.want)
		}
	}
}

func TestValidateRejectsFieldTheLayerLacks(t *testing.T) {
	bad := Rule{
		ID: "bad", Name: "remote port at bind", Layer: wfp.LayerALEResourceAssignmentV4, Action: wfp.ActionBlock,
		Conditions: []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U16(53)}},
	}
	_, err := Build(Options{SID: testSID, Extra: []Rule{bad}})
	if err == nil || !strings.Contains(err.Error(), "FWPM_CONDITION_IP_REMOTE_PORT") ||
		!strings.Contains(err.Error(), "FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V4") {
		t.Fatalf("error = %v, want one naming the field and the layer", err)
	}
	wrongType := Rule{
		ID: "bad2", Name: "port as uint8", Layer: wfp.LayerALEAuthConnectV4, Action: wfp.ActionBlock,
		Conditions: []wfp.Condition{{Field: wfp.FieldIPRemotePort, Match: wfp.MatchEqual, Value: wfp.U8(53)}},
	}
	if _, err := Build(Options{SID: testSID, Extra: []Rule{wrongType}}); err == nil || !strings.Contains(err.Error(), "FWP_UINT8") {
		t.Fatalf("error = %v, want a type error naming FWP_UINT8", err)
	}
	dup := BaselineRules()[0]
	if _, err := Build(Options{SID: testSID, Extra: []Rule{dup}}); err == nil || !strings.Contains(err.Error(), "same key") {
		t.Fatalf("duplicate rule: error = %v", err)
	}
}

func TestHashCoversWhatIsInstalled(t *testing.T) {
	a, _ := Build(Options{SID: testSID})
	b, _ := Build(Options{SID: testSID})
	if a.Hash() != b.Hash() {
		t.Fatal("hash is not deterministic")
	}
	c, _ := Build(Options{SID: testSID, UserMatch: MatchAllow})
	d, _ := Build(Options{SID: "S-1-5-21-1000-1000-1000-1002"})
	if a.Hash() == c.Hash() || a.Hash() == d.Hash() {
		t.Fatal("hash ignores the user-match shape or the account")
	}
	a.Filters[3].Weight = wfp.U8(3)
	if a.Hash() == b.Hash() {
		t.Fatal("hash ignores a filter's weight")
	}
}

const pinnedDNSv4Key = "c35e1277-2275-5bc7-8026-b98a9121695d"

func TestStrictPermitsAreSoftBlocksHard(t *testing.T) {
	p, err := Build(Options{SID: testSID, Profile: Strict})
	if err != nil {
		t.Fatal(err)
	}
	permits := 0
	for _, f := range p.Filters {
		switch f.Action.Type {
		case wfp.ActionPermit:
			permits++
			// A hard permit would override other providers' blocks in later sublayers.
			if f.Flags != wfp.FilterFlagPersistent {
				t.Errorf("permit %s: flags %s, want PERSISTENT only (soft)", f.Name, f.Flags)
			}
		case wfp.ActionBlock:
			if f.Flags != wfp.FilterFlagPersistent|wfp.FilterFlagClearActionRight {
				t.Errorf("block %s: flags %s, want PERSISTENT|CLEAR_ACTION_RIGHT", f.Name, f.Flags)
			}
		}
	}
	if permits == 0 {
		t.Fatal("the strict profile has no loopback permits")
	}
}
