//go:build windows && wfpintegration

package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
)

// Winsock errors that mean an attempt reached the network (or the peer) — as opposed
// to WSAEACCES, WFP's block, or an error before any packet (no route, no socket).
const (
	wsaeTimedOut    = 10060 // WSAETIMEDOUT
	wsaeConnRefused = 10061 // WSAECONNREFUSED: a RST came back
)

// reachedNetwork reports whether an attempt got past the ALE connect/bind layers: it
// succeeded, timed out waiting for a peer, or was refused by one.
func reachedNetwork(r probeproto.Record) bool {
	return r.OK || r.Timeout || r.Errno == wsaeTimedOut || r.Errno == wsaeConnRefused
}

// requireNoneBlocked fails for every asserted attempt of r that failed with WSAEACCES.
// For the sandbox account raw ICMP is left out: Windows refuses raw sockets to
// non-administrators with WSAEACCES whatever WFP holds.
func requireNoneBlocked(t *testing.T, p *prober, r *result, who string) {
	t.Helper()
	for _, a := range p.attempts {
		if recordOnly(a) || (r.Who == whoSandbox && rawICMP(a)) {
			continue
		}
		if rec := r.Records[a.Name]; rec.Blocked() {
			t.Errorf("%s: %s to %s failed with WSAEACCES (%s); want it not blocked [%s]", who, a.Name, a.Target, rec.Error, a.Why)
		}
	}
}

// requireAllBlocked fails for every asserted attempt of r that did not fail with
// WSAEACCES — the baseline filters' job for the sandbox account's own processes.
// Where the control run (nothing installed) was already refused with WSAEACCES, a
// block proves nothing about wfpsandbox; that is logged (raw ICMP for a
// non-administrator is the expected case), not hidden.
func requireAllBlocked(t *testing.T, p *prober, r, control *result) {
	t.Helper()
	for _, a := range p.attempts {
		if recordOnly(a) {
			t.Logf("%s (recorded only, wfp-facts §10.2): nothing installed: %s; now: %s",
				a.Name, control.Records[a.Name].Outcome(), r.Records[a.Name].Outcome())
			continue
		}
		rec := r.Records[a.Name]
		if !rec.Blocked() {
			t.Errorf("sandbox account, %s: %s to %s: %s; want WSAEACCES (10013) from the baseline filter [%s]",
				r.RunID, a.Name, a.Target, rec.Outcome(), a.Why)
			continue
		}
		if control.Records[a.Name].Blocked() {
			t.Logf("%s: blocked, but it was already refused with WSAEACCES with nothing installed (%s): "+
				"this block is not evidence that wfpsandbox's filter matched", a.Name, control.Records[a.Name].Error)
		}
	}
}

// checkArrival checks, for every UDP attempt to a target the test listens on, that
// the datagram arrived (want true) or did not (want false). A UDP block is expected to
// fail sendto with WSAEACCES; if sendto succeeded but nothing arrived, the block is
// silent — the message says so, because the error code for UDP is a hypothesis.
func (p *prober) checkArrival(t *testing.T, r *result, want bool) {
	t.Helper()
	wait := 500 * time.Millisecond
	if want {
		wait = 3 * time.Second
	}
	for _, a := range p.attempts {
		if a.Kind != probeproto.KindUDPSend {
			continue
		}
		got, ok := p.lis.arrived(r.RunID, a, wait)
		if !ok || got == want {
			continue
		}
		if want {
			t.Errorf("%s: the datagram of %s to %s did not arrive (sendto: %s)", r.RunID, a.Name, a.Target, r.Records[a.Name].Outcome())
		} else {
			t.Errorf("%s: the datagram of %s to %s arrived although it should have been blocked (sendto: %s)",
				r.RunID, a.Name, a.Target, r.Records[a.Name].Outcome())
		}
	}
}

// checkHypothesis asserts design §4's prediction for a child of the sandbox account in
// a token shape the account can create without privilege (restricted token with the
// user SID deny-only, restricting SIDs without the user SID, AppContainer):
//
//   - allow shape (FWP_MATCH_EQUAL, D:(A;;CC;;;<SID>)): the access check no longer
//     grants FWP_ACTRL_MATCH_FILTER, so the condition is false and the child ESCAPES;
//   - deny shape (the account's own sublayer: a soft guard permit EQUAL an SD whose
//     first ACE denies the SID, then unconditioned blocks): a deny ACE also hits a
//     deny-only SID and the restricting pass, so the guard does not match the child and
//     it stays BLOCKED.
//
// Only attempts that reached the network in the same shape's control run (nothing
// installed) are compared. For the AppContainer child only non-loopback targets are:
// Windows' AppContainer isolation keeps it off loopback on its own, and whether that
// shows as WSAEACCES or as a silent drop (a timeout, which would look like "reached
// the network") is not something this test should have to know.
func checkHypothesis(t *testing.T, p *prober, shape policy.UserMatch, as string, control, got *result) {
	t.Helper()
	var blocked, through, other, skipped []string
	for _, a := range p.attempts {
		if recordOnly(a) || rawICMP(a) || (as == probeproto.AsAppContainer && isLoopback(a)) {
			continue
		}
		c, g := control.Records[a.Name], got.Records[a.Name]
		line := fmt.Sprintf("%s→%s (control: %s)", a.Name, g.Outcome(), c.Outcome())
		switch {
		case !reachedNetwork(c):
			skipped = append(skipped, line)
		case g.Blocked():
			blocked = append(blocked, line)
		case reachedNetwork(g):
			through = append(through, line)
		default:
			other = append(other, line)
		}
	}
	t.Logf("%s child under the %s shape: blocked %v; through %v; other %v; not comparable (did not reach the network with nothing installed) %v",
		as, shape, blocked, through, other, skipped)
	if len(blocked)+len(through)+len(other) == 0 {
		t.Fatalf("cannot test the design §4 hypothesis for the %s child: none of its attempts reached the network even with nothing installed", as)
	}
	if len(other) > 0 {
		t.Errorf("design §4 hypothesis test for the %s child under the %s shape is inconclusive for: %s", as, shape, strings.Join(other, "; "))
	}
	switch shape {
	case policy.MatchAllow:
		if len(blocked) > 0 {
			t.Errorf("design §4 HYPOTHESIS NOT CONFIRMED: under the allow shape (FWP_MATCH_EQUAL + D:(A;;CC;;;SID)) a %s child "+
				"of the sandbox account was predicted to ESCAPE the filters, but these attempts were blocked: %s",
				as, strings.Join(blocked, "; "))
		}
	case policy.MatchDeny:
		if len(through) > 0 {
			t.Errorf("design §4 HYPOTHESIS NOT CONFIRMED: under the deny shape (the account's own sublayer: guard permits EQUAL D:(D;;CC;;;SID)(A;;CC;;;WD)…, unconditioned blocks) a %s child "+
				"of the sandbox account was predicted to stay BLOCKED, but these attempts got through: %s",
				as, strings.Join(through, "; "))
		}
	}
}
