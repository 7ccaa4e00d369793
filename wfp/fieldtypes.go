package wfp

// Which FWP_DATA_TYPE a condition value may have for each field, from Microsoft's
// "Filtering Condition Identifiers" (https://learn.microsoft.com/windows/win32/fwp/filtering-condition-identifiers-,
// MicrosoftDocs/win32 desktop-src/FWP/filtering-condition-identifiers-.md), which gives one
// "Data type" per condition, and two per address condition ("For an IPv4 address
// FWP_V4_ADDR_MASK, or FWP_UINT32 / For an IPv6 address FWP_V6_ADDR_MASK, or
// FWP_BYTE_ARRAY16_TYPE").
//
// FWP_RANGE_TYPE is added for every numeric and address field: FWP_CONDITION_VALUE0 has a
// rangeValue member for FWP_MATCH_RANGE, and the page does not restrict it to particular
// fields. It is not added to bit-mask fields (FLAGS, L2_FLAGS, RPC_IF_FLAG, RPC_EP_FLAGS),
// which are matched with FWP_MATCH_FLAGS_*; that exclusion is an inference, not a documented
// rule. Fields the page gives no plain FWP data type for (COMPARTMENT_ID,
// ALE_EFFECTIVE_NAME, ALE_SECURITY_ATTRIBUTE_FQBN_VALUE, IPSEC_SECURITY_REALM_ID, and the
// IKE-typed KM_TYPE, KM_MODE, AUTHENTICATION_TYPE) are unknown: FieldValueTypes returns nil.

type fieldKind uint8

const (
	kindU8 fieldKind = iota + 1
	kindU16
	kindU32
	kindU64
	kindBitmask // FWP_UINT32, no range
	kindAddr    // v4: UINT32 | V4_ADDR_MASK, v6: BYTE_ARRAY16 | V6_ADDR_MASK; both + RANGE
	kindAddr4   // always the IPv4 forms (..._ADDRESS_V4 conditions of the RPC layers)
	kindAddr6   // always the IPv6 forms
	kindBlob
	kindSD
	kindSID
	kindBytes16
	kindBytes6
)

// fieldKindNames maps FWPM_CONDITION_ names (without the prefix) to their documented type.
var fieldKindNames = map[string]fieldKind{
	// Windows 8 and later.
	"INTERFACE_MAC_ADDRESS": kindBytes6, "MAC_LOCAL_ADDRESS": kindBytes6, "MAC_REMOTE_ADDRESS": kindBytes6,
	"ETHER_TYPE": kindU16, "VLAN_ID": kindU16, "VSWITCH_TENANT_NETWORK_ID": kindU16,
	"NDIS_PORT": kindU32, "NDIS_MEDIA_TYPE": kindU32, "NDIS_PHYSICAL_MEDIA_TYPE": kindU32,
	"L2_FLAGS": kindBitmask, "MAC_LOCAL_ADDRESS_TYPE": kindU8, "MAC_REMOTE_ADDRESS_TYPE": kindU8,
	"MAC_SOURCE_ADDRESS": kindBytes6, "MAC_DESTINATION_ADDRESS": kindBytes6,
	"MAC_SOURCE_ADDRESS_TYPE": kindU8, "MAC_DESTINATION_ADDRESS_TYPE": kindU8,
	"IP_SOURCE_PORT": kindU16, "IP_DESTINATION_PORT": kindU16,
	"VSWITCH_ID": kindBlob, "VSWITCH_NETWORK_TYPE": kindU8,
	"VSWITCH_SOURCE_INTERFACE_ID": kindBlob, "VSWITCH_DESTINATION_INTERFACE_ID": kindBlob,
	"VSWITCH_SOURCE_VM_ID": kindBlob, "VSWITCH_DESTINATION_VM_ID": kindBlob,
	"VSWITCH_SOURCE_INTERFACE_TYPE": kindU8, "VSWITCH_DESTINATION_INTERFACE_TYPE": kindU8,
	"ALE_PACKAGE_ID": kindSID, "ALE_ORIGINAL_APP_ID": kindBlob,
	// Windows 7 and later. The page types IP_NEXTHOP_ADDRESS as FWP_V4_ADDR_MASK only;
	// it is treated like every other address.
	"IP_NEXTHOP_ADDRESS": kindAddr, "IP_NEXTHOP_INTERFACE": kindU64,
	"NEXTHOP_INTERFACE_TYPE": kindU32, "NEXTHOP_TUNNEL_TYPE": kindU32, "NEXTHOP_INTERFACE_INDEX": kindU32,
	"NEXTHOP_SUB_INTERFACE_INDEX": kindU32, "ORIGINAL_PROFILE_ID": kindU32, "CURRENT_PROFILE_ID": kindU32,
	"LOCAL_INTERFACE_PROFILE_ID": kindU32, "ARRIVAL_INTERFACE_PROFILE_ID": kindU32,
	"NEXTHOP_INTERFACE_PROFILE_ID": kindU32, "REAUTHORIZE_REASON": kindU32, "ALE_REAUTH_REASON": kindU32,
	"ORIGINAL_ICMP_TYPE": kindU16, "IP_PHYSICAL_ARRIVAL_INTERFACE": kindU64,
	"IP_PHYSICAL_NEXTHOP_INTERFACE": kindU64, "INTERFACE_QUARANTINE_EPOCH": kindU64,
	// Windows Vista SP1 and later.
	"IP_ARRIVAL_INTERFACE": kindU64, "ARRIVAL_INTERFACE_TYPE": kindU32, "ARRIVAL_TUNNEL_TYPE": kindU32,
	"ARRIVAL_INTERFACE_INDEX": kindU32,
	// Windows Vista and later.
	"IP_LOCAL_ADDRESS": kindAddr, "IP_REMOTE_ADDRESS": kindAddr, "IP_SOURCE_ADDRESS": kindAddr,
	"IP_DESTINATION_ADDRESS": kindAddr, "IP_LOCAL_ADDRESS_TYPE": kindU8, "IP_DESTINATION_ADDRESS_TYPE": kindU8,
	"IP_LOCAL_INTERFACE": kindU64, "INTERFACE_TYPE": kindU32, "TUNNEL_TYPE": kindU32,
	"IP_FORWARD_INTERFACE": kindU64, "IP_PROTOCOL": kindU8, "IP_LOCAL_PORT": kindU16, "IP_REMOTE_PORT": kindU16,
	"EMBEDDED_LOCAL_ADDRESS_TYPE": kindU8, "EMBEDDED_REMOTE_ADDRESS": kindAddr, "EMBEDDED_PROTOCOL": kindU8,
	"EMBEDDED_LOCAL_PORT": kindU16, "EMBEDDED_REMOTE_PORT": kindU16, "FLAGS": kindBitmask, "DIRECTION": kindU32,
	"INTERFACE_INDEX": kindU32, "SUB_INTERFACE_INDEX": kindU32, "SOURCE_INTERFACE_INDEX": kindU32,
	"SOURCE_SUB_INTERFACE_INDEX": kindU32, "DESTINATION_INTERFACE_INDEX": kindU32,
	"DESTINATION_SUB_INTERFACE_INDEX": kindU32, "ALE_APP_ID": kindBlob, "ALE_USER_ID": kindSD,
	"ALE_REMOTE_USER_ID": kindSD, "ALE_REMOTE_MACHINE_ID": kindSD, "ALE_PROMISCUOUS_MODE": kindU32,
	"ALE_SIO_FIREWALL_SYSTEM_PORT": kindU32, "ALE_NAP_CONTEXT": kindU32,
	// User mode only.
	"QM_MODE": kindU32, "KM_AUTH_NAP_CONTEXT": kindU32, "PEER_NAME": kindBlob, "REMOTE_ID": kindSD,
	"IPSEC_POLICY_KEY": kindBytes16, "REMOTE_USER_TOKEN": kindSD, "RPC_IF_UUID": kindBytes16,
	"RPC_IF_VERSION": kindU16, "RPC_IF_FLAG": kindBitmask, "DCOM_APP_ID": kindBytes16, "IMAGE_NAME": kindBlob,
	"RPC_PROTOCOL": kindU8, "RPC_AUTH_TYPE": kindU8, "RPC_AUTH_LEVEL": kindU8, "SEC_ENCRYPT_ALGORITHM": kindU32,
	"SEC_KEY_SIZE": kindU32, "IP_LOCAL_ADDRESS_V4": kindAddr4, "IP_LOCAL_ADDRESS_V6": kindAddr6,
	"IP_REMOTE_ADDRESS_V4": kindAddr4, "IP_REMOTE_ADDRESS_V6": kindAddr6, "PIPE": kindBlob,
	"PROCESS_WITH_RPC_IF_UUID": kindBytes16, "RPC_EP_VALUE": kindBlob, "RPC_EP_FLAGS": kindBitmask,
	"CLIENT_TOKEN": kindSD, "RPC_SERVER_NAME": kindBlob, "RPC_SERVER_PORT": kindU16,
	"RPC_PROXY_AUTH_TYPE": kindBlob, "CLIENT_CERT_KEY_LENGTH": kindU32, "CLIENT_CERT_OID": kindBlob,
	"NET_EVENT_TYPE": kindU32,
}

var fieldKinds = map[FieldID]fieldKind{}

func init() {
	for name, k := range fieldKindNames {
		fieldKinds[FieldID(mustName(KindField, "FWPM_CONDITION_"+name))] = k
	}
}

// FieldValueTypes returns the data types a condition value may have for field f at a layer
// of the IPv6 stack (v6) or the IPv4 stack, or nil when the field's type is not known.
// For example IP_REMOTE_PORT allows FWP_UINT16 and FWP_RANGE_TYPE; IP_REMOTE_ADDRESS allows
// FWP_UINT32, FWP_V4_ADDR_MASK and FWP_RANGE_TYPE on v4 layers and FWP_BYTE_ARRAY16_TYPE,
// FWP_V6_ADDR_MASK and FWP_RANGE_TYPE on v6 layers; ALE_USER_ID allows only
// FWP_SECURITY_DESCRIPTOR_TYPE. The result is a fresh slice.
func FieldValueTypes(f FieldID, v6 bool) []DataType {
	switch fieldKinds[f] {
	case kindU8:
		return []DataType{Uint8, Range}
	case kindU16:
		return []DataType{Uint16, Range}
	case kindU32:
		return []DataType{Uint32, Range}
	case kindU64:
		return []DataType{Uint64, Range}
	case kindBitmask:
		return []DataType{Uint32}
	case kindAddr:
		if v6 {
			return []DataType{ByteArray16, V6AddrMask, Range}
		}
		return []DataType{Uint32, V4AddrMask, Range}
	case kindAddr4:
		return []DataType{Uint32, V4AddrMask, Range}
	case kindAddr6:
		return []DataType{ByteArray16, V6AddrMask, Range}
	case kindBlob:
		return []DataType{ByteBlob}
	case kindSD:
		return []DataType{SecurityDescriptor}
	case kindSID:
		return []DataType{SID}
	case kindBytes16:
		return []DataType{ByteArray16}
	case kindBytes6:
		return []DataType{ByteArray6}
	}
	return nil
}
