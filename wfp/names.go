package wfp

import "fmt"

// Kind says what a well-known GUID names.
type Kind uint8

// The kinds of GUID that fwpmu.h defines.
const (
	KindLayer Kind = iota + 1
	KindField
	KindSublayer
	KindCallout
	KindProvider
	KindProviderContext
)

type namedGUID struct {
	kind Kind
	name string
	guid GUID
}

// The lookup tables are variable initializers, not init code, so that Go's
// dependency-ordered initialization builds them before the Layer*/Field* variables
// below, which are looked up by name.
var (
	byGUID = indexByGUID()
	byName = indexByName()
)

func indexByGUID() map[Kind]map[GUID]string {
	m := map[Kind]map[GUID]string{}
	for _, n := range sdkNames {
		if m[n.kind] == nil {
			m[n.kind] = map[GUID]string{}
		}
		m[n.kind][n.guid] = n.name
	}
	return m
}

func indexByName() map[string]namedGUID {
	m := make(map[string]namedGUID, len(sdkNames))
	for _, n := range sdkNames {
		m[n.name] = n
	}
	return m
}

// LookupName returns the SDK name of a well-known GUID of the given kind
// (for example "FWPM_LAYER_ALE_AUTH_CONNECT_V4"), or "" when fwpmu.h does not define it.
func LookupName(kind Kind, g GUID) string { return byGUID[kind][g] }

// LookupGUID returns the GUID and kind that fwpmu.h defines for an SDK name.
func LookupGUID(name string) (GUID, Kind, bool) {
	n, ok := byName[name]
	return n.guid, n.kind, ok
}

func mustName(kind Kind, name string) GUID {
	n, ok := byName[name]
	if !ok || n.kind != kind {
		panic(fmt.Sprintf("wfp: %s is not a known name of kind %d", name, kind))
	}
	return n.guid
}

// LayerID identifies a filtering layer (FWPM_LAYER_*).
type LayerID GUID

// String returns the SDK name of the layer, or its GUID when the name is unknown.
func (l LayerID) String() string {
	if n := LookupName(KindLayer, GUID(l)); n != "" {
		return n
	}
	return GUID(l).String()
}

// MarshalText implements encoding.TextMarshaler (the GUID form).
func (l LayerID) MarshalText() ([]byte, error) { return GUID(l).MarshalText() }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts a GUID or an SDK name.
func (l *LayerID) UnmarshalText(b []byte) error {
	if g, k, ok := LookupGUID(string(b)); ok && k == KindLayer {
		*l = LayerID(g)
		return nil
	}
	return (*GUID)(l).UnmarshalText(b)
}

// FieldID identifies a filtering condition field (FWPM_CONDITION_*).
type FieldID GUID

// String returns the SDK name of the field, or its GUID when the name is unknown.
// Where fwpmu.h gives one GUID two names (IP_REMOTE_PORT and ICMP_CODE), the
// alphabetically first of the non-ICMP names is used.
func (f FieldID) String() string {
	if n, ok := preferredFieldNames[f]; ok {
		return n
	}
	if n := LookupName(KindField, GUID(f)); n != "" {
		return n
	}
	return GUID(f).String()
}

// MarshalText implements encoding.TextMarshaler (the GUID form).
func (f FieldID) MarshalText() ([]byte, error) { return GUID(f).MarshalText() }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts a GUID or an SDK name.
func (f *FieldID) UnmarshalText(b []byte) error {
	if g, k, ok := LookupGUID(string(b)); ok && k == KindField {
		*f = FieldID(g)
		return nil
	}
	return (*GUID)(f).UnmarshalText(b)
}

// Layers used by wfpsandbox and by explain.
var (
	LayerALEAuthConnectV4         = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_AUTH_CONNECT_V4"))
	LayerALEAuthConnectV6         = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_AUTH_CONNECT_V6"))
	LayerALEAuthRecvAcceptV4      = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V4"))
	LayerALEAuthRecvAcceptV6      = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V6"))
	LayerALEAuthListenV4          = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_AUTH_LISTEN_V4"))
	LayerALEAuthListenV6          = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_AUTH_LISTEN_V6"))
	LayerALEResourceAssignmentV4  = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V4"))
	LayerALEResourceAssignmentV6  = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V6"))
	LayerALEFlowEstablishedV4     = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_FLOW_ESTABLISHED_V4"))
	LayerALEFlowEstablishedV6     = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_FLOW_ESTABLISHED_V6"))
	LayerALEConnectRedirectV4     = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_CONNECT_REDIRECT_V4"))
	LayerALEConnectRedirectV6     = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_CONNECT_REDIRECT_V6"))
	LayerALEBindRedirectV4        = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_BIND_REDIRECT_V4"))
	LayerALEBindRedirectV6        = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_BIND_REDIRECT_V6"))
	LayerALEResourceReleaseV4     = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_RESOURCE_RELEASE_V4"))
	LayerALEResourceReleaseV6     = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_RESOURCE_RELEASE_V6"))
	LayerALEEndpointClosureV4     = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_ENDPOINT_CLOSURE_V4"))
	LayerALEEndpointClosureV6     = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_ENDPOINT_CLOSURE_V6"))
	LayerOutboundTransportV4      = LayerID(mustName(KindLayer, "FWPM_LAYER_OUTBOUND_TRANSPORT_V4"))
	LayerOutboundTransportV6      = LayerID(mustName(KindLayer, "FWPM_LAYER_OUTBOUND_TRANSPORT_V6"))
	LayerInboundTransportV4       = LayerID(mustName(KindLayer, "FWPM_LAYER_INBOUND_TRANSPORT_V4"))
	LayerInboundTransportV6       = LayerID(mustName(KindLayer, "FWPM_LAYER_INBOUND_TRANSPORT_V6"))
	LayerNameResolutionCacheV4    = LayerID(mustName(KindLayer, "FWPM_LAYER_NAME_RESOLUTION_CACHE_V4"))
	LayerNameResolutionCacheV6    = LayerID(mustName(KindLayer, "FWPM_LAYER_NAME_RESOLUTION_CACHE_V6"))
	LayerALEAuthConnectV4Discard  = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_AUTH_CONNECT_V4_DISCARD"))
	LayerALEAuthConnectV6Discard  = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_AUTH_CONNECT_V6_DISCARD"))
	LayerALEResourceAssignV4Disc  = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V4_DISCARD"))
	LayerALEResourceAssignV6Disc  = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V6_DISCARD"))
	LayerALEAuthRecvAcceptV4Disc  = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V4_DISCARD"))
	LayerALEAuthRecvAcceptV6Disc  = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V6_DISCARD"))
	LayerALEAuthListenV4Discard   = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_AUTH_LISTEN_V4_DISCARD"))
	LayerALEAuthListenV6Discard   = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_AUTH_LISTEN_V6_DISCARD"))
	LayerALEFlowEstablishedV4Disc = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_FLOW_ESTABLISHED_V4_DISCARD"))
	LayerALEFlowEstablishedV6Disc = LayerID(mustName(KindLayer, "FWPM_LAYER_ALE_FLOW_ESTABLISHED_V6_DISCARD"))
)

// Condition fields used by wfpsandbox and by explain.
var (
	FieldALEAppID                      = FieldID(mustName(KindField, "FWPM_CONDITION_ALE_APP_ID"))
	FieldALEUserID                     = FieldID(mustName(KindField, "FWPM_CONDITION_ALE_USER_ID"))
	FieldALERemoteUserID               = FieldID(mustName(KindField, "FWPM_CONDITION_ALE_REMOTE_USER_ID"))
	FieldALERemoteMachineID            = FieldID(mustName(KindField, "FWPM_CONDITION_ALE_REMOTE_MACHINE_ID"))
	FieldALEPromiscuousMode            = FieldID(mustName(KindField, "FWPM_CONDITION_ALE_PROMISCUOUS_MODE"))
	FieldALEPackageID                  = FieldID(mustName(KindField, "FWPM_CONDITION_ALE_PACKAGE_ID"))
	FieldALESioFirewallSysPort         = FieldID(mustName(KindField, "FWPM_CONDITION_ALE_SIO_FIREWALL_SYSTEM_PORT"))
	FieldALEOriginalAppID              = FieldID(mustName(KindField, "FWPM_CONDITION_ALE_ORIGINAL_APP_ID"))
	FieldALEEffectiveName              = FieldID(mustName(KindField, "FWPM_CONDITION_ALE_EFFECTIVE_NAME"))
	FieldIPProtocol                    = FieldID(mustName(KindField, "FWPM_CONDITION_IP_PROTOCOL"))
	FieldIPLocalAddress                = FieldID(mustName(KindField, "FWPM_CONDITION_IP_LOCAL_ADDRESS"))
	FieldIPRemoteAddress               = FieldID(mustName(KindField, "FWPM_CONDITION_IP_REMOTE_ADDRESS"))
	FieldIPLocalAddressType            = FieldID(mustName(KindField, "FWPM_CONDITION_IP_LOCAL_ADDRESS_TYPE"))
	FieldIPLocalPort                   = FieldID(mustName(KindField, "FWPM_CONDITION_IP_LOCAL_PORT"))
	FieldIPRemotePort                  = FieldID(mustName(KindField, "FWPM_CONDITION_IP_REMOTE_PORT"))
	FieldIPLocalInterface              = FieldID(mustName(KindField, "FWPM_CONDITION_IP_LOCAL_INTERFACE"))
	FieldIPDestinationAddrType         = FieldID(mustName(KindField, "FWPM_CONDITION_IP_DESTINATION_ADDRESS_TYPE"))
	FieldIPNexthopAddress              = FieldID(mustName(KindField, "FWPM_CONDITION_IP_NEXTHOP_ADDRESS"))
	FieldIPNexthopInterface            = FieldID(mustName(KindField, "FWPM_CONDITION_IP_NEXTHOP_INTERFACE"))
	FieldIPArrivalInterface            = FieldID(mustName(KindField, "FWPM_CONDITION_IP_ARRIVAL_INTERFACE"))
	FieldFlags                         = FieldID(mustName(KindField, "FWPM_CONDITION_FLAGS"))
	FieldInterfaceType                 = FieldID(mustName(KindField, "FWPM_CONDITION_INTERFACE_TYPE"))
	FieldTunnelType                    = FieldID(mustName(KindField, "FWPM_CONDITION_TUNNEL_TYPE"))
	FieldLocalInterfaceProfileID       = FieldID(mustName(KindField, "FWPM_CONDITION_LOCAL_INTERFACE_PROFILE_ID"))
	FieldInterfaceIndex                = FieldID(mustName(KindField, "FWPM_CONDITION_INTERFACE_INDEX"))
	FieldSubInterfaceIndex             = FieldID(mustName(KindField, "FWPM_CONDITION_SUB_INTERFACE_INDEX"))
	FieldArrivalInterfaceIndex         = FieldID(mustName(KindField, "FWPM_CONDITION_ARRIVAL_INTERFACE_INDEX"))
	FieldArrivalInterfaceType          = FieldID(mustName(KindField, "FWPM_CONDITION_ARRIVAL_INTERFACE_TYPE"))
	FieldArrivalTunnelType             = FieldID(mustName(KindField, "FWPM_CONDITION_ARRIVAL_TUNNEL_TYPE"))
	FieldNexthopInterfaceIndex         = FieldID(mustName(KindField, "FWPM_CONDITION_NEXTHOP_INTERFACE_INDEX"))
	FieldNexthopInterfaceType          = FieldID(mustName(KindField, "FWPM_CONDITION_NEXTHOP_INTERFACE_TYPE"))
	FieldNexthopTunnelType             = FieldID(mustName(KindField, "FWPM_CONDITION_NEXTHOP_TUNNEL_TYPE"))
	FieldNexthopSubInterfaceIndex      = FieldID(mustName(KindField, "FWPM_CONDITION_NEXTHOP_SUB_INTERFACE_INDEX"))
	FieldOriginalProfileID             = FieldID(mustName(KindField, "FWPM_CONDITION_ORIGINAL_PROFILE_ID"))
	FieldCurrentProfileID              = FieldID(mustName(KindField, "FWPM_CONDITION_CURRENT_PROFILE_ID"))
	FieldReauthorizeReason             = FieldID(mustName(KindField, "FWPM_CONDITION_REAUTHORIZE_REASON"))
	FieldOriginalICMPType              = FieldID(mustName(KindField, "FWPM_CONDITION_ORIGINAL_ICMP_TYPE"))
	FieldIPPhysicalArrivalInterface    = FieldID(mustName(KindField, "FWPM_CONDITION_IP_PHYSICAL_ARRIVAL_INTERFACE"))
	FieldIPPhysicalNexthopInterface    = FieldID(mustName(KindField, "FWPM_CONDITION_IP_PHYSICAL_NEXTHOP_INTERFACE"))
	FieldInterfaceQuarantineEpoch      = FieldID(mustName(KindField, "FWPM_CONDITION_INTERFACE_QUARANTINE_EPOCH"))
	FieldCompartmentID                 = FieldID(mustName(KindField, "FWPM_CONDITION_COMPARTMENT_ID"))
	FieldALESecurityAttributeFqbnValue = FieldID(mustName(KindField, "FWPM_CONDITION_ALE_SECURITY_ATTRIBUTE_FQBN_VALUE"))
	FieldALENAPContext                 = FieldID(mustName(KindField, "FWPM_CONDITION_ALE_NAP_CONTEXT"))
	FieldALERemoteUserIDAlias          = FieldALERemoteUserID
	FieldIPLocalAddressV4              = FieldID(mustName(KindField, "FWPM_CONDITION_IP_LOCAL_ADDRESS_V4"))
	FieldIPLocalAddressV6              = FieldID(mustName(KindField, "FWPM_CONDITION_IP_LOCAL_ADDRESS_V6"))
	FieldIPRemoteAddressV4             = FieldID(mustName(KindField, "FWPM_CONDITION_IP_REMOTE_ADDRESS_V4"))
	FieldIPRemoteAddressV6             = FieldID(mustName(KindField, "FWPM_CONDITION_IP_REMOTE_ADDRESS_V6"))
)

// fwpmu.h defines ICMP_TYPE/ICMP_CODE as aliases of IP_LOCAL_PORT/IP_REMOTE_PORT; the
// port names are the ones wfpsandbox's rules mean.
var preferredFieldNames = map[FieldID]string{
	FieldIPRemotePort: "FWPM_CONDITION_IP_REMOTE_PORT",
	FieldIPLocalPort:  "FWPM_CONDITION_IP_LOCAL_PORT",
}

// Layers returns every filtering layer fwpmu.h defines, in SDK-name order. A running
// Windows may lack the newest ones (FWP_E_LAYER_NOT_FOUND).
func Layers() []LayerID {
	var ls []LayerID
	for _, n := range sdkNames {
		if n.kind == KindLayer {
			ls = append(ls, LayerID(n.guid))
		}
	}
	return ls
}
