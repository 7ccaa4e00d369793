package account

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Control is the SECURITY_DESCRIPTOR_CONTROL word (winnt.h).
type Control uint16

// Control bits (winnt.h).
const (
	ControlOwnerDefaulted Control = 0x0001 // SE_OWNER_DEFAULTED
	ControlGroupDefaulted Control = 0x0002 // SE_GROUP_DEFAULTED
	ControlDACLPresent    Control = 0x0004 // SE_DACL_PRESENT
	ControlDACLDefaulted  Control = 0x0008 // SE_DACL_DEFAULTED
	ControlSACLPresent    Control = 0x0010 // SE_SACL_PRESENT
	ControlSACLDefaulted  Control = 0x0020 // SE_SACL_DEFAULTED
	ControlDACLProtected  Control = 0x1000 // SE_DACL_PROTECTED
	ControlSACLProtected  Control = 0x2000 // SE_SACL_PROTECTED
	ControlSelfRelative   Control = 0x8000 // SE_SELF_RELATIVE
)

// ACEType is the AceType byte of an ACE_HEADER (winnt.h).
type ACEType uint8

// The ACE types this package decodes: the four with a plain mask + SID body.
const (
	AccessAllowed ACEType = 0 // ACCESS_ALLOWED_ACE_TYPE; SDDL "A"
	AccessDenied  ACEType = 1 // ACCESS_DENIED_ACE_TYPE; SDDL "D"
	SystemAudit   ACEType = 2 // SYSTEM_AUDIT_ACE_TYPE; SDDL "AU"
	SystemAlarm   ACEType = 3 // SYSTEM_ALARM_ACE_TYPE; SDDL "AL"
)

// String returns the SDK name without the _ACE_TYPE suffix, e.g. "ACCESS_ALLOWED".
func (t ACEType) String() string {
	switch t {
	case AccessAllowed:
		return "ACCESS_ALLOWED"
	case AccessDenied:
		return "ACCESS_DENIED"
	case SystemAudit:
		return "SYSTEM_AUDIT"
	case SystemAlarm:
		return "SYSTEM_ALARM"
	}
	return fmt.Sprintf("ACE type %d", uint8(t))
}

// hasMaskAndSID reports whether the ACE body is ACCESS_MASK + SID (types 0–3).
func (t ACEType) hasMaskAndSID() bool { return t <= SystemAlarm }

// Sizes and revisions of the binary structures (winnt.h).
const (
	sdHeaderLen  = 20 // SECURITY_DESCRIPTOR_RELATIVE: Revision, Sbz1, Control, Owner, Group, Sacl, Dacl
	aclHeaderLen = 8  // ACL: AclRevision, Sbz1, AclSize, AceCount, Sbz2
	aceHeaderLen = 4  // ACE_HEADER: AceType, AceFlags, AceSize
	sdRevision   = 1  // SECURITY_DESCRIPTOR_REVISION

	// ACLRevision is ACL_REVISION (2), used for ACLs without object ACEs.
	ACLRevision = 2
	// ACLRevisionDS is ACL_REVISION_DS (4), needed for object ACEs.
	ACLRevisionDS = 4
)

// FWPActrlMatchFilter is FWP_ACTRL_MATCH_FILTER (fwptypes.h), the access right WFP checks
// for an FWP_SECURITY_DESCRIPTOR_TYPE condition. Its SDDL spelling is CC (SDDL_CREATE_CHILD,
// ADS_RIGHT_DS_CREATE_CHILD = 0x1) — wfp-facts §2.
const FWPActrlMatchFilter uint32 = 0x1

// ACE is one access control entry with a mask + SID body (types 0–3).
type ACE struct {
	Type  ACEType
	Flags uint8 // AceFlags: inheritance and audit flags; 0 for the user condition
	Mask  uint32
	SID   SID
}

// ACL is an access control list.
type ACL struct {
	Revision uint8 // AclRevision: 2 (ACL_REVISION) or 4 (ACL_REVISION_DS); 3 also exists
	ACEs     []ACE
}

// SecurityDescriptor is a decoded security descriptor. A zero Owner or Group SID means the
// descriptor has none. A nil DACL with ControlDACLPresent set is a NULL DACL (no access
// control at all); a nil DACL without it means no DACL. The same holds for SACL.
type SecurityDescriptor struct {
	Control Control
	Owner   SID
	Group   SID
	SACL    *ACL
	DACL    *ACL
}

// ErrInvalidSD is wrapped by every error about a malformed security descriptor.
var ErrInvalidSD = errors.New("invalid security descriptor")

// Bytes encodes sd as a self-relative security descriptor:
//
//	offset 0   Revision  1 byte  = 1 (SECURITY_DESCRIPTOR_REVISION)
//	offset 1   Sbz1      1 byte  = 0
//	offset 2   Control   uint16 LE, always with SE_SELF_RELATIVE (0x8000); SE_DACL_PRESENT
//	                     (0x0004) / SE_SACL_PRESENT (0x0010) set when the ACL is present
//	offset 4   Owner     uint32 LE offset of the owner SID, 0 if none
//	offset 8   Group     uint32 LE offset of the group SID, 0 if none
//	offset 12  Sacl      uint32 LE offset of the SACL, 0 if none
//	offset 16  Dacl      uint32 LE offset of the DACL, 0 if none
//	offset 20  the parts, in the order SACL, DACL, owner, group, each directly after the
//	           previous one (all sizes are multiples of 4, so no padding is needed)
//
// An ACL is AclRevision (1 byte), Sbz1 (0), AclSize (uint16 LE, header + all ACEs),
// AceCount (uint16 LE), Sbz2 (uint16, 0), followed by the ACEs. An ACE is AceType (1 byte),
// AceFlags (1 byte), AceSize (uint16 LE = 8 + SID length), Mask (uint32 LE), then the binary
// SID (see SID.Bytes).
//
// For the user-condition descriptors (no owner, group or SACL) the DACL starts at offset 20,
// as ConvertStringSecurityDescriptorToSecurityDescriptor does (checked under Wine 8; on
// Windows by sd_windows_test.go). When there are several parts, the order SACL, DACL, owner,
// group is the one of ReactOS's RtlMakeSelfRelativeSD and of the service "Security" values
// Windows writes to the registry (e.g. hex:01,00,14,80,90,00,00,00,9c,00,00,00,14,00,00,00,
// 30,00,00,00: SACL at 0x14, DACL at 0x30, owner 0x90, group 0x9c). Wine 8 puts owner and
// group first. No consumer depends on the order; ParseSD accepts any.
func (sd *SecurityDescriptor) Bytes() ([]byte, error) {
	control := sd.Control | ControlSelfRelative
	control &^= ControlDACLPresent | ControlSACLPresent
	if sd.DACL != nil || sd.Control&ControlDACLPresent != 0 {
		control |= ControlDACLPresent
	}
	if sd.SACL != nil || sd.Control&ControlSACLPresent != 0 {
		control |= ControlSACLPresent
	}
	b := make([]byte, sdHeaderLen, 64)
	b[0] = sdRevision
	binary.LittleEndian.PutUint16(b[2:], uint16(control))
	var err error
	if sd.SACL != nil {
		binary.LittleEndian.PutUint32(b[12:], uint32(len(b)))
		if b, err = sd.SACL.appendBytes(b); err != nil {
			return nil, fmt.Errorf("encode SACL: %w", err)
		}
	}
	if sd.DACL != nil {
		binary.LittleEndian.PutUint32(b[16:], uint32(len(b)))
		if b, err = sd.DACL.appendBytes(b); err != nil {
			return nil, fmt.Errorf("encode DACL: %w", err)
		}
	}
	if !sd.Owner.IsZero() {
		binary.LittleEndian.PutUint32(b[4:], uint32(len(b)))
		b = sd.Owner.appendBytes(b)
	}
	if !sd.Group.IsZero() {
		binary.LittleEndian.PutUint32(b[8:], uint32(len(b)))
		b = sd.Group.appendBytes(b)
	}
	return b, nil
}

// Size returns the encoded length of the ACL (its AclSize).
func (a *ACL) Size() int {
	n := aclHeaderLen
	for _, e := range a.ACEs {
		n += aceHeaderLen + 4 + e.SID.Len()
	}
	return n
}

func (a *ACL) appendBytes(b []byte) ([]byte, error) {
	rev := a.Revision
	if rev == 0 {
		rev = ACLRevision
	}
	size := a.Size()
	if size > 0xFFFF {
		return nil, fmt.Errorf("%w: ACL of %d bytes is larger than 65535", ErrInvalidSD, size)
	}
	b = append(b, rev, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(size))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(a.ACEs)))
	b = append(b, 0, 0)
	for i, e := range a.ACEs {
		if !e.Type.hasMaskAndSID() {
			return nil, fmt.Errorf("%w: ACE %d: %v cannot be encoded (only types 0-3)", ErrInvalidSD, i, e.Type)
		}
		if e.SID.IsZero() {
			return nil, fmt.Errorf("%w: ACE %d has no SID", ErrInvalidSD, i)
		}
		b = append(b, byte(e.Type), e.Flags)
		b = binary.LittleEndian.AppendUint16(b, uint16(aceHeaderLen+4+e.SID.Len()))
		b = binary.LittleEndian.AppendUint32(b, e.Mask)
		b = e.SID.appendBytes(b)
	}
	return b, nil
}
