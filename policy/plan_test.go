package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

const testSID = "S-1-5-21-1000-1000-1000-1001"

// The expected plans below are written from the layout spec (issue 9, "The new policy
// layout"), not from Build's code: rule IDs, layers, actions, flags, weights and
// conditions, in install order. Keys are UUIDv5(ProviderKey, "filter/<rule>/<SID>")
// (pinned separately below); the deny sublayer key UUIDv5(ProviderKey,
// "sublayer/<SID>") is pinned from python3's uuid.uuid5.
const pinnedDenySublayerKey = "a1587500-2d85-519b-bd23-5313e80e985e" // sublayer/S-1-5-21-1000-1000-1000-1001

// userKind is which ALE_USER_ID condition a filter carries.
type userKind int

const (
	userNone  userKind = iota // none: only the account's own sublayer, below a guard
	userAllow                 // EQUAL D:(A;;CC;;;SID)
	userGuard                 // EQUAL D:(D;;CC;;;SID)(A;;CC;;;WD)(A;;CC;;;AN)(A;;CC;;;AC)(A;;CC;;;S-1-15-2-2)(A;;CC;;;RC)(A;;CC;;;S-1-5-33)
)

type row struct {
	rule   string
	layer  wfp.LayerID
	action wfp.ActionType
	flags  wfp.FilterFlags
	weight wfp.Value
	user   userKind
	conds  []wfp.Condition // besides the user condition, in order
}

const (
	hard = wfp.FilterFlagPersistent | wfp.FilterFlagClearActionRight
	soft = wfp.FilterFlagPersistent
)

var (
	connV4, connV6     = wfp.LayerALEAuthConnectV4, wfp.LayerALEAuthConnectV6
	bindV4, bindV6     = wfp.LayerALEResourceAssignmentV4, wfp.LayerALEResourceAssignmentV6
	acceptV4, acceptV6 = wfp.LayerALEAuthRecvAcceptV4, wfp.LayerALEAuthRecvAcceptV6
)

func eq(f wfp.FieldID, v wfp.Value) wfp.Condition {
	return wfp.Condition{Field: f, Match: wfp.MatchEqual, Value: v}
}

// baselineRows are the 12 blocks of the original design, in BaselineRules order, with
// the given weight and user condition.
func baselineRows(w wfp.Value, u userKind) []row {
	proto := func(n uint64) []wfp.Condition {
		return []wfp.Condition{eq(wfp.FieldIPProtocol, wfp.Value{Type: wfp.Uint8, Uint: n})}
	}
	port := func(n uint64) []wfp.Condition {
		return []wfp.Condition{eq(wfp.FieldIPRemotePort, wfp.Value{Type: wfp.Uint16, Uint: n})}
	}
	var rows []row
	for _, fam := range []struct {
		id         string
		conn, bind wfp.LayerID
		icmp       uint64
	}{{"v4", connV4, bindV4, 1}, {"v6", connV6, bindV6, 58}} {
		rows = append(rows,
			row{"icmp-connect-" + fam.id, fam.conn, wfp.ActionBlock, hard, w, u, proto(fam.icmp)},
			row{"icmp-bind-" + fam.id, fam.bind, wfp.ActionBlock, hard, w, u, proto(fam.icmp)},
			row{"dns-" + fam.id, fam.conn, wfp.ActionBlock, hard, w, u, port(53)},
			row{"dot-" + fam.id, fam.conn, wfp.ActionBlock, hard, w, u, port(853)},
			row{"smb-" + fam.id, fam.conn, wfp.ActionBlock, hard, w, u, port(445)},
			row{"netbios-" + fam.id, fam.conn, wfp.ActionBlock, hard, w, u, port(139)},
		)
	}
	return rows
}

func guardRow(id string, l wfp.LayerID) row {
	return row{"guard-" + id, l, wfp.ActionPermit, soft, wfp.Value{Type: wfp.Uint8, Uint: 15}, userGuard, nil}
}

// strictRows are the strict profile's 8 rules and its 12 baseline blocks at range 3.
func strictRows(u userKind, proxy []uint16) []row {
	u8 := func(n uint64) wfp.Value { return wfp.Value{Type: wfp.Uint8, Uint: n} }
	var rows []row
	for _, fam := range []struct {
		id           string
		conn, accept wfp.LayerID
		loop         string
	}{{"v4", connV4, acceptV4, "127.0.0.0/8"}, {"v6", connV6, acceptV6, "::1/128"}} {
		loop := eq(wfp.FieldIPRemoteAddress, wfp.AddrMask(netip.MustParsePrefix(fam.loop)))
		connConds := []wfp.Condition{loop}
		if len(proxy) > 0 {
			connConds = append(connConds, eq(wfp.FieldIPProtocol, wfp.Value{Type: wfp.Uint8, Uint: 6}))
			for _, p := range proxy {
				connConds = append(connConds, eq(wfp.FieldIPRemotePort, wfp.Value{Type: wfp.Uint16, Uint: uint64(p)}))
			}
		}
		rows = append(rows,
			row{"strict-block-connect-" + fam.id, fam.conn, wfp.ActionBlock, hard, u8(1), u, nil},
			row{"strict-block-accept-" + fam.id, fam.accept, wfp.ActionBlock, hard, u8(1), u, nil},
			row{"strict-loopback-connect-" + fam.id, fam.conn, wfp.ActionPermit, soft, u8(2), u, connConds},
			row{"strict-loopback-accept-" + fam.id, fam.accept, wfp.ActionPermit, soft, u8(2), u, []wfp.Condition{loop}},
		)
	}
	return append(rows, baselineRows(u8(3), u)...)
}

func expectedPlan(profile Profile, m UserMatch, proxy []uint16) (sublayer string, rows []row) {
	switch {
	case profile == Baseline && m == MatchAllow:
		return "32626bf6-6ea6-4668-9dc7-9208ef85978e", baselineRows(wfp.Value{}, userAllow)
	case profile == Baseline && m == MatchDeny:
		return pinnedDenySublayerKey, append([]row{
			guardRow("connect-v4", connV4), guardRow("bind-v4", bindV4),
			guardRow("connect-v6", connV6), guardRow("bind-v6", bindV6),
		}, baselineRows(wfp.Value{}, userNone)...)
	case profile == Strict && m == MatchAllow:
		return "32626bf6-6ea6-4668-9dc7-9208ef85978e", strictRows(userAllow, proxy)
	default:
		return pinnedDenySublayerKey, append([]row{
			guardRow("connect-v4", connV4), guardRow("bind-v4", bindV4), guardRow("accept-v4", acceptV4),
			guardRow("connect-v6", connV6), guardRow("bind-v6", bindV6), guardRow("accept-v6", acceptV6),
		}, strictRows(userNone, proxy)...)
	}
}

func sdCondition(t *testing.T, sddl string) wfp.Condition {
	t.Helper()
	sd, err := account.ParseSDDL(sddl)
	if err != nil {
		t.Fatalf("ParseSDDL(%s): %v", sddl, err)
	}
	b, err := sd.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return eq(wfp.FieldALEUserID, wfp.SD(b))
}

// TestPlanIsExactlyTheSpec checks every profile × shape plan filter by filter against
// the layout spec.
func TestPlanIsExactlyTheSpec(t *testing.T) {
	allowCond := sdCondition(t, "D:(A;;CC;;;"+testSID+")")
	guardCond := sdCondition(t, "D:(D;;CC;;;"+testSID+")(A;;CC;;;WD)(A;;CC;;;AN)(A;;CC;;;AC)(A;;CC;;;S-1-15-2-2)(A;;CC;;;RC)(A;;CC;;;S-1-5-33)")
	for _, tc := range []struct {
		profile Profile
		m       UserMatch
		proxy   []uint16
		n       int
	}{
		{Baseline, MatchAllow, nil, 12},
		{Baseline, MatchDeny, nil, 4 + 12},
		{Strict, MatchAllow, nil, 8 + 12},
		{Strict, MatchDeny, nil, 6 + 8 + 12},
		{Strict, MatchAllow, []uint16{3128, 8080}, 8 + 12},
		{Strict, MatchDeny, []uint16{3128, 8080}, 6 + 8 + 12},
	} {
		name := fmt.Sprintf("%s-%s-%v", tc.profile, tc.m, tc.proxy)
		t.Run(name, func(t *testing.T) {
			p, err := Build(Options{SID: testSID, Profile: tc.profile, UserMatch: tc.m, ProxyPorts: tc.proxy})
			if err != nil {
				t.Fatal(err)
			}
			sub, rows := expectedPlan(tc.profile, tc.m, tc.proxy)
			if len(rows) != tc.n || len(p.Filters) != tc.n {
				t.Fatalf("%d filters (spec table %d), want %d", len(p.Filters), len(rows), tc.n)
			}
			s := p.Sublayer
			if s.Key.String() != sub || s.Weight != 0xFFFF || s.Flags != wfp.SublayerFlagPersistent ||
				s.ProviderKey == nil || *s.ProviderKey != ProviderKey || s.Name == "" || s.Description == "" {
				t.Errorf("sublayer = %+v, want key %s, weight 0xFFFF, persistent, our provider", s, sub)
			}
			wantData := ""
			if tc.m == MatchDeny {
				wantData = `{"wfpsandbox":"owner/1","sid":"` + testSID + `","rule":"sublayer"}`
			}
			if string(s.Data) != wantData {
				t.Errorf("sublayer providerData %q, want %q", s.Data, wantData)
			}
			for i, f := range p.Filters {
				r := rows[i]
				if f.Key != FilterKey(testSID, r.rule) {
					o, _ := ParseOwner(f.ProviderData)
					t.Errorf("filter %d is rule %q, want %q", i, o.Rule, r.rule)
					continue
				}
				if string(f.ProviderData) != `{"wfpsandbox":"owner/1","sid":"`+testSID+`","rule":"`+r.rule+`"}` {
					t.Errorf("%s: providerData %s", r.rule, f.ProviderData)
				}
				if !strings.HasPrefix(f.Name, "wfpsandbox: ") || !strings.HasSuffix(f.Name, " for "+testSID) || f.Description == "" {
					t.Errorf("%s: name %q / description %q", r.rule, f.Name, f.Description)
				}
				if f.ProviderKey == nil || *f.ProviderKey != ProviderKey || f.Sublayer.String() != sub {
					t.Errorf("%s: provider %v sublayer %s, want ours and %s", r.rule, f.ProviderKey, f.Sublayer, sub)
				}
				if f.Layer != r.layer || f.Action.Type != r.action || f.Flags != r.flags || !f.Weight.Equal(r.weight) {
					t.Errorf("%s: layer %s action %s flags %s weight %s; want %s %s %s %s",
						r.rule, f.Layer, f.Action.Type, f.Flags, f.Weight, r.layer, r.action, r.flags, r.weight)
				}
				var want []wfp.Condition
				switch r.user {
				case userAllow:
					want = append(want, allowCond)
				case userGuard:
					want = append(want, guardCond)
				}
				want = append(want, r.conds...)
				if len(f.Conditions) != len(want) {
					t.Errorf("%s: conditions %v, want %v", r.rule, f.Conditions, want)
					continue
				}
				for j := range want {
					g, w := f.Conditions[j], want[j]
					if g.Field != w.Field || g.Match != w.Match || !g.Value.Equal(w.Value) {
						t.Errorf("%s: condition %d = %s %s %s, want %s %s %s", r.rule, j, g.Field, g.Match, g.Value, w.Field, w.Match, w.Value)
					}
				}
			}
		})
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
	if got := SublayerKeyFor(testSID).String(); got != pinnedDenySublayerKey {
		t.Errorf("SublayerKeyFor = %s, want %s", got, pinnedDenySublayerKey)
	}
	if SublayerKeyFor(testSID) == SublayerKeyFor("S-1-5-21-1000-1000-1000-1002") {
		t.Error("two accounts share a sublayer key")
	}
}

func TestDefaultUserMatchIsDeny(t *testing.T) {
	p, err := Build(Options{SID: testSID})
	if err != nil {
		t.Fatal(err)
	}
	if p.UserMatch != MatchDeny || p.Sublayer.Key != SublayerKeyFor(testSID) {
		t.Fatalf("default user match = %s in sublayer %s, want deny in the account's own sublayer", p.UserMatch, p.Sublayer.Key)
	}
	for _, f := range p.Filters {
		for _, c := range f.Conditions {
			if c.Match != wfp.MatchEqual {
				t.Errorf("%s: %s %s: every condition must be FWP_MATCH_EQUAL", f.Name, c.Field, c.Match)
			}
		}
	}
}

func TestKeysStableAndDistinctPerAccount(t *testing.T) {
	deny, _ := Build(Options{SID: testSID})
	allow, _ := Build(Options{SID: testSID, UserMatch: MatchAllow})
	b, _ := Build(Options{SID: "S-1-5-21-1000-1000-1000-1002"})
	// The blocks keep their keys across shapes (the guards come first in a deny plan).
	for i := range allow.Filters {
		if deny.Filters[4+i].Key != allow.Filters[i].Key {
			t.Errorf("key of %s depends on the user-match shape", allow.Filters[i].Name)
		}
	}
	seen := map[wfp.GUID]bool{}
	for i := range deny.Filters {
		if deny.Filters[i].Key == b.Filters[i].Key {
			t.Errorf("two accounts share the key of %s", deny.Filters[i].Name)
		}
		seen[deny.Filters[i].Key], seen[b.Filters[i].Key] = true, true
	}
	if len(seen) != 32 {
		t.Errorf("%d distinct keys over two accounts, want 32", len(seen))
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

// TestValidateRefusesUnguardedFilters: an unconditioned filter may only sit in the plan's
// own account sublayer below a guard of that account at its layer; everything else would
// hit every account.
func TestValidateRefusesUnguardedFilters(t *testing.T) {
	build := func(t *testing.T, opts Options) *Plan {
		t.Helper()
		opts.SID = testSID
		p, err := Build(opts)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	block := func(p *Plan, w wfp.Value, l wfp.LayerID) *wfp.Filter {
		f := ruleFilter(p.SID, Rule{ID: "x", Name: "x", Layer: l, Action: wfp.ActionBlock, Weight: w}, p.Sublayer.Key, nil)
		return f
	}
	for _, tc := range []struct {
		name   string
		mutate func(p *Plan)
		want   string
	}{
		{"unconditioned block in the shared sublayer", func(p *Plan) {
			p.Sublayer = Sublayer()
			for _, f := range p.Filters {
				f.Sublayer = SublayerKey
			}
		}, "not account"},
		{"another account's sublayer", func(p *Plan) {
			p.Sublayer = AccountSublayer("S-1-5-21-1000-1000-1000-1002")
			for _, f := range p.Filters {
				f.Sublayer = p.Sublayer.Key
			}
		}, "not account"},
		{"no guard at the layer", func(p *Plan) {
			p.Filters = append(p.Filters, block(p, wfp.Value{}, wfp.LayerALEAuthRecvAcceptV4))
		}, "no guard permit"},
		{"guard removed", func(p *Plan) { p.Filters = p.Filters[1:] }, "no guard permit"},
		{"block at the guard's weight range", func(p *Plan) {
			p.Filters = append(p.Filters, block(p, wfp.U8(15), wfp.LayerALEAuthConnectV4))
		}, "no guard permit"},
		{"block with an exact weight above range 15's floor", func(p *Plan) {
			p.Filters = append(p.Filters, block(p, wfp.U64(15<<60), wfp.LayerALEAuthConnectV4))
		}, "no guard permit"},
		{"guard made hard", func(p *Plan) { p.Filters[0].Flags |= wfp.FilterFlagClearActionRight }, "hard permit"},
		{"guard of another account", func(p *Plan) {
			c, _ := UserCondition("S-1-5-21-1000-1000-1000-1002", MatchDeny)
			p.Filters[0].Conditions = []wfp.Condition{c}
		}, "no guard permit"},
		{"guard with an extra condition", func(p *Plan) {
			p.Filters[0].Conditions = append(p.Filters[0].Conditions, eq(wfp.FieldIPProtocol, wfp.U8(6)))
		}, "no guard permit"},
		{"guard that blocks", func(p *Plan) { p.Filters[0].Action.Type = wfp.ActionBlock }, "no guard permit"},
		{"filter outside the plan's sublayer", func(p *Plan) { p.Filters[5].Sublayer = SublayerKey }, "not in the plan's sublayer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := build(t, Options{})
			if err := p.Validate(); err != nil {
				t.Fatalf("the unmodified plan does not validate: %v", err)
			}
			tc.mutate(p)
			if err := p.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Just below the guard's range is fine: exact weight 15<<60 - 1.
	p := build(t, Options{})
	p.Filters = append(p.Filters, block(p, wfp.U64(15<<60-1), wfp.LayerALEAuthConnectV4))
	if err := p.Validate(); err != nil {
		t.Errorf("a block just below range 15: %v", err)
	}
	// Through Build: an extra rule at the guard's weight is refused.
	if _, err := Build(Options{SID: testSID, Extra: []Rule{{ID: "top", Name: "top", Layer: wfp.LayerALEAuthConnectV4, Action: wfp.ActionBlock, Weight: wfp.U8(15)}}}); err == nil {
		t.Error("Build accepted an extra rule at weight range 15")
	}
	// ... and a rule at a layer without a guard name.
	if _, err := Build(Options{SID: testSID, Extra: []Rule{{ID: "out", Name: "out", Layer: wfp.LayerOutboundTransportV4, Action: wfp.ActionBlock}}}); err == nil || !strings.Contains(err.Error(), "no guard permit at layer") {
		t.Errorf("Build with a rule at OUTBOUND_TRANSPORT: %v", err)
	}
}
