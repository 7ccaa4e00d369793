package winengine

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

const (
	// rpcCAuthnDefault is RPC_C_AUTHN_DEFAULT (rpcdce.h). FwpmEngineOpen0's
	// documentation: "Allowed services are RPC_C_AUTHN_WINNT and RPC_C_AUTHN_DEFAULT."
	// The default lets RPC choose for the local call (wireguard-windows and
	// tailscale/wf pass RPC_C_AUTHN_WINNT, 10, which is the other documented value).
	// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmengineopen0
	rpcCAuthnDefault = 0xFFFFFFFF

	// fwpmTxnReadWrite is the flags value of a read-write FwpmTransactionBegin0.
	fwpmTxnReadWrite = 0x0
	// fwpmTxnReadOnly is FWPM_TXN_READ_ONLY (fwpmu.h: #define FWPM_TXN_READ_ONLY
	// (0x00000001)), a read-only FwpmTransactionBegin0: it needs only
	// FWPM_ACTRL_BEGIN_READ_TXN on the engine (DOC:fwp/access-control).
	fwpmTxnReadOnly = 0x1
)

// errInvalidHandle is ERROR_INVALID_HANDLE, returned for calls on a closed Engine (as
// wfp/memengine does).
const errInvalidHandle wfp.Code = 6

// Engine is a session with the Base Filtering Engine through fwpuclnt.dll. It
// implements wfp.Engine. Its methods may be called from several goroutines, but WFP
// transactions belong to the session, so callers must not interleave transactions.
// Close waits for the calls in progress.
type Engine struct {
	// mu is held for reading by every call while it uses h, and for writing by Close:
	// FwpmEngineClose0 must not free the session while fwpuclnt.dll still uses it.
	mu sync.RWMutex
	h  windows.Handle // 0 once closed

	// subs are the change subscriptions not yet ended (changes_windows.go), which Close
	// ends before it closes the session.
	subsMu sync.Mutex
	subs   []*changeSubscription
}

var _ wfp.Engine = (*Engine)(nil)

// Open loads fwpuclnt.dll and opens a session (FwpmEngineOpen0) on the local engine.
// The session is non-dynamic unless opts.Dynamic is set, and its transaction-lock wait
// is bounded (DefaultTxnWaitTimeout when opts.TxnWaitTimeout is 0). When WFP cannot be
// used at all — fwpuclnt.dll or one of its functions missing, BFE not running
// (EPT_S_NOT_REGISTERED), unreachable (RPC_S_SERVER_UNAVAILABLE) or a stub
// (RPC_S_CANNOT_SUPPORT, Wine) — the error wraps wfp.ErrUnavailable as well as the
// *wfp.CallError.
func Open(opts Options) (*Engine, error) {
	if err := loadProcs(); err != nil {
		return nil, err
	}
	a := newArena()
	defer a.Dispose()
	session, err := composeSession(a, opts)
	if err != nil {
		return nil, fmt.Errorf("FwpmEngineOpen0: %w", err)
	}
	var h windows.Handle
	if ret := fwpmEngineOpen0(nil, rpcCAuthnDefault, nil, session, &h); ret != nil {
		ce := callError("FwpmEngineOpen0", fmt.Sprintf("session %q", opts.Name), ret)
		switch ce.Code {
		case wfp.ErrEPTNotRegistered, wfp.ErrRPCServerUnavailable, wfp.ErrRPCCannotSupport:
			return nil, fmt.Errorf("%w: %w", wfp.ErrUnavailable, ce)
		}
		return nil, ce
	}
	slog.Debug("wfp session opened", "name", opts.Name, "dynamic", opts.Dynamic,
		"txnWaitTimeoutInMSec", session.txnWaitTimeoutInMSec)
	return &Engine{h: h}, nil
}

// loadProcs resolves every fwpuclnt.dll function the Engine calls, so that a missing
// DLL or export is reported once, at Open, as wfp.ErrUnavailable, instead of a panic in
// the generated binding.
func loadProcs() error {
	if err := modfwpuclnt.Load(); err != nil {
		return fmt.Errorf("%w: %w", wfp.ErrUnavailable, &wfp.CallError{Call: "LoadLibrary", Object: modfwpuclnt.Name, Code: dllErrorCode(err, wfp.ErrDLLNotFound)})
	}
	for _, p := range []*windows.LazyProc{
		procFwpmEngineOpen0, procFwpmEngineClose0,
		procFwpmTransactionBegin0, procFwpmTransactionCommit0, procFwpmTransactionAbort0,
		procFwpmProviderAdd0, procFwpmProviderDeleteByKey0, procFwpmProviderGetByKey0,
		procFwpmProviderCreateEnumHandle0, procFwpmProviderEnum0, procFwpmProviderDestroyEnumHandle0,
		procFwpmSubLayerAdd0, procFwpmSubLayerDeleteByKey0, procFwpmSubLayerGetByKey0,
		procFwpmSubLayerCreateEnumHandle0, procFwpmSubLayerEnum0, procFwpmSubLayerDestroyEnumHandle0,
		procFwpmFilterAdd0, procFwpmFilterDeleteByKey0, procFwpmFilterGetByKey0, procFwpmFilterGetById0,
		procFwpmFilterCreateEnumHandle0, procFwpmFilterEnum0, procFwpmFilterDestroyEnumHandle0,
		procFwpmFreeMemory0,
	} {
		if err := p.Find(); err != nil {
			return fmt.Errorf("%w: %w", wfp.ErrUnavailable, &wfp.CallError{Call: "GetProcAddress", Object: modfwpuclnt.Name + "!" + p.Name, Code: dllErrorCode(err, wfp.ErrProcNotFound)})
		}
	}
	return nil
}

func dllErrorCode(err error, fallback wfp.Code) wfp.Code {
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		return wfp.Code(errno)
	}
	return fallback
}

// handle returns the session handle, or an ERROR_INVALID_HANDLE CallError once closed.
// It does not keep Close from ending the session while the caller uses the handle;
// withHandle does.
func (e *Engine) handle(call string) (windows.Handle, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.h == 0 {
		return 0, &wfp.CallError{Call: call, Code: errInvalidHandle}
	}
	return e.h, nil
}

// withHandle runs fn with the session handle and keeps Close waiting until fn returns;
// once closed it returns an ERROR_INVALID_HANDLE CallError naming call. fn must not
// call another method of e (a Close waiting in between would deadlock).
func (e *Engine) withHandle(call string, fn func(h windows.Handle) error) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.h == 0 {
		return &wfp.CallError{Call: call, Code: errInvalidHandle}
	}
	return fn(e.h)
}

// Close implements wfp.Engine (FwpmEngineClose0); an open transaction is aborted by
// the engine. Change subscriptions still open are ended first (Fwpm*UnsubscribeChanges0).
// Closing twice reports ERROR_INVALID_HANDLE.
func (e *Engine) Close() error {
	e.endSubscriptions()
	return e.closeWith(fwpmEngineClose0)
}

// closeWith ends the session with closeFn once no call uses it any more.
func (e *Engine) closeWith(closeFn func(windows.Handle) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.h == 0 {
		return &wfp.CallError{Call: "FwpmEngineClose0", Code: errInvalidHandle}
	}
	h := e.h
	e.h = 0
	if ret := closeFn(h); ret != nil {
		return callError("FwpmEngineClose0", "", ret)
	}
	return nil
}

// BeginTransaction implements wfp.Engine (FwpmTransactionBegin0, read-write).
func (e *Engine) BeginTransaction() error {
	return e.simple("FwpmTransactionBegin0", func(h windows.Handle) error { return fwpmTransactionBegin0(h, fwpmTxnReadWrite) })
}

// BeginReadTransaction implements wfp.Engine (FwpmTransactionBegin0 with
// FWPM_TXN_READ_ONLY). Adds and deletes inside it fail with FWP_E_INCOMPATIBLE_TXN.
func (e *Engine) BeginReadTransaction() error {
	return e.simple("FwpmTransactionBegin0", func(h windows.Handle) error { return fwpmTransactionBegin0(h, fwpmTxnReadOnly) })
}

// CommitTransaction implements wfp.Engine (FwpmTransactionCommit0).
func (e *Engine) CommitTransaction() error {
	return e.simple("FwpmTransactionCommit0", fwpmTransactionCommit0)
}

// AbortTransaction implements wfp.Engine (FwpmTransactionAbort0).
func (e *Engine) AbortTransaction() error {
	return e.simple("FwpmTransactionAbort0", fwpmTransactionAbort0)
}

func (e *Engine) simple(call string, fn func(windows.Handle) error) error {
	return e.withHandle(call, func(h windows.Handle) error {
		if ret := fn(h); ret != nil {
			return callError(call, "", ret)
		}
		return nil
	})
}

// AddProvider implements wfp.Engine (FwpmProviderAdd0). p.SecurityDescriptor is the sd
// argument; empty passes NULL (the default security descriptor).
func (e *Engine) AddProvider(p *wfp.Provider) error {
	const call = "FwpmProviderAdd0"
	obj := wfp.ObjectName("provider", p.Key, p.Name)
	return e.withHandle(call, func(h windows.Handle) error {
		a := newArena()
		defer a.Dispose()
		c, err := composeProvider(a, p)
		if err != nil {
			return fmt.Errorf("%s %s: %w", call, obj, err)
		}
		if ret := fwpmProviderAdd0(h, c, composeSD(a, p.SecurityDescriptor)); ret != nil {
			return callError(call, obj, ret)
		}
		return nil
	})
}

// AddSublayer implements wfp.Engine (FwpmSubLayerAdd0). s.SecurityDescriptor is the sd
// argument; empty passes NULL (the default security descriptor).
func (e *Engine) AddSublayer(s *wfp.Sublayer) error {
	const call = "FwpmSubLayerAdd0"
	obj := wfp.ObjectName("sublayer", s.Key, s.Name)
	return e.withHandle(call, func(h windows.Handle) error {
		a := newArena()
		defer a.Dispose()
		c, err := composeSublayer(a, s)
		if err != nil {
			return fmt.Errorf("%s %s: %w", call, obj, err)
		}
		if ret := fwpmSubLayerAdd0(h, c, composeSD(a, s.SecurityDescriptor)); ret != nil {
			return callError(call, obj, ret)
		}
		return nil
	})
}

// AddFilter implements wfp.Engine (FwpmFilterAdd0) and returns the run-time filter ID.
// f.SecurityDescriptor is the sd argument; empty passes NULL (the default security
// descriptor).
func (e *Engine) AddFilter(f *wfp.Filter) (uint64, error) {
	const call = "FwpmFilterAdd0"
	obj := wfp.ObjectName("filter", f.Key, f.Name)
	var id uint64
	err := e.withHandle(call, func(h windows.Handle) error {
		a := newArena()
		defer a.Dispose()
		c, err := composeFilter(a, f)
		if err != nil {
			return fmt.Errorf("%s %s: %w", call, obj, err)
		}
		if ret := fwpmFilterAdd0(h, c, composeSD(a, f.SecurityDescriptor), &id); ret != nil {
			return callError(call, obj, ret)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// daclSecurityInformation is DACL_SECURITY_INFORMATION (winnt.h).
const daclSecurityInformation = 0x00000004

var _ wfp.SecuritySetter = (*Engine)(nil)

// SetDACL implements wfp.SecuritySetter: Fwpm{Provider,SubLayer,Filter}SetSecurityInfoByKey0
// with DACL_SECURITY_INFORMATION and the DACL of sd (owner, group and SACL NULL). WFP
// refuses it inside an explicit transaction, and in a dynamic session for anything but
// a dynamic object of that session ("The Fwpm*SetSecurityInfo0 functions can only be
// called from within a dynamic session if they are being used to manage a dynamic
// object created within the same session", Access control). The functions are resolved on first use,
// not at Open, so an fwpuclnt.dll without them (none is known) fails only this call.
func (e *Engine) SetDACL(kind wfp.ObjectKind, key wfp.GUID, sd []byte) error {
	var call string
	var fn func(windows.Handle, *wfpGUID, uint32, unsafe.Pointer, unsafe.Pointer, unsafe.Pointer, unsafe.Pointer) error
	var proc *windows.LazyProc
	switch kind {
	case wfp.ObjectProvider:
		call, fn, proc = "FwpmProviderSetSecurityInfoByKey0", fwpmProviderSetSecurityInfoByKey0, procFwpmProviderSetSecurityInfoByKey0
	case wfp.ObjectSublayer:
		call, fn, proc = "FwpmSubLayerSetSecurityInfoByKey0", fwpmSubLayerSetSecurityInfoByKey0, procFwpmSubLayerSetSecurityInfoByKey0
	case wfp.ObjectFilter:
		call, fn, proc = "FwpmFilterSetSecurityInfoByKey0", fwpmFilterSetSecurityInfoByKey0, procFwpmFilterSetSecurityInfoByKey0
	default:
		return &wfp.CallError{Call: "Fwpm*SetSecurityInfoByKey0", Object: string(kind), Code: wfp.ErrInvalidParameterWin32}
	}
	obj := wfp.ObjectName(string(kind), key, "")
	if err := proc.Find(); err != nil {
		return fmt.Errorf("%w: %w", wfp.ErrUnavailable, &wfp.CallError{Call: "GetProcAddress", Object: modfwpuclnt.Name + "!" + proc.Name, Code: dllErrorCode(err, wfp.ErrProcNotFound)})
	}
	return e.withHandle(call, func(h windows.Handle) error {
		a := newArena()
		defer a.Dispose()
		dacl, err := composeDACL(a, sd)
		if err != nil {
			return fmt.Errorf("%s %s: %w", call, obj, err)
		}
		if ret := fn(h, &key, daclSecurityInformation, nil, nil, dacl, nil); ret != nil {
			return callError(call, obj, ret)
		}
		return nil
	})
}

// DeleteProvider implements wfp.Engine (FwpmProviderDeleteByKey0).
func (e *Engine) DeleteProvider(key wfp.GUID) error {
	return e.deleteByKey("FwpmProviderDeleteByKey0", "provider", key, fwpmProviderDeleteByKey0)
}

// DeleteSublayer implements wfp.Engine (FwpmSubLayerDeleteByKey0).
func (e *Engine) DeleteSublayer(key wfp.GUID) error {
	return e.deleteByKey("FwpmSubLayerDeleteByKey0", "sublayer", key, fwpmSubLayerDeleteByKey0)
}

// DeleteFilter implements wfp.Engine (FwpmFilterDeleteByKey0).
func (e *Engine) DeleteFilter(key wfp.GUID) error {
	return e.deleteByKey("FwpmFilterDeleteByKey0", "filter", key, fwpmFilterDeleteByKey0)
}

func (e *Engine) deleteByKey(call, kind string, key wfp.GUID, fn func(windows.Handle, *wfpGUID) error) error {
	return e.withHandle(call, func(h windows.Handle) error {
		if ret := fn(h, &key); ret != nil {
			return callError(call, wfp.ObjectName(kind, key, ""), ret)
		}
		return nil
	})
}

// freeMemory releases memory fwpuclnt.dll returned (FwpmFreeMemory0).
func freeMemory(p unsafe.Pointer) {
	if p != nil {
		fwpmFreeMemory0(&p)
	}
}

// getOne runs one Fwpm*GetBy* call: get makes the engine fill in a pointer to memory it
// owns, which parse copies out before it is freed with FwpmFreeMemory0. object names
// what was asked for in errors.
func getOne[C any, G any](e *Engine, call, object string, get func(h windows.Handle, c **C) error, parse func(*C) (G, error)) (G, error) {
	var out G
	err := e.withHandle(call, func(h windows.Handle) error {
		var c *C
		if ret := get(h, &c); ret != nil {
			return callError(call, object, ret)
		}
		defer freeMemory(unsafe.Pointer(c))
		var err error
		if out, err = parse(c); err != nil {
			return fmt.Errorf("%s: %w", call, err)
		}
		return nil
	})
	if err != nil {
		var zero G
		return zero, err
	}
	return out, nil
}

// Provider implements wfp.Engine (FwpmProviderGetByKey0).
func (e *Engine) Provider(key wfp.GUID) (*wfp.Provider, error) {
	return getOne(e, "FwpmProviderGetByKey0", wfp.ObjectName("provider", key, ""),
		func(h windows.Handle, c **fwpmProvider0) error { return fwpmProviderGetByKey0(h, &key, c) }, parseProvider)
}

// Sublayer implements wfp.Engine (FwpmSubLayerGetByKey0).
func (e *Engine) Sublayer(key wfp.GUID) (*wfp.Sublayer, error) {
	return getOne(e, "FwpmSubLayerGetByKey0", wfp.ObjectName("sublayer", key, ""),
		func(h windows.Handle, c **fwpmSublayer0) error { return fwpmSubLayerGetByKey0(h, &key, c) }, parseSublayer)
}

// Filter implements wfp.Engine (FwpmFilterGetByKey0); the result carries the filter
// ID and effective weight the engine assigned.
func (e *Engine) Filter(key wfp.GUID) (*wfp.Filter, error) {
	return getOne(e, "FwpmFilterGetByKey0", wfp.ObjectName("filter", key, ""),
		func(h windows.Handle, c **fwpmFilter0) error { return fwpmFilterGetByKey0(h, &key, c) }, parseFilter)
}

// FilterByID implements wfp.Engine (FwpmFilterGetById0).
func (e *Engine) FilterByID(id uint64) (*wfp.Filter, error) {
	return getOne(e, "FwpmFilterGetById0", fmt.Sprintf("filter ID %d", id),
		func(h windows.Handle, c **fwpmFilter0) error { return filterGetByID(h, id, c) }, parseFilter)
}

// Providers implements wfp.Engine (FwpmProviderEnum0 without a template).
func (e *Engine) Providers() (out []*wfp.Provider, err error) {
	err = e.withHandle("FwpmProviderCreateEnumHandle0", func(h windows.Handle) (err error) {
		out, err = enumerate("", enumCalls[fwpmProvider0]{
			create: "FwpmProviderCreateEnumHandle0", enum: "FwpmProviderEnum0", destroy: "FwpmProviderDestroyEnumHandle0",
			createFn: func(eh *uintptr) error { return fwpmProviderCreateEnumHandle0(h, nil, (*windows.Handle)(eh)) },
			enumFn: func(eh uintptr, n uint32, entries ***fwpmProvider0, got *uint32) error {
				return fwpmProviderEnum0(h, windows.Handle(eh), n, entries, got)
			},
			destroyFn: func(eh uintptr) error { return fwpmProviderDestroyEnumHandle0(h, windows.Handle(eh)) },
			free:      freeMemory,
		}, parseProvider)
		return err
	})
	return out, err
}

// Sublayers implements wfp.Engine (FwpmSubLayerEnum0); with a non-nil provider the
// template selects that provider's sublayers.
func (e *Engine) Sublayers(provider *wfp.GUID) (out []*wfp.Sublayer, err error) {
	err = e.withHandle("FwpmSubLayerCreateEnumHandle0", func(h windows.Handle) (err error) {
		a := newArena()
		defer a.Dispose()
		var tmpl *fwpmSublayerEnumTemplate0
		object := ""
		if provider != nil {
			tmpl = composeSublayerEnumTemplate(a, *provider)
			object = wfp.ObjectName("provider", *provider, "")
		}
		out, err = enumerate(object, enumCalls[fwpmSublayer0]{
			create: "FwpmSubLayerCreateEnumHandle0", enum: "FwpmSubLayerEnum0", destroy: "FwpmSubLayerDestroyEnumHandle0",
			createFn: func(eh *uintptr) error { return fwpmSubLayerCreateEnumHandle0(h, tmpl, (*windows.Handle)(eh)) },
			enumFn: func(eh uintptr, n uint32, entries ***fwpmSublayer0, got *uint32) error {
				return fwpmSubLayerEnum0(h, windows.Handle(eh), n, entries, got)
			},
			destroyFn: func(eh uintptr) error { return fwpmSubLayerDestroyEnumHandle0(h, windows.Handle(eh)) },
			free:      freeMemory,
		}, parseSublayer)
		return err
	})
	return out, err
}

// Filters implements wfp.Engine (FwpmFilterEnum0). It enumerates layer by layer, over
// every layer the SDK defines, with a template naming the layer (and the provider, when
// given), FWP_FILTER_ENUM_FLAG_INCLUDE_DISABLED|INCLUDE_BOOTTIME and actionMask
// 0xFFFFFFFF — the way Microsoft's WFPSampler enumerates its own filters. It does not
// rely on a zero layerKey meaning "all layers" (undocumented, wfp-facts §10.5), and a
// NULL template would leave disabled filters out. A layer this Windows does not have
// (FWP_E_LAYER_NOT_FOUND) is skipped. See filterParser for how entries are selected.
func (e *Engine) Filters(provider *wfp.GUID) (fs []*wfp.Filter, err error) {
	err = e.withHandle("FwpmFilterCreateEnumHandle0", func(h windows.Handle) error {
		for _, layer := range wfp.Layers() {
			page, err := e.layerFilters(h, provider, layer)
			if errors.Is(err, wfp.ErrLayerNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			fs = append(fs, page...)
		}
		return nil
	})
	return fs, err
}

// layerFilters enumerates one layer's filters (of provider, when given).
func (e *Engine) layerFilters(h windows.Handle, provider *wfp.GUID, layer wfp.LayerID) ([]*wfp.Filter, error) {
	a := newArena()
	defer a.Dispose()
	tmpl := composeFilterEnumTemplate(a, provider, layer)
	object := "layer " + layer.String()
	if provider != nil {
		object = wfp.ObjectName("provider", *provider, "") + " at " + object
	}
	fs, err := enumerate(object, enumCalls[fwpmFilter0]{
		create: "FwpmFilterCreateEnumHandle0", enum: "FwpmFilterEnum0", destroy: "FwpmFilterDestroyEnumHandle0",
		createFn: func(eh *uintptr) error { return fwpmFilterCreateEnumHandle0(h, tmpl, (*windows.Handle)(eh)) },
		enumFn: func(eh uintptr, n uint32, entries ***fwpmFilter0, got *uint32) error {
			return fwpmFilterEnum0(h, windows.Handle(eh), n, entries, got)
		},
		destroyFn: func(eh uintptr) error { return fwpmFilterDestroyEnumHandle0(h, windows.Handle(eh)) },
		free:      freeMemory,
	}, filterParser(provider))
	return dropNil(fs), err
}
