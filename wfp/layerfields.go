package wfp

import "strings"

// Which condition fields each filtering layer offers.
//
// Sources, all Microsoft's:
//   - win32 "Filtering conditions available at each filtering layer"
//     (https://learn.microsoft.com/windows/win32/fwp/filtering-conditions-available-at-each-filtering-layer,
//     MicrosoftDocs/win32 desktop-src/FWP/filtering-conditions-available-at-each-filtering-layer.md);
//   - the WDK page of the same name (MicrosoftDocs/windows-driver-docs
//     windows-driver-docs-pr/network/filtering-conditions-available-at-each-filtering-layer.md);
//   - the run-time data field enumerations FWPS_FIELDS_<LAYER> of fwpsk.h
//     (MicrosoftDocs/windows-driver-docs-ddi wdk-ddi-src/content/fwpsk/ne-fwpsk-fwps_fields_*_.md,
//     snapshot 6dcd4d9f, 2024-03-27). The filter engine can only match a condition on a field
//     the layer's classify supplies, so these lists are the most complete statement of what a
//     layer accepts.
//
// Each list below is the union of the three. For every layer transcribed here the two
// "available at each layer" pages turned out to be subsets of the FWPS_FIELDS enumeration;
// the enumeration adds ALE_SECURITY_ATTRIBUTE_FQBN_VALUE and COMPARTMENT_ID everywhere,
// ALE_EFFECTIVE_NAME, ALE_ORIGINAL_APP_ID and INTERFACE_QUARANTINE_EPOCH at some ALE layers
// and IPSEC_SECURITY_REALM_ID at the transport layers. FWPS names were mapped to the FWPM
// condition they implement: ICMP_TYPE and ICMP_CODE are fwpmu.h aliases of IP_LOCAL_PORT and
// IP_REMOTE_PORT; LOCAL_INTERFACE_INDEX/_TYPE, LOCAL_TUNNEL_TYPE and ARRIVAL_SUB_INTERFACE_INDEX
// are the Vista names of INTERFACE_INDEX/_TYPE, TUNNEL_TYPE and SUB_INTERFACE_INDEX (the WDK
// page says so); NAP_CONTEXT is ALE_NAP_CONTEXT; PROFILE_ID is CURRENT_PROFILE_ID (the win32
// page lists CURRENT_PROFILE_ID at the transport layers); SIO_FIREWALL_SOCKET_PROPERTY is
// the newer name of ALE_SIO_FIREWALL_SYSTEM_PORT (the pages list the latter where the
// enumeration has the former). RESERVED_n and BITMAP_* fields have no FWPM condition and are
// left out.
//
// A V4 layer, its V6 twin and their _DISCARD layers offer the same fields (the enumerations
// of every V4/V6 pair above are identical). Names are FWPM_CONDITION_ without the prefix.
var layerFieldNames = map[string][]string{
	"ALE_AUTH_CONNECT": {
		"ALE_APP_ID", "ALE_EFFECTIVE_NAME", "ALE_ORIGINAL_APP_ID", "ALE_PACKAGE_ID", "ALE_REMOTE_MACHINE_ID",
		"ALE_REMOTE_USER_ID", "ALE_SECURITY_ATTRIBUTE_FQBN_VALUE", "ALE_USER_ID", "ARRIVAL_INTERFACE_INDEX",
		"ARRIVAL_INTERFACE_TYPE", "ARRIVAL_TUNNEL_TYPE", "COMPARTMENT_ID", "CURRENT_PROFILE_ID", "FLAGS",
		"INTERFACE_INDEX", "INTERFACE_QUARANTINE_EPOCH", "INTERFACE_TYPE", "IP_ARRIVAL_INTERFACE",
		"IP_DESTINATION_ADDRESS_TYPE", "IP_LOCAL_ADDRESS", "IP_LOCAL_ADDRESS_TYPE", "IP_LOCAL_INTERFACE",
		"IP_LOCAL_PORT", "IP_NEXTHOP_INTERFACE", "IP_PROTOCOL", "IP_REMOTE_ADDRESS", "IP_REMOTE_PORT",
		"NEXTHOP_INTERFACE_INDEX", "NEXTHOP_INTERFACE_TYPE", "NEXTHOP_SUB_INTERFACE_INDEX", "NEXTHOP_TUNNEL_TYPE",
		"ORIGINAL_ICMP_TYPE", "ORIGINAL_PROFILE_ID", "PEER_NAME", "REAUTHORIZE_REASON", "SUB_INTERFACE_INDEX",
		"TUNNEL_TYPE",
	},
	"ALE_AUTH_RECV_ACCEPT": {
		"ALE_APP_ID", "ALE_NAP_CONTEXT", "ALE_PACKAGE_ID", "ALE_REMOTE_MACHINE_ID", "ALE_REMOTE_USER_ID",
		"ALE_SECURITY_ATTRIBUTE_FQBN_VALUE", "ALE_SIO_FIREWALL_SYSTEM_PORT", "ALE_USER_ID",
		"ARRIVAL_INTERFACE_INDEX", "ARRIVAL_INTERFACE_TYPE", "ARRIVAL_TUNNEL_TYPE", "COMPARTMENT_ID",
		"CURRENT_PROFILE_ID", "FLAGS", "INTERFACE_INDEX", "INTERFACE_QUARANTINE_EPOCH", "INTERFACE_TYPE",
		"IP_ARRIVAL_INTERFACE", "IP_LOCAL_ADDRESS", "IP_LOCAL_ADDRESS_TYPE", "IP_LOCAL_INTERFACE", "IP_LOCAL_PORT",
		"IP_NEXTHOP_INTERFACE", "IP_PROTOCOL", "IP_REMOTE_ADDRESS", "IP_REMOTE_PORT", "NEXTHOP_INTERFACE_INDEX",
		"NEXTHOP_INTERFACE_TYPE", "NEXTHOP_SUB_INTERFACE_INDEX", "NEXTHOP_TUNNEL_TYPE", "ORIGINAL_ICMP_TYPE",
		"ORIGINAL_PROFILE_ID", "REAUTHORIZE_REASON", "SUB_INTERFACE_INDEX", "TUNNEL_TYPE",
	},
	"ALE_AUTH_LISTEN": {
		"ALE_APP_ID", "ALE_PACKAGE_ID", "ALE_SECURITY_ATTRIBUTE_FQBN_VALUE", "ALE_SIO_FIREWALL_SYSTEM_PORT",
		"ALE_USER_ID", "COMPARTMENT_ID", "FLAGS", "INTERFACE_TYPE", "IP_LOCAL_ADDRESS", "IP_LOCAL_ADDRESS_TYPE",
		"IP_LOCAL_INTERFACE", "IP_LOCAL_PORT", "LOCAL_INTERFACE_PROFILE_ID", "TUNNEL_TYPE",
	},
	"ALE_RESOURCE_ASSIGNMENT": {
		"ALE_APP_ID", "ALE_PACKAGE_ID", "ALE_PROMISCUOUS_MODE", "ALE_SECURITY_ATTRIBUTE_FQBN_VALUE",
		"ALE_SIO_FIREWALL_SYSTEM_PORT", "ALE_USER_ID", "COMPARTMENT_ID", "FLAGS", "INTERFACE_TYPE",
		"IP_LOCAL_ADDRESS", "IP_LOCAL_ADDRESS_TYPE", "IP_LOCAL_INTERFACE", "IP_LOCAL_PORT", "IP_PROTOCOL",
		"LOCAL_INTERFACE_PROFILE_ID", "TUNNEL_TYPE",
	},
	"ALE_RESOURCE_RELEASE": {
		"ALE_APP_ID", "ALE_PACKAGE_ID", "ALE_SECURITY_ATTRIBUTE_FQBN_VALUE", "ALE_USER_ID", "COMPARTMENT_ID",
		"FLAGS", "IP_LOCAL_ADDRESS", "IP_LOCAL_ADDRESS_TYPE", "IP_LOCAL_INTERFACE", "IP_LOCAL_PORT", "IP_PROTOCOL",
	},
	"ALE_ENDPOINT_CLOSURE": {
		"ALE_APP_ID", "ALE_PACKAGE_ID", "ALE_SECURITY_ATTRIBUTE_FQBN_VALUE", "ALE_USER_ID", "COMPARTMENT_ID",
		"FLAGS", "IP_LOCAL_ADDRESS", "IP_LOCAL_ADDRESS_TYPE", "IP_LOCAL_INTERFACE", "IP_LOCAL_PORT", "IP_PROTOCOL",
		"IP_REMOTE_ADDRESS", "IP_REMOTE_PORT",
	},
	"ALE_FLOW_ESTABLISHED": {
		"ALE_APP_ID", "ALE_ORIGINAL_APP_ID", "ALE_PACKAGE_ID", "ALE_REMOTE_MACHINE_ID", "ALE_REMOTE_USER_ID",
		"ALE_SECURITY_ATTRIBUTE_FQBN_VALUE", "ALE_USER_ID", "COMPARTMENT_ID", "DIRECTION", "FLAGS",
		"INTERFACE_TYPE", "IP_DESTINATION_ADDRESS_TYPE", "IP_LOCAL_ADDRESS", "IP_LOCAL_ADDRESS_TYPE",
		"IP_LOCAL_INTERFACE", "IP_LOCAL_PORT", "IP_PROTOCOL", "IP_REMOTE_ADDRESS", "IP_REMOTE_PORT", "TUNNEL_TYPE",
	},
	"ALE_BIND_REDIRECT": {
		"ALE_APP_ID", "ALE_PACKAGE_ID", "ALE_SECURITY_ATTRIBUTE_FQBN_VALUE", "ALE_USER_ID", "COMPARTMENT_ID",
		"FLAGS", "IP_LOCAL_ADDRESS", "IP_LOCAL_ADDRESS_TYPE", "IP_LOCAL_PORT", "IP_PROTOCOL",
	},
	"ALE_CONNECT_REDIRECT": {
		"ALE_APP_ID", "ALE_ORIGINAL_APP_ID", "ALE_PACKAGE_ID", "ALE_SECURITY_ATTRIBUTE_FQBN_VALUE", "ALE_USER_ID",
		"COMPARTMENT_ID", "FLAGS", "IP_DESTINATION_ADDRESS_TYPE", "IP_LOCAL_ADDRESS", "IP_LOCAL_ADDRESS_TYPE",
		"IP_LOCAL_PORT", "IP_PROTOCOL", "IP_REMOTE_ADDRESS", "IP_REMOTE_PORT",
	},
	"INBOUND_TRANSPORT": {
		"COMPARTMENT_ID", "CURRENT_PROFILE_ID", "FLAGS", "INTERFACE_INDEX", "INTERFACE_TYPE",
		"IPSEC_SECURITY_REALM_ID", "IP_LOCAL_ADDRESS", "IP_LOCAL_ADDRESS_TYPE", "IP_LOCAL_INTERFACE",
		"IP_LOCAL_PORT", "IP_PROTOCOL", "IP_REMOTE_ADDRESS", "IP_REMOTE_PORT", "SUB_INTERFACE_INDEX",
		"TUNNEL_TYPE",
	},
	"OUTBOUND_TRANSPORT": {
		"COMPARTMENT_ID", "CURRENT_PROFILE_ID", "FLAGS", "INTERFACE_INDEX", "INTERFACE_TYPE",
		"IPSEC_SECURITY_REALM_ID", "IP_DESTINATION_ADDRESS_TYPE", "IP_LOCAL_ADDRESS", "IP_LOCAL_ADDRESS_TYPE",
		"IP_LOCAL_INTERFACE", "IP_LOCAL_PORT", "IP_PROTOCOL", "IP_REMOTE_ADDRESS", "IP_REMOTE_PORT",
		"SUB_INTERFACE_INDEX", "TUNNEL_TYPE",
	},
	"INBOUND_IPPACKET": {
		"COMPARTMENT_ID", "FLAGS", "INTERFACE_INDEX", "INTERFACE_TYPE", "IP_LOCAL_ADDRESS",
		"IP_LOCAL_ADDRESS_TYPE", "IP_LOCAL_INTERFACE", "IP_REMOTE_ADDRESS", "SUB_INTERFACE_INDEX", "TUNNEL_TYPE",
	},
	"OUTBOUND_IPPACKET": {
		"COMPARTMENT_ID", "FLAGS", "INTERFACE_INDEX", "INTERFACE_TYPE", "IP_LOCAL_ADDRESS",
		"IP_LOCAL_ADDRESS_TYPE", "IP_LOCAL_INTERFACE", "IP_REMOTE_ADDRESS", "SUB_INTERFACE_INDEX", "TUNNEL_TYPE",
	},
	"NAME_RESOLUTION_CACHE": {
		"ALE_APP_ID", "ALE_USER_ID", "COMPARTMENT_ID", "IP_REMOTE_ADDRESS", "PEER_NAME",
	},
}

var layerFields = map[LayerID][]FieldID{}

func init() {
	for group, short := range layerFieldNames {
		fields := make([]FieldID, len(short))
		for i, s := range short {
			fields[i] = FieldID(mustName(KindField, "FWPM_CONDITION_"+s))
		}
		found := 0
		for _, suffix := range []string{"_V4", "_V6", "_V4_DISCARD", "_V6_DISCARD"} {
			if g, k, ok := LookupGUID("FWPM_LAYER_" + group + suffix); ok && k == KindLayer {
				layerFields[LayerID(g)] = fields
				found++
			}
		}
		if found < 2 {
			panic("wfp: layer table names unknown layer group " + group)
		}
	}
}

// LayerFields returns the condition fields a layer offers, and false when the layer is
// not in the table.
func LayerFields(l LayerID) ([]FieldID, bool) {
	f, ok := layerFields[l]
	return f, ok
}

// FieldAvailable reports whether field f can be used in a condition at layer l. known is
// false when the layer is not in the table at all.
func FieldAvailable(l LayerID, f FieldID) (available, known bool) {
	fields, ok := layerFields[l]
	if !ok {
		return false, false
	}
	for _, x := range fields {
		if x == f {
			return true, true
		}
	}
	return false, true
}

// LayerIsV6 reports whether l is a layer of the IPv6 stack: its SDK name contains "_V6"
// (FWPM_LAYER_ALE_AUTH_CONNECT_V6, ..._V6_DISCARD). Unknown layers report false.
func LayerIsV6(l LayerID) bool {
	return strings.Contains(LookupName(KindLayer, GUID(l)), "_V6")
}
