package account

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The SDDL strings of design §4, written out independently of the code.
const (
	wantAllowSDDL = "D:(A;;CC;;;" + testUserSID + ")"
	wantDenySDDL  = "D:(D;;CC;;;" + testUserSID + ")(A;;CC;;;WD)(A;;CC;;;AN)(A;;CC;;;AC)(A;;CC;;;S-1-15-2-2)(A;;CC;;;RC)(A;;CC;;;WR)"
)

func TestUserConditionSDDL(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		sddl string
	}{
		{wantAllowSD, wantAllowSDDL},
		{wantDenySD, wantDenySDDL},
	} {
		sd, err := ParseSD(tc.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := sd.SDDL(); got != tc.sddl {
			t.Errorf("SDDL() = %q\nwant     %q", got, tc.sddl)
		}
		parsed, err := ParseSDDL(tc.sddl)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := parsed.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, tc.b) {
			t.Errorf("ParseSDDL(%q).Bytes() =\n% x\nwant\n% x", tc.sddl, enc, tc.b)
		}
	}
}

func TestParseSDDLForms(t *testing.T) {
	user, _ := ParseSID(testUserSID)
	for _, tc := range []struct {
		in   string
		want *SecurityDescriptor
		out  string // canonical rendering; "" = same as in
	}{
		{"D:(A;;0x1;;;S-1-1-0)", &SecurityDescriptor{Control: 0x8004, DACL: &ACL{Revision: 2, ACEs: []ACE{{AccessAllowed, 0, 1, Everyone}}}}, "D:(A;;CC;;;WD)"},
		{"D:(D;OICI;0x1f01ff;;;BA)", &SecurityDescriptor{Control: 0x8004, DACL: &ACL{Revision: 2, ACEs: []ACE{{AccessDenied, 3, 0x1f01ff, BuiltinAdministrators}}}}, ""},
		{"O:SYG:BAD:PAI(A;ID;;;;" + testUserSID + ")", &SecurityDescriptor{Control: 0x8000 | 0x4 | 0x1000 | 0x400, Owner: LocalSystem, Group: BuiltinAdministrators,
			DACL: &ACL{Revision: 2, ACEs: []ACE{{AccessAllowed, 0x10, 0, user}}}}, "O:SYG:BAD:PAI(A;ID;0x0;;;" + testUserSID + ")"},
		{"D:NO_ACCESS_CONTROL", &SecurityDescriptor{Control: 0x8004}, ""},
		{"D:", &SecurityDescriptor{Control: 0x8004, DACL: &ACL{Revision: 2}}, ""},
		{"", &SecurityDescriptor{Control: 0x8000}, ""},
		{"S:(AU;SAFA;CC;;;WD)D:(A;;CC;;;S-1-15-2-2)", &SecurityDescriptor{Control: 0x8014,
			SACL: &ACL{Revision: 2, ACEs: []ACE{{SystemAudit, 0xC0, 1, Everyone}}},
			DACL: &ACL{Revision: 2, ACEs: []ACE{{AccessAllowed, 0, 1, AllRestrictedAppPackages}}}}, "D:(A;;CC;;;S-1-15-2-2)S:(AU;SAFA;CC;;;WD)"},
		{"O:" + testUserSID + "D:ARP(AL;;CC;;;NS)", &SecurityDescriptor{Control: 0x8000 | 0x4 | 0x1000 | 0x100, Owner: user,
			DACL: &ACL{Revision: 2, ACEs: []ACE{{SystemAlarm, 0, 1, NetworkService}}}}, "O:" + testUserSID + "D:PAR(AL;;CC;;;NS)"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSDDL(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseSDDL = %+v\nwant %+v", got, tc.want)
			}
			out := tc.out
			if out == "" {
				out = tc.in
			}
			if got.SDDL() != out {
				t.Errorf("SDDL() = %q, want %q", got.SDDL(), out)
			}
			b, err := got.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseSD(b)
			if err != nil {
				t.Fatalf("ParseSD(Bytes()): %v", err)
			}
			if !reflect.DeepEqual(back, tc.want) {
				t.Fatalf("binary round trip = %+v\nwant %+v", back, tc.want)
			}
		})
	}
}

func TestParseSDDLErrors(t *testing.T) {
	for _, tc := range []struct{ in, why string }{
		{"X:", "expected a section"},
		{"D:(A;;CC;;;WD)D:", "appears twice"},
		{"D:(A;;CC;;;WD", "without closing"},
		{"D:(A;;CC;;WD)", "has 5 fields"},
		{"D:(OA;;CC;;;WD)", `ACE type "OA"`},
		{"D:(A;XX;CC;;;WD)", "unknown flag"},
		{"D:(A;OIOI;CC;;;WD)", "flag OI given twice"},
		{"D:(A;;GA;;;WD)", `rights "GA"`},
		{"D:(A;;0x;;;WD)", `rights "0x"`},
		{"D:(A;;0x100000000;;;WD)", "not a 32-bit hex"},
		{"D:(A;;CC;1;;WD)", "object ACE GUIDs"},
		{"D:(A;;CC;;;ZZ)", "known alias"},
		{"D:(A;;CC;;;S-1-5-018)", "leading zero"},
		{"D:(A;;CC;;;WDX)", "trailing characters"},
		{"D:PP", "given twice"},
		{"D:NO_ACCESS_CONTROL(A;;CC;;;WD)", "cannot be followed"},
		{"O:", "expected a SID"},
		{"D: (A;;CC;;;WD)", "expected a section"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			sd, err := ParseSDDL(tc.in)
			if err == nil {
				t.Fatalf("ParseSDDL(%q) = %+v, want error", tc.in, sd)
			}
			if !errors.Is(err, ErrInvalidSDDL) || !strings.Contains(err.Error(), tc.why) || !strings.Contains(err.Error(), quote(tc.in)) {
				t.Fatalf("error %q: want ErrInvalidSDDL naming the input and saying %q", err, tc.why)
			}
		})
	}
}

func FuzzParseSD(f *testing.F) {
	f.Add(wantAllowSD)
	f.Add(wantDenySD)
	f.Add(ownerGroupSD)
	f.Fuzz(func(t *testing.T, b []byte) {
		verr := ValidateSelfRelativeSD(b)
		sd, err := ParseSD(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidSD) {
				t.Fatalf("error %v does not wrap ErrInvalidSD", err)
			}
			return
		}
		if verr != nil {
			t.Fatalf("ParseSD accepted what ValidateSelfRelativeSD refused: %v", verr)
		}
		enc, err := sd.Bytes()
		if err != nil {
			t.Fatalf("Bytes() of a parsed SD: %v", err)
		}
		back, err := ParseSD(enc)
		if err != nil {
			t.Fatalf("ParseSD(Bytes()): %v", err)
		}
		if !reflect.DeepEqual(back, sd) {
			t.Fatalf("binary round trip:\n%+v\n%+v", back, sd)
		}
		s := sd.SDDL()
		fromText, err := ParseSDDL(s)
		if err != nil {
			t.Fatalf("ParseSDDL(%q): %v", s, err)
		}
		if fromText.SDDL() != s {
			t.Fatalf("SDDL round trip: %q -> %q", s, fromText.SDDL())
		}
	})
}

func FuzzParseSDDL(f *testing.F) {
	for _, s := range []string{wantAllowSDDL, wantDenySDDL, "O:SYG:BAD:PAI(A;ID;;;;WD)", "D:NO_ACCESS_CONTROL", "S:(AU;SAFA;0x10;;;AU)", "D:(A;OICI;0xffffffff;;;S-1-5-21-1-2-3-1000)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sd, err := ParseSDDL(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidSDDL) {
				t.Fatalf("error %v does not wrap ErrInvalidSDDL", err)
			}
			return
		}
		b, err := sd.Bytes()
		if err != nil {
			t.Fatalf("Bytes(): %v", err)
		}
		if err := ValidateSelfRelativeSD(b); err != nil {
			t.Fatalf("Bytes() of %q does not validate: %v", s, err)
		}
		back, err := ParseSD(b)
		if err != nil {
			t.Fatalf("ParseSD(Bytes()): %v", err)
		}
		if back.SDDL() != sd.SDDL() {
			t.Fatalf("%q: SDDL after binary round trip %q, before %q", s, back.SDDL(), sd.SDDL())
		}
	})
}
