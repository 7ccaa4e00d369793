package wfp

import (
	"slices"
	"testing"
)

// Expected types are the "Data type" lines of "Filtering Condition Identifiers", plus
// FWP_RANGE_TYPE for numeric and address fields (see fieldtypes.go).
func TestFieldValueTypes(t *testing.T) {
	tests := []struct {
		field string
		v6    bool
		want  []DataType
	}{
		{"FWPM_CONDITION_IP_REMOTE_PORT", false, []DataType{Uint16, Range}},
		{"FWPM_CONDITION_IP_REMOTE_PORT", true, []DataType{Uint16, Range}},
		{"FWPM_CONDITION_IP_LOCAL_PORT", false, []DataType{Uint16, Range}},
		{"FWPM_CONDITION_IP_PROTOCOL", true, []DataType{Uint8, Range}},
		{"FWPM_CONDITION_ALE_USER_ID", false, []DataType{SecurityDescriptor}},
		{"FWPM_CONDITION_ALE_REMOTE_USER_ID", true, []DataType{SecurityDescriptor}},
		{"FWPM_CONDITION_IP_REMOTE_ADDRESS", false, []DataType{Uint32, V4AddrMask, Range}},
		{"FWPM_CONDITION_IP_REMOTE_ADDRESS", true, []DataType{ByteArray16, V6AddrMask, Range}},
		{"FWPM_CONDITION_IP_LOCAL_ADDRESS", true, []DataType{ByteArray16, V6AddrMask, Range}},
		{"FWPM_CONDITION_IP_REMOTE_ADDRESS_V4", true, []DataType{Uint32, V4AddrMask, Range}},
		{"FWPM_CONDITION_ALE_APP_ID", false, []DataType{ByteBlob}},
		{"FWPM_CONDITION_FLAGS", false, []DataType{Uint32}},
		{"FWPM_CONDITION_ALE_PACKAGE_ID", false, []DataType{SID}},
		{"FWPM_CONDITION_IP_LOCAL_INTERFACE", false, []DataType{Uint64, Range}},
		{"FWPM_CONDITION_INTERFACE_MAC_ADDRESS", false, []DataType{ByteArray6}},
		{"FWPM_CONDITION_RPC_IF_UUID", false, []DataType{ByteArray16}},
		{"FWPM_CONDITION_COMPARTMENT_ID", false, nil},
	}
	for _, tt := range tests {
		got := FieldValueTypes(field(t, tt.field), tt.v6)
		if !slices.Equal(got, tt.want) {
			t.Errorf("FieldValueTypes(%s, v6=%v) = %v, want %v", tt.field, tt.v6, got, tt.want)
		}
	}
	if got := FieldValueTypes(FieldID(MustParseGUID("00000000-0000-0000-0000-000000000002")), false); got != nil {
		t.Errorf("unknown field: got %v, want nil", got)
	}
}

// Every field offered by an ALE layer in the table has a known value type, except the
// four the identifiers page does not type.
func TestALEFieldsAreTyped(t *testing.T) {
	untyped := map[string]bool{
		"FWPM_CONDITION_COMPARTMENT_ID": true, "FWPM_CONDITION_ALE_EFFECTIVE_NAME": true,
		"FWPM_CONDITION_ALE_SECURITY_ATTRIBUTE_FQBN_VALUE": true, "FWPM_CONDITION_IPSEC_SECURITY_REALM_ID": true,
	}
	for l, fields := range layerFields {
		for _, f := range fields {
			name := LookupName(KindField, GUID(f))
			if FieldValueTypes(f, LayerIsV6(l)) == nil && !untyped[name] {
				t.Errorf("%s at %s has no value type", name, l)
			}
		}
	}
}

func TestFieldValueTypesReturnsFreshSlice(t *testing.T) {
	a := FieldValueTypes(FieldIPRemotePort, false)
	a[0] = Empty
	if b := FieldValueTypes(FieldIPRemotePort, false); b[0] != Uint16 {
		t.Error("FieldValueTypes shares its result between calls")
	}
}
