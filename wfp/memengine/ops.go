package memengine

import (
	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"slices"
)

// The operations below check everything first and change st only when the call succeeds,
// so a failed call inside a transaction leaves the transaction as it was.

func fail(call, object string, code wfp.Code) error {
	return &wfp.CallError{Call: call, Object: object, Code: code}
}

func (st *state) addProvider(p *wfp.Provider) error {
	const call = "FwpmProviderAdd0"
	obj := wfp.ObjectName("provider", p.Key, p.Name)
	if p.Name == "" {
		return fail(call, obj, wfp.ErrNullDisplayName)
	}
	if _, ok := st.providers[p.Key]; ok || builtinProvider(p.Key) {
		return fail(call, obj, wfp.ErrAlreadyExists)
	}
	c := p.Clone()
	c.Flags &^= wfp.ProviderFlagDisabled // output only
	if c.Key.IsZero() {
		c.Key = st.generateKey("provider")
	}
	st.providers[c.Key] = c
	return nil
}

// providerRef reports whether an optional provider reference exists and is persistent;
// no provider and built-in providers count as persistent.
func (st *state) providerRef(k *wfp.GUID) (exists, persistent bool) {
	if k == nil {
		return true, true
	}
	if p, ok := st.providers[*k]; ok {
		return true, p.Flags&wfp.ProviderFlagPersistent != 0
	}
	return builtinProvider(*k), true
}

func (st *state) addSublayer(s *wfp.Sublayer) error {
	const call = "FwpmSubLayerAdd0"
	obj := wfp.ObjectName("sublayer", s.Key, s.Name)
	if s.Name == "" {
		return fail(call, obj, wfp.ErrNullDisplayName)
	}
	if _, ok := st.sublayers[s.Key]; ok || builtinSublayer(s.Key) {
		return fail(call, obj, wfp.ErrAlreadyExists)
	}
	exists, provPersistent := st.providerRef(s.ProviderKey)
	if !exists {
		return fail(call, obj, wfp.ErrProviderNotFound)
	}
	if s.Flags&wfp.SublayerFlagPersistent != 0 && !provPersistent {
		return fail(call, obj, wfp.ErrLifetimeMismatch)
	}
	c := s.Clone()
	if c.Key.IsZero() {
		c.Key = st.generateKey("sublayer")
	}
	st.sublayers[c.Key] = c
	return nil
}

func (st *state) addFilter(f *wfp.Filter) (uint64, error) {
	const call = "FwpmFilterAdd0"
	obj := wfp.ObjectName("filter", f.Key, f.Name)
	if f.Name == "" {
		return 0, fail(call, obj, wfp.ErrNullDisplayName)
	}
	persistent := f.Flags&wfp.FilterFlagPersistent != 0
	if persistent && f.Flags&wfp.FilterFlagBoottime != 0 {
		return 0, fail(call, obj, wfp.ErrInvalidFlags)
	}
	if _, ok := st.filters[f.Key]; ok {
		return 0, fail(call, obj, wfp.ErrAlreadyExists)
	}
	if wfp.LookupName(wfp.KindLayer, wfp.GUID(f.Layer)) == "" {
		return 0, fail(call, obj, wfp.ErrLayerNotFound)
	}
	subKey := f.Sublayer
	if subKey.IsZero() {
		subKey = universalSublayer
	}
	sub, subOK := st.sublayers[subKey]
	if !subOK && !builtinSublayer(subKey) {
		return 0, fail(call, obj, wfp.ErrSublayerNotFound)
	}
	exists, provPersistent := st.providerRef(f.ProviderKey)
	if !exists {
		return 0, fail(call, obj, wfp.ErrProviderNotFound)
	}
	if code := checkWeight(f.Weight); code != 0 {
		return 0, fail(call, obj, code)
	}
	if code := checkAction(f.Action); code != 0 {
		return 0, fail(call, obj, code)
	}
	for _, c := range f.Conditions {
		if code := checkCondition(f.Layer, c); code != 0 {
			return 0, fail(call, obj, code)
		}
	}
	if persistent {
		if !provPersistent {
			return 0, fail(call, obj, wfp.ErrLifetimeMismatch)
		}
		if subOK && sub.Flags&wfp.SublayerFlagPersistent == 0 {
			return 0, fail(call, obj, wfp.ErrLifetimeMismatch)
		}
		if subOK && sub.ProviderKey != nil && f.ProviderKey != nil && *sub.ProviderKey != *f.ProviderKey {
			return 0, fail(call, obj, wfp.ErrLifetimeMismatch)
		}
	}
	c := f.Clone()
	if c.Key.IsZero() {
		c.Key = st.generateKey("filter")
	}
	c.Sublayer = subKey
	c.Flags &^= wfp.FilterFlagDisabled // output only
	c.ID = st.nextID
	st.nextID++
	c.EffectiveWeight = effectiveWeight(c)
	st.filters[c.Key] = c
	return c.ID, nil
}

func checkWeight(w wfp.Value) wfp.Code {
	switch w.Type {
	case wfp.Empty, wfp.Uint64:
		return 0
	case wfp.Uint8:
		if w.Uint <= 15 { // FWPM_WEIGHT_RANGE_MAX
			return 0
		}
	}
	return wfp.ErrInvalidWeight
}

func checkAction(a wfp.Action) wfp.Code {
	switch a.Type {
	case wfp.ActionBlock, wfp.ActionPermit:
		return 0
	case wfp.ActionCalloutTerminating, wfp.ActionCalloutInspection, wfp.ActionCalloutUnknown:
		return wfp.ErrCalloutNotFound
	}
	return wfp.ErrInvalidActionType
}

// checkCondition applies the per-condition rules listed in the package doc.
func checkCondition(layer wfp.LayerID, c wfp.Condition) wfp.Code {
	if wfp.LookupName(wfp.KindField, wfp.GUID(c.Field)) == "" {
		return wfp.ErrConditionNotFound
	}
	if ok, known := wfp.FieldAvailable(layer, c.Field); known && !ok {
		return wfp.ErrConditionNotFound
	}
	v := c.Value
	allowed := wfp.FieldValueTypes(c.Field, wfp.LayerIsV6(layer))
	if allowed != nil && !slices.Contains(allowed, v.Type) {
		return wfp.ErrTypeMismatch
	}
	if v.Type == wfp.Range && (v.Low == nil || v.High == nil || v.Low.Type != v.High.Type || v.Low.Type >= wfp.V4AddrMask) {
		// FWP_RANGE0: "valueLow and valueHigh must be the same data type"; both are
		// FWP_VALUE0s, which hold no address mask and no range.
		return wfp.ErrInvalidRange
	}
	if code := checkMatchType(c.Match, v); code != 0 {
		return code
	}
	if v.Type == wfp.Range {
		if allowed != nil && !slices.Contains(allowed, v.Low.Type) { // e.g. a port range with FWP_UINT32 bounds
			return wfp.ErrTypeMismatch
		}
		if code := checkScalar(*v.Low); code != 0 {
			return code
		}
		if code := checkScalar(*v.High); code != 0 {
			return code
		}
		// FWP_RANGE0: "valueHigh must be greater than or equal to valueLow". Checked for
		// integers; how WFP orders byte arrays, blobs and strings is not documented.
		if isInteger(v.Low.Type) && integerLess(*v.High, *v.Low) {
			return wfp.ErrInvalidRange
		}
		return 0
	}
	if v.Type == wfp.SecurityDescriptor && account.ValidateSelfRelativeSD(v.Bytes) != nil {
		return wfp.ErrInvalidSecurityDescr
	}
	return checkScalar(v)
}

// checkScalar checks what Go's wfp.Value can hold but FWP_VALUE0 cannot.
func checkScalar(v wfp.Value) wfp.Code {
	limits := map[wfp.DataType]uint64{wfp.Uint8: 1<<8 - 1, wfp.Uint16: 1<<16 - 1, wfp.Uint32: 1<<32 - 1}
	if max, ok := limits[v.Type]; ok && v.Uint > max {
		return wfp.ErrOutOfBounds
	}
	switch v.Type {
	case wfp.V4AddrMask:
		if !v.Prefix.IsValid() || !v.Prefix.Addr().Is4() {
			return wfp.ErrInvalidNetMask
		}
	case wfp.V6AddrMask:
		if !v.Prefix.IsValid() || !v.Prefix.Addr().Is6() || v.Prefix.Addr().Is4In6() {
			return wfp.ErrInvalidNetMask
		}
	case wfp.ByteArray16:
		if len(v.Bytes) != 16 {
			return wfp.ErrTypeMismatch
		}
	case wfp.ByteArray6:
		if len(v.Bytes) != 6 {
			return wfp.ErrTypeMismatch
		}
	}
	return 0
}

func isInteger(t wfp.DataType) bool {
	return t >= wfp.Uint8 && t <= wfp.Int64
}

// integerLess compares two integer values of one type; the signed types hold two's
// complement in Uint and are compared as signed numbers of their width.
func integerLess(a, b wfp.Value) bool {
	signed := func(v wfp.Value) int64 {
		switch v.Type {
		case wfp.Int8:
			return int64(int8(v.Uint))
		case wfp.Int16:
			return int64(int16(v.Uint))
		case wfp.Int32:
			return int64(int32(v.Uint))
		}
		return int64(v.Uint)
	}
	if a.Type >= wfp.Int8 {
		return signed(a) < signed(b)
	}
	return a.Uint < b.Uint
}

func (st *state) deleteProvider(k wfp.GUID) error {
	const call = "FwpmProviderDeleteByKey0"
	p, ok := st.providers[k]
	if !ok {
		if builtinProvider(k) {
			return fail(call, wfp.ObjectName("provider", k, ""), wfp.ErrBuiltinObject)
		}
		return fail(call, wfp.ObjectName("provider", k, ""), wfp.ErrProviderNotFound)
	}
	for _, s := range st.sublayers {
		if s.ProviderKey != nil && *s.ProviderKey == k {
			return fail(call, wfp.ObjectName("provider", k, p.Name), wfp.ErrInUse)
		}
	}
	for _, f := range st.filters {
		if f.ProviderKey != nil && *f.ProviderKey == k {
			return fail(call, wfp.ObjectName("provider", k, p.Name), wfp.ErrInUse)
		}
	}
	delete(st.providers, k)
	return nil
}

func (st *state) deleteSublayer(k wfp.GUID) error {
	const call = "FwpmSubLayerDeleteByKey0"
	s, ok := st.sublayers[k]
	if !ok {
		if builtinSublayer(k) {
			return fail(call, wfp.ObjectName("sublayer", k, ""), wfp.ErrBuiltinObject)
		}
		return fail(call, wfp.ObjectName("sublayer", k, ""), wfp.ErrSublayerNotFound)
	}
	for _, f := range st.filters {
		if f.Sublayer == k {
			return fail(call, wfp.ObjectName("sublayer", k, s.Name), wfp.ErrInUse)
		}
	}
	delete(st.sublayers, k)
	return nil
}

func (st *state) deleteFilter(k wfp.GUID) error {
	if _, ok := st.filters[k]; !ok {
		return fail("FwpmFilterDeleteByKey0", wfp.ObjectName("filter", k, ""), wfp.ErrFilterNotFound)
	}
	delete(st.filters, k)
	return nil
}
