package account

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// More control bits (winnt.h) that SDDL's D:/S: flags carry.
const (
	ControlDACLAutoInheritReq Control = 0x0100 // SE_DACL_AUTO_INHERIT_REQ; SDDL D:AR
	ControlSACLAutoInheritReq Control = 0x0200 // SE_SACL_AUTO_INHERIT_REQ; SDDL S:AR
	ControlDACLAutoInherited  Control = 0x0400 // SE_DACL_AUTO_INHERITED; SDDL D:AI
	ControlSACLAutoInherited  Control = 0x0800 // SE_SACL_AUTO_INHERITED; SDDL S:AI
)

// ErrInvalidSDDL is wrapped by every ParseSDDL error.
var ErrInvalidSDDL = errors.New("invalid SDDL")

// sddlAliases maps the SDDL SID aliases this package reads and writes (sddl.h:
// SDDL_EVERYONE, SDDL_ANONYMOUS, SDDL_ALL_APP_PACKAGES, SDDL_RESTRICTED_CODE, SDDL_WRITE_RESTRICTED_CODE,
// SDDL_LOCAL_SYSTEM, SDDL_LOCAL_SERVICE, SDDL_NETWORK_SERVICE, SDDL_BUILTIN_ADMINISTRATORS,
// SDDL_AUTHENTICATED_USERS, SDDL_BUILTIN_USERS, SDDL_NETWORK_CONFIGURATION_OPS). S-1-15-2-2
// has no alias and is written out. (mingw-w64's sddl.h lacks AC and WR; the Windows SDK has them.)
var sddlAliases = map[string]SID{
	"WD": Everyone,
	"AN": Anonymous,
	"AC": AllAppPackages,
	"RC": Restricted,
	"WR": WriteRestricted,
	"SY": LocalSystem,
	"LS": LocalService,
	"NS": NetworkService,
	"BA": BuiltinAdministrators,
	"AU": AuthenticatedUsers,
	"BU": BuiltinUsers,
	"NO": NetworkConfigurationOpers,
}

// sddlAliasOf is the reverse of sddlAliases.
var sddlAliasOf = func() map[SID]string {
	m := make(map[SID]string, len(sddlAliases))
	for k, v := range sddlAliases {
		m[v] = k
	}
	return m
}()

// sddlACEFlags lists the SDDL ACE flag tokens by bit (sddl.h SDDL_OBJECT_INHERIT … ;
// winnt.h OBJECT_INHERIT_ACE 0x1 … FAILED_ACCESS_ACE_FLAG 0x80). All 8 bits have a token.
var sddlACEFlags = []struct {
	tok string
	bit uint8
}{
	{"OI", 0x01}, {"CI", 0x02}, {"NP", 0x04}, {"IO", 0x08},
	{"ID", 0x10}, {"CR", 0x20}, {"SA", 0x40}, {"FA", 0x80},
}

var sddlACETypes = map[string]ACEType{"A": AccessAllowed, "D": AccessDenied, "AU": SystemAudit, "AL": SystemAlarm}

func sddlSID(s SID) string {
	if a, ok := sddlAliasOf[s]; ok {
		return a
	}
	return s.String()
}

// SDDL renders sd in the subset of SDDL this package reads back with ParseSDDL:
// O:<sid>, G:<sid>, D:<flags><aces>, S:<flags><aces>, in that order (the order Windows
// writes them); flags P, AI, AR; NO_ACCESS_CONTROL for a NULL ACL; ACEs
// (<A|D|AU|AL>;<flags>;<rights>;;;<sid>) where rights are CC for 0x1 and 0x<hex> otherwise, and
// SIDs use the aliases WD, AC, RC, WR, SY, LS, NS, BA, AU, BU, NO where one exists. Windows
// spells other masks with rights tokens (e.g. CCDC for 0x3); this renderer does not.
// Control bits SDDL cannot express (such as SE_OWNER_DEFAULTED) are not rendered.
func (sd *SecurityDescriptor) SDDL() string {
	var b strings.Builder
	if !sd.Owner.IsZero() {
		b.WriteString("O:" + sddlSID(sd.Owner))
	}
	if !sd.Group.IsZero() {
		b.WriteString("G:" + sddlSID(sd.Group))
	}
	writeACL := func(tag string, acl *ACL, present, protected, autoInh, autoReq Control) {
		if acl == nil && sd.Control&present == 0 {
			return
		}
		b.WriteString(tag)
		if sd.Control&protected != 0 {
			b.WriteString("P")
		}
		if sd.Control&autoReq != 0 {
			b.WriteString("AR")
		}
		if sd.Control&autoInh != 0 {
			b.WriteString("AI")
		}
		if acl == nil {
			b.WriteString("NO_ACCESS_CONTROL")
			return
		}
		for _, e := range acl.ACEs {
			b.WriteString("(")
			switch e.Type {
			case AccessAllowed:
				b.WriteString("A")
			case AccessDenied:
				b.WriteString("D")
			case SystemAudit:
				b.WriteString("AU")
			case SystemAlarm:
				b.WriteString("AL")
			default:
				fmt.Fprintf(&b, "?%d", uint8(e.Type))
			}
			b.WriteString(";")
			for _, f := range sddlACEFlags {
				if e.Flags&f.bit != 0 {
					b.WriteString(f.tok)
				}
			}
			b.WriteString(";")
			if e.Mask == FWPActrlMatchFilter {
				b.WriteString("CC")
			} else {
				b.WriteString("0x" + strconv.FormatUint(uint64(e.Mask), 16))
			}
			b.WriteString(";;;" + sddlSID(e.SID) + ")")
		}
	}
	writeACL("D:", sd.DACL, ControlDACLPresent, ControlDACLProtected, ControlDACLAutoInherited, ControlDACLAutoInheritReq)
	writeACL("S:", sd.SACL, ControlSACLPresent, ControlSACLProtected, ControlSACLAutoInherited, ControlSACLAutoInheritReq)
	return b.String()
}

// ParseSDDL parses the SDDL subset that SecurityDescriptor.SDDL writes: sections O:, G:,
// D: and S:, each at most once and in any order; D:/S: flags P, AR, AI (in any order) or
// NO_ACCESS_CONTROL; ACEs of type A, D, AU or AL with flag tokens OI CI NP IO ID CR SA FA,
// rights CC, 0x<hex> or empty (0), empty object GUIDs, and a SID given as S-1-… or as one
// of the aliases listed at SDDL. No spaces. The empty string is the empty descriptor (no
// owner, group or ACLs), as SDDL renders it. The result has SE_SELF_RELATIVE set and ACL
// revision 2, so its Bytes are what ConvertStringSecurityDescriptorToSecurityDescriptor
// would give for the same string when it has no owner or group.
func ParseSDDL(s string) (*SecurityDescriptor, error) {
	p := &sddlParser{in: s}
	sd, err := p.parse()
	if err != nil {
		return nil, fmt.Errorf("%w %q: at byte %d: %w", ErrInvalidSDDL, s, p.pos, err)
	}
	return sd, nil
}

type sddlParser struct {
	in  string
	pos int
}

func (p *sddlParser) rest() string { return p.in[p.pos:] }

func (p *sddlParser) parse() (*SecurityDescriptor, error) {
	sd := &SecurityDescriptor{Control: ControlSelfRelative}
	seen := map[byte]bool{}
	for p.pos < len(p.in) {
		r := p.rest()
		if len(r) < 2 || r[1] != ':' || !strings.ContainsRune("OGDS", rune(r[0])) {
			return nil, fmt.Errorf("expected a section O:, G:, D: or S:, found %q", trunc(r))
		}
		tag := r[0]
		if seen[tag] {
			return nil, fmt.Errorf("section %c: appears twice", tag)
		}
		seen[tag] = true
		p.pos += 2
		var err error
		switch tag {
		case 'O':
			sd.Owner, err = p.sid()
		case 'G':
			sd.Group, err = p.sid()
		case 'D':
			sd.DACL, err = p.acl(sd, ControlDACLPresent, ControlDACLProtected, ControlDACLAutoInherited, ControlDACLAutoInheritReq)
		case 'S':
			sd.SACL, err = p.acl(sd, ControlSACLPresent, ControlSACLProtected, ControlSACLAutoInherited, ControlSACLAutoInheritReq)
		}
		if err != nil {
			return nil, err
		}
	}
	return sd, nil
}

func trunc(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// sid reads a SID token: S-1-… (digits and dashes) or a two-letter alias.
func (p *sddlParser) sid() (SID, error) {
	r := p.rest()
	if strings.HasPrefix(r, "S-") {
		n := 2
		for n < len(r) && (r[n] == '-' || r[n] >= '0' && r[n] <= '9') {
			n++
		}
		s, err := ParseSID(r[:n])
		if err != nil {
			return SID{}, err
		}
		p.pos += n
		return s, nil
	}
	if len(r) >= 2 {
		if s, ok := sddlAliases[r[:2]]; ok {
			p.pos += 2
			return s, nil
		}
	}
	return SID{}, fmt.Errorf("expected a SID (S-1-…) or a known alias, found %q", trunc(r))
}

func (p *sddlParser) acl(sd *SecurityDescriptor, present, protected, autoInh, autoReq Control) (*ACL, error) {
	sd.Control |= present
	for {
		r := p.rest()
		var bit Control
		var n int
		switch {
		case strings.HasPrefix(r, "P"):
			bit, n = protected, 1
		case strings.HasPrefix(r, "AI"):
			bit, n = autoInh, 2
		case strings.HasPrefix(r, "AR"):
			bit, n = autoReq, 2
		}
		if n == 0 {
			break
		}
		if sd.Control&bit != 0 {
			return nil, fmt.Errorf("ACL flag %s given twice", r[:n])
		}
		sd.Control |= bit
		p.pos += n
	}
	if strings.HasPrefix(p.rest(), "NO_ACCESS_CONTROL") {
		p.pos += len("NO_ACCESS_CONTROL")
		if strings.HasPrefix(p.rest(), "(") {
			return nil, errors.New("NO_ACCESS_CONTROL cannot be followed by ACEs")
		}
		return nil, nil
	}
	acl := &ACL{Revision: ACLRevision, ACEs: []ACE{}}
	for strings.HasPrefix(p.rest(), "(") {
		p.pos++
		e, err := p.ace()
		if err != nil {
			return nil, err
		}
		acl.ACEs = append(acl.ACEs, e)
	}
	if len(acl.ACEs) == 0 {
		acl.ACEs = nil
	}
	return acl, nil
}

// ace reads type;flags;rights;object;inherit-object;sid) after the "(".
func (p *sddlParser) ace() (ACE, error) {
	r := p.rest()
	end := strings.IndexByte(r, ')')
	if end < 0 {
		return ACE{}, errors.New("ACE without closing )")
	}
	fields := strings.Split(r[:end], ";")
	if len(fields) != 6 {
		return ACE{}, fmt.Errorf("ACE %q has %d fields, want 6 (type;flags;rights;object;inherited object;SID)", r[:end], len(fields))
	}
	var e ACE
	t, ok := sddlACETypes[fields[0]]
	if !ok {
		return ACE{}, fmt.Errorf("ACE type %q: want A, D, AU or AL", fields[0])
	}
	e.Type = t
	for f := fields[1]; f != ""; {
		found := false
		for _, tok := range sddlACEFlags {
			if strings.HasPrefix(f, tok.tok) {
				if e.Flags&tok.bit != 0 {
					return ACE{}, fmt.Errorf("ACE flag %s given twice", tok.tok)
				}
				e.Flags |= tok.bit
				f = f[len(tok.tok):]
				found = true
				break
			}
		}
		if !found {
			return ACE{}, fmt.Errorf("ACE flags %q: unknown flag at %q", fields[1], f)
		}
	}
	switch rights := fields[2]; {
	case rights == "CC":
		e.Mask = FWPActrlMatchFilter
	case rights == "":
	case strings.HasPrefix(rights, "0x") && len(rights) > 2:
		v, err := strconv.ParseUint(rights[2:], 16, 32)
		if err != nil {
			return ACE{}, fmt.Errorf("ACE rights %q: not a 32-bit hex number", rights)
		}
		e.Mask = uint32(v)
	default:
		return ACE{}, fmt.Errorf("ACE rights %q: only CC or 0x<hex> are supported", rights)
	}
	if fields[3] != "" || fields[4] != "" {
		return ACE{}, errors.New("object ACE GUIDs are not supported")
	}
	// Parse the SID with the shared reader so aliases and S-1-… behave alike.
	sp := &sddlParser{in: fields[5]}
	s, err := sp.sid()
	if err != nil {
		return ACE{}, err
	}
	if sp.pos != len(fields[5]) {
		return ACE{}, fmt.Errorf("ACE SID %q has trailing characters", fields[5])
	}
	e.SID = s
	p.pos += end + 1
	return e, nil
}
