package account

import (
	"bytes"
	"errors"
	"testing"
)

// testUserSID is a typical local-account SID: S-1-5-21-3623811015-3361044348-30300820-1013.
const testUserSID = "S-1-5-21-3623811015-3361044348-30300820-1013"

// testUserSIDBytes is testUserSID in binary form, written out field by field (28 bytes).
var testUserSIDBytes = []byte{
	0x01,                               // Revision 1
	0x05,                               // SubAuthorityCount 5
	0x00, 0x00, 0x00, 0x00, 0x00, 0x05, // IdentifierAuthority 5 (NT AUTHORITY), big-endian
	0x15, 0x00, 0x00, 0x00, // 21 = 0x00000015, little-endian
	0xC7, 0xF7, 0xFE, 0xD7, // 3623811015 = 0xD7FEF7C7
	0x7C, 0x77, 0x55, 0xC8, // 3361044348 = 0xC855777C
	0x94, 0x5A, 0xCE, 0x01, // 30300820 = 0x01CE5A94
	0xF5, 0x03, 0x00, 0x00, // 1013 = 0x000003F5
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// wantAllowSD is D:(A;;CC;;;S-1-5-21-3623811015-3361044348-30300820-1013), 64 bytes.
var wantAllowSD = cat(
	[]byte{
		0x01,       // Revision 1
		0x00,       // Sbz1
		0x04, 0x80, // Control 0x8004 = SE_SELF_RELATIVE | SE_DACL_PRESENT
		0, 0, 0, 0, // Owner offset: none
		0, 0, 0, 0, // Group offset: none
		0, 0, 0, 0, // Sacl offset: none
		20, 0, 0, 0, // Dacl offset 20: right after the header
		// DACL
		0x02,     // AclRevision 2
		0x00,     // Sbz1
		44, 0x00, // AclSize 44 = 8 header + 36 ACE
		0x01, 0x00, // AceCount 1
		0x00, 0x00, // Sbz2
		// ACE 0: allow
		0x00,     // AceType ACCESS_ALLOWED
		0x00,     // AceFlags
		36, 0x00, // AceSize 36 = 4 header + 4 mask + 28 SID
		0x01, 0x00, 0x00, 0x00, // Mask FWP_ACTRL_MATCH_FILTER
	},
	testUserSIDBytes,
)

// wantDenySD is D:(D;;CC;;;<user>)(A;;CC;;;WD)(A;;CC;;;AN)(A;;CC;;;AC)(A;;CC;;;S-1-15-2-2)(A;;CC;;;RC)(A;;CC;;;WR),
// 192 bytes.
var wantDenySD = cat(
	[]byte{
		0x01, 0x00, // Revision 1, Sbz1
		0x04, 0x80, // Control 0x8004
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // no owner, group, SACL
		20, 0, 0, 0, // Dacl offset 20
		// DACL
		0x02, 0x00, // AclRevision 2, Sbz1
		172, 0x00, // AclSize 172 = 8 + 36 + 20 + 20 + 24 + 24 + 20 + 20
		0x07, 0x00, // AceCount 7
		0x00, 0x00, // Sbz2
		// ACE 0: deny the user
		0x01, 0x00, 36, 0x00, // ACCESS_DENIED, flags 0, AceSize 36
		0x01, 0x00, 0x00, 0x00, // Mask 0x1
	},
	testUserSIDBytes,
	[]byte{
		// ACE 1: allow Everyone S-1-1-0
		0x00, 0x00, 20, 0x00, // ACCESS_ALLOWED, flags 0, AceSize 20 = 8 + 12
		0x01, 0x00, 0x00, 0x00, // Mask 0x1
		0x01, 0x01, 0, 0, 0, 0, 0, 0x01, // Revision 1, 1 sub-authority, authority 1 (WORLD)
		0x00, 0x00, 0x00, 0x00, // 0
		// ACE 2: allow ANONYMOUS LOGON S-1-5-7
		0x00, 0x00, 20, 0x00,
		0x01, 0x00, 0x00, 0x00,
		0x01, 0x01, 0, 0, 0, 0, 0, 0x05, // 1 sub-authority, authority 5 (NT)
		0x07, 0x00, 0x00, 0x00, // 7
		// ACE 3: allow ALL APP PACKAGES S-1-15-2-1
		0x00, 0x00, 24, 0x00, // AceSize 24 = 8 + 16
		0x01, 0x00, 0x00, 0x00,
		0x01, 0x02, 0, 0, 0, 0, 0, 0x0F, // 2 sub-authorities, authority 15 (APP PACKAGE)
		0x02, 0x00, 0x00, 0x00, // 2
		0x01, 0x00, 0x00, 0x00, // 1
		// ACE 4: allow ALL RESTRICTED APP PACKAGES S-1-15-2-2
		0x00, 0x00, 24, 0x00,
		0x01, 0x00, 0x00, 0x00,
		0x01, 0x02, 0, 0, 0, 0, 0, 0x0F,
		0x02, 0x00, 0x00, 0x00, // 2
		0x02, 0x00, 0x00, 0x00, // 2
		// ACE 5: allow RESTRICTED S-1-5-12
		0x00, 0x00, 20, 0x00,
		0x01, 0x00, 0x00, 0x00,
		0x01, 0x01, 0, 0, 0, 0, 0, 0x05,
		0x0C, 0x00, 0x00, 0x00, // 12
		// ACE 6: allow WRITE RESTRICTED S-1-5-33
		0x00, 0x00, 20, 0x00,
		0x01, 0x00, 0x00, 0x00,
		0x01, 0x01, 0, 0, 0, 0, 0, 0x05,
		0x21, 0x00, 0x00, 0x00, // 33
	},
)

func TestUserConditionSDBytes(t *testing.T) {
	if len(wantAllowSD) != 64 || len(wantDenySD) != 192 {
		t.Fatalf("hand-written fixtures have wrong lengths: %d, %d", len(wantAllowSD), len(wantDenySD))
	}
	for _, tc := range []struct {
		shape Shape
		want  []byte
	}{
		{ShapeAllow, wantAllowSD},
		{ShapeDeny, wantDenySD},
	} {
		t.Run(tc.shape.String(), func(t *testing.T) {
			got, err := UserConditionSD(testUserSID, tc.shape)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("UserConditionSD(%s):\n got % x\nwant % x", tc.shape, got, tc.want)
			}
			if err := ValidateSelfRelativeSD(got); err != nil {
				t.Fatalf("own output does not validate: %v", err)
			}
		})
	}
}

func TestUserConditionSDErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sid   string
		shape Shape
		is    error
	}{
		{"bad SID", "S-1-5-21-x", ShapeAllow, ErrInvalidSID},
		{"empty SID", "", ShapeDeny, ErrInvalidSID},
		{"unknown shape", testUserSID, Shape(7), nil},
		{"deny shape on Everyone", SIDStringEveryone, ShapeDeny, nil},
		{"deny shape on RESTRICTED", SIDStringRestricted, ShapeDeny, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := UserConditionSD(tc.sid, tc.shape)
			if err == nil {
				t.Fatalf("UserConditionSD(%q, %v) = % x, want an error", tc.sid, tc.shape, b)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v does not wrap %v", err, tc.is)
			}
		})
	}
}

func TestParseShape(t *testing.T) {
	for _, s := range []Shape{ShapeAllow, ShapeDeny} {
		got, err := ParseShape(s.String())
		if err != nil || got != s {
			t.Errorf("ParseShape(%q) = %v, %v", s.String(), got, err)
		}
	}
	if _, err := ParseShape("Allow"); err == nil {
		t.Error(`ParseShape("Allow") gave no error`)
	}
}
