package service

// Drop metrics: with config.toml [service] drop_metrics = true and analytics on, the
// service subscribes to the WFP net events and counts every drop of a sandbox account
// in telemetry.MetricDrops, per account and rule (and layer and direction), so a fleet
// sees which sandboxes try what.
//
// What is counted. A CLASSIFY_DROP whose filter is a wfpsandbox filter counts for the
// account and rule of the filter's ownership tag (policy.ParseOwner, read through
// events.Resolver): the account is the one the filter was installed for, named as its
// setup record names it (DOMAIN\name, else the SID). A drop by another provider's
// filter, or by a filter that no longer exists when it is looked up, counts with rule
// telemetry.RuleOther, and only when the event's account is a recorded sandbox
// account: other accounts' drops are not counted at all, and nothing of another
// provider (its name, its filter) becomes an attribute. So the counter's cardinality
// is bounded by the recorded accounts times their plans' rules plus one. A drop
// without a filter ID (a malformed event) is not counted. The events already in the
// log when the subscription starts are not counted: only new ones.
//
// Filter IDs. An event names the run-time filter ID (FWPM_NET_EVENT_CLASSIFY_DROP0..2
// filterId), which FwpmFilterGetById0 maps back to the filter; the Resolver caches
// the answers. A filter deleted and added again (a reinstall, a repair) gets a new ID,
// so when a lookup finds an ID gone (FWP_E_FILTER_NOT_FOUND) the whole cache is
// dropped and every ID is looked up again when next seen; the gone ID itself is
// remembered, so a burst of drops naming it costs one lookup. A lookup that fails
// otherwise is not cached (the event is not counted); several in a row restart the
// subscription.
//
// Collection off. WFP keeps and delivers net events only while the engine option
// FWPM_ENGINE_COLLECT_NET_EVENTS is on (the default; `netsh wfp set options
// netevents=off` turns it off for the whole host, persistently). Before it subscribes,
// and then every DropRetry while subscribed, the counter enumerates the log from now
// (FwpmNetEventCreateEnumHandle0, FwpmNetEventEnumN: next to nothing to read), which
// Microsoft documents to fail with FWP_E_NET_EVENTS_DISABLED when "the collection of
// network diagnostic events is disabled" (the FwpmNetEventEnum0..5 pages; the
// emulator refuses at CreateEnumHandle already): FwpmNetEventSubscribe0..4's pages
// list only the FWP_E_* range, so a subscription made while collection is off might
// succeed and stay silent. Collection off is logged once, with what to do
// (events.CollectionOff), and retried every DropRetry; the service never turns
// collection on itself: it is a host-wide, persistent setting that is the operator's.
//
// FwpmNetEventSubscribe0:
// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventsubscribe0
// FwpmNetEventEnum0 (FWP_E_NET_EVENTS_DISABLED):
// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmneteventenum0
// FwpmEngineSetOption0 (FWPM_ENGINE_COLLECT_NET_EVENTS):
// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmenginesetoption0
// FwpmFilterGetById0:
// https://learn.microsoft.com/windows/win32/api/fwpmu/nf-fwpmu-fwpmfiltergetbyid0

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/wfpsandbox/wfpsandbox/events"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/telemetry"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// DefaultDropRetry is Config.DropRetry's default.
const DefaultDropRetry = time.Minute

// Bounds of the drop counter's state.
const (
	// dropQueue is how many delivered events may wait for the counter; the
	// subscription's callback never blocks (it runs on a WFP thread), so more are
	// dropped and reported as lost.
	dropQueue = 4096
	// maxCachedIDs bounds the filter IDs cached (and the gone ones remembered).
	maxCachedIDs = 4096
	// maxLookupFailures in a row restart the subscription (the engine session may be
	// dead, as after a BFE restart).
	maxLookupFailures = 3
	// accountTTL is how long a SID's record lookup (recorded or not, its name) is kept.
	accountTTL = time.Minute
	// dropDebugRecords bounds the per-event debug records ("drop counted", "not
	// counted") per DropRetry interval; the rest are summed in one record at its end.
	// The log file takes debug records whatever --verbose says, and a sandboxed
	// process can cause drops as fast as it can send: one record per drop would let it
	// rotate the service's log history (repairs, tampering) out of the file in seconds.
	dropDebugRecords = 20
)

// DropMetricsConfigured reports whether the state directory's config.toml turns the
// drop metrics on ([service] drop_metrics).
func DropMetricsConfigured(stateDir string) (bool, error) {
	c, err := setup.LoadConfig(setup.ConfigPath(stateDir))
	if err != nil {
		return false, err
	}
	return c.Service.DropMetrics, nil
}

// startDropMetrics starts the drop counter when Config.DropMetrics asks for it and it
// can run, and returns a function that waits for it to stop (it stops when ctx is
// done). When it cannot run, it says why, once.
func (s *Service) startDropMetrics(ctx context.Context) (wait func()) {
	nothing := func() {}
	switch {
	case !s.cfg.DropMetrics:
		return nothing
	case !s.cfg.Metrics.Enabled():
		s.log.Warn("drop metrics are off: config.toml [service] drop_metrics = true needs analytics on "+
			"(analytics = true in config.toml, WFPSANDBOX_ANALYTICS=1 or --analytics); nothing is subscribed",
			setup.Event(setup.EventOther))
		return nothing
	case s.cfg.Events == nil:
		s.log.Warn("drop metrics are off: there is no net event log here", setup.Event(setup.EventOther))
		return nothing
	}
	d := newDropCounter(s)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.run(ctx)
	}()
	return func() { <-done }
}

// dropCounter is the subscription loop and its caches; only its goroutine uses them
// (the callback touches lost only).
type dropCounter struct {
	s     *Service
	retry time.Duration

	res      *events.Resolver
	seen     map[uint64]bool // filter IDs the Resolver has cached
	gone     map[uint64]bool // filter IDs the engine said do not exist
	accounts map[string]dropAccount
	failures int // lookups that failed in a row

	off     bool   // collection off was logged
	lastErr string // the last other failure logged
	lost    atomic.Int64

	// debugged is how many per-event debug records this interval has had;
	// unlogged how many events were counted (or not) without one.
	debugged, unlogged int
}

type dropAccount struct {
	name     string
	recorded bool
	at       time.Time
}

func newDropCounter(s *Service) *dropCounter {
	d := &dropCounter{s: s, retry: s.cfg.DropRetry, accounts: map[string]dropAccount{}}
	if d.retry <= 0 {
		d.retry = DefaultDropRetry
	}
	return d
}

// run subscribes, counts, and when the subscription cannot be made or ends with an
// error, says so (once per kind of failure) and tries again every retry, until ctx is
// done.
func (d *dropCounter) run(ctx context.Context) {
	for {
		err := d.session(ctx)
		if ctx.Err() != nil {
			return
		}
		d.failed(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.retry):
		}
	}
}

// failed logs why the subscription is not running: collection off once, with what to
// do; another error when it differs from the last one logged.
func (d *dropCounter) failed(err error) {
	log := d.s.log
	if errors.Is(err, wfp.ErrNetEventsDisabled) {
		if d.off {
			log.Debug("drop metrics: net event collection is still off")
			return
		}
		d.off = true
		log.Warn(fmt.Sprintf("drop metrics: no drops are counted: %s\n"+
			"The service does not turn it on (a host-wide setting that persists across reboots); it checks again every %s and counts from then on.",
			events.CollectionOff, d.retry), append(wfpAttrs(err), setup.Event(setup.EventOther))...)
		return
	}
	if msg := err.Error(); msg != d.lastErr {
		d.lastErr = msg
		log.Warn(fmt.Sprintf("drop metrics: no drops are counted: %s; retrying every %s", msg, d.retry),
			append(wfpAttrs(err), setup.Event(setup.EventOther))...)
		return
	}
	log.Debug("drop metrics: still failing: " + err.Error())
}

// probe fails with wfp.ErrNetEventsDisabled when collection is off: an enumeration of
// the log from now (nothing, or next to nothing, to read).
func probe(src events.Source) error {
	if _, err := src.Enum(time.Now()); err != nil {
		return fmt.Errorf("read the net event log: %w", err)
	}
	return nil
}

// session opens the log, checks that collection is on, subscribes and counts until
// ctx is done (nil) or something fails (the error).
func (d *dropCounter) session(ctx context.Context) error {
	src, filters, closer, err := d.s.cfg.Events()
	if err != nil {
		return fmt.Errorf("open the net event log: %w", err)
	}
	if closer != nil {
		defer closer.Close()
	}
	if err := probe(src); err != nil {
		return err
	}
	// A new session: the previous one's lookups may name another engine's IDs.
	d.res, d.seen, d.gone, d.failures = events.NewResolver(filters), map[uint64]bool{}, map[uint64]bool{}, 0
	clear(d.accounts)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	raws := make(chan events.Raw, dropQueue)
	done := make(chan error, 1)
	go func() {
		done <- src.Subscribe(sctx, func(r events.Raw) {
			// The counter never uses the application path, which can be 64 KiB (a
			// process started from a long path): dropped before the event waits, the
			// queue's dropQueue events stay small while the counter falls behind.
			r.AppID = nil
			r.Flags &^= wfp.NetEventFlagAppIDSet
			select {
			case raws <- r:
			default:
				d.lost.Add(1)
			}
		})
	}()
	// Subscribe blocks while the subscription is open, so it counts as made once it
	// has delivered an event or not failed for a while; only then is a failure logged
	// before forgotten (a subscription refused at once is the same episode).
	up := false
	established := func() {
		if up {
			return
		}
		up = true
		again := ""
		if d.off || d.lastErr != "" {
			again = " (again)"
		}
		d.s.log.Info("drop metrics: subscribed to the net events"+again+"; counting the sandbox accounts' drops",
			setup.Event(setup.EventOther))
		d.off, d.lastErr = false, ""
	}
	grace := time.NewTimer(min(time.Second, d.retry))
	defer grace.Stop()
	tick := time.NewTicker(d.retry)
	defer tick.Stop()
	for {
		select {
		case <-grace.C:
			established()
		case r := <-raws:
			established()
			if err := d.count(ctx, r); err != nil {
				cancel()
				<-done
				return err
			}
		case err := <-done:
			if ctx.Err() != nil {
				return nil
			}
			if err == nil {
				err = errors.New("the net event subscription ended")
			}
			return fmt.Errorf("subscribe to the net events: %w", err)
		case <-tick.C:
			d.flushDebug()
			if n := d.lost.Swap(0); n > 0 {
				d.s.log.Warn(fmt.Sprintf("drop metrics: %d net event(s) not counted: they arrived faster than they could be looked up", n),
					setup.Event(setup.EventOther))
			}
			// Collection may have been switched off since: the subscription then
			// stays open and silent.
			if err := probe(src); err != nil {
				cancel()
				<-done
				return err
			}
		}
	}
}

// count decodes one delivered event and counts it when it is a sandbox account's
// drop (see the file comment). An error means the lookups keep failing.
func (d *dropCounter) count(ctx context.Context, r events.Raw) error {
	e := events.Decode(r)
	if e.Type != "CLASSIFY_DROP" {
		return nil
	}
	if e.FilterID == nil {
		if d.debugOK() {
			d.s.log.Debug("drop metrics: a drop without a filter ID is not counted", "notes", e.Notes)
		}
		return nil
	}
	id := *e.FilterID
	rule, sid := telemetry.RuleOther, e.SID
	if !d.gone[id] {
		if !d.seen[id] && len(d.seen) >= maxCachedIDs {
			d.reset()
		}
		d.res.Resolve(&e)
		switch {
		case e.FilterGone():
			// The filters changed (a reinstall gives new IDs): every cached ID may be
			// stale. The gone ID stays gone.
			d.reset()
			if len(d.gone) >= maxCachedIDs {
				clear(d.gone)
			}
			d.gone[id] = true
		case e.Filter == nil:
			// The lookup failed (not "not found"): do not keep the failure.
			d.res.Reset()
			clear(d.seen)
			d.failures++
			d.s.log.Debug("drop metrics: filter lookup failed; the drop is not counted", "filterId", id, "notes", e.Notes)
			if d.failures >= maxLookupFailures {
				return fmt.Errorf("%d filter lookups failed in a row (%v)", d.failures, e.Notes)
			}
			return nil
		default:
			d.seen[id] = true
			if e.Ours && e.Filter.Rule != "" {
				rule, sid = e.Filter.Rule, e.Filter.SID
			}
		}
	}
	d.failures = 0
	a := d.account(sid)
	if rule == telemetry.RuleOther && !a.recorded {
		return nil // another account's drop by another provider's filter: not ours to count
	}
	d.s.cfg.Metrics.Drops(ctx, telemetry.Drop{Account: a.name, Rule: rule, Layer: e.Layer, Direction: e.Direction}, 1)
	if d.debugOK() {
		d.s.log.Debug("drop metrics: drop counted", "sid", sid, "rule", rule, "layer", e.Layer, "direction", e.Direction, "filterId", id)
	}
	return nil
}

// debugOK says whether one more per-event debug record fits this interval's budget
// (dropDebugRecords); when it does not, the event is summed for flushDebug.
func (d *dropCounter) debugOK() bool {
	if d.debugged < dropDebugRecords {
		d.debugged++
		return true
	}
	d.unlogged++
	return false
}

// flushDebug ends a DropRetry interval: one record for the events it did not log one
// by one, and a new budget.
func (d *dropCounter) flushDebug() {
	if d.unlogged > 0 {
		d.s.log.Debug(fmt.Sprintf("drop metrics: %d more net event(s) handled without a record each (at most %d per %s)",
			d.unlogged, dropDebugRecords, d.retry))
	}
	d.debugged, d.unlogged = 0, 0
}

// reset drops the cached filter lookups and account names.
func (d *dropCounter) reset() {
	d.res.Reset()
	clear(d.seen)
	clear(d.accounts)
}

// account is sid's name as its record gives it, and whether it has one; cached for
// accountTTL.
func (d *dropCounter) account(sid string) dropAccount {
	if sid == "" {
		return dropAccount{}
	}
	now := d.s.cfg.Now()
	if a, ok := d.accounts[sid]; ok && now.Sub(a.at) < accountTTL && !now.Before(a.at) {
		return a
	}
	a := dropAccount{name: sid, at: now}
	rec, err := state.Read(d.s.cfg.StateDir, sid)
	var corrupt *state.CorruptError
	switch {
	case err == nil:
		a.name, a.recorded = accountName(rec), true
	case errors.As(err, &corrupt):
		a.recorded = true // an unusable record is still a sandbox account's: named by its SID
	}
	if len(d.accounts) >= maxCachedIDs {
		clear(d.accounts)
	}
	d.accounts[sid] = a
	return a
}
