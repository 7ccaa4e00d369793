package account

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// mutate returns a copy of b changed by f.
func mutate(b []byte, f func(c []byte) []byte) []byte {
	c := append([]byte(nil), b...)
	return f(c)
}

func put16(c []byte, at int, v uint16) []byte { binary.LittleEndian.PutUint16(c[at:], v); return c }
func put32(c []byte, at int, v uint32) []byte { binary.LittleEndian.PutUint32(c[at:], v); return c }

// ownerGroupSD is a hand-written self-relative SD with owner SY (S-1-5-18) and group BA
// (S-1-5-32-544) and no ACLs: header 20, owner 12 bytes at 20, group 16 bytes at 32.
var ownerGroupSD = []byte{
	0x01, 0x00, 0x00, 0x80, // revision 1, control SE_SELF_RELATIVE only
	20, 0, 0, 0, // owner at 20
	32, 0, 0, 0, // group at 32
	0, 0, 0, 0, 0, 0, 0, 0, // no SACL, no DACL
	0x01, 0x01, 0, 0, 0, 0, 0, 0x05, 18, 0, 0, 0, // S-1-5-18
	0x01, 0x02, 0, 0, 0, 0, 0, 0x05, 32, 0, 0, 0, 0x20, 0x02, 0, 0, // S-1-5-32-544 (544 = 0x220)
}

func TestValidateSelfRelativeSD(t *testing.T) {
	// Offsets in wantAllowSD: header 0..20, DACL 20..64: AclSize at 22, AceCount at 24,
	// ACE 0 at 28 (AceSize at 30, mask at 32, SID at 36).
	for _, tc := range []struct {
		name    string
		b       []byte
		wantErr string // "" = valid
	}{
		{"allow shape", wantAllowSD, ""},
		{"deny shape", wantDenySD, ""},
		{"owner and group, no DACL", ownerGroupSD, ""},
		{"trailing bytes", append(append([]byte(nil), wantAllowSD...), 0, 0, 0, 0), ""},
		{"NULL DACL", []byte{1, 0, 0x04, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ""},
		{"ACL revision 4", mutate(wantAllowSD, func(c []byte) []byte { c[20] = 4; return c }), ""},
		{"empty", nil, "0 bytes, shorter than the 20-byte"},
		{"short header", wantAllowSD[:19], "19 bytes, shorter"},
		{"revision 2", mutate(wantAllowSD, func(c []byte) []byte { c[0] = 2; return c }), "revision 2"},
		{"absolute", mutate(wantAllowSD, func(c []byte) []byte { return put16(c, 2, 0x0004) }), "lacks SE_SELF_RELATIVE"},
		{"DACL offset in header", mutate(wantAllowSD, func(c []byte) []byte { return put32(c, 16, 8) }), "DACL offset 8 overlaps the 20-byte header"},
		{"DACL offset past end", mutate(wantAllowSD, func(c []byte) []byte { return put32(c, 16, 64) }), "DACL offset 64 is outside"},
		{"DACL offset unaligned", mutate(wantAllowSD, func(c []byte) []byte { return put32(c, 16, 22) }), "not 4-byte aligned"},
		{"DACL without present flag", mutate(wantAllowSD, func(c []byte) []byte { return put16(c, 2, 0x8000) }), "lacks SE_DACL_PRESENT"},
		{"SACL without present flag", mutate(wantAllowSD, func(c []byte) []byte { return put32(c, 12, 20) }), "SACL offset 20 is set but control"},
		{"owner in header", mutate(ownerGroupSD, func(c []byte) []byte { return put32(c, 4, 4) }), "owner offset 4 overlaps"},
		{"group SID truncated", ownerGroupSD[:40], "group SID at offset 32"},
		{"owner SID bad revision", mutate(ownerGroupSD, func(c []byte) []byte { c[20] = 2; return c }), "owner SID at offset 20: invalid SID: revision 2"},
		{"owner overlaps group", mutate(ownerGroupSD, func(c []byte) []byte { return put32(c, 8, 20) }), "[20,32) overlaps"},
		{"owner overlaps DACL", mutate(wantAllowSD, func(c []byte) []byte { return put32(c, 4, 36) }), "overlaps DACL"},
		{"ACL revision 1", mutate(wantAllowSD, func(c []byte) []byte { c[20] = 1; return c }), "AclRevision 1"},
		{"ACL revision 5", mutate(wantAllowSD, func(c []byte) []byte { c[20] = 5; return c }), "AclRevision 5"},
		{"AclSize too small", mutate(wantAllowSD, func(c []byte) []byte { return put16(c, 22, 4) }), "AclSize 4 is smaller"},
		{"AclSize unaligned", mutate(wantAllowSD, func(c []byte) []byte { return put16(c, 22, 42) }), "AclSize 42 is not a multiple of 4"},
		{"AclSize past end", mutate(wantAllowSD, func(c []byte) []byte { return put16(c, 22, 48) }), "AclSize 48 runs past the end"},
		{"AceCount too large", mutate(wantAllowSD, func(c []byte) []byte { return put16(c, 24, 2) }), "AceCount 2 but ACE 1"},
		{"AceSize zero", mutate(wantAllowSD, func(c []byte) []byte { return put16(c, 30, 0) }), "ACE 0: AceSize 0 is smaller"},
		{"AceSize unaligned", mutate(wantAllowSD, func(c []byte) []byte { return put16(c, 30, 34) }), "ACE 0: AceSize 34 is not a multiple of 4"},
		{"AceSize past ACL", mutate(wantAllowSD, func(c []byte) []byte { return put16(c, 30, 40) }), "ACE 0: AceSize 40 runs past the end of the ACL"},
		{"AceSize too small for SID", mutate(wantAllowSD, func(c []byte) []byte { return put16(c, 30, 12) }), "too small for a mask and a SID"},
		{"ACE SID longer than ACE", mutate(wantAllowSD, func(c []byte) []byte { c[37] = 6; return c }), "ACE 0 (ACCESS_ALLOWED): invalid SID: 6 sub-authorities need 32 bytes"},
		{"ACE SID bad revision", mutate(wantAllowSD, func(c []byte) []byte { c[36] = 0; return c }), "ACE 0 (ACCESS_ALLOWED): invalid SID: revision 0"},
		{"ACE SID 16 sub-authorities", mutate(wantAllowSD, func(c []byte) []byte { c[37] = 16; return c }), "sub-authority count 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateSelfRelativeSD(tc.b)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateSelfRelativeSD: %v, want nil", err)
				}
				if _, err := ParseSD(tc.b); err != nil {
					t.Fatalf("ParseSD of a valid SD: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateSelfRelativeSD(% x) = nil, want error containing %q", tc.b, tc.wantErr)
			}
			if !errors.Is(err, ErrInvalidSD) {
				t.Errorf("error %v does not wrap ErrInvalidSD", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
			if _, perr := ParseSD(tc.b); perr == nil {
				t.Errorf("ParseSD accepted what ValidateSelfRelativeSD refused")
			}
		})
	}
}

// An object ACE (type 5) passes the structural check but cannot be decoded by ParseSD.
func TestValidateAcceptsOtherACETypes(t *testing.T) {
	b := []byte{
		1, 0, 0x04, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0,
		4, 0, 20, 0, 1, 0, 0, 0, // ACL rev 4, size 20, 1 ACE
		5, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ACCESS_ALLOWED_OBJECT_ACE, size 12, opaque body
	}
	if err := ValidateSelfRelativeSD(b); err != nil {
		t.Fatalf("ValidateSelfRelativeSD: %v", err)
	}
	if _, err := ParseSD(b); err == nil || !strings.Contains(err.Error(), "ACE type 5 is not supported") {
		t.Fatalf("ParseSD error = %v, want 'ACE type 5 is not supported'", err)
	}
}
