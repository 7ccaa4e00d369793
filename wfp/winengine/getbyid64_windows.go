//go:build amd64 || arm64

package winengine

import "golang.org/x/sys/windows"

// filterGetByID calls FwpmFilterGetById0. On 64-bit Windows the UINT64 id fits in one
// argument register, so the generated binding is right.
func filterGetByID(h windows.Handle, id uint64, filter **fwpmFilter0) error {
	return fwpmFilterGetById0(h, id, filter)
}
