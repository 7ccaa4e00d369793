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

// UserMatch selects the shape of the ALE_USER_ID condition (design §4).
type UserMatch string

// User-match shapes.
const (
	// MatchAllow is FWP_MATCH_EQUAL with D:(A;;CC;;;SID): the original design's shape.
	// A process of the account can escape it by running a child with a restricted
	// token (user SID deny-only, or restricting SIDs without it) or in an
	// AppContainer: the allow ACE then no longer grants, so the block does not match.
	MatchAllow UserMatch = "allow"
	// MatchDeny is FWP_MATCH_NOT_EQUAL with a DACL that denies the account and allows
	// everyone else (including AppContainer and restricted tokens of other accounts).
	// Deny ACEs also hit deny-only SIDs, so restricted and AppContainer children of the
	// account stay blocked. This is the default.
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
	Sublayer  *wfp.Sublayer
	Filters   []*wfp.Filter
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

// Sublayer returns the wfpsandbox sublayer: persistent, owned by the provider, weight 0xFFFF.
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

// FilterFlags are the flags of every wfpsandbox block: persistent (survives BFE
// restarts and reboots) and CLEAR_ACTION_RIGHT (a hard action, so a soft permit of
// another provider in another sublayer cannot override it; wfp-facts §1).
const FilterFlags = wfp.FilterFlagPersistent | wfp.FilterFlagClearActionRight

// PermitFlags are the flags of wfpsandbox's permits (the strict profile's loopback
// permits): persistent but soft, so that another provider's block in a later sublayer
// still applies — a wfpsandbox permit only ever narrows wfpsandbox's own blocks.
const PermitFlags = wfp.FilterFlagPersistent

// Build returns the plan for opts, validated.
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
	// Permits always use the allow shape, whatever the blocks use: a permit must
	// match the account's own tokens and nothing else. Under the deny shape a
	// permit would also match another account's process that made itself a token
	// with restricting SIDs none of the allowed SIDs are in (no privilege needed),
	// and since every account's filters share our sublayer, that permit would hide
	// the other account's own blocks below it. The price is fail-closed: the
	// account's own restricted and AppContainer children do not get the permit.
	permitCond, err := UserCondition(sid.String(), MatchAllow)
	if err != nil {
		return nil, err
	}
	p := &Plan{
		SID:       sid.String(),
		Profile:   opts.Profile,
		UserMatch: opts.UserMatch,
		Provider:  Provider(),
		Sublayer:  Sublayer(),
	}
	for _, r := range rules {
		cond := userCond
		if r.Action == wfp.ActionPermit {
			cond = permitCond
		}
		p.Filters = append(p.Filters, ruleFilter(p.SID, r, cond))
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

// UserCondition returns the ALE_USER_ID condition for an account in the given shape.
func UserCondition(sid string, m UserMatch) (wfp.Condition, error) {
	var shape account.Shape
	var match wfp.MatchType
	switch m {
	case MatchAllow:
		shape, match = account.ShapeAllow, wfp.MatchEqual
	case MatchDeny:
		shape, match = account.ShapeDeny, wfp.MatchNotEqual
	default:
		return wfp.Condition{}, fmt.Errorf("unknown user-match shape %q: want %q or %q", m, MatchAllow, MatchDeny)
	}
	sd, err := account.UserConditionSD(sid, shape)
	if err != nil {
		return wfp.Condition{}, fmt.Errorf("user condition for %s: %w", sid, err)
	}
	return wfp.Condition{Field: wfp.FieldALEUserID, Match: match, Value: wfp.SD(sd)}, nil
}

func ruleFilter(sid string, r Rule, user wfp.Condition) *wfp.Filter {
	pk := ProviderKey
	conds := make([]wfp.Condition, 0, len(r.Conditions)+1)
	conds = append(conds, user)
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
		Sublayer:     SublayerKey,
		Weight:       r.Weight.Clone(),
		Conditions:   conds,
		Action:       wfp.Action{Type: r.Action},
	}
}

// Validate checks a plan the way WFP would refuse it, before anything is sent to an
// engine: every condition field offered by its filter's layer, value types allowed
// for the field, distinct keys, non-empty names, an ALE_USER_ID condition on every
// filter, actions block or permit.
func (p *Plan) Validate() error {
	seen := map[wfp.GUID]string{}
	for _, f := range p.Filters {
		if err := ValidateFilter(f); err != nil {
			return err
		}
		if prev, dup := seen[f.Key]; dup {
			return fmt.Errorf("filters %q and %q have the same key %s", prev, f.Name, f.Key)
		}
		seen[f.Key] = f.Name
	}
	return nil
}

// ValidateFilter checks one filter against WFP's per-layer field table.
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
	hasUser := false
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
		if c.Field == wfp.FieldALEUserID {
			hasUser = true
		}
	}
	if !hasUser {
		return fmt.Errorf("filter %q has no ALE_USER_ID condition: it would apply to every account", f.Name)
	}
	return nil
}

// Hash is a digest of everything the plan installs (keys, layers, conditions, flags,
// weights, actions, provider and sublayer). Setup records it in its marker: a changed
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
