package arbiter

import (
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
)

var (
	userA  = mustParse("S-1-5-21-1000000001-1000000002-1000000003-1001")
	userB  = mustParse("S-1-5-21-1000000001-1000000002-1000000003-1002")
	logon  = mustParse("S-1-5-5-0-123456")
	capSID = mustParse("S-1-15-3-1") // internetClient capability
)

func ace(t account.ACEType, s account.SID) account.ACE {
	return account.ACE{Type: t, Mask: account.FWPActrlMatchFilter, SID: s}
}

func dacl(aces ...account.ACE) *account.SecurityDescriptor {
	return &account.SecurityDescriptor{Control: account.ControlDACLPresent | account.ControlSelfRelative, DACL: &account.ACL{Revision: account.ACLRevision, ACEs: aces}}
}

// TestMatchFilterGranted pins the access-check rules of token.go against descriptors
// built by hand. Each expectation follows from the rule named in its comment.
func TestMatchFilterGranted(t *testing.T) {
	normal := func(u account.SID) Token {
		return Token{User: u, Groups: []Group{{SID: account.Everyone, Attributes: Enabled}}}
	}
	pkg := ExamplePackageSID
	tests := []struct {
		name string
		tok  Token
		sd   *account.SecurityDescriptor
		want bool
	}{
		// An allow ACE for an enabled user SID grants.
		{"allow user", normal(userA), dacl(ace(account.AccessAllowed, userA)), true},
		// No ACE names any SID of the token: an access check denies by default.
		{"allow other user", normal(userB), dacl(ace(account.AccessAllowed, userA)), false},
		// An empty DACL grants nothing.
		{"empty DACL", normal(userA), dacl(), false},
		// A NULL DACL (present, no ACL) grants everything.
		{"NULL DACL", normal(userA), &account.SecurityDescriptor{Control: account.ControlDACLPresent | account.ControlSelfRelative}, true},
		// Deny-only SIDs never match allow ACEs.
		{"deny-only user vs allow", Token{User: userA, UserDenyOnly: true}, dacl(ace(account.AccessAllowed, userA)), false},
		// Deny-only SIDs do match deny ACEs, even when a later allow would grant.
		{"deny-only user vs deny then Everyone", Token{User: userA, UserDenyOnly: true, Groups: []Group{{account.Everyone, Enabled}}},
			dacl(ace(account.AccessDenied, userA), ace(account.AccessAllowed, account.Everyone)), false},
		// ACEs are processed in DACL order: an allow before a deny grants.
		{"allow before deny", normal(userA), dacl(ace(account.AccessAllowed, account.Everyone), ace(account.AccessDenied, userA)), true},
		// Inherit-only ACEs take no part in the check.
		{"inherit-only allow skipped", normal(userA), dacl(account.ACE{Type: account.AccessAllowed, Flags: 0x08, Mask: 1, SID: userA}), false},
		// An ACE whose mask lacks MATCH_FILTER (0x1) does not grant it.
		{"allow without the right", normal(userA), dacl(account.ACE{Type: account.AccessAllowed, Mask: 0x2, SID: userA}), false},
		// Disabled groups match nothing.
		{"disabled group", Token{User: userB, Groups: []Group{{logon, Disabled}}}, dacl(ace(account.AccessDenied, logon), ace(account.AccessAllowed, userB)), true},
		// Restricted token: both passes must grant; restricting SIDs without the user fail the second.
		{"restricted, restricting lacks user", Token{User: userA, Restricting: []account.SID{logon}}, dacl(ace(account.AccessAllowed, userA)), false},
		// Restricted token whose restricting SIDs include the user: both passes grant.
		{"restricted, restricting has user", Token{User: userA, Restricting: []account.SID{userA}}, dacl(ace(account.AccessAllowed, userA)), true},
		// A deny ACE on a restricting SID denies in the restricting pass.
		{"restricted, deny on restricting SID", Token{User: userA, Restricting: []account.SID{account.Restricted}},
			dacl(ace(account.AccessDenied, account.Restricted), ace(account.AccessAllowed, account.Everyone), ace(account.AccessAllowed, userA)), false},
		// AppContainer: the package pass must grant too; ALL APP PACKAGES stands for every non-LPAC package.
		{"appcontainer, only user allowed", Token{User: userA, AppContainer: &pkg}, dacl(ace(account.AccessAllowed, userA)), false},
		{"appcontainer, user and AC allowed", Token{User: userA, AppContainer: &pkg},
			dacl(ace(account.AccessAllowed, userA), ace(account.AccessAllowed, account.AllAppPackages)), true},
		// An LPAC token is not in ALL APP PACKAGES.
		{"LPAC, AC allowed", Token{User: userA, AppContainer: &pkg, LPAC: true},
			dacl(ace(account.AccessAllowed, userA), ace(account.AccessAllowed, account.AllAppPackages)), false},
		// Capabilities count in the package pass.
		{"appcontainer, capability allowed", Token{User: userA, AppContainer: &pkg, Capabilities: []account.SID{capSID}},
			dacl(ace(account.AccessAllowed, userA), ace(account.AccessAllowed, capSID)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := tt.tok.MatchFilterGranted(tt.sd)
			if got != tt.want {
				t.Errorf("granted = %v, want %v (%v)", got, tt.want, why)
			}
		})
	}
}

func TestTokenFor(t *testing.T) {
	for _, k := range TokenKinds {
		tok, err := TokenFor(k, userA)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if tok.User != userA {
			t.Errorf("%s: user %s", k, tok.User)
		}
		if (k == TokenDenyOnly) != tok.UserDenyOnly || (k == TokenRestricted) != (len(tok.Restricting) > 0) || (k == TokenAppContainer) != (tok.AppContainer != nil) {
			t.Errorf("%s: token has the wrong shape: %s", k, tok)
		}
		if contains(tok.Restricting, userA) {
			t.Errorf("%s: restricting SIDs include the user", k)
		}
	}
	if _, err := TokenFor("admin", userA); err == nil {
		t.Error("TokenFor accepted an unknown kind")
	}
}
