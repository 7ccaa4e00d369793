package probeproto

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The test side reads what the probe writes with encoding/json; a field renamed on one
// side only would silently read as zero ("not blocked"), so the round trip is pinned.
func TestRecordRoundTrip(t *testing.T) {
	in := []Record{
		{Type: RecordIdentity, Identity: &Identity{User: "S-1-5-21-1-2-3-1001", UserDenyOnly: true, RestrictingSIDs: []string{"S-1-1-0"}, As: AsRestrictedDenyOnly}},
		{Type: RecordAttempt, Attempt: "dns-tcp-v4", Kind: KindTCPConnect, Target: "127.0.0.1:53", Errno: WSAEACCES, Op: "dial", Syscall: "connectex"},
		{Type: RecordAttempt, Attempt: "smb-tcp-remote-v4", Kind: KindTCPConnect, Timeout: true},
		{Type: RecordAttempt, Attempt: "dns-udp-v4", Kind: KindUDPSend, OK: true},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range in {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	buf.WriteString("\n") // a blank line is skipped
	out, err := ReadRecords(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("read %d records, wrote %d", len(out), len(in))
	}
	if out[0].Identity == nil || !out[0].Identity.UserDenyOnly || out[0].Identity.As != AsRestrictedDenyOnly {
		t.Errorf("identity = %+v", out[0].Identity)
	}
	for i, want := range []struct {
		blocked bool
		outcome string
	}{{false, "failed: "}, {true, "errno 10013 at dial/connectex"}, {false, "timeout"}, {false, "ok"}} {
		if got := out[i].Blocked(); got != want.blocked {
			t.Errorf("record %d: Blocked() = %v, want %v", i, got, want.blocked)
		}
		if got := out[i].Outcome(); got != want.outcome {
			t.Errorf("record %d: Outcome() = %q, want %q", i, got, want.outcome)
		}
	}
}

func TestReadRecordsRejectsGarbage(t *testing.T) {
	_, err := ReadRecords(strings.NewReader("{\"type\":\"attempt\"}\nnot json\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want a parse error naming line 2", err)
	}
}

// The listener recognises a probe's datagram by the marker after the DNS query.
func TestUDPPayloadCarriesMarker(t *testing.T) {
	p := UDPPayload("run.1", "dns-udp-v4")
	m := Marker("run.1", "dns-udp-v4")
	if !bytes.HasSuffix(p, []byte(m)) {
		t.Fatalf("payload %q does not end with marker %q", p, m)
	}
	if q := p[:len(p)-len(m)]; len(q) != 17 || q[5] != 1 {
		t.Errorf("DNS query part = % x, want a 17-byte query with QDCOUNT 1", q)
	}
}
