package account

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxSubAuthorities is SID_MAX_SUB_AUTHORITIES (winnt.h): a SID has at most 15 sub-authorities.
const MaxSubAuthorities = 15

// MaxAuthority is the largest identifier authority: it is stored in 6 bytes (big-endian).
const MaxAuthority = 1<<48 - 1

// sidRevision is SID_REVISION (winnt.h), the only SID revision that exists.
const sidRevision = 1

// ErrInvalidSID is wrapped by every error about a malformed SID, string or binary.
var ErrInvalidSID = errors.New("invalid SID")

// SID is a Windows security identifier. The zero value is "no SID" (IsZero reports true);
// every SID returned by this package without an error is valid. SIDs are comparable with ==
// and can be used as map keys.
type SID struct {
	valid     bool
	count     uint8
	authority uint64
	sub       [MaxSubAuthorities]uint32
}

// NewSID builds a SID from its identifier authority and sub-authorities.
func NewSID(authority uint64, subAuthorities ...uint32) (SID, error) {
	if authority > MaxAuthority {
		return SID{}, fmt.Errorf("%w: identifier authority %d is larger than 2^48-1", ErrInvalidSID, authority)
	}
	if len(subAuthorities) > MaxSubAuthorities {
		return SID{}, fmt.Errorf("%w: %d sub-authorities, at most %d are allowed", ErrInvalidSID, len(subAuthorities), MaxSubAuthorities)
	}
	s := SID{valid: true, count: uint8(len(subAuthorities)), authority: authority}
	copy(s.sub[:], subAuthorities)
	return s, nil
}

// mustSID is NewSID for package-level constants whose arguments are known to be valid.
func mustSID(authority uint64, subAuthorities ...uint32) SID {
	s, err := NewSID(authority, subAuthorities...)
	if err != nil {
		panic(err)
	}
	return s
}

// IsZero reports whether s is the zero SID (no SID at all).
func (s SID) IsZero() bool { return !s.valid }

// Authority returns the identifier authority (5 for NT AUTHORITY, 15 for APP PACKAGE AUTHORITY).
func (s SID) Authority() uint64 { return s.authority }

// SubAuthorities returns a copy of the sub-authorities.
func (s SID) SubAuthorities() []uint32 {
	return append([]uint32(nil), s.sub[:s.count]...)
}

// RID returns the last sub-authority (the relative identifier) and false if there is none.
func (s SID) RID() (uint32, bool) {
	if !s.valid || s.count == 0 {
		return 0, false
	}
	return s.sub[s.count-1], true
}

// String returns the string form S-1-<authority>-<sub>-…, or "" for the zero SID. The
// authority is always written in decimal. (Windows' ConvertSidToStringSid writes
// authorities of 2^32 and above in hex; no SID in use has one, and ParseSID is decimal-only.)
func (s SID) String() string {
	if !s.valid {
		return ""
	}
	var b strings.Builder
	b.WriteString("S-1-")
	b.WriteString(strconv.FormatUint(s.authority, 10))
	for _, v := range s.sub[:s.count] {
		b.WriteByte('-')
		b.WriteString(strconv.FormatUint(uint64(v), 10))
	}
	return b.String()
}

// Len returns the length of the binary form: 8 + 4 × sub-authorities (0 for the zero SID).
func (s SID) Len() int {
	if !s.valid {
		return 0
	}
	return 8 + 4*int(s.count)
}

// Bytes returns the binary form (the SID structure of winnt.h): Revision (1 byte, 1),
// SubAuthorityCount (1 byte), IdentifierAuthority (6 bytes, big-endian), then each
// sub-authority as a little-endian uint32. The zero SID gives nil.
func (s SID) Bytes() []byte {
	if !s.valid {
		return nil
	}
	return s.appendBytes(make([]byte, 0, s.Len()))
}

func (s SID) appendBytes(b []byte) []byte {
	b = append(b, sidRevision, s.count)
	var auth [8]byte
	binary.BigEndian.PutUint64(auth[:], s.authority)
	b = append(b, auth[2:]...)
	for _, v := range s.sub[:s.count] {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

// SIDFromBytes decodes the binary form. b must hold exactly one SID, nothing more.
func SIDFromBytes(b []byte) (SID, error) {
	s, n, err := decodeSID(b)
	if err != nil {
		return SID{}, err
	}
	if n != len(b) {
		return SID{}, fmt.Errorf("%w: %d bytes given but the SID (%d sub-authorities) is %d bytes long", ErrInvalidSID, len(b), s.count, n)
	}
	return s, nil
}

// decodeSID decodes the SID at the start of b and returns it with its length in bytes.
func decodeSID(b []byte) (SID, int, error) {
	if len(b) < 8 {
		return SID{}, 0, fmt.Errorf("%w: %d bytes, a binary SID has at least 8", ErrInvalidSID, len(b))
	}
	if b[0] != sidRevision {
		return SID{}, 0, fmt.Errorf("%w: revision %d, only revision 1 exists", ErrInvalidSID, b[0])
	}
	count := int(b[1])
	if count > MaxSubAuthorities {
		return SID{}, 0, fmt.Errorf("%w: sub-authority count %d, at most %d are allowed", ErrInvalidSID, count, MaxSubAuthorities)
	}
	n := 8 + 4*count
	if len(b) < n {
		return SID{}, 0, fmt.Errorf("%w: %d sub-authorities need %d bytes, only %d present", ErrInvalidSID, count, n, len(b))
	}
	s := SID{valid: true, count: uint8(count)}
	var auth [8]byte
	copy(auth[2:], b[2:8])
	s.authority = binary.BigEndian.Uint64(auth[:])
	for i := range count {
		s.sub[i] = binary.LittleEndian.Uint32(b[8+4*i:])
	}
	return s, n, nil
}

// ParseSID parses the string form S-1-<authority>[-<sub-authority>]…, strictly: the
// prefix is exactly "S-1-" (upper-case S, revision 1), every number is plain decimal
// without sign, spaces or leading zeros, the authority is at most 2^48-1, each
// sub-authority at most 2^32-1, and there are at most 15 sub-authorities. So
// ParseSID(s).String() == s for every accepted s. SDDL aliases (WD, SY) are not SIDs here;
// see ParseSDDL.
func ParseSID(s string) (SID, error) {
	bad := func(format string, a ...any) (SID, error) {
		return SID{}, fmt.Errorf("%w %q: %s", ErrInvalidSID, s, fmt.Sprintf(format, a...))
	}
	if s == "" {
		return bad("empty string")
	}
	if !strings.HasPrefix(s, "S-") {
		return bad(`does not start with "S-"`)
	}
	parts := strings.Split(s[2:], "-")
	if parts[0] != "1" {
		if _, err := parseDecimal(parts[0], 64); err == nil {
			return bad("revision %s, only revision 1 exists", parts[0])
		}
		return bad("revision %q is not the number 1", parts[0])
	}
	if len(parts) < 2 {
		return bad("no identifier authority after S-1")
	}
	auth, err := parseDecimal(parts[1], 64)
	if err != nil {
		return bad("identifier authority %q: %v", parts[1], err)
	}
	if auth > MaxAuthority {
		return bad("identifier authority %d is larger than 2^48-1", auth)
	}
	subs := parts[2:]
	if len(subs) > MaxSubAuthorities {
		return bad("%d sub-authorities, at most %d are allowed", len(subs), MaxSubAuthorities)
	}
	out := SID{valid: true, count: uint8(len(subs)), authority: auth}
	for i, p := range subs {
		v, err := parseDecimal(p, 32)
		if err != nil {
			return bad("sub-authority %d %q: %v", i+1, p, err)
		}
		out.sub[i] = uint32(v)
	}
	return out, nil
}

// parseDecimal parses a plain decimal number: digits only, no leading zero unless it is "0".
func parseDecimal(p string, bits int) (uint64, error) {
	if p == "" {
		return 0, errors.New("empty number")
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, errors.New("not a decimal number")
		}
	}
	if len(p) > 1 && p[0] == '0' {
		return 0, errors.New("leading zero")
	}
	v, err := strconv.ParseUint(p, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("larger than 2^%d-1", bits)
	}
	return v, nil
}

// MarshalText implements encoding.TextMarshaler with the string form; the zero SID gives
// empty text.
func (s SID) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseSID; empty text gives the
// zero SID, so an absent SID in a config or JSON document stays absent.
func (s *SID) UnmarshalText(text []byte) error {
	if len(text) == 0 {
		*s = SID{}
		return nil
	}
	v, err := ParseSID(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
