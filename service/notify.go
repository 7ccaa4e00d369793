package service

import (
	"context"
	"errors"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// DefaultNotifyDelay is how long Run waits after a change notification before it
// converges (Config.NotifyDelay): a setup or an uninstall by another tool is a burst of
// notifications, one per object, and one pass answers them all.
const DefaultNotifyDelay = 200 * time.Millisecond

// watcher keeps one engine session subscribed to the changes of the wfpsandbox
// provider's objects (wfp.ChangeSubscriber) and turns each change into Service.Notify.
// Its methods run on Run's goroutine only; the callback runs on the engine's.
//
// The subscription has a session of its own: WFP does not notify a session of its own
// changes, and the service's repairs run in sessions opened per pass, so they notify
// it too. That cannot loop: the pass a repair's notifications cause finds the policy
// current and writes nothing, so it causes none (TestNotificationsDoNotLoop).
type watcher struct {
	s     *Service
	e     wfp.Engine
	unsub func() error
	// warned: the last attempt failed and was logged as a warning; later failures are
	// logged at debug level until one succeeds.
	warned bool
	// unsupported: the engine has no notifications at all; it is not asked again.
	unsupported bool
}

// ensure subscribes unless a live subscription exists: at start and at every poll. A
// subscription whose session died (the BFE restarted, the RPC connection broke) is
// dropped, logged, and replaced.
func (w *watcher) ensure() {
	if w.unsupported {
		return
	}
	if w.e != nil {
		err := w.check()
		if err == nil {
			return
		}
		w.s.log.Warn("service: the WFP change notification session failed; converging on the poll until it is back: "+err.Error(),
			append(wfpAttrs(err), setup.Event(setup.EventServiceNotifications))...)
		w.warned = true
		w.close()
	}
	e, err := w.s.cfg.Open()
	if err != nil {
		w.failed("open WFP engine: " + err.Error())
		return
	}
	cs, ok := e.(wfp.ChangeSubscriber)
	if !ok {
		e.Close()
		w.unsupported = true
		w.s.log.Info("service: this engine offers no change notifications; converging on the poll only",
			setup.Event(setup.EventServiceNotifications), "poll", w.s.cfg.Poll.String())
		return
	}
	unsub, err := cs.SubscribeChanges(policy.ProviderKey, w.changed)
	if errors.Is(err, wfp.ErrChangesUnsupported) {
		e.Close()
		w.unsupported = true
		w.s.log.Info("service: this engine offers no change notifications ("+err.Error()+"); converging on the poll only",
			setup.Event(setup.EventServiceNotifications), "poll", w.s.cfg.Poll.String())
		return
	}
	if err != nil {
		e.Close()
		w.failed(err.Error())
		return
	}
	w.e, w.unsub = e, unsub
	w.s.notifying.Store(true)
	w.warned = false
	w.s.log.Info("service: converging on WFP change notifications for the wfpsandbox provider's objects, and on the poll",
		setup.Event(setup.EventServiceNotifications), "provider", policy.ProviderKey.String(), "poll", w.s.cfg.Poll.String())
}

func (w *watcher) failed(why string) {
	msg := "service: cannot subscribe to WFP change notifications; converging on the poll only, retried at every poll: " + why
	if w.warned {
		w.s.log.Debug(msg)
		return
	}
	w.warned = true
	w.s.log.Warn(msg, setup.Event(setup.EventServiceNotifications), "poll", w.s.cfg.Poll.String())
}

// check asks the subscription's session for our provider: a session the BFE aborted
// (FWP_E_SESSION_ABORTED), a broken RPC connection or a closed handle fail; the
// provider missing does not (the session answered).
func (w *watcher) check() error {
	_, err := w.e.Provider(policy.ProviderKey)
	if c, ok := wfp.CodeOf(err); ok && c == wfp.ErrProviderNotFound {
		return nil
	}
	return err
}

// changed is the subscription's callback: it must not block, and Notify does not.
func (w *watcher) changed(c wfp.Change) {
	w.s.log.Debug("service: WFP change notification", "change", c.String())
	w.s.Notify()
}

// close ends the subscription, then its session (Unsubscribe before FwpmEngineClose0).
func (w *watcher) close() {
	if w.e == nil {
		return
	}
	if err := w.unsub(); err != nil {
		w.s.log.Debug("service: unsubscribe: " + err.Error())
	}
	w.e.Close()
	w.e, w.unsub = nil, nil
	w.s.notifying.Store(false)
}

// settle waits NotifyDelay after a notification, so that one pass answers a burst, and
// drops the notifications that arrived meanwhile (or returns when ctx ends).
func (s *Service) settle(ctx context.Context) {
	t := time.NewTimer(s.cfg.NotifyDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	select {
	case <-s.notify:
	default:
	}
}

// Notifications says whether the service is subscribed to WFP change notifications
// now (false: it converges on its poll only).
func (s *Service) Notifications() bool { return s.notifying.Load() }
