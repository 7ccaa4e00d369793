package selftest

import (
	"fmt"
	"net/netip"

	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
)

// Attempts returns the probe helper's plan entries for the probes identity id makes,
// against this host's addresses; filterKey is the key a KindWFPRead attempt reads. A
// probe the helper cannot make (no address for its scope, a kind it does not
// implement, an extra rule's probe whose target is not in the rule's remote addresses)
// is returned in skipped with the reason, and has no attempt.
func Attempts(probes []Probe, id Identity, addrs Addresses, filterKey string) (attempts []probeproto.Attempt, skipped map[string]string) {
	skipped = map[string]string{}
	for _, p := range probes {
		if !p.MadeBy(id) {
			continue
		}
		a := probeproto.Attempt{Name: p.ID, Family: p.Family, Why: p.Why}
		var ip netip.Addr
		if p.Scope != ScopeNone {
			var why string
			if ip, why = probeTarget(p, addrs); why != "" {
				skipped[p.ID] = why
				continue
			}
		}
		v := "4"
		if ip.Is6() {
			v = "6"
		}
		hostPort := netip.AddrPortFrom(ip, p.Port).String()
		switch p.Kind {
		case KindTCPConnect:
			a.Kind, a.Network, a.Target = probeproto.KindTCPConnect, "tcp"+v, hostPort
		case KindUDPSend:
			a.Kind, a.Network, a.Target = probeproto.KindUDPSend, "udp"+v, hostPort
		case KindRawICMP:
			a.Kind, a.Target = probeproto.KindRawICMP, ip.String()
			a.Network = "ip4:1"
			if ip.Is6() {
				a.Network = "ip6:58"
			}
		case KindICMPEchoAPI:
			a.Kind, a.Network, a.Target = probeproto.KindICMPEchoAPI, "ip4:1", ip.String()
		case KindTCPAccept:
			a.Kind, a.Network, a.Target = probeproto.KindTCPAccept, "tcp"+v, hostPort
		case KindSMBKernel:
			a.Kind, a.Network, a.Target = probeproto.KindSMBKernel, "tcp"+v, ip.String()
		case KindWFPRead:
			a.Kind, a.Key = probeproto.KindWFPRead, filterKey
		default:
			skipped[p.ID] = fmt.Sprintf("the probe helper does not implement %s attempts yet", p.Kind)
			continue
		}
		attempts = append(attempts, a)
	}
	return attempts, skipped
}

// ProbeShape returns the probe helper's -as value for a token kind.
func ProbeShape(t TokenKind) (string, error) {
	switch t {
	case TokenNormal:
		return probeproto.AsPlain, nil
	case TokenDenyOnly:
		return probeproto.AsRestrictedDenyOnly, nil
	case TokenRestrictingSIDs:
		return probeproto.AsRestrictedSIDs, nil
	case TokenAppContainer:
		return probeproto.AsAppContainer, nil
	case TokenAppContainerNoCaps:
		return probeproto.AsAppContainerNoCaps, nil
	case TokenLowIntegrity:
		return probeproto.AsLowIntegrity, nil
	case TokenAnonymousImpersonation:
		return probeproto.AsAnonymousImpersonation, nil
	}
	return "", fmt.Errorf("no probe shape for token kind %q", t)
}

// Phase is when a probe run happened.
type Phase string

// Phases.
const (
	PhaseControl Phase = "control" // nothing of wfpsandbox's installed
	PhasePolicy  Phase = "policy"  // the plan installed in the dynamic session
)

// ShapeProblem returns what is wrong with the identity a probe run reported, or "" when
// it is the token asked for: a run in the wrong token proves nothing. wantUser is the
// SID the run must carry.
func ShapeProblem(id *probeproto.Identity, t TokenKind, wantUser string, account bool) string {
	if id == nil {
		return "the probe wrote no identity record"
	}
	if len(id.Errors) > 0 {
		return fmt.Sprintf("the probe could not read its token: %v", id.Errors)
	}
	if id.User != wantUser {
		return fmt.Sprintf("user %s, want %s", id.User, wantUser)
	}
	want, _ := ProbeShape(t)
	if id.As != want {
		return fmt.Sprintf("reports shape %q, want %q", id.As, want)
	}
	plain := !id.UserDenyOnly && !id.Restricted && !id.AppContainer
	switch t {
	case TokenNormal, TokenAnonymousImpersonation:
		if !plain {
			return "the token is restricted or an AppContainer"
		}
		if account && id.Elevated {
			return "the sandbox account's token is elevated"
		}
		if t == TokenAnonymousImpersonation && id.ThreadUser != "S-1-5-7" {
			return fmt.Sprintf("the attempting thread's token is %q, not ANONYMOUS LOGON (S-1-5-7)", id.ThreadUser)
		}
	case TokenDenyOnly:
		if !id.UserDenyOnly {
			return "the user SID is not deny-only"
		}
	case TokenRestrictingSIDs:
		if !id.Restricted || id.UserDenyOnly {
			return "want restricting SIDs and an enabled user SID"
		}
		for _, s := range id.RestrictingSIDs {
			if s == wantUser {
				return "the restricting SIDs include the user SID"
			}
		}
	case TokenAppContainer, TokenAppContainerNoCaps:
		if !id.AppContainer {
			return "not an AppContainer token"
		}
	case TokenLowIntegrity:
		if id.Integrity != "S-1-16-4096" {
			return fmt.Sprintf("integrity %q, want low (S-1-16-4096)", id.Integrity)
		}
	}
	return ""
}

// Record fills the cells of identity id for phase from one probe run's records.
// arrived says for a UDP attempt whether its datagram reached this host's listener (nil:
// no listener). runErr, when not empty, is why the run produced nothing usable: every
// cell of the run gets it as a not-run result. Attempts the run was not asked for are
// ignored; cells without a record become not-run.
func (r *Report) Record(phase Phase, id Identity, recs []probeproto.Record, arrived func(attempt string) *bool, runErr string) {
	byName := map[string]probeproto.Record{}
	for _, rec := range recs {
		if rec.Type == probeproto.RecordAttempt {
			byName[rec.Attempt] = rec
		}
	}
	for i := range r.Cells {
		c := &r.Cells[i]
		if c.Identity != id {
			continue
		}
		var res Result
		rec, ok := byName[c.Probe]
		switch {
		case runErr != "":
			res = Result{Outcome: OutcomeNotRun, Error: runErr}
		case !ok:
			res = Result{Outcome: OutcomeNotRun, Error: "the probe wrote no record for this attempt"}
		default:
			var arr *bool
			if arrived != nil {
				arr = arrived(c.Probe)
			}
			res = FromRecord(rec, arr)
		}
		if phase == PhaseControl {
			c.Control = res
		} else {
			c.Policy = res
		}
	}
}
