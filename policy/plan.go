package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Profile names a set of rules.
type Profile string

// Profiles.
const (
	// Baseline is the 12 block filters of the original design: ICMP at connect and
	// bind, DNS 53, DNS-over-TLS 853, SMB 445 and NetBIOS 139 at connect, v4 and v6.
	Baseline Profile = "baseline"
	// Strict blocks everything but loopback for the account, on top of the baseline.
	Strict Profile = "strict"
)

// UserMatch selects how a plan scopes its filters to the sandbox account (design §4,
// README "Security model"). Both shapes use FWP_MATCH_EQUAL only.
//
// The shape that used FWP_MATCH_NOT_EQUAL on the security descriptor (setup version 1's
// "deny") is gone rather than kept as an opt-in: Microsoft's FWP_MATCH_TYPE reference
// (fwptypes.h) says "Only sortable data types support FWP_MATCH_NOT_EQUAL", and
// FWP_SECURITY_DESCRIPTOR_TYPE is not one of the sortable types it lists, so a real BFE
// may refuse such a filter at FwpmFilterAdd0 or give it semantics nobody documents; the
// contract engines refuse it at add time as the documentation does. Whether Windows
// accepts it, and what it then matches, is a question for the selftest, which can probe
// it in a dynamic session that disappears with it — no product option is needed for that.
// Setup migrates hosts that still carry such filters (reconcile.Install).
type UserMatch string

// User-match shapes.
const (
	// MatchAllow is the original design's shape: FWP_MATCH_EQUAL with D:(A;;CC;;;SID) on
	// every filter, all in the shared sublayer (SublayerKey). A process of the account can
	// escape it by running a child with a restricted token (user SID deny-only, or
	// restricting SIDs without it) or in an AppContainer: the allow ACE then no longer
	// grants, so no filter matches the child.
	MatchAllow UserMatch = "allow"
	// MatchDeny is the escape-resistant shape, built from documented constructs only: the
	// account gets its own sublayer (SublayerKeyFor, weight 0xFFFF) holding, at every
	// layer its rules use, a soft guard permit at weight range 15 whose only condition is
	// ALE_USER_ID EQUAL D:(D;;CC;;;SID)(A;;CC;;;WD)(A;;CC;;;AN)(A;;CC;;;AC)(A;;CC;;;S-1-15-2-2)(A;;CC;;;RC)(A;;CC;;;WR)
	// (account.ShapeDeny: true for every token except the account's in any form), and below
	// it the profile's rules with no user condition. Inside a sublayer the first matching
	// permit or block decides (learn.microsoft.com/windows/win32/fwp/filter-arbitration), so
	// only flows of the account — including its deny-only, restricted and AppContainer
	// children, whom the deny ACE still hits — reach the blocks. The guard is soft, so it
	// decides only this sublayer: every other provider's blocks still apply to other
	// accounts. This is the default.
	MatchDeny UserMatch = "deny"
)

// DefaultUserMatch is the user-match shape used when none is given. See MatchDeny and
// the README's "Security model" section for why.
const DefaultUserMatch = MatchDeny

// Rule is one filter of a profile, before the user condition is added.
type Rule struct {
	ID          string          // stable rule ID, part of the filter key: "dns-v4"
	Name        string          // display name without the account: "block DNS (53), IPv4"
	Description string          // what the rule is for
	Layer       wfp.LayerID     // where it sits
	Conditions  []wfp.Condition // besides the user condition
	Action      wfp.ActionType  // ActionBlock or ActionPermit
	Weight      wfp.Value       // FWP_EMPTY, FWP_UINT8 (0-15) or FWP_UINT64
}

// Options choose what to plan for one account.
type Options struct {
	SID       string    // the sandbox account's SID, S-1-5-21-…
	Profile   Profile   // Baseline when empty
	UserMatch UserMatch // DefaultUserMatch when empty
	// ProxyPorts, for the strict profile, are the only loopback TCP ports the account
	// may connect to (empty: all of loopback).
	ProxyPorts []uint16
	// Extra rules appended to the profile's (from a policy file).
	Extra []Rule
}

// Plan is everything wfpsandbox installs for one account.
type Plan struct {
	SID       string
	Profile   Profile
	UserMatch UserMatch
	Provider  *wfp.Provider
	// Sublayer is where every filter of the plan sits: the account's own sublayer
	// (AccountSublayer) for MatchDeny, the shared one (Sublayer) for MatchAllow.
	Sublayer *wfp.Sublayer
	// Filters are in install order: for MatchDeny the guard permits first.
	Filters []*wfp.Filter
}

// Provider returns the wfpsandbox provider: persistent, with no service name (so BFE
// adds its persistent objects at start whatever services run; wfp-facts §4).
func Provider() *wfp.Provider {
	return &wfp.Provider{
		Key:         ProviderKey,
		Name:        ProviderName,
		Description: ProviderDescription,
		Flags:       wfp.ProviderFlagPersistent,
		Data:        bytes.Clone(ProviderMarker),
	}
}

// Sublayer returns the shared wfpsandbox sublayer (the --user-match allow layout):
// persistent, owned by the provider, weight 0xFFFF.
func Sublayer() *wfp.Sublayer {
	pk := ProviderKey
	return &wfp.Sublayer{
		Key:         SublayerKey,
		Name:        SublayerName,
		Description: SublayerDescription,
		Flags:       wfp.SublayerFlagPersistent,
		ProviderKey: &pk,
		Weight:      SublayerWeight,
	}
}

// AccountSublayer returns account sid's own sublayer (the --user-match deny layout):
// key SublayerKeyFor(sid), persistent, owned by the provider, weight 0xFFFF, and the
// ownership tag {sid, "sublayer"} as its providerData so verify and uninstall can tell
// whose it is. sid must be in canonical form (account.ParseSID).
func AccountSublayer(sid string) *wfp.Sublayer {
	pk := ProviderKey
	return &wfp.Sublayer{
		Key:         SublayerKeyFor(sid),
		Name:        fmt.Sprintf(AccountSublayerName, sid),
		Description: AccountSublayerDescription,
		Flags:       wfp.SublayerFlagPersistent,
		ProviderKey: &pk,
		Data:        Owner{SID: sid, Rule: SublayerRule}.Encode(),
		Weight:      SublayerWeight,
	}
}

// FilterFlags are the flags of every wfpsandbox block: persistent (survives BFE
// restarts and reboots) and CLEAR_ACTION_RIGHT. A filter's block is hard by default
// ("Block is final (cannot be overridden)", Microsoft's Filter Arbitration page, which
// lists filter blocks as hard and filter permits as soft), so the flag does not make
// it hard; it is set anyway, as simplewall does since a block of its was reported beaten
// (henrypp/simplewall#689), and changes nothing for a block by the same rules.
const FilterFlags = wfp.FilterFlagPersistent | wfp.FilterFlagClearActionRight

// PermitFlags are the flags of wfpsandbox's permits (the guard permits and the strict
// profile's loopback permits): persistent but soft (no CLEAR_ACTION_RIGHT). A soft
// permit decides only its own sublayer: a block of another provider in any other
// sublayer still applies ("Block overrides Permit" unless the permit cleared
// FWPS_RIGHT_ACTION_WRITE; learn.microsoft.com/windows/win32/fwp/filter-arbitration). So
// a wfpsandbox permit only ever narrows wfpsandbox's own blocks. Validate refuses a
// permit with CLEAR_ACTION_RIGHT.
const PermitFlags = wfp.FilterFlagPersistent

// GuardWeight is the weight range of the guard permits (FWP_UINT8 15 =
// FWPM_WEIGHT_RANGE_MAX, fwpmu.h): above every other filter of the account's sublayer,
// which Validate checks.
const GuardWeight uint8 = 15

// guardLayers names the layers a guard permit can sit at, in the order the guards
// appear in a plan: rule ID "guard-<name>".
var guardLayers = []struct {
	layer      wfp.LayerID
	id, phrase string
}{
	{wfp.LayerALEAuthConnectV4, "connect-v4", "connect, IPv4"},
	{wfp.LayerALEResourceAssignmentV4, "bind-v4", "bind, IPv4"},
	{wfp.LayerALEAuthRecvAcceptV4, "accept-v4", "accept, IPv4"},
	{wfp.LayerALEAuthConnectV6, "connect-v6", "connect, IPv6"},
	{wfp.LayerALEResourceAssignmentV6, "bind-v6", "bind, IPv6"},
	{wfp.LayerALEAuthRecvAcceptV6, "accept-v6", "accept, IPv6"},
}

// GuardRuleID returns the rule ID of the guard permit at layer ("guard-connect-v4"),
// and false for a layer wfpsandbox places no guard at.
func GuardRuleID(layer wfp.LayerID) (string, bool) {
	for _, g := range guardLayers {
		if g.layer == layer {
			return "guard-" + g.id, true
		}
	}
	return "", false
}

// GuardRules returns the guard permits for the layers rules use, in guardLayers order:
// one soft permit per layer at weight range GuardWeight. Build adds each guard's only
// condition, ALE_USER_ID EQUAL the account's guard descriptor (UserCondition with
// MatchDeny). It fails for a rule at a layer without a guard name.
func GuardRules(rules []Rule) ([]Rule, error) {
	used := map[wfp.LayerID]bool{}
	for _, r := range rules {
		if _, ok := GuardRuleID(r.Layer); !ok {
			return nil, fmt.Errorf("rule %q: wfpsandbox places no guard permit at layer %s, so its filter cannot be scoped to the account there", r.ID, r.Layer)
		}
		used[r.Layer] = true
	}
	var guards []Rule
	for _, g := range guardLayers {
		if !used[g.layer] {
			continue
		}
		guards = append(guards, Rule{
			ID:          "guard-" + g.id,
			Name:        "guard: permit every other account at " + g.phrase,
			Description: "Permits every flow whose token is not the sandbox account's in any form (soft: decides only this sublayer), so only the account's own flows reach the blocks below it.",
			Layer:       g.layer,
			Action:      wfp.ActionPermit,
			Weight:      wfp.U8(GuardWeight),
		})
	}
	return guards, nil
}

// Build returns the plan for opts, validated.
//
// With MatchAllow every rule becomes a filter in the shared sublayer with the condition
// ALE_USER_ID EQUAL D:(A;;CC;;;SID) (the original design). With MatchDeny the filters go
// into the account's own sublayer (AccountSublayer): first the guard permits
// (GuardRules), then every rule with no user condition. Blocks get FilterFlags (hard),
// permits PermitFlags (soft).
func Build(opts Options) (*Plan, error) {
	sid, err := account.ParseSID(opts.SID)
	if err != nil {
		return nil, fmt.Errorf("sandbox account SID: %w", err)
	}
	if err := account.CheckSandboxCandidate(sid); err != nil {
		return nil, err
	}
	if opts.Profile == "" {
		opts.Profile = Baseline
	}
	if opts.UserMatch == "" {
		opts.UserMatch = DefaultUserMatch
	}
	rules, err := ProfileRules(opts.Profile, opts.ProxyPorts)
	if err != nil {
		return nil, err
	}
	rules = append(rules, opts.Extra...)
	userCond, err := UserCondition(sid.String(), opts.UserMatch)
	if err != nil {
		return nil, err
	}
	p := &Plan{
		SID:       sid.String(),
		Profile:   opts.Profile,
		UserMatch: opts.UserMatch,
		Provider:  Provider(),
	}
	switch opts.UserMatch {
	case MatchAllow:
		p.Sublayer = Sublayer()
		for _, r := range rules {
			p.Filters = append(p.Filters, ruleFilter(p.SID, r, p.Sublayer.Key, &userCond))
		}
	default: // MatchDeny; UserCondition refused any other shape
		p.Sublayer = AccountSublayer(p.SID)
		guards, err := GuardRules(rules)
		if err != nil {
			return nil, err
		}
		for _, g := range guards {
			p.Filters = append(p.Filters, ruleFilter(p.SID, g, p.Sublayer.Key, &userCond))
		}
		for _, r := range rules {
			p.Filters = append(p.Filters, ruleFilter(p.SID, r, p.Sublayer.Key, nil))
		}
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// ProfileRules returns the rules of a profile.
func ProfileRules(profile Profile, proxyPorts []uint16) ([]Rule, error) {
	switch profile {
	case Baseline:
		if len(proxyPorts) > 0 {
			return nil, fmt.Errorf("proxy ports apply only to the %q profile, not %q", Strict, profile)
		}
		return BaselineRules(), nil
	case Strict:
		return StrictRules(proxyPorts)
	default:
		return nil, fmt.Errorf("unknown profile %q: want %q or %q", profile, Baseline, Strict)
	}
}

// UserCondition returns the ALE_USER_ID condition a plan of shape m uses for account
// sid — always FWP_MATCH_EQUAL: with MatchAllow D:(A;;CC;;;SID), on every filter; with
// MatchDeny the guard descriptor (account.ShapeDeny), on the guard permits only.
func UserCondition(sid string, m UserMatch) (wfp.Condition, error) {
	var shape account.Shape
	switch m {
	case MatchAllow:
		shape = account.ShapeAllow
	case MatchDeny:
		shape = account.ShapeDeny
	default:
		return wfp.Condition{}, fmt.Errorf("unknown user-match shape %q: want %q or %q", m, MatchAllow, MatchDeny)
	}
	sd, err := account.UserConditionSD(sid, shape)
	if err != nil {
		return wfp.Condition{}, fmt.Errorf("user condition for %s: %w", sid, err)
	}
	return wfp.Condition{Field: wfp.FieldALEUserID, Match: wfp.MatchEqual, Value: wfp.SD(sd)}, nil
}

// ruleFilter makes the filter of rule r for account sid in sublayer, with user (when not
// nil) as its first condition.
func ruleFilter(sid string, r Rule, sublayer wfp.GUID, user *wfp.Condition) *wfp.Filter {
	pk := ProviderKey
	conds := make([]wfp.Condition, 0, len(r.Conditions)+1)
	if user != nil {
		conds = append(conds, wfp.Condition{Field: user.Field, Match: user.Match, Value: user.Value.Clone()})
	}
	for _, c := range r.Conditions {
		conds = append(conds, wfp.Condition{Field: c.Field, Match: c.Match, Value: c.Value.Clone()})
	}
	flags := FilterFlags
	if r.Action == wfp.ActionPermit {
		flags = PermitFlags
	}
	return &wfp.Filter{
		Key:          FilterKey(sid, r.ID),
		Name:         fmt.Sprintf("wfpsandbox: %s for %s", r.Name, sid),
		Description:  r.Description,
		Flags:        flags,
		ProviderKey:  &pk,
		ProviderData: Owner{SID: sid, Rule: r.ID}.Encode(),
		Layer:        r.Layer,
		Sublayer:     sublayer,
		Weight:       r.Weight.Clone(),
		Conditions:   conds,
		Action:       wfp.Action{Type: r.Action},
	}
}

// Validate checks a plan the way WFP would refuse it, and the way wfpsandbox must never
// install it, before anything is sent to an engine: every filter passes ValidateFilter,
// keys are distinct, every filter sits in the plan's sublayer, no permit is hard
// (CLEAR_ACTION_RIGHT would let it override other providers' blocks for whoever it
// matches), and every filter without an ALE_USER_ID condition is scoped by a guard: it
// must sit in the plan's account's own sublayer (SublayerKeyFor(SID), never the shared
// one, where it would hit every account), and the plan must hold, at the same layer and
// in that sublayer, a guard permit — soft, whose only condition is ALE_USER_ID EQUAL the
// account's guard descriptor — with a weight strictly above the filter's (inside a
// sublayer the higher weight is evaluated first and the first permit or block decides).
func (p *Plan) Validate() error {
	if p.Provider == nil || p.Sublayer == nil {
		return fmt.Errorf("plan for %s has no provider or no sublayer", p.SID)
	}
	seen := map[wfp.GUID]string{}
	var guardSD []byte
	if c, err := UserCondition(p.SID, MatchDeny); err == nil {
		guardSD = c.Value.Bytes
	}
	for _, f := range p.Filters {
		if err := ValidateFilter(f); err != nil {
			return err
		}
		if prev, dup := seen[f.Key]; dup {
			return fmt.Errorf("filters %q and %q have the same key %s", prev, f.Name, f.Key)
		}
		seen[f.Key] = f.Name
		if f.Sublayer != p.Sublayer.Key {
			return fmt.Errorf("filter %q sits in sublayer %s, not in the plan's sublayer %s", f.Name, f.Sublayer, p.Sublayer.Key)
		}
		if f.Action.Type == wfp.ActionPermit && f.Flags&wfp.FilterFlagClearActionRight != 0 {
			return fmt.Errorf("filter %q is a hard permit (FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT): it would override other providers' blocks in every other sublayer; wfpsandbox's permits must be soft", f.Name)
		}
		if hasUserCondition(f) {
			continue
		}
		if p.Sublayer.Key != SublayerKeyFor(p.SID) {
			return fmt.Errorf("filter %q has no ALE_USER_ID condition and the plan's sublayer %s is not account %s's own sublayer %s: it would apply to every account",
				f.Name, p.Sublayer.Key, p.SID, SublayerKeyFor(p.SID))
		}
		if !slices.ContainsFunc(p.Filters, func(g *wfp.Filter) bool { return guards(g, f, guardSD) }) {
			return fmt.Errorf("filter %q has no ALE_USER_ID condition and no guard permit of %s at layer %s weighs more than it: it would apply to every account",
				f.Name, p.SID, f.Layer)
		}
	}
	return nil
}

// hasUserCondition reports whether f has an ALE_USER_ID condition.
func hasUserCondition(f *wfp.Filter) bool {
	return slices.ContainsFunc(f.Conditions, func(c wfp.Condition) bool { return c.Field == wfp.FieldALEUserID })
}

// guards reports whether g is a guard permit for f: a soft permit at f's layer and in
// f's sublayer, whose only condition is ALE_USER_ID EQUAL guardSD, weighing more than f
// whatever weights the engine assigns within their ranges.
func guards(g, f *wfp.Filter, guardSD []byte) bool {
	if g == f || g.Layer != f.Layer || g.Sublayer != f.Sublayer || g.Action.Type != wfp.ActionPermit ||
		g.Flags&wfp.FilterFlagClearActionRight != 0 || len(g.Conditions) != 1 || guardSD == nil {
		return false
	}
	c := g.Conditions[0]
	if c.Field != wfp.FieldALEUserID || c.Match != wfp.MatchEqual || c.Value.Type != wfp.SecurityDescriptor || !bytes.Equal(c.Value.Bytes, guardSD) {
		return false
	}
	gLow, _, ok1 := weightBounds(g.Weight)
	_, fHigh, ok2 := weightBounds(f.Weight)
	return ok1 && ok2 && gLow > fHigh
}

// weightBounds returns the range of effective weights a filter weight can get
// (FWPM_FILTER0.weight; "Filter Weight Assignment", learn.microsoft.com/windows/win32/fwp):
// FWP_UINT64 is used as is; FWP_UINT8 n is a weight range index, the top 4 bits, with
// the low 60 bits (FWPM_AUTO_WEIGHT_BITS) assigned by BFE; FWP_EMPTY is range 0.
func weightBounds(w wfp.Value) (low, high uint64, ok bool) {
	const auto = 1<<60 - 1
	switch w.Type {
	case wfp.Empty:
		return 0, auto, true
	case wfp.Uint8:
		if w.Uint > 15 {
			return 0, 0, false
		}
		return w.Uint << 60, w.Uint<<60 | auto, true
	case wfp.Uint64:
		return w.Uint, w.Uint, true
	}
	return 0, 0, false
}

// ValidateFilter checks one filter against WFP's per-layer field table: a display name,
// action block or permit, a known layer, every condition field offered by the layer with
// a value type the field takes. Whether a filter without an ALE_USER_ID condition is
// scoped to its account is a property of the whole plan (Validate).
func ValidateFilter(f *wfp.Filter) error {
	if f.Name == "" {
		return fmt.Errorf("filter %s has no display name", f.Key)
	}
	if f.Action.Type != wfp.ActionBlock && f.Action.Type != wfp.ActionPermit {
		return fmt.Errorf("filter %q: action %s is not supported (only block and permit)", f.Name, f.Action.Type)
	}
	if _, known := wfp.LayerFields(f.Layer); !known {
		return fmt.Errorf("filter %q: layer %s is not a layer wfpsandbox can validate", f.Name, f.Layer)
	}
	for _, c := range f.Conditions {
		if ok, _ := wfp.FieldAvailable(f.Layer, c.Field); !ok {
			return fmt.Errorf("filter %q: condition field %s is not available at layer %s (see Microsoft's \"Filtering conditions available at each filtering layer\")",
				f.Name, c.Field, f.Layer)
		}
		if types := wfp.FieldValueTypes(c.Field, isV6Layer(f.Layer)); types != nil {
			t := c.Value.Type
			if t == wfp.Range && c.Value.Low != nil {
				t = c.Value.Low.Type
			}
			if !slices.Contains(types, c.Value.Type) && !slices.Contains(types, t) {
				return fmt.Errorf("filter %q: condition %s takes %v, not %s", f.Name, c.Field, types, c.Value.Type)
			}
		}
	}
	return nil
}

// Hash is a digest of everything the plan installs (keys, layers, conditions, flags,
// weights, actions, provider and sublayer, the sublayer's providerData included). Setup records it in its marker: a changed
// hash means the installed policy must be reconciled again.
func (p *Plan) Hash() string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	_ = enc.Encode(p.Provider)
	_ = enc.Encode(p.Sublayer)
	for _, f := range p.Filters {
		_ = enc.Encode(f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func isV6Layer(l wfp.LayerID) bool {
	n := l.String()
	return len(n) > 2 && (n[len(n)-2:] == "V6" || (len(n) > 10 && n[len(n)-10:] == "V6_DISCARD"))
}

// FromSharedLayout translates the filters account sid has in the shared sublayer under
// the layout of setup version 1 (blocks with ALE_USER_ID FWP_MATCH_NOT_EQUAL, permits
// with the allow shape) into the account's --user-match deny layout, mechanically: each
// filter keeps its key, name, description, flags, weight, layer, action, providerData and
// other conditions, loses every ALE_USER_ID condition and moves into the account's own
// sublayer; a guard permit is added at every layer the filters use. The result is what
// Build returns for the same profile, proxy ports and extra rules, so the account's next
// setup converges with no writes. It is validated like any plan: a filter whose weight
// would not sit below the guard makes it fail, and the caller then leaves the account's
// filters as they are.
func FromSharedLayout(sid string, old []*wfp.Filter) (*Plan, error) {
	s, err := account.ParseSID(sid)
	if err != nil {
		return nil, fmt.Errorf("migrate account %q: %w", sid, err)
	}
	sid = s.String()
	guardCond, err := UserCondition(sid, MatchDeny)
	if err != nil {
		return nil, err
	}
	p := &Plan{SID: sid, UserMatch: MatchDeny, Provider: Provider(), Sublayer: AccountSublayer(sid)}
	var layers []Rule
	var moved []*wfp.Filter
	for _, f := range old {
		c := f.Clone()
		c.ID, c.EffectiveWeight = 0, 0
		c.Flags &^= wfp.FilterFlagDisabled
		c.Sublayer = p.Sublayer.Key
		c.Conditions = slices.DeleteFunc(c.Conditions, func(c wfp.Condition) bool { return c.Field == wfp.FieldALEUserID })
		moved = append(moved, c)
		layers = append(layers, Rule{ID: fmt.Sprintf("filter %s", f.Key), Layer: f.Layer})
	}
	guards, err := GuardRules(layers)
	if err != nil {
		return nil, fmt.Errorf("migrate account %s: %w", sid, err)
	}
	for _, g := range guards {
		p.Filters = append(p.Filters, ruleFilter(sid, g, p.Sublayer.Key, &guardCond))
	}
	p.Filters = append(p.Filters, moved...)
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("migrate account %s: %w", sid, err)
	}
	return p, nil
}
