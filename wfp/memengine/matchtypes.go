package memengine

import "github.com/wfpsandbox/wfpsandbox/wfp"

// checkMatchType applies Microsoft's FWP_MATCH_TYPE reference (fwptypes.h,
// https://learn.microsoft.com/windows/win32/api/fwptypes/ne-fwptypes-fwp_match_type) to one
// condition: which match types a condition value's data type supports. It returns
// FWP_E_MATCH_TYPE_MISMATCH (winerror.h 0x80320026) for a pair the page does not allow,
// else 0. A range value's bounds must already be present and of one type.
//
// Microsoft's own filters break the sortable rule: Windows Firewall's WSH filters match
// ALE_PACKAGE_ID NOT_EQUAL an FWP_SID (windows-itpro-docs, "Troubleshooting UWP app
// connectivity"), so a real BFE may accept more than this. The engine follows the
// documentation, not that observation: code tested against it uses only documented pairs.
//
// wfp/testdata/matchtypes.tsv is the expectation the contract test holds this (and
// wine/fwpemu's own check_match_type) to, row by row; it is not read here.
func checkMatchType(m wfp.MatchType, v wfp.Value) wfp.Code {
	// FWP_MATCH_RANGE "Tests whether the value is within a given range of condition values"
	// and FWP_CONDITION_VALUE0.rangeValue is "Available when type is FWP_RANGE_TYPE". The
	// page does not say a range needs FWP_MATCH_RANGE; strict reading: it does, because
	// its Remarks require the condition's type to be the compared value's ("The BFE does
	// not perform any data conversion"), no field's value is a range, and ranges are not
	// among the listed exceptions. So "All data types support FWP_MATCH_EQUAL" does not
	// extend to FWP_RANGE_TYPE.
	if (m == wfp.MatchRange) != (v.Type == wfp.Range) {
		return wfp.ErrMatchTypeMismatch
	}
	ok := false
	switch m {
	case wfp.MatchEqual:
		// "All data types support FWP_MATCH_EQUAL."
		ok = true
	case wfp.MatchGreater, wfp.MatchLess, wfp.MatchGreaterOrEqual, wfp.MatchLessOrEqual, wfp.MatchNotEqual:
		// "Only sortable data types support FWP_MATCH_GREATER [LESS, ..., NOT_EQUAL]."
		// FWP_SECURITY_DESCRIPTOR_TYPE is not sortable: NOT_EQUAL on ALE_USER_ID is refused.
		ok = sortable(v.Type)
	case wfp.MatchRange:
		// "Only sortable data types support FWP_MATCH_RANGE": the bounds' type, which is the
		// compared field's (FWP_RANGE0: "valueLow and valueHigh must be the same data type").
		ok = sortable(v.Low.Type)
	case wfp.MatchFlagsAllSet, wfp.MatchFlagsAnySet, wfp.MatchFlagsNoneSet:
		// "Only unsigned integer data types support FWP_MATCH_FLAGS_ALL_SET [ANY, NONE]."
		ok = v.Type >= wfp.Uint8 && v.Type <= wfp.Uint64
	case wfp.MatchEqualCaseInsensitive:
		// "Only the FWP_UNICODE_STRING_TYPE data type supports FWP_MATCH_EQUAL_CASE_INSENSITIVE."
		ok = v.Type == wfp.UnicodeString
	case wfp.MatchPrefix, wfp.MatchNotPrefix:
		// "The types FWP_BYTE_BLOB_TYPE (when it contains a string) and FWP_UNICODE_STRING_TYPE
		// support this match type." What "contains a string" means in bytes is not
		// documented, so a blob's contents are not checked.
		ok = v.Type == wfp.ByteBlob || v.Type == wfp.UnicodeString
	}
	if !ok {
		return wfp.ErrMatchTypeMismatch
	}
	return 0
}

// sortable is the FWP_MATCH_TYPE page's list: "Sortable data types consist of all integer
// types, FWP_BYTE_ARRAY16_TYPE, FWP_BYTE_BLOB_TYPE, and FWP_UNICODE_STRING_TYPE." FWP_FLOAT
// and FWP_DOUBLE are not integer types. FWP_V4_ADDR_MASK and FWP_V6_ADDR_MASK are not in
// the list; the page's Remarks let them be compared with an address field (an FWP_UINT32 or
// FWP_BYTE_ARRAY16_TYPE) but name no match type, and the strict reading - only EQUAL - is
// ours.
func sortable(t wfp.DataType) bool {
	return isInteger(t) || t == wfp.ByteArray16 || t == wfp.ByteBlob || t == wfp.UnicodeString
}
