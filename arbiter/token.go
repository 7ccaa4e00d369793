package arbiter

import (
	"fmt"
	"strings"

	"github.com/wfpsandbox/wfpsandbox/account"
)

// GroupAttr says how a group SID of a token takes part in access checks.
type GroupAttr uint8

// Group attributes (winnt.h SE_GROUP_ENABLED, SE_GROUP_USE_FOR_DENY_ONLY).
const (
	// Enabled SIDs match allow and deny ACEs.
	Enabled GroupAttr = iota
	// DenyOnly SIDs match deny ACEs only (DOC:secauthz/sid-attributes-in-an-access-token).
	DenyOnly
	// Disabled SIDs match nothing.
	Disabled
)

func (a GroupAttr) String() string {
	switch a {
	case Enabled:
		return "enabled"
	case DenyOnly:
		return "deny-only"
	case Disabled:
		return "disabled"
	}
	return fmt.Sprintf("GroupAttr(%d)", uint8(a))
}

// Group is one group SID of a token.
type Group struct {
	SID        account.SID
	Attributes GroupAttr
}

// Token describes the access token of the process that opens a flow: just what an
// access check against an ALE_USER_ID security descriptor reads. Privileges are not
// modelled. The integrity level is carried (Integrity) but the access check ignores
// it: whether mandatory integrity control applies to FWP_ACTRL_MATCH_FILTER is not
// documented. NtApiDotNet's generic mapping for filters (wfp-facts §2, [E]) puts
// MATCH in GenericExecute, not GenericWrite, so the default no-write-up policy of an
// SD without a label would not deny it [I]; Evaluate adds a caution, and evaluates the
// other case, for tokens below medium integrity.
type Token struct {
	User         account.SID
	UserDenyOnly bool          // the user SID is deny-only (CreateRestrictedToken SidsToDisable)
	Groups       []Group       // group SIDs with their attributes
	Restricting  []account.SID // restricting SIDs: non-empty makes a restricted token
	AppContainer *account.SID  // the package SID of an AppContainer token, nil otherwise
	LPAC         bool          // a less-privileged AppContainer (no ALL APPLICATION PACKAGES)
	Capabilities []account.SID // capability SIDs of an AppContainer token
	// Integrity is the RID of the token's mandatory label (S-1-16-RID: 0x1000 low,
	// 0x2000 medium, …); 0 means not given (medium for an ordinary user token), so
	// untrusted (RID 0) cannot be expressed.
	Integrity uint32
	// None means the classify carries no user token at all (kernel-originated traffic,
	// some service paths): User is then ignored. How WFP evaluates an ALE_USER_ID
	// condition for such a flow is not documented; the arbiter cannot evaluate it.
	None bool
}

// Integrity levels (winnt.h SECURITY_MANDATORY_*_RID).
const (
	IntegrityLow    uint32 = 0x1000
	IntegrityMedium uint32 = 0x2000
)

// AnonymousLogon is S-1-5-7, NT AUTHORITY\ANONYMOUS LOGON (winnt.h
// SECURITY_ANONYMOUS_LOGON_RID 7); SDDL alias AN.
var AnonymousLogon = mustParse("S-1-5-7")

// TokenKind names the token shapes explain can build for an account.
type TokenKind string

// Token kinds.
const (
	// TokenNormal is an ordinary interactive token: the user SID and the usual groups, enabled.
	TokenNormal TokenKind = "normal"
	// TokenDenyOnly is a restricted version of it with the user SID made deny-only.
	TokenDenyOnly TokenKind = "deny-only"
	// TokenRestricted is a restricted version with restricting SIDs that do not include
	// the user SID: RESTRICTED (S-1-5-12) and Everyone, a common choice of sandboxes.
	TokenRestricted TokenKind = "restricted"
	// TokenAppContainer is an AppContainer token without capabilities.
	TokenAppContainer TokenKind = "appcontainer"
	// TokenLow is a copy of the normal token with a low mandatory label
	// (S-1-16-4096): a process may lower the integrity level of a copy of its own
	// token without privilege (SetTokenInformation TokenIntegrityLevel;
	// DOC:secauthz/mandatory-integrity-control). The access check is the normal one;
	// see Token for the caution.
	TokenLow TokenKind = "low"
	// TokenAnonymous is the anonymous logon token: user ANONYMOUS LOGON (S-1-5-7) and
	// no groups. The account SID plays no part. Everyone is not in it by default
	// (security policy "Network access: Let Everyone permissions apply to anonymous
	// users" is disabled by default), which is why Microsoft's UWP user condition and
	// our guard allow AN explicitly. Any thread can impersonate it without privilege
	// (ImpersonateAnonymousToken); whether ALE attributes a flow to a thread's
	// impersonation token is not documented.
	TokenAnonymous TokenKind = "anonymous"
	// TokenNone is a classify that carries no user token (kernel-originated traffic:
	// IcmpSendEcho, the SMB redirector, NAT'd WSL2/Hyper-V guests; wfp-facts §9, §12).
	// The account SID plays no part. How an ALE_USER_ID condition evaluates then is
	// not documented: the arbiter reports such conditions as not evaluated and treats
	// them as not matching.
	TokenNone TokenKind = "none"
)

// TokenKinds lists the kinds that carry the account's own SID, in a stable order:
// normal, deny-only, restricted, appcontainer. (Kept as it was so that callers
// iterating it keep their expectations; AllTokenKinds adds the newer kinds.)
var TokenKinds = []TokenKind{TokenNormal, TokenDenyOnly, TokenRestricted, TokenAppContainer}

// AllTokenKinds lists every kind TokenFor builds, in a stable order.
var AllTokenKinds = []TokenKind{TokenNormal, TokenDenyOnly, TokenRestricted, TokenAppContainer, TokenLow, TokenAnonymous, TokenNone}

// ExamplePackageSID is the AppContainer package SID TokenFor uses. It has the shape
// of a real package SID (S-1-15-2 and seven sub-authorities); its value is arbitrary.
var ExamplePackageSID = mustParse("S-1-15-2-3251537155-1984446955-2931258699-841473695-1938553385-924012149-129201922")

// Groups every token of a local interactive user carries (Everyone, BUILTIN\Users,
// INTERACTIVE, Authenticated Users, This Organization, LOCAL).
var standardGroups = []account.SID{
	account.Everyone, account.BuiltinUsers, mustParse("S-1-5-4"), account.AuthenticatedUsers,
	mustParse("S-1-5-15"), mustParse("S-1-2-0"),
}

func mustParse(s string) account.SID {
	sid, err := account.ParseSID(s)
	if err != nil {
		panic(err)
	}
	return sid
}

// TokenFor returns a token of the given kind for user.
func TokenFor(kind TokenKind, user account.SID) (Token, error) {
	t := Token{User: user}
	for _, g := range standardGroups {
		t.Groups = append(t.Groups, Group{SID: g, Attributes: Enabled})
	}
	switch kind {
	case TokenNormal, "":
	case TokenDenyOnly:
		t.UserDenyOnly = true
	case TokenRestricted:
		t.Restricting = []account.SID{account.Restricted, account.Everyone}
	case TokenAppContainer:
		pkg := ExamplePackageSID
		t.AppContainer = &pkg
	case TokenLow:
		t.Integrity = IntegrityLow
	case TokenAnonymous:
		t = Token{User: AnonymousLogon}
	case TokenNone:
		t = Token{None: true}
	default:
		return Token{}, fmt.Errorf("unknown token kind %q: want one of %v", kind, AllTokenKinds)
	}
	return t, nil
}

// String is a one-line description of the token for traces.
func (t Token) String() string {
	if t.None {
		return "none (the classify carries no user token)"
	}
	var b strings.Builder
	b.WriteString("user " + t.User.String())
	if t.UserDenyOnly {
		b.WriteString(" (deny-only)")
	}
	if len(t.Restricting) > 0 {
		b.WriteString(", restricting " + sidList(t.Restricting))
	}
	if t.AppContainer != nil {
		kind := "AppContainer"
		if t.LPAC {
			kind = "LPAC"
		}
		fmt.Fprintf(&b, ", %s %s", kind, t.AppContainer)
		if len(t.Capabilities) > 0 {
			b.WriteString(" capabilities " + sidList(t.Capabilities))
		}
	}
	if t.Integrity != 0 {
		fmt.Fprintf(&b, ", integrity S-1-16-%d", t.Integrity)
	}
	return b.String()
}

func sidList(s []account.SID) string {
	parts := make([]string, len(s))
	for i, sid := range s {
		parts[i] = sid.String()
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// matchFilterRight is FWP_ACTRL_MATCH_FILTER, the right WFP checks (wfp-facts §2).
const matchFilterRight = account.FWPActrlMatchFilter

// inheritOnlyACE is INHERIT_ONLY_ACE (winnt.h): such ACEs are skipped by access checks.
const inheritOnlyACE = 0x08

// accessPass is one pass of an access check: the SIDs that match allow ACEs and the
// ones that match deny ACEs only.
type accessPass struct {
	name     string
	enabled  []account.SID
	denyOnly []account.SID
}

// passes returns the passes an access check makes for t: the normal pass over the user
// and group SIDs; for a restricted token a second pass over the restricting SIDs
// (DOC:secauthz/restricted-tokens); for an AppContainer token a pass over the package
// SID, ALL APPLICATION PACKAGES (S-1-15-2-1; for an LPAC token ALL RESTRICTED
// APPLICATION PACKAGES, S-1-15-2-2, instead) and the capabilities
// (DOC:secauthz/implementing-an-appcontainer). Every pass must grant.
func (t Token) passes() []accessPass {
	normal := accessPass{name: "user and groups"}
	if t.UserDenyOnly {
		normal.denyOnly = append(normal.denyOnly, t.User)
	} else {
		normal.enabled = append(normal.enabled, t.User)
	}
	for _, g := range t.Groups {
		switch g.Attributes {
		case Enabled:
			normal.enabled = append(normal.enabled, g.SID)
		case DenyOnly:
			normal.denyOnly = append(normal.denyOnly, g.SID)
		}
	}
	ps := []accessPass{normal}
	if len(t.Restricting) > 0 {
		ps = append(ps, accessPass{name: "restricting SIDs", enabled: t.Restricting})
	}
	if t.AppContainer != nil {
		ac := accessPass{name: "AppContainer package and capabilities", enabled: []account.SID{*t.AppContainer}}
		if t.LPAC {
			ac.enabled = append(ac.enabled, account.AllRestrictedAppPackages)
		} else {
			ac.enabled = append(ac.enabled, account.AllAppPackages)
		}
		ac.enabled = append(ac.enabled, t.Capabilities...)
		ps = append(ps, ac)
	}
	return ps
}

func contains(list []account.SID, s account.SID) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// MatchFilterGranted runs the access check WFP runs for an FWP_SECURITY_DESCRIPTOR_TYPE
// condition: does sd grant FWP_ACTRL_MATCH_FILTER (0x1) to t? It returns the answer and
// one line per pass saying which ACE decided it.
//
// Rules modelled (DOC:secauthz/how-dacls-control-access-to-an-object and the pages cited
// at passes): a NULL DACL grants; a DACL with no ACE that grants the right denies; ACEs
// are processed in DACL order, as AccessCheck does (so the layout of the DACL matters,
// canonical or not); inherit-only ACEs are skipped; an ACCESS_DENIED ACE whose mask has
// the right denies when its SID is an enabled or deny-only SID of the pass; an
// ACCESS_ALLOWED ACE grants when its SID is an enabled SID of the pass. Masks are taken
// literally: generic rights in an ACE (GA, GX) are not mapped, and owner rights,
// conditional, object and callback ACEs are not modelled.
func (t Token) MatchFilterGranted(sd *account.SecurityDescriptor) (bool, []string) {
	return t.matchFilterGranted(sd, true)
}

// belowMedium reports whether the token's integrity level is below medium.
func (t Token) belowMedium() bool {
	return t.Integrity != 0 && t.Integrity < IntegrityMedium
}

// matchFilterGranted is MatchFilterGranted; with why false it builds no reasons.
func (t Token) matchFilterGranted(sd *account.SecurityDescriptor, why bool) (bool, []string) {
	return grantedTo(t.passes(), sd, why)
}

// grantedTo runs the access check with the passes of a token computed once.
func grantedTo(passes []accessPass, sd *account.SecurityDescriptor, why bool) (bool, []string) {
	if sd.DACL == nil {
		if sd.Control&account.ControlDACLPresent != 0 {
			return true, []string{"NULL DACL: every access is granted"}
		}
		return true, []string{"no DACL: every access is granted"}
	}
	var reasons []string
	for _, p := range passes {
		ok, line := p.check(sd.DACL, why)
		if why {
			reasons = append(reasons, p.name+": "+line)
		}
		if !ok {
			return false, reasons
		}
	}
	return true, reasons
}

func (p accessPass) check(dacl *account.ACL, why bool) (bool, string) {
	say := func(format string, a ...any) string {
		if !why {
			return ""
		}
		return fmt.Sprintf(format, a...)
	}
	for i, ace := range dacl.ACEs {
		if ace.Flags&inheritOnlyACE != 0 || ace.Mask&matchFilterRight == 0 {
			continue
		}
		switch ace.Type {
		case account.AccessDenied:
			if contains(p.enabled, ace.SID) {
				return false, say("ACE %d denies %s (enabled SID)", i, ace.SID)
			}
			if contains(p.denyOnly, ace.SID) {
				return false, say("ACE %d denies %s (deny-only SID)", i, ace.SID)
			}
		case account.AccessAllowed:
			if contains(p.enabled, ace.SID) {
				return true, say("ACE %d allows %s", i, ace.SID)
			}
		}
	}
	return false, say("no ACE grants MATCH_FILTER")
}
