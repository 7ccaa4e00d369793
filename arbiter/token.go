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
// access check against an ALE_USER_ID security descriptor reads. Privileges,
// integrity level and mandatory policy are not modelled (FWP_ACTRL_MATCH_FILTER is
// an execute-class right, wfp-facts §2, so no-write-up does not apply to it).
type Token struct {
	User         account.SID
	UserDenyOnly bool          // the user SID is deny-only (CreateRestrictedToken SidsToDisable)
	Groups       []Group       // group SIDs with their attributes
	Restricting  []account.SID // restricting SIDs: non-empty makes a restricted token
	AppContainer *account.SID  // the package SID of an AppContainer token, nil otherwise
	LPAC         bool          // a less-privileged AppContainer (no ALL APPLICATION PACKAGES)
	Capabilities []account.SID // capability SIDs of an AppContainer token
}

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
)

// TokenKinds lists the kinds in a stable order.
var TokenKinds = []TokenKind{TokenNormal, TokenDenyOnly, TokenRestricted, TokenAppContainer}

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
	default:
		return Token{}, fmt.Errorf("unknown token kind %q: want one of %v", kind, TokenKinds)
	}
	return t, nil
}

// String is a one-line description of the token for traces.
func (t Token) String() string {
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
	if sd.DACL == nil {
		if sd.Control&account.ControlDACLPresent != 0 {
			return true, []string{"NULL DACL: every access is granted"}
		}
		return true, []string{"no DACL: every access is granted"}
	}
	var why []string
	for _, p := range t.passes() {
		ok, line := p.check(sd.DACL)
		why = append(why, p.name+": "+line)
		if !ok {
			return false, why
		}
	}
	return true, why
}

func (p accessPass) check(dacl *account.ACL) (bool, string) {
	for i, ace := range dacl.ACEs {
		if ace.Flags&inheritOnlyACE != 0 || ace.Mask&matchFilterRight == 0 {
			continue
		}
		switch ace.Type {
		case account.AccessDenied:
			if contains(p.enabled, ace.SID) {
				return false, fmt.Sprintf("ACE %d denies %s (enabled SID)", i, ace.SID)
			}
			if contains(p.denyOnly, ace.SID) {
				return false, fmt.Sprintf("ACE %d denies %s (deny-only SID)", i, ace.SID)
			}
		case account.AccessAllowed:
			if contains(p.enabled, ace.SID) {
				return true, fmt.Sprintf("ACE %d allows %s", i, ace.SID)
			}
		}
	}
	return false, "no ACE grants MATCH_FILTER"
}
