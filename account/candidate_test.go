package account

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckSandboxCandidate(t *testing.T) {
	for _, tc := range []struct {
		sid string
		why string // "" = accepted
	}{
		{testUserSID, ""},
		{"S-1-5-21-1-2-3-1000", ""},
		{"S-1-5-21-1-2-3-4294967295", ""},
		{"S-1-1-0", "Everyone"},
		{"S-1-5-18", "LocalSystem service account"},
		{"S-1-5-19", "LocalService service account"},
		{"S-1-5-20", "NetworkService service account"},
		{"S-1-5-11", "well-known group Authenticated Users"},
		{"S-1-5-12", "well-known group RESTRICTED"},
		{"S-1-5-33", "well-known group WRITE RESTRICTED"},
		{"S-1-5-32-544", "BUILTIN group"},
		{"S-1-5-32-545", "BUILTIN group"},
		{"S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464", "service SID"},
		{"S-1-5-5-0-123456", "logon-session SID"},
		{"S-1-5-99", "well-known NT AUTHORITY SID"},
		{"S-1-5", "NT AUTHORITY domain SID"},
		{"S-1-15-2-1", "AppContainer"},
		{"S-1-15-3-1", "AppContainer"},
		{"S-1-16-12288", "integrity-level"},
		{"S-1-12-1-1-2-3-4", "Azure AD"},
		{"S-1-3-0", "creator"},
		{"S-1-9-1", "identifier authority 9"},
		{"S-1-5-21-1-2-3", "computer or domain SID"},
		{"S-1-5-21-1-2-3-4-1001", "6 sub-authorities"},
		{"S-1-5-21-1-2-3-500", "RID 500 is the built-in Administrator"},
		{"S-1-5-21-1-2-3-501", "RID 501 is the built-in Guest"},
		{"S-1-5-21-1-2-3-503", "RID 503 is the DefaultAccount"},
		{"S-1-5-21-1-2-3-504", "WDAGUtilityAccount"},
		{"S-1-5-21-1-2-3-513", "Domain Users"},
		{"S-1-5-21-1-2-3-999", "RID 999 is reserved"},
	} {
		t.Run(tc.sid, func(t *testing.T) {
			s, err := ParseSID(tc.sid)
			if err != nil {
				t.Fatal(err)
			}
			err = CheckSandboxCandidate(s)
			if tc.why == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want refusal saying %q", tc.why)
			}
			msg := err.Error()
			if !errors.Is(err, ErrNotSandboxCandidate) || !strings.Contains(msg, tc.why) ||
				!strings.HasPrefix(msg, tc.sid+" ") || !strings.Contains(msg, "net user") {
				t.Fatalf("error %q: want ErrNotSandboxCandidate naming %s, saying %q and suggesting net user", msg, tc.sid, tc.why)
			}
		})
	}
	if err := CheckSandboxCandidate(SID{}); err == nil {
		t.Error("zero SID accepted")
	}
}
