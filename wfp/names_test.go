package wfp

import "testing"

func TestNamedLayersAndFields(t *testing.T) {
	// Values from the Windows SDK fwpmu.h (wfp-facts §3), written out here
	// independently of the generated table.
	cases := []struct {
		got  GUID
		name string
		want string
	}{
		{GUID(LayerALEAuthConnectV4), "FWPM_LAYER_ALE_AUTH_CONNECT_V4", "c38d57d1-05a7-4c33-904f-7fbceee60e82"},
		{GUID(LayerALEAuthConnectV6), "FWPM_LAYER_ALE_AUTH_CONNECT_V6", "4a72393b-319f-44bc-84c3-ba54dcb3b6b4"},
		{GUID(LayerALEResourceAssignmentV4), "FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V4", "1247d66d-0b60-4a15-8d44-7155d0f53a0c"},
		{GUID(LayerALEResourceAssignmentV6), "FWPM_LAYER_ALE_RESOURCE_ASSIGNMENT_V6", "55a650e1-5f0a-4eca-a653-88f53b26aa8c"},
		{GUID(LayerALEAuthRecvAcceptV4), "FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V4", "e1cd9fe7-f4b5-4273-96c0-592e487b8650"},
		{GUID(FieldALEUserID), "FWPM_CONDITION_ALE_USER_ID", "af043a0a-b34d-4f86-979c-c90371af6e66"},
		{GUID(FieldIPProtocol), "FWPM_CONDITION_IP_PROTOCOL", "3971ef2b-623e-4f9a-8cb1-6e79b806b9a7"},
		{GUID(FieldIPRemotePort), "FWPM_CONDITION_IP_REMOTE_PORT", "c35a604d-d22b-4e1a-91b4-68f674ee674b"},
		{GUID(FieldIPRemoteAddress), "FWPM_CONDITION_IP_REMOTE_ADDRESS", "b235ae9a-1d64-49b8-a44c-5ff3d9095045"},
	}
	for _, c := range cases {
		if c.got.String() != c.want {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
	if s := LayerALEAuthConnectV4.String(); s != "FWPM_LAYER_ALE_AUTH_CONNECT_V4" {
		t.Errorf("layer String() = %s", s)
	}
	if s := FieldIPRemotePort.String(); s != "FWPM_CONDITION_IP_REMOTE_PORT" {
		t.Errorf("IP_REMOTE_PORT shares its GUID with ICMP_CODE; String() = %s", s)
	}
	if s := LayerID(MustParseGUID("00000000-0000-0000-0000-000000000001")).String(); s != "00000000-0000-0000-0000-000000000001" {
		t.Errorf("unknown layer String() = %s", s)
	}
}

func TestGUIDParseAndNameGUID(t *testing.T) {
	for _, s := range []string{"{C38D57D1-05A7-4C33-904F-7FBCEEE60E82}", "c38d57d1-05a7-4c33-904f-7fbceee60e82"} {
		g, err := ParseGUID(s)
		if err != nil || g != GUID(LayerALEAuthConnectV4) {
			t.Errorf("ParseGUID(%s) = %v, %v", s, g, err)
		}
	}
	for _, bad := range []string{"", "c38d57d1-05a7-4c33-904f-7fbceee60e8", "c38d57d1x05a7-4c33-904f-7fbceee60e82", "g38d57d1-05a7-4c33-904f-7fbceee60e82"} {
		if _, err := ParseGUID(bad); err == nil {
			t.Errorf("ParseGUID(%q) accepted", bad)
		}
	}
	// RFC 9562 Appendix A.4 example: UUIDv5 of "www.example.com" in the DNS namespace.
	dns := MustParseGUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	if got := NameGUID(dns, "www.example.com").String(); got != "2ed6657d-e927-568b-95e1-2665a8aea6a2" {
		t.Errorf("NameGUID = %s, want the RFC 9562 example 2ed6657d-e927-568b-95e1-2665a8aea6a2", got)
	}
}

func TestCodeErrors(t *testing.T) {
	err := &CallError{Call: "FwpmFilterAdd0", Object: ObjectName("filter", GUID{}, "x"), Code: ErrAlreadyExists}
	if c, ok := CodeOf(err); !ok || c != ErrAlreadyExists {
		t.Fatalf("CodeOf = %v %v", c, ok)
	}
	want := `FwpmFilterAdd0 filter {00000000-0000-0000-0000-000000000000} "x": FWP_E_ALREADY_EXISTS (0x80320009)`
	if err.Error() != want {
		t.Errorf("Error() = %s\nwant      %s", err.Error(), want)
	}
	if !Unavailable(&CallError{Call: "FwpmEngineOpen0", Code: ErrEPTNotRegistered}) || Unavailable(err) {
		t.Error("Unavailable misclassifies")
	}
}

func TestLayersListsEveryLayerOnce(t *testing.T) {
	ls := Layers()
	seen := map[LayerID]bool{}
	for _, l := range ls {
		if seen[l] || LookupName(KindLayer, GUID(l)) == "" {
			t.Errorf("layer %s listed twice or unnamed", l)
		}
		seen[l] = true
	}
	// wfp-names.h, generated from the SDK's fwpmu.h, counts 97 layers.
	if len(ls) != 97 || !seen[LayerALEAuthConnectV4] || !seen[LayerALEResourceAssignmentV6] {
		t.Errorf("%d layers", len(ls))
	}
}
