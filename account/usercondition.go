package account

import "fmt"

// Shape selects which security descriptor an FWPM_CONDITION_ALE_USER_ID condition carries
// (design §4, wfp-facts §2). Both shapes are used with FWP_MATCH_EQUAL only, the one match
// type Microsoft documents for FWP_SECURITY_DESCRIPTOR_TYPE (FWP_MATCH_TYPE, fwptypes.h:
// "Only sortable data types support FWP_MATCH_NOT_EQUAL"; a security descriptor is not
// sortable). WFP evaluates such a condition as an access check of the flow's token
// against the descriptor for FWP_ACTRL_MATCH_FILTER (0x1): true when the check grants
// ("Permitting and blocking applications and users", learn.microsoft.com/windows/win32/fwp).
type Shape int

const (
	// ShapeAllow is the original design's descriptor D:(A;;CC;;;<SID>), on every filter of
	// a --user-match allow plan: the condition is true when the token's *enabled* SIDs get
	// MATCH_FILTER granted.
	//
	// The escape it leaves open (design §4; wfp-facts §2, "Bypass risk"): a process of the
	// sandbox account may, without any privilege, create a restricted version of its own
	// token (user SID made deny-only, or restricting SIDs that do not include it) and start
	// a child with it, or start an AppContainer child. A deny-only SID never matches an allow
	// ACE; a restricted token must be granted in the restricting-SID pass too; an
	// AppContainer token must also be granted to its package or capability SIDs. In each
	// case the allow ACE no longer grants, the condition is false and the block filters do
	// not apply to that child. Not yet confirmed on Windows.
	ShapeAllow Shape = iota

	// ShapeDeny is the guard descriptor of a --user-match deny plan:
	// D:(D;;CC;;;<SID>)(A;;CC;;;WD)(A;;CC;;;AN)(A;;CC;;;AC)(A;;CC;;;S-1-15-2-2)(A;;CC;;;RC)(A;;CC;;;WR).
	// It sits on the soft guard permits of the account's own sublayer (policy.Build) and
	// grants MATCH_FILTER to everyone *except* the account: the deny ACE comes first and
	// deny ACEs also hit deny-only SIDs (learn.microsoft.com/windows/win32/secauthz,
	// "SID Attributes in an Access Token"), so every token that carries the account's SID
	// at all — enabled, deny-only, restricted or inside an AppContainer — is denied and the
	// guard does not match it. The allow ACEs grant to every other token: Everyone (WD);
	// ANONYMOUS LOGON (AN), because an anonymous token lacks Everyone (Microsoft's own UWP
	// user condition O:LSD:(A;;CC;;;S-1-15-3-1)(A;;CC;;;WD)(A;;CC;;;AN) includes it); ALL
	// APPLICATION PACKAGES (AC) and ALL RESTRICTED APPLICATION PACKAGES for the package pass
	// of AppContainer tokens ("Implementing an AppContainer"); RESTRICTED (RC) and WRITE
	// RESTRICTED (WR, S-1-5-33) for the restricting-SID pass of restricted tokens
	// ("Restricted Tokens"). Cost (fail-closed): another account's restricted token whose
	// restricting SIDs include none of these is not granted, so it reaches the account's
	// blocks too. Not yet confirmed on Windows.
	ShapeDeny
)

// String returns "allow" or "deny".
func (s Shape) String() string {
	switch s {
	case ShapeAllow:
		return "allow"
	case ShapeDeny:
		return "deny"
	}
	return fmt.Sprintf("Shape(%d)", int(s))
}

// ParseShape accepts "allow" or "deny".
func ParseShape(s string) (Shape, error) {
	switch s {
	case "allow":
		return ShapeAllow, nil
	case "deny":
		return ShapeDeny, nil
	}
	return 0, fmt.Errorf("unknown user-condition shape %q: want allow or deny", s)
}

// denyShapeAllowed lists, in order, the SIDs the deny shape grants after its deny ACE.
var denyShapeAllowed = []SID{Everyone, Anonymous, AllAppPackages, AllRestrictedAppPackages, Restricted, WriteRestricted}

// UserConditionDescriptor returns the decoded descriptor of the given shape for sid.
func UserConditionDescriptor(sid SID, shape Shape) (*SecurityDescriptor, error) {
	if sid.IsZero() {
		return nil, fmt.Errorf("user condition: no SID given")
	}
	ace := func(t ACEType, s SID) ACE { return ACE{Type: t, Mask: FWPActrlMatchFilter, SID: s} }
	dacl := &ACL{Revision: ACLRevision}
	switch shape {
	case ShapeAllow:
		dacl.ACEs = []ACE{ace(AccessAllowed, sid)}
	case ShapeDeny:
		for _, other := range denyShapeAllowed {
			if sid == other {
				return nil, fmt.Errorf("user condition: %s is one of the SIDs the deny shape must allow; use the sandbox account's own SID", sid)
			}
		}
		dacl.ACEs = []ACE{ace(AccessDenied, sid)}
		for _, s := range denyShapeAllowed {
			dacl.ACEs = append(dacl.ACEs, ace(AccessAllowed, s))
		}
	default:
		return nil, fmt.Errorf("user condition: unknown shape %d", int(shape))
	}
	return &SecurityDescriptor{Control: ControlDACLPresent | ControlSelfRelative, DACL: dacl}, nil
}

// UserConditionSD builds the self-relative security descriptor for the ALE_USER_ID
// condition of the given shape: no owner, group or SACL; Control = SE_DACL_PRESENT |
// SE_SELF_RELATIVE (0x8004); the DACL (ACL_REVISION 2) right after the 20-byte header; every
// ACE has AceFlags 0 and mask 0x1 (FWP_ACTRL_MATCH_FILTER, SDDL CC). The layout is described
// at SecurityDescriptor.Bytes. It is meant to be byte-identical with what
// ConvertStringSecurityDescriptorToSecurityDescriptor returns for the shape's SDDL (checked
// by sd_windows_test.go on real Windows). sid is the string form (S-1-5-21-…); it is
// parsed strictly but not checked with CheckSandboxCandidate — callers do that.
func UserConditionSD(sid string, shape Shape) ([]byte, error) {
	s, err := ParseSID(sid)
	if err != nil {
		return nil, fmt.Errorf("user condition: %w", err)
	}
	sd, err := UserConditionDescriptor(s, shape)
	if err != nil {
		return nil, err
	}
	return sd.Bytes()
}
