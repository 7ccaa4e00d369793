//go:build windows || unix

package winengine

// Go wfp types → C structures in an arena. Everything a structure points to is copied
// into the same arena, so the result can be handed to fwpuclnt.dll as is and is freed
// with the arena.

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// setUnion stores a pointer in a union member.
func setUnion(u *uintptr, p unsafe.Pointer) { *u = uintptr(p) }

// composeDisplayData builds FWPM_DISPLAY_DATA0. An empty Go string is a NULL pointer,
// for the name too: the engine then answers FWP_E_NULL_DISPLAY_NAME, as wfp/memengine
// does for an empty name.
func composeDisplayData(a *arena, name, description string) (fwpmDisplayData0, error) {
	var d fwpmDisplayData0
	var err error
	if d.name, err = a.utf16(name, true); err != nil {
		return d, fmt.Errorf("display name: %w", err)
	}
	if d.description, err = a.utf16(description, true); err != nil {
		return d, fmt.Errorf("description: %w", err)
	}
	return d, nil
}

func composeBlob(a *arena, b []byte) fwpByteBlob {
	return fwpByteBlob{size: uint32(len(b)), data: a.bytes(b)}
}

// composeSession builds the FWPM_SESSION0 for FwpmEngineOpen0.
func composeSession(a *arena, opts Options) (*fwpmSession0, error) {
	s := (*fwpmSession0)(a.alloc(unsafe.Sizeof(fwpmSession0{})))
	dd, err := composeDisplayData(a, opts.Name, opts.Description)
	if err != nil {
		return nil, fmt.Errorf("session %w", err)
	}
	s.displayData = dd
	if opts.Dynamic {
		s.flags = fwpmSessionFlagDynamic
	}
	s.txnWaitTimeoutInMSec = txnWaitMillis(opts.TxnWaitTimeout)
	return s, nil
}

// txnWaitMillis bounds the transaction-lock wait: 0 or negative means the default,
// and the result is never INFINITE (0xFFFFFFFF), so another program holding the lock
// yields FWP_E_TIMEOUT instead of a hang.
func txnWaitMillis(d time.Duration) uint32 {
	if d <= 0 {
		d = DefaultTxnWaitTimeout
	}
	ms := d.Milliseconds()
	switch {
	case ms < 1:
		return 1
	case ms >= math.MaxUint32:
		return math.MaxUint32 - 1
	}
	return uint32(ms)
}

func composeProvider(a *arena, p *wfp.Provider) (*fwpmProvider0, error) {
	c := (*fwpmProvider0)(a.alloc(unsafe.Sizeof(fwpmProvider0{})))
	c.providerKey = p.Key
	dd, err := composeDisplayData(a, p.Name, p.Description)
	if err != nil {
		return nil, err
	}
	c.displayData = dd
	c.flags = uint32(p.Flags)
	c.providerData = composeBlob(a, p.Data)
	if c.serviceName, err = a.utf16(p.ServiceName, true); err != nil {
		return nil, fmt.Errorf("service name: %w", err)
	}
	return c, nil
}

func composeSublayer(a *arena, s *wfp.Sublayer) (*fwpmSublayer0, error) {
	c := (*fwpmSublayer0)(a.alloc(unsafe.Sizeof(fwpmSublayer0{})))
	c.subLayerKey = s.Key
	dd, err := composeDisplayData(a, s.Name, s.Description)
	if err != nil {
		return nil, err
	}
	c.displayData = dd
	c.flags = uint32(s.Flags)
	if s.ProviderKey != nil {
		c.providerKey = a.guid(*s.ProviderKey)
	}
	c.providerData = composeBlob(a, s.Data)
	c.weight = s.Weight
	return c, nil
}

func composeFilter(a *arena, f *wfp.Filter) (*fwpmFilter0, error) {
	c := (*fwpmFilter0)(a.alloc(unsafe.Sizeof(fwpmFilter0{})))
	c.filterKey = f.Key
	dd, err := composeDisplayData(a, f.Name, f.Description)
	if err != nil {
		return nil, err
	}
	c.displayData = dd
	c.flags = uint32(f.Flags)
	if f.ProviderKey != nil {
		c.providerKey = a.guid(*f.ProviderKey)
	}
	c.providerData = composeBlob(a, f.ProviderData)
	c.layerKey = wfpGUID(f.Layer)
	c.subLayerKey = f.Sublayer
	switch f.Weight.Type {
	case wfp.Empty, wfp.Uint8, wfp.Uint64:
	default:
		return nil, fmt.Errorf("weight: %s: want FWP_EMPTY, FWP_UINT8 or FWP_UINT64", f.Weight.Type)
	}
	if c.weight.dataType, c.weight.value, err = composeValue(a, f.Weight, false); err != nil {
		return nil, fmt.Errorf("weight: %w", err)
	}
	if n := len(f.Conditions); n > 0 {
		conds := unsafe.Slice((*fwpmFilterCondition0)(a.alloc(uintptr(n)*unsafe.Sizeof(fwpmFilterCondition0{}))), n)
		for i, cond := range f.Conditions {
			conds[i].fieldKey = wfpGUID(cond.Field)
			conds[i].matchType = uint32(cond.Match)
			cv := &conds[i].conditionValue
			if cv.dataType, cv.value, err = composeValue(a, cond.Value, true); err != nil {
				return nil, fmt.Errorf("condition %d (%s): %w", i, cond.Field, err)
			}
		}
		c.numFilterConditions = uint32(n)
		c.filterCondition = &conds[0]
	}
	c.action.actionType = uint32(f.Action.Type)
	if f.Action.Type&wfp.ActionFlagCallout != 0 {
		c.action.filterType = f.Action.CalloutKey
	}
	return c, nil
}

// composeFilterEnumTemplate builds an FWPM_FILTER_ENUM_TEMPLATE0 that matches every
// filter at one layer (of one provider, when given): all action types (actionMask
// 0xFFFFFFFF), disabled and boot-time filters included.
func composeFilterEnumTemplate(a *arena, provider *wfp.GUID, layer wfp.LayerID) *fwpmFilterEnumTemplate0 {
	t := (*fwpmFilterEnumTemplate0)(a.alloc(unsafe.Sizeof(fwpmFilterEnumTemplate0{})))
	if provider != nil {
		t.providerKey = a.guid(*provider)
	}
	t.layerKey = wfp.GUID(layer)
	t.enumType = fwpFilterEnumOverlapping
	t.flags = fwpFilterEnumFlagIncludeBoottime | fwpFilterEnumFlagIncludeDisabled
	t.actionMask = actionMaskAll
	return t
}

func composeSublayerEnumTemplate(a *arena, provider wfp.GUID) *fwpmSublayerEnumTemplate0 {
	t := (*fwpmSublayerEnumTemplate0)(a.alloc(unsafe.Sizeof(fwpmSublayerEnumTemplate0{})))
	t.providerKey = a.guid(provider)
	return t
}

// composeValue returns the type and union of an FWP_VALUE0, or, with cond set, of an
// FWP_CONDITION_VALUE0 (which also allows address masks and ranges).
func composeValue(a *arena, v wfp.Value, cond bool) (uint32, uintptr, error) {
	var u uintptr
	switch v.Type {
	case wfp.Empty:
	case wfp.Uint8, wfp.Int8, wfp.Uint16, wfp.Int16, wfp.Uint32, wfp.Int32, wfp.Float:
		bits := map[wfp.DataType]uint{wfp.Uint8: 8, wfp.Int8: 8, wfp.Uint16: 16, wfp.Int16: 16}[v.Type]
		if bits == 0 {
			bits = 32
		}
		// Signed values may come zero- or sign-extended; both keep the low bits.
		hi := v.Uint >> bits
		signed := v.Type == wfp.Int8 || v.Type == wfp.Int16 || v.Type == wfp.Int32
		if hi != 0 && !(signed && hi == math.MaxUint64>>bits && v.Uint>>(bits-1)&1 == 1) {
			return 0, 0, fmt.Errorf("%s: %#x does not fit in %d bits", v.Type, v.Uint, bits)
		}
		v.Uint &= 1<<bits - 1
		// The union's first bytes hold the number (Windows is little-endian).
		u = uintptr(v.Uint)
	case wfp.Uint64, wfp.Int64, wfp.Double:
		p := (*uint64)(a.alloc(8))
		*p = v.Uint
		setUnion(&u, unsafe.Pointer(p))
	case wfp.ByteArray16, wfp.ByteArray6:
		n := 16
		if v.Type == wfp.ByteArray6 {
			n = 6
		}
		if len(v.Bytes) != n {
			return 0, 0, fmt.Errorf("%s: %d bytes, want %d", v.Type, len(v.Bytes), n)
		}
		setUnion(&u, unsafe.Pointer(a.bytes(v.Bytes)))
	case wfp.ByteBlob, wfp.SecurityDescriptor, wfp.TokenAccessInformation:
		if v.Type != wfp.ByteBlob && len(v.Bytes) == 0 {
			return 0, 0, fmt.Errorf("%s: empty", v.Type)
		}
		b := (*fwpByteBlob)(a.alloc(unsafe.Sizeof(fwpByteBlob{})))
		*b = composeBlob(a, v.Bytes)
		setUnion(&u, unsafe.Pointer(b))
	case wfp.SID:
		if err := checkSID(v.Bytes); err != nil {
			return 0, 0, err
		}
		setUnion(&u, unsafe.Pointer(a.bytes(v.Bytes)))
	case wfp.UnicodeString:
		b := v.Bytes
		if len(b)%2 != 0 {
			return 0, 0, fmt.Errorf("%s: %d bytes is not UTF-16", v.Type, len(b))
		}
		if len(b) < 2 || b[len(b)-1] != 0 || b[len(b)-2] != 0 {
			b = append(append([]byte(nil), b...), 0, 0)
		}
		setUnion(&u, unsafe.Pointer(a.bytes(b)))
	case wfp.V4AddrMask, wfp.V6AddrMask, wfp.Range:
		if !cond {
			return 0, 0, fmt.Errorf("%s is only valid in a filter condition", v.Type)
		}
		p, err := composeConditionOnly(a, v)
		if err != nil {
			return 0, 0, err
		}
		setUnion(&u, p)
	default:
		return 0, 0, fmt.Errorf("%s: not supported by wfpsandbox", v.Type)
	}
	return uint32(v.Type), u, nil
}

func composeConditionOnly(a *arena, v wfp.Value) (unsafe.Pointer, error) {
	switch v.Type {
	case wfp.V4AddrMask:
		if !v.Prefix.IsValid() || !v.Prefix.Addr().Is4() {
			return nil, fmt.Errorf("%s: %v is not an IPv4 prefix", v.Type, v.Prefix)
		}
		m := (*fwpV4AddrAndMask)(a.alloc(unsafe.Sizeof(fwpV4AddrAndMask{})))
		addr := v.Prefix.Addr().As4()
		m.addr = binary.BigEndian.Uint32(addr[:]) // host order: the address as a number
		if bits := v.Prefix.Bits(); bits > 0 {
			m.mask = ^uint32(0) << (32 - bits)
		}
		return unsafe.Pointer(m), nil
	case wfp.V6AddrMask:
		if !v.Prefix.IsValid() || !v.Prefix.Addr().Is6() {
			return nil, fmt.Errorf("%s: %v is not an IPv6 prefix", v.Type, v.Prefix)
		}
		m := (*fwpV6AddrAndMask)(a.alloc(unsafe.Sizeof(fwpV6AddrAndMask{})))
		m.addr = v.Prefix.Addr().As16()
		m.prefixLength = uint8(v.Prefix.Bits())
		return unsafe.Pointer(m), nil
	case wfp.Range:
		if v.Low == nil || v.High == nil {
			return nil, fmt.Errorf("%s: missing low or high value", v.Type)
		}
		r := (*fwpRange0)(a.alloc(unsafe.Sizeof(fwpRange0{})))
		var err error
		if r.valueLow.dataType, r.valueLow.value, err = composeValue(a, *v.Low, false); err != nil {
			return nil, fmt.Errorf("range low: %w", err)
		}
		if r.valueHigh.dataType, r.valueHigh.value, err = composeValue(a, *v.High, false); err != nil {
			return nil, fmt.Errorf("range high: %w", err)
		}
		return unsafe.Pointer(r), nil
	}
	return nil, fmt.Errorf("%s: not a condition-only type", v.Type)
}

// sidMaxSubAuthorities is SID_MAX_SUB_AUTHORITIES (winnt.h).
const sidMaxSubAuthorities = 15

// checkSID checks that b is one whole binary SID: revision 1, at most
// SID_MAX_SUB_AUTHORITIES sub-authorities, and 8 bytes plus 4 per sub-authority.
func checkSID(b []byte) error {
	if len(b) < 8 || b[0] != 1 || b[1] > sidMaxSubAuthorities || len(b) != 8+4*int(b[1]) {
		return fmt.Errorf("FWP_SID: %d bytes are not a binary SID", len(b))
	}
	return nil
}

// composeSD copies an object's security descriptor into the arena for the sd argument
// of Fwpm*Add0 ([in, optional] PSECURITY_DESCRIPTOR): nil — "the system assigns a
// default security descriptor" — when sd is empty. The bytes must be a self-relative
// security descriptor (the engine fails an invalid one with
// ERROR_INVALID_SECURITY_DESCR); they are passed as they are, with no alignment
// requirement beyond the arena's 8 bytes (SECURITY_DESCRIPTOR_RELATIVE is 4-aligned).
// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfilteradd0
func composeSD(a *arena, sd []byte) unsafe.Pointer {
	if len(sd) == 0 {
		return nil
	}
	return unsafe.Pointer(a.bytes(sd))
}

// composeDACL copies a self-relative security descriptor into the arena and returns a
// pointer to its DACL, for the dacl argument of Fwpm*SetSecurityInfoByKey0 (const ACL*).
// In SECURITY_DESCRIPTOR_RELATIVE (winnt.h) the Control word is at offset 2 and the
// DACL's offset from the start at 16; the ACL header's AclSize (offset 2 of the ACL)
// bounds it. It fails for a descriptor without a DACL (SE_DACL_PRESENT, 0x0004, clear,
// or a NULL DACL) or whose DACL lies outside it.
func composeDACL(a *arena, sd []byte) (unsafe.Pointer, error) {
	const (
		seDACLPresent  = 0x0004
		seSelfRelative = 0x8000
	)
	if len(sd) < 20 {
		return nil, fmt.Errorf("security descriptor of %d bytes: too short", len(sd))
	}
	control := binary.LittleEndian.Uint16(sd[2:])
	off := binary.LittleEndian.Uint32(sd[16:])
	if control&seSelfRelative == 0 || control&seDACLPresent == 0 || off == 0 {
		return nil, fmt.Errorf("security descriptor (control %#04x, DACL offset %d) is not self-relative with a DACL", control, off)
	}
	if uint64(off)+8 > uint64(len(sd)) || uint64(off)+uint64(binary.LittleEndian.Uint16(sd[off+2:])) > uint64(len(sd)) {
		return nil, fmt.Errorf("security descriptor of %d bytes: DACL at %d runs past its end", len(sd), off)
	}
	p := a.bytes(sd)
	return unsafe.Add(unsafe.Pointer(p), off), nil
}
