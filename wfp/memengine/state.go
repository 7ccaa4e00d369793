package memengine

import (
	"fmt"
	"sort"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// state is one version of the engine's objects: the committed state of a BFE, or a
// transaction's private copy of it.
type state struct {
	providers map[wfp.GUID]*wfp.Provider
	sublayers map[wfp.GUID]*wfp.Sublayer
	filters   map[wfp.GUID]*wfp.Filter
	nextID    uint64 // next filter ID to assign
	nextKey   uint64 // counter for keys generated for zero GUIDs
}

func newState() *state {
	return &state{
		providers: map[wfp.GUID]*wfp.Provider{},
		sublayers: map[wfp.GUID]*wfp.Sublayer{},
		filters:   map[wfp.GUID]*wfp.Filter{},
		nextID:    1,
	}
}

// clone returns a deep copy, so that a transaction can change it freely.
func (st *state) clone() *state {
	c := newState()
	for k, p := range st.providers {
		c.providers[k] = p.Clone()
	}
	for k, s := range st.sublayers {
		c.sublayers[k] = s.Clone()
	}
	for k, f := range st.filters {
		c.filters[k] = f.Clone()
	}
	c.nextID, c.nextKey = st.nextID, st.nextKey
	return c
}

// persistentOnly returns what survives a BFE restart: the persistent objects.
func (st *state) persistentOnly() *state {
	c := newState()
	for k, p := range st.providers {
		if p.Flags&wfp.ProviderFlagPersistent != 0 {
			c.providers[k] = p.Clone()
		}
	}
	for k, s := range st.sublayers {
		if s.Flags&wfp.SublayerFlagPersistent != 0 {
			c.sublayers[k] = s.Clone()
		}
	}
	for k, f := range st.filters {
		if f.Flags&wfp.FilterFlagPersistent != 0 {
			c.filters[k] = f.Clone()
		}
	}
	c.nextID, c.nextKey = st.nextID, st.nextKey
	return c
}

// keyNamespace seeds the keys generated for objects added with a zero GUID.
var keyNamespace = wfp.MustParseGUID("6f1f5b0e-2f7c-4d3b-9a59-6d656d656e67")

func (st *state) generateKey(kind string) wfp.GUID {
	st.nextKey++
	return wfp.NameGUID(keyNamespace, fmt.Sprintf("%s/%d", kind, st.nextKey))
}

// builtinProvider and builtinSublayer report GUIDs that fwpmu.h defines: objects that
// exist on every system, can be referred to by anything and cannot be deleted.
func builtinProvider(k wfp.GUID) bool { return wfp.LookupName(wfp.KindProvider, k) != "" }
func builtinSublayer(k wfp.GUID) bool { return wfp.LookupName(wfp.KindSublayer, k) != "" }

// universalSublayer is FWPM_SUBLAYER_UNIVERSAL, used for filters with a zero sublayer key.
var universalSublayer, _, _ = wfp.LookupGUID("FWPM_SUBLAYER_UNIVERSAL")

func (st *state) sortedProviders() []*wfp.Provider {
	out := make([]*wfp.Provider, 0, len(st.providers))
	for _, p := range st.providers {
		out = append(out, p.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key.String() < out[j].Key.String() })
	return out
}

func (st *state) sortedSublayers(provider *wfp.GUID) []*wfp.Sublayer {
	out := []*wfp.Sublayer{}
	for _, s := range st.sublayers {
		if provider == nil || wfp.SameProvider(s.ProviderKey, provider) {
			out = append(out, s.Clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key.String() < out[j].Key.String() })
	return out
}

func (st *state) sortedFilters(provider *wfp.GUID) []*wfp.Filter {
	out := []*wfp.Filter{}
	for _, f := range st.filters {
		if provider == nil || wfp.SameProvider(f.ProviderKey, provider) {
			out = append(out, f.Clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// effectiveWeight computes FWPM_FILTER0.effectiveWeight (see the package doc for how
// the automatic part is approximated). The weight has been validated.
func effectiveWeight(f *wfp.Filter) uint64 {
	fields := map[wfp.FieldID]bool{}
	for _, c := range f.Conditions {
		fields[c.Field] = true
	}
	auto := uint64(min(len(fields), 255)) << 52
	switch f.Weight.Type {
	case wfp.Uint64:
		return f.Weight.Uint
	case wfp.Uint8:
		return f.Weight.Uint<<60 | auto
	}
	return auto
}
