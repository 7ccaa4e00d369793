package account

import (
	"errors"
	"strings"
	"testing"
)

func TestBytesRefusesUnencodable(t *testing.T) {
	many := make([]ACE, 4000) // 8 + 4000 × 20 bytes > 65535
	for i := range many {
		many[i] = ACE{Type: AccessAllowed, Mask: 1, SID: Everyone}
	}
	for _, tc := range []struct {
		name string
		sd   SecurityDescriptor
		want string
	}{
		{"ACE without SID", SecurityDescriptor{DACL: &ACL{ACEs: []ACE{{Type: AccessAllowed, Mask: 1}}}}, "encode DACL: invalid security descriptor: ACE 0 has no SID"},
		{"object ACE", SecurityDescriptor{SACL: &ACL{ACEs: []ACE{{Type: 5, SID: Everyone}}}}, "encode SACL: invalid security descriptor: ACE 0: ACE type 5 cannot be encoded"},
		{"ACL too large", SecurityDescriptor{DACL: &ACL{ACEs: many}}, "ACL of 80008 bytes is larger than 65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.sd.Bytes()
			if err == nil || !errors.Is(err, ErrInvalidSD) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Bytes() = %d bytes, %v; want ErrInvalidSD saying %q", len(b), err, tc.want)
			}
		})
	}
}

// A DACL given without ControlDACLPresent still gets the flag: Bytes derives it.
func TestBytesSetsPresentFlags(t *testing.T) {
	sd := SecurityDescriptor{DACL: &ACL{}, SACL: &ACL{}}
	b, err := sd.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	// Control at offset 2: SE_SELF_RELATIVE 0x8000 | SE_SACL_PRESENT 0x10 | SE_DACL_PRESENT 0x4.
	if b[2] != 0x14 || b[3] != 0x80 {
		t.Fatalf("control bytes % x, want 14 80", b[2:4])
	}
	// SACL at 20 (8-byte empty ACL), DACL at 28; revision defaults to 2.
	if b[12] != 20 || b[16] != 28 || b[20] != 2 || b[28] != 2 || len(b) != 36 {
		t.Fatalf("layout % x", b)
	}
	if err := ValidateSelfRelativeSD(b); err != nil {
		t.Fatal(err)
	}
}
