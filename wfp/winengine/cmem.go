//go:build windows || unix

package winengine

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unsafe"
)

// cPointer turns the address of memory outside the Go heap (from LocalAlloc, or a
// union member holding a pointer) into an unsafe.Pointer. It reinterprets the bits
// rather than converting, which is only sound because the Go garbage collector does not
// manage that memory.
func cPointer(u uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&u)) }

var errNUL = errors.New("string contains a NUL character")

// utf16FromString encodes s as UTF-16 with a terminating NUL.
func utf16FromString(s string) ([]uint16, error) {
	for i := range len(s) {
		if s[i] == 0 {
			return nil, errNUL
		}
	}
	return append(utf16.Encode([]rune(s)), 0), nil
}

// maxCString bounds the length of a string read from the engine, so that a missing
// terminator is an error rather than a walk through memory.
const maxCString = 1 << 20

var errUnterminated = errors.New("string has no NUL terminator within 1 MiB")

// utf16Len returns the number of UTF-16 units before the NUL at p.
func utf16Len(p *uint16) (int, error) {
	for n := 0; n < maxCString; n++ {
		if *(*uint16)(unsafe.Add(unsafe.Pointer(p), 2*n)) == 0 {
			return n, nil
		}
	}
	return 0, errUnterminated
}

// goString copies the NUL-terminated UTF-16 string at p; "" for NULL.
func goString(p *uint16) (string, error) {
	if p == nil {
		return "", nil
	}
	n, err := utf16Len(p)
	if err != nil {
		return "", err
	}
	return string(utf16.Decode(unsafe.Slice(p, n))), nil
}

// maxBlob bounds a blob size read from the engine. The largest blob wfpsandbox meets is
// a self-relative security descriptor (two ACLs of at most 64 KiB each); a size read
// from a broken engine must not become a multi-gigabyte allocation and copy.
const maxBlob = 1 << 24

// goBytes copies n bytes at p. A NULL pointer is an error unless n is 0.
func goBytes(p *byte, n uint32) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if p == nil {
		return nil, errors.New("NULL data pointer with a non-zero size")
	}
	if n > maxBlob {
		return nil, fmt.Errorf("size %d exceeds the %d-byte bound", n, maxBlob)
	}
	out := make([]byte, n)
	copy(out, unsafe.Slice(p, n))
	return out, nil
}
