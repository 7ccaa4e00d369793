package reconcile

import (
	"fmt"
	"slices"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// State is what the wfpsandbox provider owns on an engine.
type State struct {
	// Provider holds policy.ProviderKey; nil when absent.
	Provider *wfp.Provider `json:"provider"`
	// Sublayer holds policy.SublayerKey, whoever owns it; nil when absent.
	Sublayer *wfp.Sublayer `json:"sublayer"`
	// AccountSublayers are the accounts' own sublayers (--user-match deny layout), by
	// the SID of their ownership tag: key policy.SublayerKeyFor(SID).
	AccountSublayers map[string]*wfp.Sublayer `json:"accountSublayers"`
	// OtherSublayers are the provider's other sublayers (left by another version);
	// Uninstall removes them.
	OtherSublayers []*wfp.Sublayer `json:"otherSublayers"`
	// Accounts are the provider's filters with an ownership tag, by account SID,
	// each list sorted by key.
	Accounts map[string][]*wfp.Filter `json:"accounts"`
	// Untagged are the provider's filters without an ownership tag (orphans).
	Untagged []*wfp.Filter `json:"untagged"`
}

// SIDs returns the accounts that have filters, sorted (an account with only its own
// sublayer left is not listed; see AccountSublayers).
func (s *State) SIDs() []string {
	sids := make([]string, 0, len(s.Accounts))
	for sid := range s.Accounts {
		sids = append(sids, sid)
	}
	slices.Sort(sids)
	return sids
}

// FilterCount returns the number of the provider's filters, tagged or not.
func (s *State) FilterCount() int {
	n := len(s.Untagged)
	for _, fs := range s.Accounts {
		n += len(fs)
	}
	return n
}

// Installed reads what the wfpsandbox provider owns on e, inside a read-only
// transaction that it aborts: the provider, the sublayer, other sublayers of the provider, and the
// provider's filters grouped by owner SID (and untagged).
func Installed(e wfp.Engine) (*State, error) {
	st := &State{Accounts: map[string][]*wfp.Filter{}, AccountSublayers: map[string]*wfp.Sublayer{}, OtherSublayers: []*wfp.Sublayer{}, Untagged: []*wfp.Filter{}}
	pk := policy.ProviderKey
	err := inReadTransaction(e, func() error {
		var err error
		if st.Provider, err = getProvider(e, pk); err != nil {
			return err
		}
		if st.Sublayer, err = getSublayer(e, policy.SublayerKey); err != nil {
			return err
		}
		subs, err := listSublayers(e, pk)
		if err != nil {
			return err
		}
		slices.SortFunc(subs, func(a, b *wfp.Sublayer) int { return compareGUID(a.Key, b.Key) })
		for _, s := range subs {
			if s.Key == policy.SublayerKey {
				continue
			}
			if o, err := policy.ParseOwner(s.Data); err == nil && o.Rule == policy.SublayerRule && s.Key == policy.SublayerKeyFor(o.SID) {
				st.AccountSublayers[o.SID] = s
				continue
			}
			st.OtherSublayers = append(st.OtherSublayers, s)
		}
		filters, err := listFilters(e, &pk)
		if err != nil {
			return err
		}
		sortByKey(filters)
		for _, f := range filters {
			if o, ok := owner(f); ok {
				st.Accounts[o.SID] = append(st.Accounts[o.SID], f)
			} else {
				st.Untagged = append(st.Untagged, f)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read installed wfpsandbox objects: %w", err)
	}
	return st, nil
}
