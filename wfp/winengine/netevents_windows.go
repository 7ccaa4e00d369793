package winengine

import (
	"context"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// NetEvents reads the engine's net event log (FwpmNetEventEnum*) and subscribes to new
// events (FwpmNetEventSubscribe*) with one structure version. It implements
// wfp.NetEventSource.
type NetEvents struct {
	e       *Engine
	version int
}

var _ wfp.NetEventSource = (*NetEvents)(nil)

// NetEvents returns a reader of the net event log using FWPM_NET_EVENTn version
// version (0..5), or, for version -1, the newest version this Windows supports
// (NetEventVersion of RtlGetVersion's numbers; RtlGetVersion, unlike GetVersionEx,
// is not subject to manifest-based version lies).
func (e *Engine) NetEvents(version int) (*NetEvents, error) {
	if version == -1 {
		v := windows.RtlGetVersion()
		version = NetEventVersion(v.MajorVersion, v.MinorVersion, v.BuildNumber)
	}
	if version < 0 || version > 5 {
		return nil, fmt.Errorf("net event structure version %d: want 0 to 5", version)
	}
	return &NetEvents{e: e, version: version}, nil
}

// NetEventSource is NetEvents as an wfp.NetEventSource, for callers that hold the engine
// as a wfp.Engine and find this method by interface assertion.
func (e *Engine) NetEventSource(version int) (wfp.NetEventSource, int, error) {
	n, err := e.NetEvents(version)
	if err != nil {
		return nil, 0, err
	}
	return n, n.version, nil
}

// Version is n of the FWPM_NET_EVENTn structures this reader uses.
func (n *NetEvents) Version() int { return n.version }

// findProc resolves an fwpuclnt.dll function that older Windows versions lack, as a
// *wfp.CallError with ERROR_PROC_NOT_FOUND instead of the generated binding's panic.
func findProc(p *windows.LazyProc) error {
	if err := p.Find(); err != nil {
		return &wfp.CallError{Call: p.Name, Object: modfwpuclnt.Name, Code: dllErrorCode(err, wfp.ErrProcNotFound)}
	}
	return nil
}

// Enum implements wfp.NetEventSource: FwpmNetEventCreateEnumHandle0 with a time window from
// since to now (no template for a zero since: the whole log), FwpmNetEventEnumN in
// pages, FwpmNetEventDestroyEnumHandle0. Collection switched off comes back as a
// *wfp.CallError wrapping wfp.ErrNetEventsDisabled.
func (n *NetEvents) Enum(since time.Time) (out []wfp.NetEvent, err error) {
	procs := []*windows.LazyProc{procFwpmNetEventEnum0, procFwpmNetEventEnum1, procFwpmNetEventEnum2,
		procFwpmNetEventEnum3, procFwpmNetEventEnum4, procFwpmNetEventEnum5}
	for _, p := range []*windows.LazyProc{procFwpmNetEventCreateEnumHandle0, procFwpmNetEventDestroyEnumHandle0, procs[n.version]} {
		if err := findProc(p); err != nil {
			return nil, err
		}
	}
	err = n.e.withHandle("FwpmNetEventCreateEnumHandle0", func(h windows.Handle) (err error) {
		a := newArena()
		defer a.Dispose()
		var tmpl *fwpmNetEventEnumTemplate0
		if !since.IsZero() {
			tmpl = (*fwpmNetEventEnumTemplate0)(a.alloc(unsafe.Sizeof(fwpmNetEventEnumTemplate0{})))
			tmpl.startTime = toFiletime(since)
			tmpl.endTime = toFiletime(time.Now().Add(time.Minute))
		}
		switch n.version {
		case 0:
			out, err = netEventEnum(h, tmpl, 0, fwpmNetEventEnum0, parseNetEvent0)
		case 1:
			out, err = netEventEnum(h, tmpl, 1, fwpmNetEventEnum1, parseNetEvent1)
		case 2:
			out, err = netEventEnum(h, tmpl, 2, fwpmNetEventEnum2, parseNetEvent2)
		case 3:
			out, err = netEventEnum(h, tmpl, 3, fwpmNetEventEnum3, parseNetEvent3)
		case 4:
			out, err = netEventEnum(h, tmpl, 4, fwpmNetEventEnum4, parseNetEvent4)
		default:
			out, err = netEventEnum(h, tmpl, 5, fwpmNetEventEnum5, parseNetEvent5)
		}
		return err
	})
	return out, err
}

// netEventEnum pages through the log with FwpmNetEventEnum<version>, whose entries are
// FWPM_NET_EVENT<version> structures (C) decoded by parse.
func netEventEnum[C any](h windows.Handle, tmpl *fwpmNetEventEnumTemplate0, version int,
	enumN func(windows.Handle, windows.Handle, uint32, ***C, *uint32) error,
	parse func(*C) (wfp.NetEvent, error)) ([]wfp.NetEvent, error) {
	return enumerate("", enumCalls[C]{
		create:    "FwpmNetEventCreateEnumHandle0",
		enum:      fmt.Sprintf("FwpmNetEventEnum%d", version),
		destroy:   "FwpmNetEventDestroyEnumHandle0",
		createFn:  func(eh *uintptr) error { return fwpmNetEventCreateEnumHandle0(h, tmpl, (*windows.Handle)(eh)) },
		enumFn:    func(eh uintptr, n uint32, e ***C, got *uint32) error { return enumN(h, windows.Handle(eh), n, e, got) },
		destroyFn: func(eh uintptr) error { return fwpmNetEventDestroyEnumHandle0(h, windows.Handle(eh)) },
		free:      freeMemory,
	}, parse)
}

func toFiletime(t time.Time) filetime {
	ft := wfp.ToFileTime(t)
	return filetime{dwLowDateTime: uint32(ft), dwHighDateTime: uint32(ft >> 32)}
}

// Subscriptions: fwpuclnt.dll calls a C callback with (context, event). Each version
// has one callback trampoline (windows.NewCallback makes stdcall trampolines on 386,
// as FWPM_NET_EVENT_CALLBACKn's CALLBACK requires; their number per process is
// limited, so they are made once); context is a key into callbackContexts
// (callbacks_windows.go), never a Go pointer.
var (
	callbacks  [6]uintptr
	callbackMu sync.Mutex
)

func callbackFor(version int) uintptr {
	callbackMu.Lock()
	defer callbackMu.Unlock()
	if callbacks[version] == 0 {
		parse := func(p uintptr) wfp.NetEvent {
			ev := cPointer(p)
			var r wfp.NetEvent
			switch version {
			case 1:
				r, _ = parseNetEvent1((*fwpmNetEvent1)(ev))
			case 2:
				r, _ = parseNetEvent2((*fwpmNetEvent2)(ev))
			case 3:
				r, _ = parseNetEvent3((*fwpmNetEvent3)(ev))
			case 4:
				r, _ = parseNetEvent4((*fwpmNetEvent4)(ev))
			default:
				r, _ = parseNetEvent5((*fwpmNetEvent5)(ev))
			}
			return r
		}
		callbacks[version] = windows.NewCallback(func(context, event uintptr) uintptr {
			if fn, _ := callbackContexts.get(context).(func(wfp.NetEvent)); fn != nil {
				fn(parse(event)) // copied before the callback returns and the event is freed
			}
			return 0
		})
	}
	return callbacks[version]
}

// Subscribe implements wfp.NetEventSource with FwpmNetEventSubscribe(version-1), which
// delivers FWPM_NET_EVENTversion structures (Subscribe0 → NET_EVENT1 … Subscribe4 →
// NET_EVENT5; Vista's version 0 has no subscription). fn is called one event at a
// time. When ctx is done the subscription is closed (FwpmNetEventUnsubscribe0, which
// waits for a callback in progress) and Subscribe returns nil.
func (n *NetEvents) Subscribe(ctx context.Context, fn func(wfp.NetEvent)) error {
	if n.version == 0 {
		return fmt.Errorf("net event subscriptions need Windows 7 or later (FWPM_NET_EVENT1); this reader uses version 0")
	}
	call := fmt.Sprintf("FwpmNetEventSubscribe%d", n.version-1)
	h, err := n.e.handle(call)
	if err != nil {
		return err
	}
	procs := []*windows.LazyProc{nil, procFwpmNetEventSubscribe0, procFwpmNetEventSubscribe1, procFwpmNetEventSubscribe2,
		procFwpmNetEventSubscribe3, procFwpmNetEventSubscribe4}
	for _, p := range []*windows.LazyProc{procs[n.version], procFwpmNetEventUnsubscribe0} {
		if err := findProc(p); err != nil {
			return err
		}
	}
	var one sync.Mutex
	key := callbackContexts.add(func(r wfp.NetEvent) {
		one.Lock()
		defer one.Unlock()
		fn(r)
	})
	defer callbackContexts.remove(key)

	a := newArena()
	sub := (*fwpmNetEventSubscription0)(a.alloc(unsafe.Sizeof(fwpmNetEventSubscription0{})))
	cb := callbackFor(n.version)
	subscribe := []func(windows.Handle, *fwpmNetEventSubscription0, uintptr, uintptr, *windows.Handle) error{
		nil, fwpmNetEventSubscribe0, fwpmNetEventSubscribe1, fwpmNetEventSubscribe2, fwpmNetEventSubscribe3, fwpmNetEventSubscribe4,
	}[n.version]
	var eh windows.Handle
	ret := subscribe(h, sub, cb, key, &eh)
	a.Dispose()
	if ret != nil {
		return callError(call, "", ret)
	}
	<-ctx.Done()
	if ret := fwpmNetEventUnsubscribe0(h, eh); ret != nil {
		return callError("FwpmNetEventUnsubscribe0", "", ret)
	}
	return nil
}
