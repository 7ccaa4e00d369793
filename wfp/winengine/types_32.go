//go:build 386 || arm || mips || mipsle

package winengine

//lint:file-ignore U1000 the mirrors carry every SDK member for the layout, used or not

// This file serves windows/386; other 32-bit GOARCHes use it only so that the
// package compiles.

// fwpmFilter0 is FWPM_FILTER0 (fwpmtypes.h) on 32-bit Windows: 152 bytes, 8-aligned in
// C. Go aligns uint64 to 4 bytes on 32-bit targets, so the two places where C inserts
// 4 bytes before an 8-aligned member are explicit here.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_filter0
type fwpmFilter0 struct {
	filterKey           wfpGUID
	displayData         fwpmDisplayData0
	flags               uint32
	providerKey         *wfpGUID
	providerData        fwpByteBlob
	layerKey            wfpGUID
	subLayerKey         wfpGUID
	weight              fwpValue0
	numFilterConditions uint32
	filterCondition     *fwpmFilterCondition0
	action              fwpmAction0
	_                   [4]byte // C aligns the following union to 8
	providerContextKey  wfpGUID // union { UINT64 rawContext; GUID providerContextKey; }
	reserved            *wfpGUID
	_                   [4]byte // C aligns filterId to 8
	filterId            uint64
	effectiveWeight     fwpValue0
}

// fwpmFilterChange0 is FWPM_FILTER_CHANGE0 (fwpmtypes.h) on 32-bit Windows: 32 bytes,
// 8-aligned in C; Go aligns uint64 to 4, so the pad C inserts before filterId is explicit.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_filter_change0
type fwpmFilterChange0 struct {
	changeType uint32 // FWPM_CHANGE_TYPE
	filterKey  wfpGUID
	_          [4]byte // C aligns filterId to 8
	filterId   uint64
}
