//go:build windows

package account

// These tests compare the pure-Go descriptors with what Windows itself builds from the
// same SDDL. They compile everywhere (GOOS=windows go vet) and run only on Windows. This is
// the one place in the package that uses unsafe: to see the bytes of a Windows-built
// SECURITY_DESCRIPTOR and to hand ours to IsValidSecurityDescriptor.

import (
	"bytes"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// sdBytes returns a copy of the bytes of a self-relative descriptor built by Windows.
func sdBytes(sd *windows.SECURITY_DESCRIPTOR) []byte {
	return bytes.Clone(unsafe.Slice((*byte)(unsafe.Pointer(sd)), sd.Length()))
}

// asWindowsSD copies b into pointer-aligned memory and returns it as a descriptor.
func asWindowsSD(b []byte) *windows.SECURITY_DESCRIPTOR {
	const psize = int(unsafe.Sizeof(uintptr(0)))
	n := max(len(b), int(unsafe.Sizeof(windows.SECURITY_DESCRIPTOR{})))
	buf := make([]uintptr, (n+psize-1)/psize)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), n), b)
	return (*windows.SECURITY_DESCRIPTOR)(unsafe.Pointer(&buf[0]))
}

func TestUserConditionSDMatchesWindows(t *testing.T) {
	for _, tc := range []struct {
		shape Shape
		sddl  string
	}{
		{ShapeAllow, wantAllowSDDL},
		{ShapeDeny, wantDenySDDL},
		// The same shapes with rights spelled as a number, which Windows must treat alike.
		{ShapeAllow, "D:(A;;0x1;;;" + testUserSID + ")"},
	} {
		t.Run(tc.sddl, func(t *testing.T) {
			ours, err := UserConditionSD(testUserSID, tc.shape)
			if err != nil {
				t.Fatal(err)
			}
			// ConvertStringSecurityDescriptorToSecurityDescriptor (self-relative).
			win, err := windows.SecurityDescriptorFromString(tc.sddl)
			if err != nil {
				t.Fatalf("ConvertStringSecurityDescriptorToSecurityDescriptor(%q): %v", tc.sddl, err)
			}
			if got := sdBytes(win); !bytes.Equal(got, ours) {
				t.Errorf("ConvertStringSecurityDescriptorToSecurityDescriptor:\n% x\nours:\n% x", got, ours)
			}
			// MakeSelfRelativeSD of the absolute form.
			abs, err := win.ToAbsolute()
			if err != nil {
				t.Fatalf("MakeAbsoluteSD: %v", err)
			}
			rel, err := abs.ToSelfRelative()
			if err != nil {
				t.Fatalf("MakeSelfRelativeSD: %v", err)
			}
			if got := sdBytes(rel); !bytes.Equal(got, ours) {
				t.Errorf("MakeSelfRelativeSD:\n% x\nours:\n% x", got, ours)
			}
			// Windows accepts ours and renders it as the design's SDDL (aliases WD, AC, RC, WR).
			w := asWindowsSD(ours)
			if !w.IsValid() {
				t.Errorf("IsValidSecurityDescriptor refused ours: % x", ours)
			}
			want := wantAllowSDDL
			if tc.shape == ShapeDeny {
				want = wantDenySDDL
			}
			if s := w.String(); s != want {
				t.Errorf("ConvertSecurityDescriptorToStringSecurityDescriptor(ours) = %q, want %q", s, want)
			}
		})
	}
}

// Windows-built descriptors of other shapes pass our validator and decoder, and what we
// encode from the decoded form is byte-identical (which also pins the part order documented
// at SecurityDescriptor.Bytes when owner and group are present).
func TestWindowsDescriptorsValidate(t *testing.T) {
	for _, sddl := range []string{
		"O:BAG:SYD:(A;;CC;;;WD)",
		"O:SYD:P(D;OICI;0x1f01ff;;;" + testUserSID + ")(A;;CC;;;BA)",
		"D:NO_ACCESS_CONTROL",
		"D:",
		"O:LSD:(A;;CC;;;" + testUserSID + ")",
	} {
		t.Run(sddl, func(t *testing.T) {
			win, err := windows.SecurityDescriptorFromString(sddl)
			if err != nil {
				t.Fatalf("ConvertStringSecurityDescriptorToSecurityDescriptor(%q): %v", sddl, err)
			}
			b := sdBytes(win)
			if err := ValidateSelfRelativeSD(b); err != nil {
				t.Fatalf("ValidateSelfRelativeSD(Windows' %q): %v\n% x", sddl, err, b)
			}
			sd, err := ParseSD(b)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := sd.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, b) {
				t.Errorf("re-encoded:\n% x\nWindows:\n% x", enc, b)
			}
			if got := sd.SDDL(); got != sddl {
				t.Errorf("SDDL() = %q, want %q", got, sddl)
			}
		})
	}
}
