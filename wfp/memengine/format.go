package memengine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// The JSON form of a state, version 1. Unknown fields are an error when reading.

const (
	formatName    = "wfpsandbox-memengine"
	formatVersion = 1
)

type fileHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
}

type fileState struct {
	fileHeader
	NextFilterID     uint64         `json:"nextFilterId"`
	NextGeneratedKey uint64         `json:"nextGeneratedKey"`
	Providers        []fileProvider `json:"providers"`
	Sublayers        []fileSublayer `json:"sublayers"`
	Filters          []fileFilter   `json:"filters"`
}

type fileProvider struct {
	Key                wfp.GUID `json:"key"`
	Name               string   `json:"name"`
	Description        string   `json:"description,omitempty"`
	Flags              uint32   `json:"flags"`
	Data               []byte   `json:"data,omitempty"`
	ServiceName        string   `json:"serviceName,omitempty"`
	SecurityDescriptor []byte   `json:"securityDescriptor,omitempty"` // the sd argument of the Add call (readtxn.go)
}

type fileSublayer struct {
	Key                wfp.GUID  `json:"key"`
	Name               string    `json:"name"`
	Description        string    `json:"description,omitempty"`
	Flags              uint32    `json:"flags"`
	ProviderKey        *wfp.GUID `json:"providerKey,omitempty"`
	Data               []byte    `json:"data,omitempty"`
	Weight             uint16    `json:"weight"`
	SecurityDescriptor []byte    `json:"securityDescriptor,omitempty"` // the sd argument of the Add call (readtxn.go)
}

type fileFilter struct {
	Key                wfp.GUID        `json:"key"`
	Name               string          `json:"name"`
	Description        string          `json:"description,omitempty"`
	Flags              uint32          `json:"flags"`
	ProviderKey        *wfp.GUID       `json:"providerKey,omitempty"`
	ProviderData       []byte          `json:"providerData,omitempty"`
	Layer              wfp.GUID        `json:"layer"`
	Sublayer           wfp.GUID        `json:"sublayer"`
	Weight             fileValue       `json:"weight"`
	Conditions         []fileCondition `json:"conditions"`
	Action             string          `json:"action"`
	CalloutKey         *wfp.GUID       `json:"calloutKey,omitempty"`
	ID                 uint64          `json:"id"`
	EffectiveWeight    uint64          `json:"effectiveWeight"`
	SecurityDescriptor []byte          `json:"securityDescriptor,omitempty"` // the sd argument of the Add call (readtxn.go)
}

type fileCondition struct {
	Field wfp.GUID  `json:"field"`
	Match string    `json:"match"`
	Value fileValue `json:"value"`
}

type fileValue struct {
	Type   string     `json:"type"`
	Uint   uint64     `json:"uint,omitempty"`
	Bytes  []byte     `json:"bytes,omitempty"`
	Prefix string     `json:"prefix,omitempty"`
	Low    *fileValue `json:"low,omitempty"`
	High   *fileValue `json:"high,omitempty"`
}

func toFileValue(v wfp.Value) fileValue {
	fv := fileValue{Type: v.Type.String(), Uint: v.Uint, Bytes: v.Bytes}
	if v.Prefix.IsValid() {
		fv.Prefix = v.Prefix.String()
	}
	if v.Low != nil {
		l := toFileValue(*v.Low)
		fv.Low = &l
	}
	if v.High != nil {
		h := toFileValue(*v.High)
		fv.High = &h
	}
	return fv
}

func fromFileValue(fv fileValue) (wfp.Value, error) {
	t, err := wfp.ParseDataType(fv.Type)
	if err != nil {
		return wfp.Value{}, err
	}
	v := wfp.Value{Type: t, Uint: fv.Uint, Bytes: fv.Bytes}
	if fv.Prefix != "" {
		if v.Prefix, err = netip.ParsePrefix(fv.Prefix); err != nil {
			return wfp.Value{}, err
		}
	}
	for _, p := range []struct {
		in  *fileValue
		out **wfp.Value
	}{{fv.Low, &v.Low}, {fv.High, &v.High}} {
		if p.in != nil {
			x, err := fromFileValue(*p.in)
			if err != nil {
				return wfp.Value{}, err
			}
			*p.out = &x
		}
	}
	return v, nil
}

// encodeState returns the canonical JSON form of st: sorted, indented, newline-terminated.
func encodeState(st *state) ([]byte, error) {
	fs := fileState{
		fileHeader:       fileHeader{Format: formatName, Version: formatVersion},
		NextFilterID:     st.nextID,
		NextGeneratedKey: st.nextKey,
		Providers:        []fileProvider{},
		Sublayers:        []fileSublayer{},
		Filters:          []fileFilter{},
	}
	for _, p := range st.sortedProviders() {
		fs.Providers = append(fs.Providers, fileProvider{p.Key, p.Name, p.Description, uint32(p.Flags), p.Data, p.ServiceName, p.SecurityDescriptor})
	}
	for _, s := range st.sortedSublayers(nil) {
		fs.Sublayers = append(fs.Sublayers, fileSublayer{s.Key, s.Name, s.Description, uint32(s.Flags), s.ProviderKey, s.Data, s.Weight, s.SecurityDescriptor})
	}
	for _, f := range st.sortedFilters(nil) {
		ff := fileFilter{
			Key: f.Key, Name: f.Name, Description: f.Description, Flags: uint32(f.Flags),
			ProviderKey: f.ProviderKey, ProviderData: f.ProviderData, Layer: wfp.GUID(f.Layer),
			Sublayer: f.Sublayer, Weight: toFileValue(f.Weight), Conditions: []fileCondition{},
			Action: f.Action.Type.String(), ID: f.ID, EffectiveWeight: f.EffectiveWeight,
			SecurityDescriptor: f.SecurityDescriptor,
		}
		if !f.Action.CalloutKey.IsZero() {
			k := f.Action.CalloutKey
			ff.CalloutKey = &k
		}
		for _, c := range f.Conditions {
			ff.Conditions = append(ff.Conditions, fileCondition{wfp.GUID(c.Field), c.Match.String(), toFileValue(c.Value)})
		}
		fs.Filters = append(fs.Filters, ff)
	}
	data, err := json.MarshalIndent(fs, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// decodeState parses and checks a state file's contents. Errors say what is wrong
// without the file name; the caller adds it.
func decodeState(data []byte) (*state, error) {
	var h fileHeader
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("not valid JSON (truncated or corrupt?): %w", err)
	}
	if h.Format != formatName {
		return nil, fmt.Errorf("format is %q, want %q", h.Format, formatName)
	}
	if h.Version != formatVersion {
		if h.Version > formatVersion {
			return nil, fmt.Errorf("format version %d was written by a newer wfpsandbox; this one reads version %d", h.Version, formatVersion)
		}
		return nil, fmt.Errorf("unsupported format version %d (this wfpsandbox reads version %d)", h.Version, formatVersion)
	}
	var fs fileState
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fs); err != nil {
		return nil, fmt.Errorf("invalid contents: %w", err)
	}
	if fs.NextFilterID == 0 {
		return nil, errors.New("nextFilterId is 0; filter IDs start at 1")
	}
	st := newState()
	st.nextID, st.nextKey = fs.NextFilterID, fs.NextGeneratedKey
	for _, p := range fs.Providers {
		if _, dup := st.providers[p.Key]; dup {
			return nil, fmt.Errorf("provider {%s} appears twice", p.Key)
		}
		st.providers[p.Key] = &wfp.Provider{Key: p.Key, Name: p.Name, Description: p.Description,
			Flags: wfp.ProviderFlags(p.Flags), Data: p.Data, ServiceName: p.ServiceName, SecurityDescriptor: p.SecurityDescriptor}
	}
	for _, s := range fs.Sublayers {
		if _, dup := st.sublayers[s.Key]; dup {
			return nil, fmt.Errorf("sublayer {%s} appears twice", s.Key)
		}
		exists, provPersistent := st.providerRef(s.ProviderKey)
		if !exists {
			return nil, fmt.Errorf("sublayer {%s} refers to missing provider {%s}", s.Key, *s.ProviderKey)
		}
		// The lifetime rules addSublayer and addFilter enforce: a file that breaks them
		// would lose the objects a persistent one refers to at the next restart.
		if wfp.SublayerFlags(s.Flags)&wfp.SublayerFlagPersistent != 0 && !provPersistent {
			return nil, fmt.Errorf("persistent sublayer {%s} refers to non-persistent provider {%s}", s.Key, *s.ProviderKey)
		}
		st.sublayers[s.Key] = &wfp.Sublayer{Key: s.Key, Name: s.Name, Description: s.Description,
			Flags: wfp.SublayerFlags(s.Flags), ProviderKey: s.ProviderKey, Data: s.Data, Weight: s.Weight,
			SecurityDescriptor: s.SecurityDescriptor}
	}
	ids := map[uint64]bool{}
	for _, ff := range fs.Filters {
		f, err := fromFileFilter(ff)
		if err != nil {
			return nil, fmt.Errorf("filter {%s}: %w", ff.Key, err)
		}
		if _, dup := st.filters[f.Key]; dup || ids[f.ID] || f.ID == 0 || f.ID >= st.nextID {
			return nil, fmt.Errorf("filter {%s}: key or ID %d duplicated or not below nextFilterId %d", f.Key, f.ID, st.nextID)
		}
		sub, ok := st.sublayers[f.Sublayer]
		if !ok && !builtinSublayer(f.Sublayer) {
			return nil, fmt.Errorf("filter {%s} refers to missing sublayer {%s}", f.Key, f.Sublayer)
		}
		exists, provPersistent := st.providerRef(f.ProviderKey)
		if !exists {
			return nil, fmt.Errorf("filter {%s} refers to missing provider {%s}", f.Key, *f.ProviderKey)
		}
		if f.Flags&wfp.FilterFlagPersistent != 0 && (!provPersistent || ok && sub.Flags&wfp.SublayerFlagPersistent == 0) {
			return nil, fmt.Errorf("persistent filter {%s} refers to a non-persistent sublayer or provider", f.Key)
		}
		ids[f.ID] = true
		st.filters[f.Key] = f
	}
	return st, nil
}

func fromFileFilter(ff fileFilter) (*wfp.Filter, error) {
	weight, err := fromFileValue(ff.Weight)
	if err != nil {
		return nil, fmt.Errorf("weight: %w", err)
	}
	action, err := wfp.ParseActionType(ff.Action)
	if err != nil {
		return nil, err
	}
	f := &wfp.Filter{
		Key: ff.Key, Name: ff.Name, Description: ff.Description, Flags: wfp.FilterFlags(ff.Flags),
		ProviderKey: ff.ProviderKey, ProviderData: ff.ProviderData, Layer: wfp.LayerID(ff.Layer),
		Sublayer: ff.Sublayer, Weight: weight, Action: wfp.Action{Type: action},
		ID: ff.ID, EffectiveWeight: ff.EffectiveWeight, SecurityDescriptor: ff.SecurityDescriptor,
	}
	if ff.CalloutKey != nil {
		f.Action.CalloutKey = *ff.CalloutKey
	}
	for i, fc := range ff.Conditions {
		m, err := wfp.ParseMatchType(fc.Match)
		if err != nil {
			return nil, fmt.Errorf("condition %d: %w", i, err)
		}
		v, err := fromFileValue(fc.Value)
		if err != nil {
			return nil, fmt.Errorf("condition %d: %w", i, err)
		}
		f.Conditions = append(f.Conditions, wfp.Condition{Field: wfp.FieldID(fc.Field), Match: m, Value: v})
	}
	if len(f.Conditions) == 0 {
		f.Conditions = nil
	}
	return f, nil
}

// ErrCorrupt is wrapped by every error about a state file that exists but cannot be used:
// not JSON, truncated, another format, a newer version, or inconsistent contents. Such a
// file is never changed.
var ErrCorrupt = errors.New("unusable memengine state file")
