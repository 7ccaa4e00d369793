package events

import (
	"errors"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Filters is the part of wfp.Engine the Resolver needs.
type Filters interface {
	// FilterByID returns a filter by run-time ID (FwpmFilterGetById0).
	FilterByID(id uint64) (*wfp.Filter, error)
	// Provider returns a provider by key (FwpmProviderGetByKey0).
	Provider(key wfp.GUID) (*wfp.Provider, error)
}

// Resolver completes decoded events: the filter behind a filterId, its provider, and
// the account name of a SID. Lookups are cached, so a burst of drops by one filter costs
// one FwpmFilterGetById0. A Resolver is not safe for concurrent use.
type Resolver struct {
	filters Filters
	// LookupAccount maps a SID string to DOMAIN\name; nil or failing leaves Account empty
	// (on Windows the CLI passes an account.LookupSID wrapper).
	LookupAccount func(sid string) (string, error)

	byID      map[uint64]resolved
	providers map[wfp.GUID]string
	accounts  map[string]string
}

type resolved struct {
	ref  *FilterRef
	ours bool
	gone bool
	note string
}

// NewResolver returns a Resolver over an engine.
func NewResolver(f Filters) *Resolver {
	return &Resolver{filters: f, byID: map[uint64]resolved{}, providers: map[wfp.GUID]string{}, accounts: map[string]string{}}
}

// LookupAccountSID resolves a SID string with account.LookupSID (Windows only; an error
// elsewhere).
func LookupAccountSID(s string) (string, error) {
	sid, err := account.ParseSID(s)
	if err != nil {
		return "", err
	}
	name, domain, _, err := account.LookupSID(sid)
	if err != nil {
		return "", err
	}
	if domain == "" {
		return name, nil
	}
	return domain + `\` + name, nil
}

// Resolve fills e.Filter, e.Ours and e.Account. For a wfpsandbox filter the account it
// was installed for (its ownership tag) stands in for a missing or undecodable userId.
func (r *Resolver) Resolve(e *Event) {
	if e.FilterID != nil {
		res := r.filter(*e.FilterID)
		e.Filter, e.Ours, e.filterGone = res.ref, res.ours, res.gone
		if res.note != "" {
			e.infof("%s", res.note)
		}
		if e.SID == "" && res.ours && res.ref.SID != "" {
			e.SID = res.ref.SID
			e.infof("account taken from the filter's ownership tag (the event carries none)")
		}
	}
	if e.SID != "" && r.LookupAccount != nil {
		name, ok := r.accounts[e.SID]
		if !ok {
			n, err := r.LookupAccount(e.SID)
			if err != nil {
				n = ""
			}
			r.accounts[e.SID], name = n, n
		}
		e.Account = name
	}
}

// Reset forgets every cached lookup (filters, providers, account names), so that the
// next Resolve asks the engine again. A long-running reader calls it when it learns
// that the engine's filters changed: filter IDs are run-time IDs, and a filter that is
// deleted and added again (a reinstall, a repair) comes back with another one.
func (r *Resolver) Reset() {
	clear(r.byID)
	clear(r.providers)
	clear(r.accounts)
}

func (r *Resolver) filter(id uint64) resolved {
	if res, ok := r.byID[id]; ok {
		return res
	}
	var res resolved
	f, err := r.filters.FilterByID(id)
	switch {
	case err != nil && errors.Is(err, wfp.ErrFilterNotFound):
		res.gone = true
		res.note = "filter ID " + itoa(id) + " no longer exists (deleted since the drop, or a built-in filter)"
	case err != nil:
		res.note = "could not look up filter ID " + itoa(id) + ": " + err.Error()
	case f == nil:
		res.note = "could not look up filter ID " + itoa(id) + ": the engine returned nothing"
	default:
		res.ref = &FilterRef{Name: f.Name, Key: f.Key.String()}
		if f.ProviderKey != nil {
			res.ref.ProviderKey = f.ProviderKey.String()
			res.ref.Provider = r.provider(*f.ProviderKey)
			if *f.ProviderKey == policy.ProviderKey {
				res.ours = true
				o, err := policy.ParseOwner(f.ProviderData)
				if err != nil {
					res.note = "wfpsandbox filter without a readable ownership tag: " + err.Error()
				} else {
					res.ref.Rule, res.ref.SID = o.Rule, o.SID
				}
				switch f.Sublayer {
				case policy.SublayerKey:
					res.ref.Sublayer = "shared"
				case policy.SublayerKeyFor(o.SID):
					res.ref.Sublayer = "account"
				default:
					res.ref.Sublayer = f.Sublayer.String()
				}
			}
		}
	}
	r.byID[id] = res
	return res
}

// provider returns a provider's display name, or "" when it cannot be read.
func (r *Resolver) provider(key wfp.GUID) string {
	if n, ok := r.providers[key]; ok {
		return n
	}
	n := ""
	if p, err := r.filters.Provider(key); err == nil && p != nil {
		n = p.Name
	}
	r.providers[key] = n
	return n
}
