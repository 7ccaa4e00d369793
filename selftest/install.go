package selftest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Install adds a DynamicPlan in one transaction (FwpmTransactionBegin0 …
// FwpmTransactionCommit0): provider, sublayer, then the filters in plan order. On any
// failure the transaction is aborted, so nothing of it is added — never half a policy.
// The error names the call and the object.
func Install(e wfp.Engine, plan *policy.Plan) error {
	if plan.Provider.Key != ProviderKey || plan.Provider.Flags&wfp.ProviderFlagPersistent != 0 {
		return fmt.Errorf("selftest: refusing to install a plan that is not a DynamicPlan (provider %s, flags %#x)", plan.Provider.Key, plan.Provider.Flags)
	}
	if err := e.BeginTransaction(); err != nil {
		return fmt.Errorf("FwpmTransactionBegin0: %w", err)
	}
	add := func() error {
		if err := e.AddProvider(plan.Provider); err != nil {
			return fmt.Errorf("FwpmProviderAdd0(%s): %w", plan.Provider.Key, err)
		}
		if err := e.AddSublayer(plan.Sublayer); err != nil {
			return fmt.Errorf("FwpmSubLayerAdd0(%s %q): %w", plan.Sublayer.Key, plan.Sublayer.Name, err)
		}
		for _, f := range plan.Filters {
			if _, err := e.AddFilter(f); err != nil {
				return fmt.Errorf("FwpmFilterAdd0(%s %q): %w", f.Key, f.Name, err)
			}
		}
		return nil
	}
	if err := add(); err != nil {
		if aerr := e.AbortTransaction(); aerr != nil {
			return errors.Join(err, fmt.Errorf("FwpmTransactionAbort0: %w", aerr))
		}
		return err
	}
	if err := e.CommitTransaction(); err != nil {
		return fmt.Errorf("FwpmTransactionCommit0: %w", err)
	}
	return nil
}

// ReadBack reads every object of plan back by key and returns how each differs from
// what was added (empty: zero drift). Compared: the provider's and sublayer's flags,
// weight and providerData; each filter's layer, sublayer, provider, action, weight,
// flags (the ones the plan sets; BFE may add its own), conditions (in order) and
// ownership tag.
func ReadBack(e wfp.Engine, plan *policy.Plan) ([]string, error) {
	var drift []string
	p, err := e.Provider(plan.Provider.Key)
	if err != nil {
		return nil, fmt.Errorf("FwpmProviderGetByKey0(%s): %w", plan.Provider.Key, err)
	}
	if p.Flags != plan.Provider.Flags || !bytes.Equal(p.Data, plan.Provider.Data) {
		drift = append(drift, fmt.Sprintf("provider %s: flags %#x data %q, added %#x %q", p.Key, p.Flags, p.Data, plan.Provider.Flags, plan.Provider.Data))
	}
	s, err := e.Sublayer(plan.Sublayer.Key)
	if err != nil {
		return nil, fmt.Errorf("FwpmSubLayerGetByKey0(%s): %w", plan.Sublayer.Key, err)
	}
	if s.Weight != plan.Sublayer.Weight || s.Flags != plan.Sublayer.Flags || !wfp.SameProvider(s.ProviderKey, plan.Sublayer.ProviderKey) {
		drift = append(drift, fmt.Sprintf("sublayer %s: weight %#x flags %#x, added %#x %#x", s.Key, s.Weight, s.Flags, plan.Sublayer.Weight, plan.Sublayer.Flags))
	}
	for _, want := range plan.Filters {
		got, err := e.Filter(want.Key)
		if errors.Is(err, wfp.ErrFilterNotFound) {
			drift = append(drift, fmt.Sprintf("filter %s %q: missing", want.Key, want.Name))
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("FwpmFilterGetByKey0(%s %q): %w", want.Key, want.Name, err)
		}
		var d []string
		if got.Layer != want.Layer {
			d = append(d, fmt.Sprintf("layer %s", got.Layer))
		}
		if got.Sublayer != want.Sublayer {
			d = append(d, fmt.Sprintf("sublayer %s", got.Sublayer))
		}
		if !wfp.SameProvider(got.ProviderKey, want.ProviderKey) {
			d = append(d, "provider")
		}
		if got.Action.Type != want.Action.Type {
			d = append(d, fmt.Sprintf("action %s", got.Action.Type))
		}
		if want.Weight.Type != wfp.Empty && !got.Weight.Equal(want.Weight) {
			d = append(d, fmt.Sprintf("weight %s", got.Weight))
		}
		if got.Flags&want.Flags != want.Flags {
			d = append(d, fmt.Sprintf("flags %s, added %s", got.Flags, want.Flags))
		}
		if !slices.EqualFunc(got.Conditions, want.Conditions, func(a, b wfp.Condition) bool {
			return a.Field == b.Field && a.Match == b.Match && a.Value.Equal(b.Value)
		}) {
			d = append(d, "conditions")
		}
		if !bytes.Equal(got.ProviderData, want.ProviderData) {
			d = append(d, "ownership tag")
		}
		if len(d) > 0 {
			drift = append(drift, fmt.Sprintf("filter %s %q: %v", want.Key, want.Name, d))
		}
	}
	return drift, nil
}

// EnumScoped compares a provider-scoped filter enumeration with a full one (wfp-facts
// §10.5): it returns "" when both list the same filters of provider key, else how they
// differ.
func EnumScoped(e wfp.Engine, key wfp.GUID) (string, error) {
	scoped, err := e.Filters(&key)
	if err != nil {
		return "", fmt.Errorf("FwpmFilterEnum0 (provider %s): %w", key, err)
	}
	all, err := e.Filters(nil)
	if err != nil {
		return "", fmt.Errorf("FwpmFilterEnum0 (all): %w", err)
	}
	in := map[wfp.GUID]bool{}
	for _, f := range scoped {
		in[f.Key] = true
	}
	var missing []string
	n := 0
	for _, f := range all {
		if f.ProviderKey == nil || *f.ProviderKey != key {
			continue
		}
		n++
		if !in[f.Key] {
			missing = append(missing, f.Key.String())
		}
	}
	if len(missing) > 0 || n != len(scoped) {
		return fmt.Sprintf("scoped enumeration: %d filters, full: %d of the provider; missing from the scoped one: %v", len(scoped), n, missing), nil
	}
	return "", nil
}

// NotEqualSDFilter is a filter with ALE_USER_ID FWP_MATCH_NOT_EQUAL on a security
// descriptor — setup version 1's user condition, which the documentation does not
// support ("Only sortable data types support FWP_MATCH_NOT_EQUAL", FWP_MATCH_TYPE in
// fwptypes.h; FWP_SECURITY_DESCRIPTOR_TYPE is not one) — in plan's (dynamic) sublayer.
// It is a PERMIT, so even if it were ever committed it could only open this sublayer.
func NotEqualSDFilter(plan *policy.Plan) (*wfp.Filter, error) {
	cond, err := policy.UserCondition(plan.SID, policy.MatchAllow)
	if err != nil {
		return nil, err
	}
	cond.Match = wfp.MatchNotEqual
	pk := plan.Provider.Key
	return &wfp.Filter{
		Key:          wfp.NameGUID(ProviderKey, "probe/not-equal-sd/"+plan.SID),
		Name:         "wfpsandbox selftest: FWP_MATCH_NOT_EQUAL on a security descriptor (never committed)",
		ProviderKey:  &pk,
		ProviderData: policy.Owner{SID: plan.SID, Rule: "probe-not-equal-sd"}.Encode(),
		Layer:        wfp.LayerALEAuthConnectV4,
		Sublayer:     plan.Sublayer.Key,
		Weight:       wfp.U8(0),
		Conditions:   []wfp.Condition{cond},
		Action:       wfp.Action{Type: wfp.ActionPermit},
	}, nil
}

// TryNotEqualSD adds NotEqualSDFilter(plan) inside a transaction that it always aborts,
// and reports whether FwpmFilterAdd0 accepted it (err is the engine's answer when it
// did not; a failure of the transaction itself is returned as txnErr). Nothing is ever
// committed.
func TryNotEqualSD(e wfp.Engine, plan *policy.Plan) (accepted bool, addErr, txnErr error) {
	f, err := NotEqualSDFilter(plan)
	if err != nil {
		return false, nil, err
	}
	if err := e.BeginTransaction(); err != nil {
		return false, nil, fmt.Errorf("FwpmTransactionBegin0: %w", err)
	}
	_, addErr = e.AddFilter(f)
	if err := e.AbortTransaction(); err != nil {
		return addErr == nil, addErr, fmt.Errorf("FwpmTransactionAbort0: %w", err)
	}
	return addErr == nil, addErr, nil
}

// NotEqualCheck asks the engine whether it accepts the NOT_EQUAL construction
// (TryNotEqualSD: always aborted, never committed) and records the answer.
func NotEqualCheck(e wfp.Engine, dyn *policy.Plan) Check {
	accepted, addErr, err := TryNotEqualSD(e, dyn)
	switch {
	case err != nil:
		return Check{ID: CheckNotEqualSD, Ran: false, Detail: err.Error()}
	case accepted:
		return Check{ID: CheckNotEqualSD, Ran: true, OK: false, Detail: "FwpmFilterAdd0 accepted it (the transaction was aborted); what it would match is not documented"}
	}
	return Check{ID: CheckNotEqualSD, Ran: true, OK: true, Detail: "FwpmFilterAdd0: " + addErr.Error()}
}
