package account

import (
	"errors"
	"fmt"
)

// ErrNotSandboxCandidate is wrapped by CheckSandboxCandidate's errors.
var ErrNotSandboxCandidate = errors.New("not usable as the sandbox account")

// createAccountHint says what to do instead; every refusal ends with it.
const createAccountHint = `create a dedicated local user for the sandbox (e.g. "net user wfpsandbox-offline * /add" in an elevated prompt) and pass its name or SID`

// reservedRIDs names the domain-relative RIDs below 1000 worth naming in an error
// (winnt.h DOMAIN_USER_RID_* / DOMAIN_GROUP_RID_* / DOMAIN_ALIAS_RID_*).
var reservedRIDs = map[uint32]string{
	500: "the built-in Administrator account",
	501: "the built-in Guest account",
	502: "the krbtgt account",
	503: "the DefaultAccount",
	504: "the WDAGUtilityAccount",
	512: "the Domain Admins group",
	513: "the Domain Users / None group",
	514: "the Domain Guests group",
	515: "the Domain Computers group",
	516: "the Domain Controllers group",
}

// ntAuthorityNames names the single-sub-authority NT AUTHORITY SIDs (S-1-5-x).
var ntAuthorityNames = map[uint32]string{
	1: "DIALUP", 2: "NETWORK", 3: "BATCH", 4: "INTERACTIVE", 6: "SERVICE", 7: "ANONYMOUS LOGON",
	9: "ENTERPRISE DOMAIN CONTROLLERS", 10: "SELF", 11: "Authenticated Users", 12: "RESTRICTED",
	13: "TERMINAL SERVER USER", 14: "REMOTE INTERACTIVE LOGON", 15: "This Organization",
	17: "IUSR", 18: "LocalSystem", 19: "LocalService", 20: "NetworkService", 33: "WRITE RESTRICTED",
	113: "Local account", 114: "Local account and member of Administrators group",
}

// CheckSandboxCandidate reports whether sid can be the sandbox offline account, from the
// SID alone. The account must be an ordinary user of this computer or a domain:
// S-1-5-21-<a>-<b>-<c>-<RID> with RID ≥ 1000. Refused, each with the reason:
//
//   - SIDs outside NT AUTHORITY: Everyone (S-1-1-0), creator and integrity-label SIDs,
//     AppContainer and capability SIDs (S-1-15-…), Azure AD SIDs (S-1-12-…);
//   - NT AUTHORITY SIDs that are not S-1-5-21 accounts: LocalSystem, LocalService,
//     NetworkService (S-1-5-18/19/20), well-known groups (Authenticated Users, INTERACTIVE,
//     RESTRICTED, …), builtin groups (S-1-5-32-…), service SIDs (S-1-5-80-…), logon SIDs;
//   - S-1-5-21 SIDs that are a machine or domain SID (not 5 sub-authorities) or whose RID
//     is below 1000: the built-in Administrator (500) — blocking it would cut an
//     administrator's own network, and a shared admin account is no sandbox — Guest (501),
//     krbtgt (502), DefaultAccount (503), WDAGUtilityAccount (504) and the domain groups.
//
// Whether a S-1-5-21 SID with RID ≥ 1000 is a user and not a local group can only be told by
// a lookup (Resolve does it on Windows).
func CheckSandboxCandidate(sid SID) error {
	if sid.IsZero() {
		return fmt.Errorf("%w: no SID given; %s", ErrNotSandboxCandidate, createAccountHint)
	}
	refuse := func(why string) error {
		return fmt.Errorf("%s %w: %s; %s", sid, ErrNotSandboxCandidate, why, createAccountHint)
	}
	subs := sid.SubAuthorities()
	switch sid.Authority() {
	case 5: // NT AUTHORITY, handled below
	case 1:
		return refuse("it is Everyone (World), a well-known group")
	case 0, 2, 3, 4:
		return refuse("it is a well-known null/local/creator SID, not an account")
	case 12:
		return refuse("it is an Azure AD SID; the sandbox needs a local or domain account")
	case 15:
		return refuse("it is an AppContainer package or capability SID, not an account")
	case 16:
		return refuse("it is an integrity-level label, not an account")
	default:
		return refuse(fmt.Sprintf("identifier authority %d does not issue user accounts", sid.Authority()))
	}
	if len(subs) == 0 {
		return refuse("it is the NT AUTHORITY domain SID, not an account")
	}
	switch first := subs[0]; {
	case first == 21:
		// handled below
	case len(subs) == 1 && ntAuthorityNames[first] != "":
		name := ntAuthorityNames[first]
		if first >= 18 && first <= 20 || first == 17 {
			return refuse(fmt.Sprintf("it is the %s service account, shared by system services", name))
		}
		return refuse(fmt.Sprintf("it is the well-known group %s, not a single account", name))
	case first == 32:
		return refuse("it is a BUILTIN group (S-1-5-32-…), not a user account")
	case first == 80:
		return refuse("it is a service SID (NT SERVICE\\…), not a user account")
	case first == 5:
		return refuse("it is a logon-session SID, which changes with every logon")
	default:
		return refuse("it is a well-known NT AUTHORITY SID, not a local or domain user account")
	}
	if len(subs) != 5 {
		if len(subs) == 4 {
			return refuse("it is a computer or domain SID (no RID), not an account in it")
		}
		return refuse(fmt.Sprintf("a local or domain account SID is S-1-5-21-<3 numbers>-<RID>, this one has %d sub-authorities", len(subs)))
	}
	rid := subs[4]
	if name, ok := reservedRIDs[rid]; ok {
		return refuse(fmt.Sprintf("RID %d is %s", rid, name))
	}
	if rid < 1000 {
		return refuse(fmt.Sprintf("RID %d is reserved for built-in accounts and groups (ordinary accounts have RID 1000 or more)", rid))
	}
	return nil
}
