package account

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseSIDValid(t *testing.T) {
	for _, tc := range []struct {
		in        string
		authority uint64
		subs      []uint32
	}{
		{"S-1-1-0", 1, []uint32{0}},
		{"S-1-5", 5, nil},
		{"S-1-5-18", 5, []uint32{18}},
		{"S-1-15-2-1", 15, []uint32{2, 1}},
		{"S-1-5-32-544", 5, []uint32{32, 544}},
		{testUserSID, 5, []uint32{21, 3623811015, 3361044348, 30300820, 1013}},
		{"S-1-281474976710655-4294967295", 1<<48 - 1, []uint32{1<<32 - 1}},
		{"S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15", 5, []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s, err := ParseSID(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if s.Authority() != tc.authority {
				t.Errorf("authority %d, want %d", s.Authority(), tc.authority)
			}
			if got := s.SubAuthorities(); len(got) != len(tc.subs) || (len(got) > 0 && !equalU32(got, tc.subs)) {
				t.Errorf("sub-authorities %v, want %v", got, tc.subs)
			}
			if s.String() != tc.in {
				t.Errorf("String() = %q", s.String())
			}
			if s.Len() != 8+4*len(tc.subs) || len(s.Bytes()) != s.Len() {
				t.Errorf("Len() = %d, len(Bytes()) = %d, want %d", s.Len(), len(s.Bytes()), 8+4*len(tc.subs))
			}
		})
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseSIDInvalid(t *testing.T) {
	for _, tc := range []struct{ in, why string }{
		{"", "empty string"},
		{"s-1-5-18", `does not start with "S-"`},
		{" S-1-5-18", `does not start with "S-"`},
		{"S-2-5-18", "revision 2"},
		{"S-x-5", `revision "x"`},
		{"S-1", "no identifier authority"},
		{"S-1-", `identifier authority "": empty number`},
		{"S-1-0x5-18", `identifier authority "0x5": not a decimal number`},
		{"S-1-281474976710656-1", "larger than 2^48-1"},
		{"S-1-99999999999999999999", "larger than 2^64-1"},
		{"S-1-5-18-", `sub-authority 2 "": empty number`},
		{"S-1-5--18", `sub-authority 1 "": empty number`},
		{"S-1-5-018", `sub-authority 1 "018": leading zero`},
		{"S-1-05-18", `identifier authority "05": leading zero`},
		{"S-1-5-+18", "not a decimal number"},
		{"S-1-5-18 ", "not a decimal number"},
		{"S-1-5-4294967296", "larger than 2^32-1"},
		{"S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16", "16 sub-authorities"},
		{"WD", `does not start with "S-"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s, err := ParseSID(tc.in)
			if err == nil {
				t.Fatalf("ParseSID(%q) = %v, want error", tc.in, s)
			}
			if !errors.Is(err, ErrInvalidSID) {
				t.Errorf("%v does not wrap ErrInvalidSID", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.why) || !strings.Contains(msg, quote(tc.in)) {
				t.Errorf("error %q should name the input %q and say %q", msg, tc.in, tc.why)
			}
		})
	}
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

func TestSIDBytes(t *testing.T) {
	s, err := ParseSID(testUserSID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Bytes(), testUserSIDBytes) {
		t.Fatalf("Bytes() = % x\nwant      % x", s.Bytes(), testUserSIDBytes)
	}
	back, err := SIDFromBytes(testUserSIDBytes)
	if err != nil || back != s {
		t.Fatalf("SIDFromBytes = %v, %v; want %v", back, err, s)
	}
	// The authority is big-endian over 6 bytes: 2^48-1 is all ones, 0x010203040506 keeps order.
	big, _ := NewSID(0x010203040506, 7)
	want := []byte{1, 1, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0}
	if !bytes.Equal(big.Bytes(), want) {
		t.Fatalf("Bytes() of authority 0x010203040506 = % x, want % x", big.Bytes(), want)
	}
	if rid, ok := s.RID(); !ok || rid != 1013 {
		t.Errorf("RID() = %d, %v", rid, ok)
	}
	var zero SID
	if !zero.IsZero() || zero.String() != "" || zero.Bytes() != nil {
		t.Errorf("zero SID: IsZero %v String %q Bytes %v", zero.IsZero(), zero.String(), zero.Bytes())
	}
	if _, ok := zero.RID(); ok {
		t.Error("zero SID has a RID")
	}
}

func TestSIDFromBytesInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		why  string
	}{
		{"short", []byte{1, 0, 0, 0, 0, 0, 0}, "7 bytes"},
		{"revision", []byte{2, 0, 0, 0, 0, 0, 0, 5}, "revision 2"},
		{"count", append([]byte{1, 16, 0, 0, 0, 0, 0, 5}, make([]byte, 64)...), "count 16"},
		{"truncated", []byte{1, 1, 0, 0, 0, 0, 0, 5, 18, 0}, "need 12 bytes, only 10"},
		{"trailing", []byte{1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0, 0}, "13 bytes given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SIDFromBytes(tc.b)
			if err == nil || !errors.Is(err, ErrInvalidSID) || !strings.Contains(err.Error(), tc.why) {
				t.Fatalf("SIDFromBytes(% x) error = %v, want ErrInvalidSID saying %q", tc.b, err, tc.why)
			}
		})
	}
}

func TestNewSIDLimits(t *testing.T) {
	if _, err := NewSID(1 << 48); err == nil {
		t.Error("NewSID accepted authority 2^48")
	}
	if _, err := NewSID(5, make([]uint32, 16)...); err == nil {
		t.Error("NewSID accepted 16 sub-authorities")
	}
}

func TestWellKnownStrings(t *testing.T) {
	for want, s := range map[string]SID{
		SIDStringEveryone: Everyone, SIDStringRestricted: Restricted, SIDStringWriteRestricted: WriteRestricted,
		SIDStringAllAppPackages: AllAppPackages, SIDStringAllRestrictedAppPackages: AllRestrictedAppPackages,
		SIDStringLocalSystem: LocalSystem, SIDStringLocalService: LocalService, SIDStringNetworkService: NetworkService,
		SIDStringBuiltinAdministrators: BuiltinAdministrators, SIDStringAuthenticatedUsers: AuthenticatedUsers,
		SIDStringBuiltinUsers: BuiltinUsers, SIDStringNetworkConfigurationOpers: NetworkConfigurationOpers,
	} {
		if s.String() != want {
			t.Errorf("well-known SID %q has String() %q", want, s.String())
		}
	}
}

func FuzzParseSID(f *testing.F) {
	for _, s := range []string{"S-1-5-18", testUserSID, "S-1-5", "S-1-281474976710655-4294967295", "S-1-05", "s-1-1-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSID(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidSID) {
				t.Fatalf("error %v does not wrap ErrInvalidSID", err)
			}
			return
		}
		if s.String() != in {
			t.Fatalf("ParseSID(%q).String() = %q", in, s.String())
		}
		back, err := SIDFromBytes(s.Bytes())
		if err != nil || back != s {
			t.Fatalf("binary round trip of %q: %v, %v", in, back, err)
		}
	})
}

func TestSIDText(t *testing.T) {
	type doc struct {
		User SID `json:"user"`
		None SID `json:"none"`
	}
	in := `{"user":"S-1-5-21-3623811015-3361044348-30300820-1013","none":""}`
	var d doc
	if err := json.Unmarshal([]byte(in), &d); err != nil {
		t.Fatal(err)
	}
	if d.User.String() != testUserSID || !d.None.IsZero() {
		t.Fatalf("decoded %+v", d)
	}
	out, err := json.Marshal(d)
	if err != nil || string(out) != in {
		t.Fatalf("json.Marshal = %s, %v; want %s", out, err, in)
	}
	if err := json.Unmarshal([]byte(`{"user":"S-1-5-018"}`), &d); err == nil || !errors.Is(err, ErrInvalidSID) {
		t.Fatalf("bad SID in JSON: error %v, want ErrInvalidSID", err)
	}
}
