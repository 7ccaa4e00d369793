package account

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// ValidateSelfRelativeSD checks the structure of a self-relative SECURITY_DESCRIPTOR, the
// form WFP requires in an FWP_SECURITY_DESCRIPTOR_TYPE condition value (an absolute one is
// refused with ERROR_INVALID_SECURITY_DESCR, wfp-facts §2). It checks:
//
//   - the 20-byte header is there, Revision is 1 and Control has SE_SELF_RELATIVE (0x8000);
//   - every non-zero owner/group/SACL/DACL offset is 4-byte aligned, past the header and
//     inside b; the parts do not overlap one another;
//   - a SACL/DACL offset is only set when SE_SACL_PRESENT/SE_DACL_PRESENT is set (a present
//     flag with offset 0 is a NULL ACL, which is valid);
//   - owner and group are valid SIDs (revision 1, at most 15 sub-authorities, inside b);
//   - each ACL has AclRevision 2, 3 or 4 (MIN_ACL_REVISION..MAX_ACL_REVISION), an AclSize
//     that is a multiple of 4, at least the 8-byte header and inside b, and AceCount ACEs
//     that each lie fully inside the ACL with an AceSize that is a multiple of 4 and at least
//     the 4-byte ACE header;
//   - the ACEs with a mask + SID body (types 0–3) hold a valid SID inside their AceSize.
//     Other ACE types (object, callback, …) are checked for size only.
//
// It is stricter than Windows' IsValidSecurityDescriptor on two points that well-formed
// descriptors never hit: overlapping parts and an ACL offset without its present flag.
// Trailing bytes after the last part are allowed, as in Windows.
func ValidateSelfRelativeSD(b []byte) error {
	_, err := decodeSD(b, false)
	return err
}

// ParseSD validates b like ValidateSelfRelativeSD and decodes it. Only ACEs of types 0–3
// can be decoded; others are an error here.
func ParseSD(b []byte) (*SecurityDescriptor, error) {
	return decodeSD(b, true)
}

type sdPart struct {
	name     string
	off, end int
}

func decodeSD(b []byte, decode bool) (*SecurityDescriptor, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSD, fmt.Sprintf(format, a...))
	}
	if len(b) < sdHeaderLen {
		return nil, bad("%d bytes, shorter than the %d-byte self-relative header", len(b), sdHeaderLen)
	}
	if b[0] != sdRevision {
		return nil, bad("revision %d, want 1 (SECURITY_DESCRIPTOR_REVISION)", b[0])
	}
	control := Control(binary.LittleEndian.Uint16(b[2:]))
	if control&ControlSelfRelative == 0 {
		return nil, bad("control 0x%04X lacks SE_SELF_RELATIVE (0x8000): not a self-relative descriptor", uint16(control))
	}
	sd := &SecurityDescriptor{Control: control}
	var parts []sdPart
	offset := func(name string, at int) (int, error) {
		off := int(binary.LittleEndian.Uint32(b[at:]))
		switch {
		case off == 0:
			return 0, nil
		case off < sdHeaderLen:
			return 0, bad("%s offset %d overlaps the %d-byte header", name, off, sdHeaderLen)
		case off >= len(b):
			return 0, bad("%s offset %d is outside the %d-byte descriptor", name, off, len(b))
		case off%4 != 0:
			return 0, bad("%s offset %d is not 4-byte aligned", name, off)
		}
		return off, nil
	}

	for _, p := range []struct {
		name string
		at   int
		dst  *SID
	}{{"owner", 4, &sd.Owner}, {"group", 8, &sd.Group}} {
		off, err := offset(p.name, p.at)
		if err != nil {
			return nil, err
		}
		if off == 0 {
			continue
		}
		s, n, err := decodeSID(b[off:])
		if err != nil {
			return nil, bad("%s SID at offset %d: %v", p.name, off, err)
		}
		*p.dst = s
		parts = append(parts, sdPart{p.name, off, off + n})
	}

	for _, p := range []struct {
		name    string
		at      int
		present Control
		flag    string
		dst     **ACL
	}{
		{"SACL", 12, ControlSACLPresent, "SE_SACL_PRESENT", &sd.SACL},
		{"DACL", 16, ControlDACLPresent, "SE_DACL_PRESENT", &sd.DACL},
	} {
		off, err := offset(p.name, p.at)
		if err != nil {
			return nil, err
		}
		if off == 0 {
			continue
		}
		if control&p.present == 0 {
			return nil, bad("%s offset %d is set but control 0x%04X lacks %s", p.name, off, uint16(control), p.flag)
		}
		acl, n, err := decodeACL(b[off:], decode)
		if err != nil {
			return nil, bad("%s at offset %d: %v", p.name, off, err)
		}
		*p.dst = acl
		parts = append(parts, sdPart{p.name, off, off + n})
	}

	sort.Slice(parts, func(i, j int) bool { return parts[i].off < parts[j].off })
	for i := 1; i < len(parts); i++ {
		if parts[i].off < parts[i-1].end {
			return nil, bad("%s [%d,%d) overlaps %s [%d,%d)", parts[i].name, parts[i].off, parts[i].end,
				parts[i-1].name, parts[i-1].off, parts[i-1].end)
		}
	}
	if !decode {
		return nil, nil
	}
	return sd, nil
}

// decodeACL checks (and, if decode, decodes) the ACL at the start of b and returns its AclSize.
func decodeACL(b []byte, decode bool) (*ACL, int, error) {
	if len(b) < aclHeaderLen {
		return nil, 0, fmt.Errorf("only %d bytes left, an ACL header is %d", len(b), aclHeaderLen)
	}
	rev := b[0]
	if rev < 2 || rev > 4 {
		return nil, 0, fmt.Errorf("AclRevision %d, want 2 (ACL_REVISION) or 4 (ACL_REVISION_DS)", rev)
	}
	size := int(binary.LittleEndian.Uint16(b[2:]))
	count := int(binary.LittleEndian.Uint16(b[4:]))
	switch {
	case size < aclHeaderLen:
		return nil, 0, fmt.Errorf("AclSize %d is smaller than the %d-byte ACL header", size, aclHeaderLen)
	case size%4 != 0:
		return nil, 0, fmt.Errorf("AclSize %d is not a multiple of 4", size)
	case size > len(b):
		return nil, 0, fmt.Errorf("AclSize %d runs past the end of the descriptor (%d bytes left)", size, len(b))
	}
	acl := &ACL{Revision: rev}
	if decode && count > 0 {
		acl.ACEs = make([]ACE, 0, min(count, size/16))
	}
	pos := aclHeaderLen
	for i := range count {
		if size-pos < aceHeaderLen {
			return nil, 0, fmt.Errorf("AceCount %d but ACE %d starts at byte %d of the %d-byte ACL, no room for its header", count, i, pos, size)
		}
		typ := ACEType(b[pos])
		aceSize := int(binary.LittleEndian.Uint16(b[pos+2:]))
		switch {
		case aceSize < aceHeaderLen:
			return nil, 0, fmt.Errorf("ACE %d: AceSize %d is smaller than the %d-byte ACE header", i, aceSize, aceHeaderLen)
		case aceSize%4 != 0:
			return nil, 0, fmt.Errorf("ACE %d: AceSize %d is not a multiple of 4", i, aceSize)
		case aceSize > size-pos:
			return nil, 0, fmt.Errorf("ACE %d: AceSize %d runs past the end of the ACL (%d bytes left)", i, aceSize, size-pos)
		}
		ace := b[pos : pos+aceSize]
		if typ.hasMaskAndSID() {
			if aceSize < aceHeaderLen+4+8 {
				return nil, 0, fmt.Errorf("ACE %d (%v): AceSize %d is too small for a mask and a SID", i, typ, aceSize)
			}
			sid, _, err := decodeSID(ace[aceHeaderLen+4:])
			if err != nil {
				return nil, 0, fmt.Errorf("ACE %d (%v): %w", i, typ, err)
			}
			if decode {
				acl.ACEs = append(acl.ACEs, ACE{
					Type:  typ,
					Flags: ace[1],
					Mask:  binary.LittleEndian.Uint32(ace[aceHeaderLen:]),
					SID:   sid,
				})
			}
		} else if decode {
			return nil, 0, fmt.Errorf("ACE %d: %v is not supported by this decoder (only types 0-3)", i, typ)
		}
		pos += aceSize
	}
	return acl, size, nil
}
