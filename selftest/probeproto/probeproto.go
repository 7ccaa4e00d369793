// Package probeproto is the contract between the selftest (and the integration tests)
// and the probe helper they run as the sandbox account and as other identities (the
// hidden `wfpsandbox selftest-probe` subcommand, package selftest/probe): the plan of
// network attempts the caller writes to a file, and the JSON lines the probe appends to its
// output file, one per attempt plus one describing the probe's own token.
//
// It is plain data with no build tags, so its encoding round-trips on any platform.
package probeproto

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// Attempt kinds.
const (
	// KindUDPSend sends one datagram with sendto from an unconnected UDP socket.
	KindUDPSend = "udp-sendto"
	// KindTCPConnect connects a TCP socket (Go's net.Dialer: ConnectEx).
	KindTCPConnect = "tcp-connect"
	// KindRawICMP opens a raw ICMP (v4) or ICMPv6 socket and sends an echo request.
	KindRawICMP = "raw-icmp"
	// KindICMPEchoAPI calls IcmpSendEcho (iphlpapi), the path ping.exe uses. IPv4 only.
	KindICMPEchoAPI = "icmp-echo-api"
	// KindWFPReadByKey is not a network attempt: it opens a WFP session
	// (FwpmEngineOpen0), tries a read-only transaction (FWPM_TXN_READ_ONLY; the record's
	// Detail says whether the engine allowed it) and reads one object by key
	// (Fwpm*GetByKey0). Network names the object kind ("provider", "sublayer",
	// "filter"), Target its key. On failure Errno is the WFP or Win32 code. The
	// unelevated live check of ensure rests on this working for a non-admin.
	KindWFPReadByKey = "wfp-read-by-key"
	// KindSMBKernel lists the UNC path \\Target\C$, so the kernel SMB redirector connects
	// to Target:445 for the caller. Success, access denied and logon failure all mean the
	// connection was made.
	KindSMBKernel = "smb-kernel"
	// KindTCPAccept listens on Target and accepts one connection, which the selftest
	// makes to it while the probe runs (ALE_AUTH_RECV_ACCEPT is classified with the
	// listener's token). A timeout means no connection arrived.
	KindTCPAccept = "tcp-accept"
	// KindWFPRead opens a WFP session and reads the filter Attempt.Key
	// (FwpmFilterGetByKey0).
	KindWFPRead = "wfp-read"
)

// Token shapes the probe runs its attempts under. Every shape but As Plain is a child
// the probe, running as the sandbox account, starts itself without any privilege:
// the escape routes of design §4.
const (
	// AsPlain runs the attempts in the probe process itself.
	AsPlain = "plain"
	// AsRestrictedDenyOnly runs them in a child whose token is a restricted copy of the
	// probe's with the user SID made deny-only (CreateRestrictedToken SidsToDisable).
	AsRestrictedDenyOnly = "restricted-denyonly"
	// AsRestrictedSIDs runs them in a child whose token has restricting SIDs that omit
	// the user SID (Everyone, Users, Authenticated Users, RESTRICTED).
	AsRestrictedSIDs = "restricted-sids"
	// AsAppContainer runs them in an AppContainer child (CreateAppContainerProfile +
	// PROC_THREAD_ATTRIBUTE_SECURITY_CAPABILITIES) with the internetClient and
	// privateNetworkClientServer capabilities.
	AsAppContainer = "appcontainer"
	// AsAppContainerNoCaps is the same AppContainer child without any capability.
	AsAppContainerNoCaps = "appcontainer-nocaps"
	// AsLowIntegrity runs them in a child whose token is a copy of the probe's at low
	// mandatory integrity (DuplicateTokenEx + SetTokenInformation(TokenIntegrityLevel)).
	AsLowIntegrity = "low-integrity"
	// AsAnonymousImpersonation runs them in the probe process itself, on one OS thread
	// that impersonates the anonymous token (ImpersonateAnonymousToken).
	AsAnonymousImpersonation = "anonymous-impersonation"
)

// Attempt is one network operation the probe makes.
type Attempt struct {
	Name   string `json:"name"`   // unique in a plan: "dns-udp-v4"
	Family string `json:"family"` // what the policy calls it: "dns", "dot", "smb", "netbios", "icmp"
	Kind   string `json:"kind"`   // one of the Kind constants
	// Network is the Go network: "udp4", "udp6", "tcp4", "tcp6", "ip4:1", "ip6:58".
	Network string `json:"network"`
	// Target is host:port for UDP and TCP, a bare IP for ICMP.
	Target string `json:"target"`
	// Why says why this target was chosen (for the test log).
	Why string `json:"why"`
	// Key is the filter key a KindWFPRead attempt reads.
	Key string `json:"key,omitempty"`
}

// Plan is what one probe run does.
type Plan struct {
	// RunID is embedded in every UDP payload so the test's listeners can tell which
	// run's datagrams arrived.
	RunID string `json:"runId"`
	// TimeoutMillis bounds each TCP connect and ICMP echo.
	TimeoutMillis int       `json:"timeoutMillis"`
	Attempts      []Attempt `json:"attempts"`
}

// Record types.
const (
	RecordIdentity = "identity" // the token the attempts ran under
	RecordAttempt  = "attempt"  // the outcome of one Attempt
	RecordError    = "error"    // the probe could not do what it was asked
)

// Identity describes the probe's token.
type Identity struct {
	User            string   `json:"user"`            // user SID
	UserDenyOnly    bool     `json:"userDenyOnly"`    // SE_GROUP_USE_FOR_DENY_ONLY on the user SID
	Restricted      bool     `json:"restricted"`      // IsTokenRestricted
	RestrictingSIDs []string `json:"restrictingSids"` // TokenRestrictedSids
	AppContainer    bool     `json:"appContainer"`    // TokenIsAppContainer
	Elevated        bool     `json:"elevated"`        // TokenElevation
	As              string   `json:"as"`              // the shape the probe was asked for
	// Integrity is the token's mandatory label SID (S-1-16-4096 is low).
	Integrity string `json:"integrity,omitempty"`
	// ThreadUser is the user SID of the attempting thread's impersonation token, when it
	// impersonates (S-1-5-7 is ANONYMOUS LOGON).
	ThreadUser string `json:"threadUser,omitempty"`
	// Errors lists what could not be read; the test refuses results whose shape it
	// cannot confirm, but the attempts are still made and recorded.
	Errors []string `json:"errors,omitempty"`
}

// Record is one JSON line of probe output.
type Record struct {
	Type     string    `json:"type"`
	Identity *Identity `json:"identity,omitempty"`

	Attempt string `json:"attempt,omitempty"` // Attempt.Name
	Kind    string `json:"kind,omitempty"`
	Target  string `json:"target,omitempty"`
	// OK is true when the operation succeeded (sent, connected, echo replied).
	OK bool `json:"ok"`
	// Errno is the Winsock or Win32 error of a failed system call (10013 is
	// WSAEACCES); 0 when the call succeeded or the failure was not a system call
	// error (a timeout).
	Errno   uint32 `json:"errno"`
	Timeout bool   `json:"timeout,omitempty"`
	Op      string `json:"op,omitempty"`      // Go net operation: "dial", "write", "listen"
	Syscall string `json:"syscall,omitempty"` // failing system call: "connectex", "wsasendto", "socket", "bind"
	Error   string `json:"error,omitempty"`
	Detail  string `json:"detail,omitempty"` // e.g. the ICMP reply status
}

// WSAEACCES is the Winsock error WFP's ALE block produces at connect/send/bind:
// "An attempt was made to access a socket in a way forbidden by its access permissions."
const WSAEACCES = 10013

// Blocked reports whether the record is a failure with WSAEACCES.
func (r Record) Blocked() bool { return !r.OK && r.Errno == WSAEACCES }

// Outcome is a one-line summary for test logs: "ok", "WSAEACCES at connectex", …
func (r Record) Outcome() string {
	switch {
	case r.OK:
		if r.Detail != "" {
			return "ok (" + r.Detail + ")"
		}
		return "ok"
	case r.Timeout:
		return "timeout"
	case r.Errno != 0:
		return fmt.Sprintf("errno %d at %s/%s", r.Errno, r.Op, r.Syscall)
	default:
		return "failed: " + r.Error
	}
}

// UDPPayload is what the probe sends in a UDP attempt: a DNS query for the root NS
// set whose ID bytes are followed by a marker naming the run and the attempt, so a
// test listener can recognise it.
func UDPPayload(runID, attempt string) []byte {
	q := []byte{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01}
	return append(q, []byte(Marker(runID, attempt))...)
}

// MarkerPrefix starts every Marker.
const MarkerPrefix = "wfpsandbox-it "

// Marker is the text UDPPayload appends after the DNS query.
func Marker(runID, attempt string) string { return MarkerPrefix + runID + " " + attempt }

// ReadRecords decodes JSON lines.
func ReadRecords(r io.Reader) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var rec Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return out, fmt.Errorf("probe output line %d: %w", n, err)
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}
