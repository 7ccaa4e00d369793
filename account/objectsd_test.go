package account

import (
	"errors"
	"testing"
)

// The object descriptor: valid self-relative, DACL not protected (inheritance merges
// the container's ACEs), the documented default grants repeated, READ and only READ for
// each reader.
func TestObjectSD(t *testing.T) {
	alice, _ := ParseSID("S-1-5-21-1-2-3-1001")
	b, err := ObjectSD([]SID{BuiltinUsers, alice, BuiltinUsers})
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateSelfRelativeSD(b); err != nil {
		t.Fatalf("not a valid self-relative SD: %v", err)
	}
	sd, err := ParseSD(b)
	if err != nil {
		t.Fatal(err)
	}
	if sd.Control&ControlDACLProtected != 0 {
		t.Error("DACL is protected: inherited ACEs (the service SIDs') would be dropped")
	}
	if !sd.Owner.IsZero() || !sd.Group.IsZero() || sd.SACL != nil {
		t.Errorf("owner %v group %v SACL %v: want none (taken from the creator's token)", sd.Owner, sd.Group, sd.SACL)
	}
	want := "D:(A;;0xf07ff;;;BA)(A;;0x307ff;;;NO)(A;;0x50;;;WD)(A;;0x80;;;BU)(A;;0x80;;;S-1-5-21-1-2-3-1001)"
	if got := sd.SDDL(); got != want {
		t.Errorf("SDDL %s\nwant %s", got, want)
	}
	// Rights by their SDK names: a reader gets FWPM_ACTRL_READ (0x80) only.
	for _, e := range sd.DACL.ACEs {
		if e.SID == BuiltinUsers && e.Mask != FWPMActrlRead {
			t.Errorf("BUILTIN\\Users mask %#x, want FWPM_ACTRL_READ", e.Mask)
		}
		if e.Type != AccessAllowed || e.Flags != 0 {
			t.Errorf("ACE %+v: want a plain ACCESS_ALLOWED ACE", e)
		}
	}
}

func TestObjectSDRefuses(t *testing.T) {
	many := make([]SID, MaxObjectReaders+1)
	for i := range many {
		many[i] = BuiltinUsers
	}
	if _, err := ObjectSD(many); !errors.Is(err, ErrInvalidSD) {
		t.Errorf("%d readers: %v, want ErrInvalidSD", len(many), err)
	}
	if _, err := ObjectSD([]SID{{}}); !errors.Is(err, ErrInvalidSD) {
		t.Errorf("zero SID reader: %v, want ErrInvalidSD", err)
	}
}

func TestParseReaders(t *testing.T) {
	got, err := ParseReaders(nil)
	if err != nil || len(got) != 1 || got[0] != BuiltinUsers {
		t.Fatalf("ParseReaders(nil) = %v, %v; want [BUILTIN\\Users]", got, err)
	}
	got, err = ParseReaders([]string{"S-1-5-11", "BU"})
	if err != nil || len(got) != 2 || got[0] != AuthenticatedUsers || got[1] != BuiltinUsers {
		t.Fatalf("ParseReaders = %v, %v", got, err)
	}
	if _, err := ParseReaders([]string{"Users"}); err == nil {
		t.Fatal("ParseReaders(Users) accepted a name")
	}
}
