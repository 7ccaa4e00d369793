package wfp

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// GUID has the memory layout of the Windows GUID structure (and of
// golang.org/x/sys/windows.GUID), so the Windows engine can convert it without copying.
type GUID struct {
	Data1 uint32
	Data2 uint16
	Data3 uint16
	Data4 [8]byte
}

// IsZero reports whether g is the all-zero GUID (GUID_NULL).
func (g GUID) IsZero() bool { return g == GUID{} }

// String formats g in the registry form without braces, lower case:
// c38d57d1-05a7-4c33-904f-7fbceee60e82.
func (g GUID) String() string {
	return fmt.Sprintf("%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		g.Data1, g.Data2, g.Data3, g.Data4[0], g.Data4[1],
		g.Data4[2], g.Data4[3], g.Data4[4], g.Data4[5], g.Data4[6], g.Data4[7])
}

// MarshalText implements encoding.TextMarshaler.
func (g GUID) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (g *GUID) UnmarshalText(b []byte) error {
	v, err := ParseGUID(string(b))
	if err != nil {
		return err
	}
	*g = v
	return nil
}

// ParseGUID parses a GUID written as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, with or without
// surrounding braces, in either case.
func ParseGUID(s string) (GUID, error) {
	t := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	if len(t) != 36 || t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
		return GUID{}, fmt.Errorf("invalid GUID %q: want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", s)
	}
	hex := t[0:8] + t[9:13] + t[14:18] + t[19:23] + t[24:36]
	var raw [16]byte
	for i := range raw {
		v, err := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		if err != nil {
			return GUID{}, fmt.Errorf("invalid GUID %q: %w", s, err)
		}
		raw[i] = byte(v)
	}
	return guidFromBigEndian(raw), nil
}

// MustParseGUID is ParseGUID for constants; it panics on a malformed string.
func MustParseGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

func guidFromBigEndian(raw [16]byte) GUID {
	var g GUID
	g.Data1 = binary.BigEndian.Uint32(raw[0:4])
	g.Data2 = binary.BigEndian.Uint16(raw[4:6])
	g.Data3 = binary.BigEndian.Uint16(raw[6:8])
	copy(g.Data4[:], raw[8:16])
	return g
}

func (g GUID) bigEndian() [16]byte {
	var raw [16]byte
	binary.BigEndian.PutUint32(raw[0:4], g.Data1)
	binary.BigEndian.PutUint16(raw[4:6], g.Data2)
	binary.BigEndian.PutUint16(raw[6:8], g.Data3)
	copy(raw[8:], g.Data4[:])
	return raw
}

// NameGUID derives a name-based GUID (RFC 9562 UUID version 5, SHA-1) from a namespace
// GUID and a name. The same inputs always give the same GUID, which is how wfpsandbox
// keeps filter keys stable across runs and versions without storing a list of them.
func NameGUID(namespace GUID, name string) GUID {
	ns := namespace.bigEndian()
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var raw [16]byte
	copy(raw[:], h.Sum(nil))
	raw[6] = raw[6]&0x0f | 0x50 // version 5
	raw[8] = raw[8]&0x3f | 0x80 // RFC 4122 variant
	return guidFromBigEndian(raw)
}
