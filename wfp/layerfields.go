package wfp

// Which condition fields each filtering layer offers, from Microsoft's table
// "Filtering conditions available at each filtering layer"
// (https://learn.microsoft.com/windows/win32/fwp/filtering-conditions-available-at-each-filtering-layer).
//
// NOTE: this first version lists only the ALE connect and resource-assignment layers;
// the full table is being transcribed (see wfp/memengine owner).

var layerFields = map[LayerID][]FieldID{}

func init() {
	connect := []FieldID{
		FieldALEAppID, FieldALEUserID, FieldALERemoteUserID, FieldALERemoteMachineID,
		FieldIPProtocol, FieldIPLocalAddress, FieldIPRemoteAddress, FieldIPLocalAddressType,
		FieldIPDestinationAddrType, FieldIPLocalPort, FieldIPRemotePort, FieldIPLocalInterface,
		FieldFlags, FieldInterfaceType, FieldTunnelType, FieldInterfaceIndex, FieldSubInterfaceIndex,
		FieldLocalInterfaceProfileID, FieldALEPackageID, FieldALEOriginalAppID, FieldCompartmentID,
		FieldALEEffectiveName, FieldCurrentProfileID, FieldOriginalProfileID, FieldReauthorizeReason,
		FieldIPNexthopAddress, FieldIPNexthopInterface, FieldNexthopInterfaceIndex, FieldNexthopInterfaceType,
		FieldNexthopTunnelType, FieldNexthopSubInterfaceIndex, FieldIPPhysicalNexthopInterface,
		FieldALESecurityAttributeFqbnValue, FieldInterfaceQuarantineEpoch, FieldOriginalICMPType,
	}
	resource := []FieldID{
		FieldALEAppID, FieldALEUserID, FieldALEPromiscuousMode, FieldFlags, FieldInterfaceType,
		FieldIPLocalAddress, FieldIPLocalAddressType, FieldIPLocalInterface, FieldIPLocalPort,
		FieldIPProtocol, FieldTunnelType, FieldLocalInterfaceProfileID, FieldALESioFirewallSysPort,
		FieldALEPackageID, FieldCompartmentID, FieldALEEffectiveName, FieldALESecurityAttributeFqbnValue,
	}
	for _, l := range []LayerID{LayerALEAuthConnectV4, LayerALEAuthConnectV6, LayerALEAuthConnectV4Discard, LayerALEAuthConnectV6Discard} {
		layerFields[l] = connect
	}
	for _, l := range []LayerID{LayerALEResourceAssignmentV4, LayerALEResourceAssignmentV6, LayerALEResourceAssignV4Disc, LayerALEResourceAssignV6Disc} {
		layerFields[l] = resource
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
