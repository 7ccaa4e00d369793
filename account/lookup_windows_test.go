//go:build windows

package account

import (
	"errors"
	"strings"
	"testing"
)

func TestLookupWellKnown(t *testing.T) {
	s, kind, err := LookupName(`NT AUTHORITY\SYSTEM`)
	if err != nil {
		t.Fatal(err)
	}
	if s != LocalSystem || kind != KindWellKnownGroup {
		t.Errorf(`LookupName(NT AUTHORITY\SYSTEM) = %s, %v; want %s, well-known group`, s, kind, LocalSystem)
	}
	name, _, kind, err := LookupSID(BuiltinAdministrators)
	if err != nil {
		t.Fatal(err)
	}
	if kind != KindAlias || name == "" {
		t.Errorf("LookupSID(S-1-5-32-544) = %q, %v; want an alias with a name", name, kind)
	}
}

func TestResolveRefusals(t *testing.T) {
	for _, tc := range []struct {
		in   string
		is   error
		want string
	}{
		{"wfpsandbox-no-such-user-7f3a", ErrNoSuchAccount, `net user wfpsandbox-no-such-user-7f3a * /add`},
		{"S-1-5-21-1-2-3-4242", ErrNoSuchAccount, "no account with SID S-1-5-21-1-2-3-4242"},
		{`NT AUTHORITY\SYSTEM`, ErrNotSandboxCandidate, "LocalSystem"},
		{"S-1-5-32-544", ErrNotSandboxCandidate, "BUILTIN group"},
		{"S-1-1-0", ErrNotSandboxCandidate, "Everyone"},
		{"S-1-5-21-x", ErrInvalidSID, "S-1-5-21-x"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			a, err := Resolve(tc.in)
			if err == nil {
				t.Fatalf("Resolve(%q) = %v, want an error", tc.in, a)
			}
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Resolve(%q) error %q: want %v saying %q", tc.in, err, tc.is, tc.want)
			}
		})
	}
}

func TestIsElevatedRuns(t *testing.T) {
	elevated, err := IsElevated()
	if err != nil {
		t.Fatal(err)
	}
	err = RequireElevation("setup")
	if elevated != (err == nil) {
		t.Fatalf("IsElevated = %v but RequireElevation error = %v", elevated, err)
	}
	if err != nil && (!errors.Is(err, ErrNotElevated) || !strings.HasPrefix(err.Error(), "setup must run elevated: ")) {
		t.Fatalf("RequireElevation error %q", err)
	}
}
