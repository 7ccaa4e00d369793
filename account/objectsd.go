package account

import (
	"fmt"
	"slices"
)

// WFP's specific and generic access rights (fwpmu.h, "Access rights"):
//
//	#define FWPM_ACTRL_ADD             (0x00000001)
//	#define FWPM_ACTRL_ADD_LINK        (0x00000002)
//	#define FWPM_ACTRL_BEGIN_READ_TXN  (0x00000004)
//	#define FWPM_ACTRL_BEGIN_WRITE_TXN (0x00000008)
//	#define FWPM_ACTRL_CLASSIFY        (0x00000010)
//	#define FWPM_ACTRL_ENUM            (0x00000020)
//	#define FWPM_ACTRL_OPEN            (0x00000040)
//	#define FWPM_ACTRL_READ            (0x00000080)
//	#define FWPM_ACTRL_READ_STATS      (0x00000100)
//	#define FWPM_ACTRL_SUBSCRIBE       (0x00000200)
//	#define FWPM_ACTRL_WRITE           (0x00000400)
//	FWPM_GENERIC_READ    = STANDARD_RIGHTS_READ | BEGIN_READ_TXN | CLASSIFY | OPEN | READ | READ_STATS
//	FWPM_GENERIC_EXECUTE = STANDARD_RIGHTS_EXECUTE | ENUM | SUBSCRIBE
//	FWPM_GENERIC_WRITE   = STANDARD_RIGHTS_WRITE | DELETE | ADD | ADD_LINK | BEGIN_WRITE_TXN | WRITE
//	FWPM_GENERIC_ALL     = STANDARD_RIGHTS_REQUIRED | all eleven specific rights
//
// with winnt.h's DELETE 0x00010000, READ_CONTROL 0x00020000, STANDARD_RIGHTS_READ =
// STANDARD_RIGHTS_WRITE = STANDARD_RIGHTS_EXECUTE = READ_CONTROL and
// STANDARD_RIGHTS_REQUIRED 0x000F0000.
const (
	FWPMActrlAdd           uint32 = 0x00000001
	FWPMActrlAddLink       uint32 = 0x00000002
	FWPMActrlBeginReadTxn  uint32 = 0x00000004
	FWPMActrlBeginWriteTxn uint32 = 0x00000008
	FWPMActrlClassify      uint32 = 0x00000010
	FWPMActrlEnum          uint32 = 0x00000020
	FWPMActrlOpen          uint32 = 0x00000040
	FWPMActrlRead          uint32 = 0x00000080
	FWPMActrlReadStats     uint32 = 0x00000100
	FWPMActrlSubscribe     uint32 = 0x00000200
	FWPMActrlWrite         uint32 = 0x00000400

	readControl            uint32 = 0x00020000 // READ_CONTROL (winnt.h)
	standardRightsRequired uint32 = 0x000F0000 // STANDARD_RIGHTS_REQUIRED (winnt.h)
	deleteRight            uint32 = 0x00010000 // DELETE (winnt.h)

	FWPMGenericRead    = readControl | FWPMActrlBeginReadTxn | FWPMActrlClassify | FWPMActrlOpen | FWPMActrlRead | FWPMActrlReadStats
	FWPMGenericExecute = readControl | FWPMActrlEnum | FWPMActrlSubscribe
	FWPMGenericWrite   = readControl | deleteRight | FWPMActrlAdd | FWPMActrlAddLink | FWPMActrlBeginWriteTxn | FWPMActrlWrite
	FWPMGenericAll     = standardRightsRequired | 0x7FF
)

// MaxObjectReaders bounds how many principals ObjectSD grants read access to (each is
// one ACE on every object wfpsandbox adds).
const MaxObjectReaders = 16

// DefaultObjectReaders are the principals granted FWPM_ACTRL_READ on wfpsandbox's WFP
// objects when none are configured: BUILTIN\Users, the group every interactive
// account (and so every unelevated process that runs ensure) belongs to.
var DefaultObjectReaders = []SID{BuiltinUsers}

// ObjectSD returns the self-relative security descriptor wfpsandbox passes as the sd
// argument of FwpmProviderAdd0, FwpmSubLayerAdd0 and FwpmFilterAdd0, so that readers
// (unelevated callers of ensure) can read the objects by key.
//
// What Microsoft documents, and how this models it:
//   - WFP's Access control page: the engine's default security descriptor grants
//     GENERIC_ALL to BUILTIN\Administrators, GENERIC_READ|WRITE|EXECUTE to Network
//     Configuration Operators and to five service SIDs (MpsSvc, NapAgent, PolicyAgent,
//     RpcSs, WdiServiceHost), and FWPM_ACTRL_OPEN|FWPM_ACTRL_CLASSIFY to Everyone; "The
//     remaining default security descriptor is derived through inheritance"; "BFE
//     supports automatic inheritance of DACL ACEs … Objects inherit ACEs from their
//     container". So without an sd a non-admin has no FWPM_ACTRL_READ on our objects,
//     and enumerations return "only objects to which the caller has FWPM_ACTRL_READ".
//     https://learn.microsoft.com/windows/win32/fwp/access-control
//   - "DACL for a New Object" (the generic Windows algorithm): "The object's DACL is the
//     DACL from the security descriptor specified by the object's creator. The system
//     merges any inheritable ACEs into the specified DACL unless the SE_DACL_PROTECTED
//     bit is set." https://learn.microsoft.com/windows/win32/secauthz/dacl-for-a-new-object
//
// So the DACL here is not protected (the container's inheritable ACEs, the service SIDs'
// among them, are merged in) and is also complete by itself, in case BFE does not
// follow the generic algorithm — that BFE applies it to the sd of Fwpm*Add0 is not
// stated on the WFP pages (undocumented; integration/ checks what Windows does). It
// repeats, as explicit ACEs, every grant of the documented default that names a SID
// this package knows: Administrators FWPM_GENERIC_ALL, Network Configuration Operators
// FWPM_GENERIC_READ|WRITE|EXECUTE, Everyone FWPM_ACTRL_OPEN|CLASSIFY; then each reader
// gets FWPM_ACTRL_READ and nothing more (no write, no delete, no transaction rights:
// those are checked on the engine, whose security this never changes). The five
// service SIDs are left to inheritance: their values are hashes Microsoft does not
// document. Specific rights are used rather than GENERIC_* bits, so nothing depends on
// BFE's generic mapping of explicit ACEs. There is no owner or group: the system takes
// them from the creator's token, as for any new object.
//
// readers must be valid SIDs; duplicates are dropped; at most MaxObjectReaders.
func ObjectSD(readers []SID) ([]byte, error) {
	if len(readers) > MaxObjectReaders {
		return nil, fmt.Errorf("%w: %d readers, at most %d", ErrInvalidSD, len(readers), MaxObjectReaders)
	}
	acl := &ACL{Revision: ACLRevision}
	acl.ACEs = append(acl.ACEs,
		ACE{Type: AccessAllowed, Mask: FWPMGenericAll, SID: BuiltinAdministrators},
		ACE{Type: AccessAllowed, Mask: FWPMGenericRead | FWPMGenericWrite | FWPMGenericExecute, SID: NetworkConfigurationOpers},
		ACE{Type: AccessAllowed, Mask: FWPMActrlOpen | FWPMActrlClassify, SID: Everyone},
	)
	var seen []SID
	for i, r := range readers {
		if r.IsZero() {
			return nil, fmt.Errorf("%w: reader %d is not a SID", ErrInvalidSD, i+1)
		}
		if slices.Contains(seen, r) {
			continue
		}
		seen = append(seen, r)
		acl.ACEs = append(acl.ACEs, ACE{Type: AccessAllowed, Mask: FWPMActrlRead, SID: r})
	}
	sd := &SecurityDescriptor{DACL: acl}
	return sd.Bytes()
}

// ParseReaders parses reader SIDs given as strings ("S-1-5-32-545" or an SDDL alias
// such as "BU"), for ObjectSD. An empty list is DefaultObjectReaders. Errors name the
// bad entry.
func ParseReaders(ss []string) ([]SID, error) {
	if len(ss) == 0 {
		return slices.Clone(DefaultObjectReaders), nil
	}
	if len(ss) > MaxObjectReaders {
		return nil, fmt.Errorf("%d readers given, at most %d are allowed", len(ss), MaxObjectReaders)
	}
	out := make([]SID, 0, len(ss))
	for _, s := range ss {
		sid, err := parseSIDOrAlias(s)
		if err != nil {
			return nil, fmt.Errorf("reader %q: %w (want a SID such as S-1-5-32-545 for BUILTIN\\Users)", s, err)
		}
		out = append(out, sid)
	}
	return out, nil
}

// parseSIDOrAlias reads "S-1-…" or one of the SDDL aliases this package knows.
func parseSIDOrAlias(s string) (SID, error) {
	if a, ok := sddlAliases[s]; ok {
		return a, nil
	}
	return ParseSID(s)
}
