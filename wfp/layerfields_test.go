package wfp

import (
	"slices"
	"strings"
	"testing"
)

func layer(t *testing.T, name string) LayerID {
	t.Helper()
	g, k, ok := LookupGUID(name)
	if !ok || k != KindLayer {
		t.Fatalf("%s is not a known layer name", name)
	}
	return LayerID(g)
}

func field(t *testing.T, name string) FieldID {
	t.Helper()
	g, k, ok := LookupGUID(name)
	if !ok || k != KindField {
		t.Fatalf("%s is not a known condition name", name)
	}
	return FieldID(g)
}

// Spot checks against the two "Filtering conditions available at each filtering layer"
// pages (win32 and WDK): each row is a sentence of those pages, positive or by omission.
func TestFieldAvailable(t *testing.T) {
	tests := []struct {
		layer, field string
		want         bool
	}{
		// RESOURCE_ASSIGNMENT lists no remote address or port: port blocks cannot live there.
		{"FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V4", "FWPM_CONDITION_IP_REMOTE_PORT", false},
		{"FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V6", "FWPM_CONDITION_IP_REMOTE_ADDRESS", false},
		{"FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V4_DISCARD", "FWPM_CONDITION_IP_REMOTE_PORT", false},
		{"FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V4", "FWPM_CONDITION_IP_PROTOCOL", true},
		{"FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V6", "FWPM_CONDITION_ALE_USER_ID", true},
		{"FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V4", "FWPM_CONDITION_ALE_PROMISCUOUS_MODE", true},
		// AUTH_CONNECT has everything the baseline filters use.
		{"FWPM_LAYER_ALE_AUTH_CONNECT_V4", "FWPM_CONDITION_IP_REMOTE_PORT", true},
		{"FWPM_LAYER_ALE_AUTH_CONNECT_V6", "FWPM_CONDITION_IP_PROTOCOL", true},
		{"FWPM_LAYER_ALE_AUTH_CONNECT_V6_DISCARD", "FWPM_CONDITION_ALE_USER_ID", true},
		{"FWPM_LAYER_ALE_AUTH_CONNECT_V4", "FWPM_CONDITION_ALE_PACKAGE_ID", true},
		{"FWPM_LAYER_ALE_AUTH_CONNECT_V4", "FWPM_CONDITION_ALE_PROMISCUOUS_MODE", false},
		{"FWPM_LAYER_ALE_AUTH_CONNECT_V4", "FWPM_CONDITION_DIRECTION", false},
		// AUTH_LISTEN: local side only, no protocol.
		{"FWPM_LAYER_ALE_AUTH_LISTEN_V4", "FWPM_CONDITION_IP_LOCAL_PORT", true},
		{"FWPM_LAYER_ALE_AUTH_LISTEN_V6", "FWPM_CONDITION_IP_PROTOCOL", false},
		{"FWPM_LAYER_ALE_AUTH_LISTEN_V4_DISCARD", "FWPM_CONDITION_IP_REMOTE_ADDRESS", false},
		{"FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V4", "FWPM_CONDITION_ALE_NAP_CONTEXT", true},
		{"FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V6_DISCARD", "FWPM_CONDITION_IP_REMOTE_PORT", true},
		// RESOURCE_RELEASE has no remote side; ENDPOINT_CLOSURE has.
		{"FWPM_LAYER_ALE_RESOURCE_RELEASE_V4", "FWPM_CONDITION_IP_REMOTE_ADDRESS", false},
		{"FWPM_LAYER_ALE_ENDPOINT_CLOSURE_V6", "FWPM_CONDITION_IP_REMOTE_PORT", true},
		{"FWPM_LAYER_ALE_FLOW_ESTABLISHED_V4", "FWPM_CONDITION_DIRECTION", true},
		{"FWPM_LAYER_ALE_FLOW_ESTABLISHED_V6_DISCARD", "FWPM_CONDITION_ALE_USER_ID", true},
		{"FWPM_LAYER_ALE_BIND_REDIRECT_V4", "FWPM_CONDITION_IP_REMOTE_PORT", false},
		{"FWPM_LAYER_ALE_BIND_REDIRECT_V6", "FWPM_CONDITION_IP_LOCAL_PORT", true},
		{"FWPM_LAYER_ALE_CONNECT_REDIRECT_V4", "FWPM_CONDITION_ALE_ORIGINAL_APP_ID", true},
		{"FWPM_LAYER_ALE_CONNECT_REDIRECT_V6", "FWPM_CONDITION_IP_REMOTE_ADDRESS", true},
		// Transport and IP packet layers know no user or application.
		{"FWPM_LAYER_OUTBOUND_TRANSPORT_V4", "FWPM_CONDITION_ALE_USER_ID", false},
		{"FWPM_LAYER_OUTBOUND_TRANSPORT_V6", "FWPM_CONDITION_IP_REMOTE_PORT", true},
		{"FWPM_LAYER_INBOUND_TRANSPORT_V4_DISCARD", "FWPM_CONDITION_ALE_APP_ID", false},
		{"FWPM_LAYER_INBOUND_TRANSPORT_V4", "FWPM_CONDITION_IP_DESTINATION_ADDRESS_TYPE", false},
		{"FWPM_LAYER_OUTBOUND_TRANSPORT_V4", "FWPM_CONDITION_IP_DESTINATION_ADDRESS_TYPE", true},
		{"FWPM_LAYER_INBOUND_IPPACKET_V4", "FWPM_CONDITION_IP_LOCAL_PORT", false},
		{"FWPM_LAYER_OUTBOUND_IPPACKET_V6", "FWPM_CONDITION_IP_REMOTE_ADDRESS", true},
		{"FWPM_LAYER_OUTBOUND_IPPACKET_V6_DISCARD", "FWPM_CONDITION_ALE_USER_ID", false},
		{"FWPM_LAYER_NAME_RESOLUTION_CACHE_V4", "FWPM_CONDITION_PEER_NAME", true},
		{"FWPM_LAYER_NAME_RESOLUTION_CACHE_V6", "FWPM_CONDITION_IP_REMOTE_PORT", false},
	}
	for _, tt := range tests {
		t.Run(tt.layer+"/"+tt.field, func(t *testing.T) {
			got, known := FieldAvailable(layer(t, tt.layer), field(t, tt.field))
			if !known {
				t.Fatalf("layer %s is not in the table", tt.layer)
			}
			if got != tt.want {
				t.Errorf("FieldAvailable = %v, want %v", got, tt.want)
			}
		})
	}
}

// The win32 page's list for AUTH_CONNECT (Vista, Windows 7 and Windows 8 sections),
// transcribed independently of the table: every entry must be available.
func TestAuthConnectHasEveryDocumentedField(t *testing.T) {
	doc := []string{
		"ALE_APP_ID", "ALE_REMOTE_MACHINE_ID", "ALE_REMOTE_USER_ID", "ALE_USER_ID", "FLAGS", "INTERFACE_TYPE",
		"IP_DESTINATION_ADDRESS_TYPE", "IP_LOCAL_ADDRESS", "IP_LOCAL_ADDRESS_TYPE", "IP_LOCAL_INTERFACE",
		"IP_LOCAL_PORT", "IP_PROTOCOL", "IP_REMOTE_ADDRESS", "IP_REMOTE_PORT", "SUB_INTERFACE_INDEX", "TUNNEL_TYPE",
		"IP_ARRIVAL_INTERFACE", "ARRIVAL_INTERFACE_TYPE", "ARRIVAL_TUNNEL_TYPE", "ARRIVAL_INTERFACE_INDEX",
		"INTERFACE_INDEX", "NEXTHOP_SUB_INTERFACE_INDEX", "IP_NEXTHOP_INTERFACE", "NEXTHOP_INTERFACE_TYPE",
		"NEXTHOP_TUNNEL_TYPE", "NEXTHOP_INTERFACE_INDEX", "ORIGINAL_PROFILE_ID", "CURRENT_PROFILE_ID",
		"REAUTHORIZE_REASON", "PEER_NAME", "ORIGINAL_ICMP_TYPE", "ALE_PACKAGE_ID",
	}
	for _, l := range []string{"FWPM_LAYER_ALE_AUTH_CONNECT_V4", "FWPM_LAYER_ALE_AUTH_CONNECT_V6_DISCARD"} {
		for _, f := range doc {
			if ok, _ := FieldAvailable(layer(t, l), field(t, "FWPM_CONDITION_"+f)); !ok {
				t.Errorf("%s: documented field %s missing", l, f)
			}
		}
	}
}

// ALE_USER_ID is offered by every ALE layer (wfp-facts §2) and by no packet layer.
func TestUserIDLayers(t *testing.T) {
	user := field(t, "FWPM_CONDITION_ALE_USER_ID")
	for _, g := range []string{"AUTH_CONNECT", "AUTH_RECV_ACCEPT", "AUTH_LISTEN", "RESOURCE_ASSIGNMENT", "FLOW_ESTABLISHED"} {
		for _, sfx := range []string{"_V4", "_V6", "_V4_DISCARD", "_V6_DISCARD"} {
			if ok, _ := FieldAvailable(layer(t, "FWPM_LAYER_ALE_"+g+sfx), user); !ok {
				t.Errorf("ALE_USER_ID missing at ALE_%s%s", g, sfx)
			}
		}
	}
	for _, g := range []string{"BIND_REDIRECT", "CONNECT_REDIRECT", "RESOURCE_RELEASE", "ENDPOINT_CLOSURE"} {
		for _, sfx := range []string{"_V4", "_V6"} {
			if ok, _ := FieldAvailable(layer(t, "FWPM_LAYER_ALE_"+g+sfx), user); !ok {
				t.Errorf("ALE_USER_ID missing at ALE_%s%s", g, sfx)
			}
		}
	}
}

func TestV4AndV6TwinsAgree(t *testing.T) {
	for l, fields := range layerFields {
		name := LookupName(KindLayer, GUID(l))
		if !LayerIsV6(l) {
			continue
		}
		twin := layer(t, strings.Replace(name, "_V6", "_V4", 1))
		if !slices.Equal(fields, layerFields[twin]) {
			t.Errorf("%s and its V4 twin offer different fields", name)
		}
	}
}

func TestUnknownLayer(t *testing.T) {
	if _, known := FieldAvailable(LayerID(MustParseGUID("00000000-0000-0000-0000-000000000001")), FieldALEUserID); known {
		t.Error("a made-up layer is reported as known")
	}
	if _, ok := LayerFields(LayerID{}); ok {
		t.Error("the zero layer is reported as known")
	}
}

func TestLayerIsV6(t *testing.T) {
	if LayerIsV6(LayerALEAuthConnectV4) || !LayerIsV6(LayerALEAuthConnectV6) || !LayerIsV6(LayerALEResourceAssignV6Disc) {
		t.Error("LayerIsV6 misclassifies the AUTH_CONNECT / RESOURCE_ASSIGNMENT layers")
	}
}
