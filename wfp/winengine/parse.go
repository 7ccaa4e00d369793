//go:build windows || unix

package winengine

// C structures returned by fwpuclnt.dll → Go wfp types. Everything is copied into Go
// memory, so the caller may FwpmFreeMemory0 the C structure right after parsing. The
// engine's output is not trusted blindly: a NULL pointer where data is required, or a
// non-zero count with a NULL array, is an error naming the field, never a crash.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"unsafe"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// maxConditions bounds numFilterConditions read from the engine.
const maxConditions = 1 << 16

var errNullPointer = errors.New("NULL pointer")

// unionPointer reads a union member that holds a pointer.
func unionPointer(u uintptr) unsafe.Pointer { return cPointer(u) }

func parseDisplayData(d *fwpmDisplayData0) (name, description string, err error) {
	if name, err = goString(d.name); err != nil {
		return "", "", fmt.Errorf("displayData.name: %w", err)
	}
	if description, err = goString(d.description); err != nil {
		return "", "", fmt.Errorf("displayData.description: %w", err)
	}
	return name, description, nil
}

func parseBlob(field string, b *fwpByteBlob) ([]byte, error) {
	data, err := goBytes(b.data, b.size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	return data, nil
}

func parseProvider(c *fwpmProvider0) (*wfp.Provider, error) {
	if c == nil {
		return nil, fmt.Errorf("FWPM_PROVIDER0: %w", errNullPointer)
	}
	p := &wfp.Provider{Key: c.providerKey, Flags: wfp.ProviderFlags(c.flags)}
	wrap := func(err error) error { return fmt.Errorf("%s: %w", wfp.ObjectName("provider", p.Key, p.Name), err) }
	var err error
	if p.Name, p.Description, err = parseDisplayData(&c.displayData); err != nil {
		return nil, wrap(err)
	}
	if p.Data, err = parseBlob("providerData", &c.providerData); err != nil {
		return nil, wrap(err)
	}
	if p.ServiceName, err = goString(c.serviceName); err != nil {
		return nil, wrap(fmt.Errorf("serviceName: %w", err))
	}
	return p, nil
}

func parseSublayer(c *fwpmSublayer0) (*wfp.Sublayer, error) {
	if c == nil {
		return nil, fmt.Errorf("FWPM_SUBLAYER0: %w", errNullPointer)
	}
	s := &wfp.Sublayer{Key: c.subLayerKey, Flags: wfp.SublayerFlags(c.flags), Weight: c.weight}
	wrap := func(err error) error { return fmt.Errorf("%s: %w", wfp.ObjectName("sublayer", s.Key, s.Name), err) }
	var err error
	if s.Name, s.Description, err = parseDisplayData(&c.displayData); err != nil {
		return nil, wrap(err)
	}
	if c.providerKey != nil {
		k := *c.providerKey
		s.ProviderKey = &k
	}
	if s.Data, err = parseBlob("providerData", &c.providerData); err != nil {
		return nil, wrap(err)
	}
	return s, nil
}

func parseFilter(c *fwpmFilter0) (*wfp.Filter, error) {
	if c == nil {
		return nil, fmt.Errorf("FWPM_FILTER0: %w", errNullPointer)
	}
	f := &wfp.Filter{
		Key:      c.filterKey,
		Flags:    wfp.FilterFlags(c.flags),
		Layer:    wfp.LayerID(c.layerKey),
		Sublayer: c.subLayerKey,
		Action:   wfp.Action{Type: wfp.ActionType(c.action.actionType)},
		ID:       c.filterId,
	}
	wrap := func(err error) error { return fmt.Errorf("%s: %w", wfp.ObjectName("filter", f.Key, f.Name), err) }
	var err error
	if f.Name, f.Description, err = parseDisplayData(&c.displayData); err != nil {
		return nil, wrap(err)
	}
	if c.providerKey != nil {
		k := *c.providerKey
		f.ProviderKey = &k
	}
	if f.ProviderData, err = parseBlob("providerData", &c.providerData); err != nil {
		return nil, wrap(err)
	}
	if f.Weight, err = parseValue(c.weight.dataType, c.weight.value, false); err != nil {
		return nil, wrap(fmt.Errorf("weight: %w", err))
	}
	ew, err := parseValue(c.effectiveWeight.dataType, c.effectiveWeight.value, false)
	if err != nil {
		return nil, wrap(fmt.Errorf("effectiveWeight: %w", err))
	}
	switch ew.Type {
	case wfp.Empty, wfp.Uint64:
		f.EffectiveWeight = ew.Uint
	default:
		return nil, wrap(fmt.Errorf("effectiveWeight: %s, want FWP_UINT64", ew.Type))
	}
	if f.Action.Type&wfp.ActionFlagCallout != 0 {
		f.Action.CalloutKey = c.action.filterType
	}
	n := c.numFilterConditions
	switch {
	case n == 0:
	case n > maxConditions:
		return nil, wrap(fmt.Errorf("numFilterConditions %d is implausible", n))
	case c.filterCondition == nil:
		return nil, wrap(fmt.Errorf("filterCondition: %w with numFilterConditions %d", errNullPointer, n))
	default:
		f.Conditions = make([]wfp.Condition, n)
		for i, cc := range unsafe.Slice(c.filterCondition, n) {
			v, err := parseValue(cc.conditionValue.dataType, cc.conditionValue.value, true)
			if err != nil {
				return nil, wrap(fmt.Errorf("condition %d (%s) value: %w", i, wfp.FieldID(cc.fieldKey), err))
			}
			f.Conditions[i] = wfp.Condition{Field: wfp.FieldID(cc.fieldKey), Match: wfp.MatchType(cc.matchType), Value: v}
		}
	}
	return f, nil
}

// parseValue copies an FWP_VALUE0 (or, with cond set, an FWP_CONDITION_VALUE0).
func parseValue(dataType uint32, u uintptr, cond bool) (wfp.Value, error) {
	t := wfp.DataType(dataType)
	v := wfp.Value{Type: t}
	p := unionPointer(u)
	needPtr := func() error {
		if p == nil {
			return fmt.Errorf("%s: %w", t, errNullPointer)
		}
		return nil
	}
	switch t {
	case wfp.Empty:
	case wfp.Uint8, wfp.Int8:
		v.Uint = uint64(uint8(u))
	case wfp.Uint16, wfp.Int16:
		v.Uint = uint64(uint16(u))
	case wfp.Uint32, wfp.Int32, wfp.Float:
		v.Uint = uint64(uint32(u))
	case wfp.Uint64, wfp.Int64, wfp.Double:
		if err := needPtr(); err != nil {
			return v, err
		}
		v.Uint = *(*uint64)(p)
	case wfp.ByteArray16, wfp.ByteArray6:
		if err := needPtr(); err != nil {
			return v, err
		}
		n := 16
		if t == wfp.ByteArray6 {
			n = 6
		}
		v.Bytes = append([]byte(nil), unsafe.Slice((*byte)(p), n)...)
	case wfp.ByteBlob, wfp.SecurityDescriptor, wfp.TokenAccessInformation:
		if err := needPtr(); err != nil {
			return v, err
		}
		b, err := parseBlob(t.String(), (*fwpByteBlob)(p))
		if err != nil {
			return v, err
		}
		if t != wfp.ByteBlob && len(b) == 0 {
			return v, fmt.Errorf("%s: zero-length blob", t)
		}
		v.Bytes = b
	case wfp.SID:
		if err := needPtr(); err != nil {
			return v, err
		}
		hdr := unsafe.Slice((*byte)(p), 8)
		if hdr[0] != 1 {
			return v, fmt.Errorf("%s: revision %d, want 1", t, hdr[0])
		}
		if hdr[1] > sidMaxSubAuthorities {
			return v, fmt.Errorf("%s: %d sub-authorities, at most %d", t, hdr[1], sidMaxSubAuthorities)
		}
		v.Bytes = append([]byte(nil), unsafe.Slice((*byte)(p), 8+4*int(hdr[1]))...)
	case wfp.UnicodeString:
		if err := needPtr(); err != nil {
			return v, err
		}
		n, err := utf16Len((*uint16)(p))
		if err != nil {
			return v, fmt.Errorf("%s: %w", t, err)
		}
		v.Bytes = append([]byte(nil), unsafe.Slice((*byte)(p), 2*(n+1))...)
	case wfp.V4AddrMask:
		if !cond {
			return v, fmt.Errorf("%s outside a condition value", t)
		}
		if err := needPtr(); err != nil {
			return v, err
		}
		m := (*fwpV4AddrAndMask)(p)
		ones := bits.LeadingZeros32(^m.mask)
		if m.mask != 0 && ones+bits.TrailingZeros32(m.mask) != 32 {
			return v, fmt.Errorf("%s: mask %#08x is not contiguous", t, m.mask)
		}
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], m.addr)
		v.Prefix = netip.PrefixFrom(netip.AddrFrom4(a), ones)
	case wfp.V6AddrMask:
		if !cond {
			return v, fmt.Errorf("%s outside a condition value", t)
		}
		if err := needPtr(); err != nil {
			return v, err
		}
		m := (*fwpV6AddrAndMask)(p)
		if m.prefixLength > 128 {
			return v, fmt.Errorf("%s: prefix length %d", t, m.prefixLength)
		}
		v.Prefix = netip.PrefixFrom(netip.AddrFrom16(m.addr), int(m.prefixLength))
	case wfp.Range:
		if !cond {
			return v, fmt.Errorf("%s outside a condition value", t)
		}
		if err := needPtr(); err != nil {
			return v, err
		}
		r := (*fwpRange0)(p)
		lo, err := parseValue(r.valueLow.dataType, r.valueLow.value, false)
		if err != nil {
			return v, fmt.Errorf("%s low: %w", t, err)
		}
		hi, err := parseValue(r.valueHigh.dataType, r.valueHigh.value, false)
		if err != nil {
			return v, fmt.Errorf("%s high: %w", t, err)
		}
		v.Low, v.High = &lo, &hi
	default:
		return v, fmt.Errorf("%s: not supported by wfpsandbox", t)
	}
	return v, nil
}
