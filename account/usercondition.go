package account

import "fmt"

// Shape selects how the FWPM_CONDITION_ALE_USER_ID condition of a block filter is built:
// the match type together with the DACL of the security descriptor (design §4,
// wfp-facts §2). WFP evaluates such a condition as an access check of the connecting
// process's token against the descriptor for FWP_ACTRL_MATCH_FILTER (0x1): FWP_MATCH_EQUAL
// is true when the check grants, FWP_MATCH_NOT_EQUAL when it does not.
type Shape int

const (
	// ShapeAllow is the original design's shape: FWP_MATCH_EQUAL with D:(A;;CC;;;<SID>).
	// The block applies when the token's *enabled* SIDs get MATCH_FILTER granted.
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

	// ShapeDeny is the escape-resistant shape: FWP_MATCH_NOT_EQUAL with
	// D:(D;;CC;;;<SID>)(A;;CC;;;WD)(A;;CC;;;AC)(A;;CC;;;S-1-15-2-2)(A;;CC;;;RC)(A;;CC;;;WR).
	// The block applies when the access check does NOT grant. The deny ACE comes first, and
	// deny ACEs also hit deny-only SIDs, so every token that carries the account's SID at
	// all — enabled, deny-only, restricted or inside an AppContainer — is denied and
	// blocked. The allow ACEs (Everyone, ALL APP PACKAGES, ALL RESTRICTED APP PACKAGES,
	// RESTRICTED, WRITE RESTRICTED) grant to every other account's normal, AppContainer and
	// restricted processes, so they stay unmatched. Cost (fail-closed): another account's
	// restricted token whose restricting SIDs include none of these would be blocked too.
	// Neither shape sees traffic sent under a token that lacks the SID (wfp-facts §9).
	// Not yet confirmed on Windows.
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

// MatchType returns the FWP_MATCH_TYPE value the filter condition uses with this shape:
// 0 (FWP_MATCH_EQUAL) for ShapeAllow, 10 (FWP_MATCH_NOT_EQUAL) for ShapeDeny.
func (s Shape) MatchType() (uint32, error) {
	switch s {
	case ShapeAllow:
		return 0, nil
	case ShapeDeny:
		return 10, nil
	}
	return 0, fmt.Errorf("unknown user-condition shape %d", int(s))
}

// denyShapeAllowed lists, in order, the SIDs the deny shape grants after its deny ACE.
var denyShapeAllowed = []SID{Everyone, AllAppPackages, AllRestrictedAppPackages, Restricted, WriteRestricted}

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
