//go:build windows || unix

package winengine

import (
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"unsafe"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// enumPageSize is how many objects one Fwpm*Enum0 call asks for.
const enumPageSize = 100

// maxEnumEntries bounds one enumeration: an engine that keeps returning full pages
// (broken, or a hostile emulation) ends in an error, not in unbounded memory. Real
// systems hold thousands of filters, not millions. A variable so that tests can lower
// it.
var maxEnumEntries = 1 << 20

// callError turns a binding's return value (a syscall.Errno holding the DWORD status)
// into the error the wfp package defines.
func callError(call, object string, ret error) *wfp.CallError {
	ce := &wfp.CallError{Call: call, Object: object}
	var errno syscall.Errno
	if errors.As(ret, &errno) {
		ce.Code = wfp.Code(errno)
	} else {
		ce.Code = wfp.ErrInvalidParameterWin32
	}
	return ce
}

// enumCalls names the three calls of one enumeration (Fwpm*CreateEnumHandle0,
// Fwpm*Enum0, Fwpm*DestroyEnumHandle0) and binds them to a session; free is
// FwpmFreeMemory0.
type enumCalls[C any] struct {
	create, enum, destroy string
	createFn              func(eh *uintptr) error
	enumFn                func(eh uintptr, n uint32, entries ***C, got *uint32) error
	destroyFn             func(eh uintptr) error
	free                  func(unsafe.Pointer)
}

// enumerate runs Create, then Enum in pages of enumPageSize until a short page, then
// Destroy. Each page's entries are copied out by parse before the page array is freed;
// the enum handle is destroyed on every path after a successful Create.
func enumerate[C, G any](object string, c enumCalls[C], parse func(*C) (G, error)) (out []G, err error) {
	var eh uintptr
	if ret := c.createFn(&eh); ret != nil {
		return nil, callError(c.create, object, ret)
	}
	defer func() {
		if ret := c.destroyFn(eh); ret != nil && err == nil {
			out, err = nil, callError(c.destroy, object, ret)
		}
	}()
	for {
		var entries **C
		var got uint32
		if ret := c.enumFn(eh, enumPageSize, &entries, &got); ret != nil {
			return nil, callError(c.enum, object, ret)
		}
		page, perr := parsePage(entries, got, parse)
		if entries != nil {
			c.free(unsafe.Pointer(entries))
		}
		if perr != nil {
			return nil, fmt.Errorf("%s %s: %w", c.enum, object, perr)
		}
		out = append(out, page...)
		if got < enumPageSize {
			return out, nil
		}
		if len(out) >= maxEnumEntries {
			return nil, fmt.Errorf("%s %s: more than %d entries; giving up", c.enum, object, maxEnumEntries)
		}
	}
}

func parsePage[C, G any](entries **C, got uint32, parse func(*C) (G, error)) ([]G, error) {
	if got == 0 {
		return nil, nil
	}
	if got > enumPageSize {
		return nil, fmt.Errorf("engine returned %d entries for a page of %d", got, enumPageSize)
	}
	if entries == nil {
		return nil, fmt.Errorf("entries: NULL pointer with %d entries", got)
	}
	page := make([]G, 0, got)
	for i, p := range unsafe.Slice(entries, got) {
		g, err := parse(p)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		page = append(page, g)
	}
	return page, nil
}

// filterParser returns how Filters decodes each FWPM_FILTER0 of an enumeration of
// every filter on the host (a NULL template, which FwpmFilterCreateEnumHandle0
// documents as "all filters"; whether a template with a zero layerKey means "all
// layers" is not documented, wfp-facts §10.5, so Filters does not rely on it).
//
// With a provider, filters of other providers are skipped before they are decoded —
// so another provider's filter is never reported (or deleted) as ours, and one we
// cannot decode cannot make the enumeration of ours fail — while a filter of the
// provider that cannot be decoded is an error. With a nil provider (every filter, for
// explain), an undecodable filter is skipped with a warning instead of failing the
// whole enumeration. Skipped entries come back as nil and are dropped by the caller.
func filterParser(provider *wfp.GUID) func(*fwpmFilter0) (*wfp.Filter, error) {
	return func(c *fwpmFilter0) (*wfp.Filter, error) {
		if c != nil && provider != nil && (c.providerKey == nil || *c.providerKey != *provider) {
			return nil, nil
		}
		f, err := parseFilter(c)
		if err != nil && provider == nil && c != nil {
			slog.Warn("skipping a filter that cannot be decoded", "filter", c.filterKey, "error", err)
			return nil, nil
		}
		return f, err
	}
}

// dropNil removes the entries filterParser skipped.
func dropNil(fs []*wfp.Filter) []*wfp.Filter {
	out := fs[:0]
	for _, f := range fs {
		if f != nil {
			out = append(out, f)
		}
	}
	return out
}
