package winengine

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/wfp"
)

var _ wfp.ChangeSubscriber = (*Engine)(nil)

// Change subscriptions (wfp.ChangeSubscriber, whose comment has what Microsoft
// documents about them: no transaction, no notification of the subscribing session's
// own changes, FWPM_ACTRL_SUBSCRIBE and FWPM_ACTRL_READ, Unsubscribe waits for a
// callback in progress).
//
// How each kind is scoped to the provider:
//
//   - Sublayers: FWPM_SUBLAYER_ENUM_TEMPLATE0 has only providerKey, which is set.
//   - Providers: FWPM_PROVIDER_ENUM_TEMPLATE0 has only a reserved member ("there is no
//     way to limit the enumeration"); the template is NULL ("If the template is NULL,
//     it matches all providers") and changes of other providers are dropped here.
//   - Filters: FWPM_FILTER_ENUM_TEMPLATE0 holds layerKey by value, and what a zero
//     layerKey matches is not documented (wfp-facts §10.5; Filters enumerates layer by
//     layer for that reason); one subscription per layer would be ~100 subscriptions.
//     So the template is NULL ("If the template is NULL, it matches all filters") and
//     the scoping is done here: FWPM_FILTER_CHANGE0 carries only the key and ID, so a
//     delete is ours when the key is one of the provider's filters known to this
//     subscription (enumerated once after subscribing, then kept up to date by the adds),
//     and an add is ours when FwpmFilterGetByKey0 finds the filter with the provider's
//     key. That lookup runs on the subscription's own goroutine, never inside the
//     callback. A filter added and deleted before the lookup is not reported (there is
//     nothing left to see).
//
// Callbacks only copy the change into the subscription's queue (bounded: wfp.MaxQueuedChanges,
// then dropped and a wfp.ChangesLost delivered after the queue); one goroutine per
// subscription scopes the changes and calls fn, one at a time.

// Callback trampolines, one per FWPM_*_CHANGE_CALLBACK0 signature, made on first use.
var (
	changeCallbackOnce                                 sync.Once
	filterChangeCB, sublayerChangeCB, providerChangeCB uintptr
)

func changeCallbacks() (filter, sublayer, provider uintptr) {
	changeCallbackOnce.Do(func() {
		deliver := func(context uintptr, c wfp.Change) {
			if sub, _ := callbackContexts.get(context).(*changeSubscription); sub != nil {
				sub.push(c)
			}
		}
		filterChangeCB = windows.NewCallback(func(context, change uintptr) uintptr {
			p := (*fwpmFilterChange0)(cPointer(change))
			deliver(context, wfp.Change{Type: wfp.ChangeType(p.changeType), Object: wfp.ChangedFilter, Key: p.filterKey, FilterID: p.filterId})
			return 0
		})
		sublayerChangeCB = windows.NewCallback(func(context, change uintptr) uintptr {
			p := (*fwpmSublayerChange0)(cPointer(change))
			deliver(context, wfp.Change{Type: wfp.ChangeType(p.changeType), Object: wfp.ChangedSublayer, Key: p.subLayerKey})
			return 0
		})
		providerChangeCB = windows.NewCallback(func(context, change uintptr) uintptr {
			p := (*fwpmProviderChange0)(cPointer(change))
			deliver(context, wfp.Change{Type: wfp.ChangeType(p.changeType), Object: wfp.ChangedProvider, Key: p.providerKey})
			return 0
		})
	})
	return filterChangeCB, sublayerChangeCB, providerChangeCB
}

var changeProcs = []*windows.LazyProc{
	procFwpmFilterSubscribeChanges0, procFwpmFilterUnsubscribeChanges0,
	procFwpmSubLayerSubscribeChanges0, procFwpmSubLayerUnsubscribeChanges0,
	procFwpmProviderSubscribeChanges0, procFwpmProviderUnsubscribeChanges0,
}

var subscribeCalls = [3]string{"FwpmFilterSubscribeChanges0", "FwpmSubLayerSubscribeChanges0", "FwpmProviderSubscribeChanges0"}
var unsubscribeCalls = [3]string{"FwpmFilterUnsubscribeChanges0", "FwpmSubLayerUnsubscribeChanges0", "FwpmProviderUnsubscribeChanges0"}

// SubscribeChanges implements wfp.ChangeSubscriber with FwpmFilterSubscribeChanges0,
// FwpmSubLayerSubscribeChanges0 and FwpmProviderSubscribeChanges0 (NOTIFY_ON_ADD |
// NOTIFY_ON_DELETE), then enumerates the provider's filters once (Filters) to know
// which deletes are its. Close ends subscriptions still open, before FwpmEngineClose0.
func (e *Engine) SubscribeChanges(provider wfp.GUID, fn func(wfp.Change)) (func() error, error) {
	for _, p := range changeProcs {
		if err := findProc(p); err != nil {
			return nil, err
		}
	}
	s := newChangeSubscription(provider, fn, e.Filter)
	s.unsub = func() error { return e.unsubscribe(s) }
	s.key = callbackContexts.add(s)
	filterCB, sublayerCB, providerCB := changeCallbacks()
	obj := wfp.ObjectName("provider", provider, "")
	for i, call := range subscribeCalls {
		err := e.withHandle(call, func(h windows.Handle) error {
			a := newArena()
			defer a.Dispose()
			var ret error
			switch i {
			case 0:
				sub := (*fwpmFilterSubscription0)(a.alloc(unsafe.Sizeof(fwpmFilterSubscription0{})))
				sub.flags = fwpmSubscriptionFlagNotifyOnAdd | fwpmSubscriptionFlagNotifyOnDelete
				ret = fwpmFilterSubscribeChanges0(h, sub, filterCB, s.key, (*windows.Handle)(&s.handles[0]))
			case 1:
				sub := (*fwpmSublayerSubscription0)(a.alloc(unsafe.Sizeof(fwpmSublayerSubscription0{})))
				sub.enumTemplate = composeSublayerEnumTemplate(a, provider)
				sub.flags = fwpmSubscriptionFlagNotifyOnAdd | fwpmSubscriptionFlagNotifyOnDelete
				ret = fwpmSubLayerSubscribeChanges0(h, sub, sublayerCB, s.key, (*windows.Handle)(&s.handles[1]))
			default:
				sub := (*fwpmProviderSubscription0)(a.alloc(unsafe.Sizeof(fwpmProviderSubscription0{})))
				sub.flags = fwpmSubscriptionFlagNotifyOnAdd | fwpmSubscriptionFlagNotifyOnDelete
				ret = fwpmProviderSubscribeChanges0(h, sub, providerCB, s.key, (*windows.Handle)(&s.handles[2]))
			}
			if ret != nil {
				return callError(call, obj, ret)
			}
			return nil
		})
		if err != nil {
			e.unsubscribe(s)
			return nil, err
		}
	}
	s.resync = func() (map[wfp.GUID]bool, error) {
		fs, err := e.Filters(&provider)
		if err != nil && !errors.Is(err, wfp.ErrProviderNotFound) {
			return nil, err
		}
		ours := make(map[wfp.GUID]bool, len(fs))
		for _, f := range fs {
			ours[f.Key] = true
		}
		return ours, nil
	}
	ours, err := s.resync()
	if err != nil {
		e.unsubscribe(s)
		return nil, fmt.Errorf("change subscription of %s: %w", obj, err)
	}
	s.ours = ours
	go s.run()
	e.subsMu.Lock()
	e.subs = append(e.subs, s)
	e.subsMu.Unlock()
	return func() error {
		e.subsMu.Lock()
		for i, x := range e.subs {
			if x == s {
				e.subs = append(e.subs[:i], e.subs[i+1:]...)
				break
			}
		}
		e.subsMu.Unlock()
		return s.end()
	}, nil
}

// unsubscribe calls Fwpm*UnsubscribeChanges0 for every handle made, in reverse order,
// and forgets the context key. It must not hold a lock a callback takes: Unsubscribe
// waits for a callback in progress (callbacks take only s.mu, briefly).
func (e *Engine) unsubscribe(s *changeSubscription) error {
	var errs []error
	unsub := [3]func(windows.Handle, windows.Handle) error{
		fwpmFilterUnsubscribeChanges0, fwpmSubLayerUnsubscribeChanges0, fwpmProviderUnsubscribeChanges0,
	}
	for i := 2; i >= 0; i-- {
		if s.handles[i] == 0 {
			continue
		}
		ch := windows.Handle(s.handles[i])
		err := e.withHandle(unsubscribeCalls[i], func(h windows.Handle) error {
			if ret := unsub[i](h, ch); ret != nil {
				return callError(unsubscribeCalls[i], "", ret)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
		s.handles[i] = 0
	}
	callbackContexts.remove(s.key)
	return errors.Join(errs...)
}

// endSubscriptions ends the subscriptions still open, for Close: "It is not necessary
// to unsubscribe before closing a session", but ending them first stops their
// goroutines and frees their context keys.
func (e *Engine) endSubscriptions() {
	e.subsMu.Lock()
	subs := e.subs
	e.subs = nil
	e.subsMu.Unlock()
	for _, s := range subs {
		_ = s.end()
	}
}
