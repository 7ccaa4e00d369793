//go:build !(386 || arm || mips || mipsle)

package winengine

//lint:file-ignore U1000 the mirrors carry every SDK member for the layout, used or not

// This file serves the 64-bit Windows targets, amd64 and arm64 (which share one C
// layout); other 64-bit GOARCHes use it only so that the package compiles.

// fwpmFilter0 is FWPM_FILTER0 (fwpmtypes.h) on 64-bit Windows: 200 bytes, 8-aligned.
// providerContextKey stands for the anonymous union { UINT64 rawContext; GUID
// providerContextKey; }, which C aligns to 8; the explicit pad puts it at offset 152.
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
	filterId            uint64
	effectiveWeight     fwpValue0
}

// fwpmFilterChange0 is FWPM_FILTER_CHANGE0 (fwpmtypes.h) on 64-bit Windows: 32 bytes;
// filterId (UINT64) at 24.
// https://learn.microsoft.com/windows/win32/api/fwpmtypes/ns-fwpmtypes-fwpm_filter_change0
type fwpmFilterChange0 struct {
	changeType uint32 // FWPM_CHANGE_TYPE
	filterKey  wfpGUID
	filterId   uint64
}
