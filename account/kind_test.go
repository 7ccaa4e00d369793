package account

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckResolved(t *testing.T) {
	user, _ := ParseSID(testUserSID)
	group, _ := ParseSID("S-1-5-21-3623811015-3361044348-30300820-1020")
	for _, tc := range []struct {
		name string
		acc  Account
		is   error
		want string
	}{
		{"user", Account{Name: "sbx", Domain: "HOST", SID: user, Kind: KindUser}, nil, ""},
		{"local group", Account{Name: "devs", Domain: "HOST", SID: group, Kind: KindAlias}, ErrNotUser, `"devs" (HOST\devs (` + group.String() + `)) is a local group (alias), not a user account`},
		{"deleted", Account{Name: "old", SID: user, Kind: KindDeletedAccount}, ErrNotUser, "is a deleted account, not a user account"},
		{"SYSTEM", Account{Name: "SYSTEM", Domain: "NT AUTHORITY", SID: LocalSystem, Kind: KindWellKnownGroup}, ErrNotSandboxCandidate, "LocalSystem service account"},
		{"Administrators", Account{Name: "Administrators", Domain: "BUILTIN", SID: BuiltinAdministrators, Kind: KindAlias}, ErrNotSandboxCandidate, "BUILTIN group"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkResolved(tc.acc.Name, tc.acc)
			if tc.is == nil {
				if err != nil || got != tc.acc {
					t.Fatalf("checkResolved = %v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "net user") {
				t.Fatalf("error %v: want %v saying %q with a net user hint", err, tc.is, tc.want)
			}
		})
	}
}

func TestNoSuchAccountMessage(t *testing.T) {
	cause := errors.New("No mapping between account names and security IDs was done.")
	err := noSuchAccount("sbx-offline", false, cause)
	if !errors.Is(err, ErrNoSuchAccount) || !errors.Is(err, cause) ||
		!strings.Contains(err.Error(), `no account named "sbx-offline"`) || !strings.Contains(err.Error(), `net user sbx-offline * /add`) {
		t.Fatalf("by name: %v", err)
	}
	err = noSuchAccount(testUserSID, true, cause)
	if !errors.Is(err, ErrNoSuchAccount) || !strings.Contains(err.Error(), "no account with SID "+testUserSID) {
		t.Fatalf("by SID: %v", err)
	}
}

func TestKindString(t *testing.T) {
	if KindUser.String() != "user" || KindWellKnownGroup.String() != "well-known group" || Kind(99).String() != "SID_NAME_USE(99)" {
		t.Errorf("Kind strings: %q %q %q", KindUser, KindWellKnownGroup, Kind(99))
	}
}
