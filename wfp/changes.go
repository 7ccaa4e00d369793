package wfp

import (
	"errors"
	"fmt"
)

// ChangeSubscriber is implemented by engines that deliver change notifications for
// objects (FwpmFilterSubscribeChanges0, FwpmSubLayerSubscribeChanges0,
// FwpmProviderSubscribeChanges0 and their Unsubscribe counterparts). Callers find it by
// interface assertion on a wfp.Engine; an engine without it offers no notifications and
// the caller polls.
//
// What WFP documents for the three Subscribe functions, and every implementation keeps:
//
//   - They "cannot be called from within a transaction" and fail with
//     FWP_E_TXN_IN_PROGRESS; so do the Unsubscribe functions.
//   - "Subscribers do not receive notifications for changes made with the same session
//     handle used to subscribe": subscribe on a session of its own, and expect
//     notifications for the writes of every other session — this process's included.
//   - The caller needs FWPM_ACTRL_SUBSCRIBE on the object's container (the engine's
//     filters, sublayers or providers) and FWPM_ACTRL_READ on the object; it is told only
//     of objects it may read. Unelevated callers have neither by default (see the
//     package's security notes): an elevated process or LocalSystem subscribes.
//   - Notifications are for adds and deletes only: FWPM_CHANGE_TYPE has FWPM_CHANGE_ADD
//     and FWPM_CHANGE_DELETE. Objects have no update call (a changed filter is deleted
//     and added); a security descriptor changed with Fwpm*SetSecurityInfoByKey0 is not
//     a change a subscriber hears of (the poll's check sees what matters of it).
//   - Unsubscribing "will not return until" a callback in progress completes, so it must
//     not be called while holding a lock the callback takes, nor from the callback.
//   - All subscriptions end when the session is closed.
//
// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfiltersubscribechanges0
// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmsublayersubscribechanges0
// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmprovidersubscribechanges0
// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfilterunsubscribechanges0
type ChangeSubscriber interface {
	// SubscribeChanges subscribes to the adds and deletes of provider's objects: its
	// filters (FWPM_FILTER_ENUM_TEMPLATE0.providerKey), its sublayers
	// (FWPM_SUBLAYER_ENUM_TEMPLATE0.providerKey) and the provider itself
	// (FWPM_PROVIDER_ENUM_TEMPLATE0 has only a reserved member — "there is no way to limit
	// the enumeration" — so provider changes are filtered by key after delivery). fn is
	// called from another goroutine, one change at a time, and must not block for long
	// nor call the engine; changes that arrive while fn is slow wait in a queue of at
	// most MaxQueuedChanges, beyond which they are dropped and a ChangesLost follows
	// them. The returned function ends the subscription (all three
	// Unsubscribe calls, waiting for a callback in progress) and must be called before
	// the session is closed; it may be called more than once. On error nothing stays
	// subscribed.
	SubscribeChanges(provider GUID, fn func(Change)) (unsubscribe func() error, err error)
}

// ErrChangesUnsupported is wrapped by a SubscribeChanges error that will not go away
// by retrying: this engine (or this kind of host) cannot deliver notifications.
var ErrChangesUnsupported = errors.New("change notifications are not available from this engine")

// ChangeType is FWPM_CHANGE_TYPE (fwpmtypes.h).
type ChangeType uint32

// FWPM_CHANGE_TYPE values.
const (
	ChangeAdd    ChangeType = 1 // FWPM_CHANGE_ADD
	ChangeDelete ChangeType = 2 // FWPM_CHANGE_DELETE
)

// ChangesLost is no FWPM_CHANGE_TYPE: a subscription delivers it (Object
// ChangedProvider, Key the subscribed provider) after changes arrived faster than fn
// took them and its bounded queue (MaxQueuedChanges) was full, so that some were
// dropped. The subscriber cannot know which: it reads again what it depends on.
const ChangesLost ChangeType = 0x100

// MaxQueuedChanges bounds the changes a subscription holds for fn: the engine's
// callbacks must not block, so beyond it changes are dropped and ChangesLost follows.
// A flood (another tool adding thousands of filters: a NULL-template filter
// subscription hears of every filter of the host) costs bounded memory.
const MaxQueuedChanges = 4096

func (t ChangeType) String() string {
	switch t {
	case ChangeAdd:
		return "add"
	case ChangeDelete:
		return "delete"
	case ChangesLost:
		return "lost"
	}
	return fmt.Sprintf("change-type-%d", uint32(t))
}

// ChangeObject says which kind of object a Change is about.
type ChangeObject uint8

// Kinds of changed objects.
const (
	ChangedFilter ChangeObject = iota + 1
	ChangedSublayer
	ChangedProvider
)

func (o ChangeObject) String() string {
	switch o {
	case ChangedFilter:
		return "filter"
	case ChangedSublayer:
		return "sublayer"
	case ChangedProvider:
		return "provider"
	}
	return fmt.Sprintf("object-%d", uint8(o))
}

// Change is one notification: FWPM_FILTER_CHANGE0, FWPM_SUBLAYER_CHANGE0 or
// FWPM_PROVIDER_CHANGE0.
type Change struct {
	Type   ChangeType
	Object ChangeObject
	// Key is filterKey, subLayerKey or providerKey.
	Key GUID
	// FilterID is FWPM_FILTER_CHANGE0.filterId (filters only).
	FilterID uint64
}

func (c Change) String() string {
	return fmt.Sprintf("%s %s %s", c.Type, c.Object, c.Key)
}
