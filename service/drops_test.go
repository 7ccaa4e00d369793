package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/events"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/telemetry"
	"github.com/wfpsandbox/wfpsandbox/telemetry/otlptest"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// fakeNetLog is a net event log: Enum (the collection probe) answers enumErr,
// Subscribe answers subErr or delivers what the test sends until its context ends.
type fakeNetLog struct {
	filters events.Filters
	ch      chan events.Raw

	mu      sync.Mutex
	enumErr error
	subErr  error
	opens   int
	enums   int
	subs    int
	active  int // subscriptions delivering now
}

func newFakeNetLog(f events.Filters) *fakeNetLog {
	return &fakeNetLog{filters: f, ch: make(chan events.Raw)}
}

func (f *fakeNetLog) open() (events.Source, events.Filters, io.Closer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opens++
	return f, f.filters, nil, nil
}

func (f *fakeNetLog) Enum(time.Time) ([]events.Raw, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enums++
	return nil, f.enumErr
}

func (f *fakeNetLog) Subscribe(ctx context.Context, fn func(events.Raw)) error {
	f.mu.Lock()
	f.subs++
	err := f.subErr
	if err == nil {
		f.active++
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	defer func() {
		f.mu.Lock()
		f.active--
		f.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-f.ch:
			fn(r)
		}
	}
}

func (f *fakeNetLog) set(enumErr, subErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.enumErr, f.subErr = enumErr, subErr
}

func (f *fakeNetLog) counts() (opens, enums, subs, active int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.opens, f.enums, f.subs, f.active
}

// send delivers r through the subscription (waiting for one to be active).
func (f *fakeNetLog) send(t *testing.T, r events.Raw) {
	t.Helper()
	select {
	case f.ch <- r:
	case <-time.After(10 * time.Second):
		t.Fatal("no subscription took the event within 10 s")
	}
}

// countingFilters counts FilterByID calls and fails the next fail of them.
type countingFilters struct {
	f events.Filters

	mu    sync.Mutex
	calls int
	fail  int
}

func (c *countingFilters) FilterByID(id uint64) (*wfp.Filter, error) {
	c.mu.Lock()
	c.calls++
	fail := c.fail > 0
	if fail {
		c.fail--
	}
	c.mu.Unlock()
	if fail {
		return nil, &wfp.CallError{Call: "FwpmFilterGetById0", Code: wfp.ErrRPCServerUnavailable}
	}
	return c.f.FilterByID(id)
}

func (c *countingFilters) Provider(key wfp.GUID) (*wfp.Provider, error) { return c.f.Provider(key) }

func (c *countingFilters) lookups() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

var contoso = wfp.MustParseGUID("0f0e0d0c-0b0a-4908-8706-050403020100")

// addForeign adds another provider's block filter and returns its ID.
func (h *host) addForeign() uint64 {
	h.t.Helper()
	s := h.session()
	if err := s.AddProvider(&wfp.Provider{Key: contoso, Name: "Contoso Firewall"}); err != nil {
		h.t.Fatal(err)
	}
	pk := contoso
	id, err := s.AddFilter(&wfp.Filter{
		Key: wfp.MustParseGUID("1a2b3c4d-0000-4000-8000-000000000001"), Name: "Contoso: block all outbound",
		ProviderKey: &pk, Layer: wfp.LayerALEAuthConnectV4, Sublayer: wfp.MustParseGUID("eebecc03-ced4-4380-819a-2734397b2b74"),
		Action: wfp.Action{Type: wfp.ActionBlock},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// filterID is the run-time ID of sid's rule filter.
func (h *host) filterID(sid, rule string) uint64 {
	h.t.Helper()
	f := h.filters()[policy.FilterKey(sid, rule)]
	if f == nil {
		h.t.Fatalf("no filter %s of %s", rule, sid)
	}
	return f.ID
}

// dropEvent is a CLASSIFY_DROP1 of a connect by sid at ALE_AUTH_CONNECT_V4 (layer 48),
// outbound, by the filter with run-time ID id.
func dropEvent(t *testing.T, id uint64, sid string) events.Raw {
	t.Helper()
	s, err := account.ParseSID(sid)
	if err != nil {
		t.Fatal(err)
	}
	return events.Raw{
		Version: 1, TimeStamp: wfp.ToFileTime(time.Now()), Type: wfp.NetEventTypeClassifyDrop,
		Flags:      wfp.NetEventFlagUserIDSet | wfp.NetEventFlagIPProtocolSet | wfp.NetEventFlagIPVersionSet | wfp.NetEventFlagRemoteAddrSet,
		IPProtocol: 17, RemoteAddr: [16]byte{9, 9, 9, 9}, UserID: s.Bytes(),
		Drop: &events.RawDrop{Version: 1, FilterID: id, LayerID: 48, Direction: wfp.NetEventDirectionOut},
	}
}

// dropRun is a Service.Run with drop metrics on, its metrics sent to a local receiver.
type dropRun struct {
	h      *host
	rcv    *otlptest.Receiver
	m      *telemetry.Metrics
	log    *fakeNetLog
	cancel context.CancelFunc
	done   chan error
}

func startDropRun(t *testing.T, h *host, log *fakeNetLog, analytics bool, mod func(*Config)) *dropRun {
	t.Helper()
	rcv := otlptest.New(t, 0)
	rcv.Point(t)
	m, err := telemetry.Start(context.Background(), telemetry.Config{Enabled: analytics, ServiceVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	s := h.service(func(c *Config) {
		c.Metrics, c.Events, c.DropMetrics, c.Poll, c.DropRetry = m, log.open, true, time.Hour, 20*time.Millisecond
		if mod != nil {
			mod(c)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	r := &dropRun{h: h, rcv: rcv, m: m, log: log, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends Run (which waits for the drop counter) and sends the metrics.
func (r *dropRun) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of its context's end")
	}
	if err := r.m.Close(context.Background()); err != nil {
		t.Errorf("metrics: %v", err)
	}
}

// waitLog waits until n log records contain text.
func (r *dropRun) waitLog(t *testing.T, text string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(r.h.log.String(), text) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d log records with %q after 10 s, want %d:\n%s", strings.Count(r.h.log.String(), text), text, n, r.h.log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const counted = "drop metrics: drop counted"

// warnings counts the WARN records whose message contains text.
func warnings(h *host, text string) int {
	n := 0
	for _, line := range strings.Split(h.log.String(), "\n") {
		if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, text) {
			n++
		}
	}
	return n
}

type dropKey struct{ account, rule, layer, direction string }

// drops returns the wfpsandbox.drops sums the receiver got, per attribute set.
func (r *dropRun) drops(t *testing.T) map[dropKey]int64 {
	t.Helper()
	out := map[dropKey]int64{}
	m := r.rcv.Metrics(t)[telemetry.MetricDrops]
	if m == nil {
		return out
	}
	if !m.GetSum().GetIsMonotonic() {
		t.Errorf("%s is not a monotonic counter", telemetry.MetricDrops)
	}
	for _, p := range m.GetSum().GetDataPoints() {
		a := otlptest.Attrs(p.GetAttributes())
		out[dropKey{a[telemetry.AttrAccount].GetStringValue(), a[telemetry.AttrRule].GetStringValue(),
			a[telemetry.AttrLayer].GetStringValue(), a[telemetry.AttrDirection].GetStringValue()}] += p.GetAsInt()
	}
	return out
}

func wantDrops(t *testing.T, got, want map[dropKey]int64) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n got %v\nwant %v", telemetry.MetricDrops, got, want)
	}
}

// TestDropMetricsPerAccountAndRule: drops by our filters count for the filter's account
// and rule; drops by another provider's filter count once per sandbox account as
// "other", and not at all for an account without a record; drops without a filter
// and other event types are not counted; a burst by one filter costs one lookup.
func TestDropMetricsPerAccountAndRule(t *testing.T) {
	h := newHost(t)
	h.setup(sidStrict, policy.Strict, 3128)
	h.setup(sidBaseline, policy.Baseline)
	foreign := h.addForeign()
	filters := &countingFilters{f: h.session()}
	log := newFakeNetLog(filters)
	r := startDropRun(t, h, log, true, nil)

	strictBlock := h.filterID(sidStrict, "strict-block-connect-v4")
	dns := h.filterID(sidBaseline, "dns-v4")
	noFilter := dropEvent(t, dns, sidBaseline)
	noFilter.Drop = nil
	allow := dropEvent(t, dns, sidBaseline)
	allow.Type = 6 // CLASSIFY_ALLOW
	for _, e := range []events.Raw{
		dropEvent(t, foreign, sidStranger), // another account, another provider: not counted
		noFilter, allow,
		dropEvent(t, strictBlock, sidStrict),
		dropEvent(t, strictBlock, sidStrict),
		dropEvent(t, dns, sidStranger), // the event's user does not matter: the filter's account does
		dropEvent(t, foreign, sidBaseline),
	} {
		log.send(t, e)
	}
	r.waitLog(t, counted, 4)
	if n := filters.lookups(); n != 3 {
		t.Errorf("%d filter lookups for 3 distinct filter IDs (two twice), want 3", n)
	}
	r.stop(t)
	wantDrops(t, r.drops(t), map[dropKey]int64{
		{sidStrict, "strict-block-connect-v4", "ALE_AUTH_CONNECT_V4", "out"}: 2,
		{sidBaseline, "dns-v4", "ALE_AUTH_CONNECT_V4", "out"}:                1,
		{sidBaseline, telemetry.RuleOther, "ALE_AUTH_CONNECT_V4", "out"}:     1,
	})
	if strings.Contains(h.log.String(), `"level":"WARN"`) {
		t.Errorf("warnings although everything worked:\n%s", h.log.String())
	}
}

// TestDropMetricsReResolveAfterReinstall: a repair gives the deleted filter a new run-time
// ID; a drop by the old filter delivered after it (never looked up before) finds the ID
// gone, counts as "other" and drops the cache, so the IDs cached before are looked up
// again (run-time IDs are not documented never to be reused); the gone ID is
// remembered; a failed lookup is not cached.
func TestDropMetricsReResolveAfterReinstall(t *testing.T) {
	h := newHost(t)
	h.setup(sidBaseline, policy.Baseline)
	filters := &countingFilters{f: h.session()}
	log := newFakeNetLog(filters)
	r := startDropRun(t, h, log, true, nil)
	oldDNS := h.filterID(sidBaseline, "dns-v4")
	icmp := h.filterID(sidBaseline, "icmp-connect-v4")
	step := func(id uint64, countedSoFar, lookups int) {
		t.Helper()
		log.send(t, dropEvent(t, id, sidBaseline))
		r.waitLog(t, counted, countedSoFar)
		if n := filters.lookups(); n != lookups {
			t.Errorf("after %d counted drops: %d lookups, want %d", countedSoFar, n, lookups)
		}
	}
	step(icmp, 1, 1)
	step(icmp, 2, 1) // cached

	h.tamper(sidBaseline, "dns-v4")
	if o := outcome(t, h.service(nil).ConvergeAll(context.Background()), sidBaseline); o.Action != ActionRepaired {
		t.Fatalf("repair: %+v", o)
	}
	newDNS := h.filterID(sidBaseline, "dns-v4")
	if newDNS == oldDNS {
		t.Fatalf("the reinstalled filter kept its ID %d: the test proves nothing", oldDNS)
	}
	step(oldDNS, 3, 2) // gone: "other", the cache dropped
	step(oldDNS, 4, 2) // a gone ID is remembered
	step(icmp, 5, 3)   // looked up again
	step(newDNS, 6, 4) // the new ID: dns-v4

	filters.mu.Lock()
	filters.fail = 1
	filters.mu.Unlock()
	dot := h.filterID(sidBaseline, "dot-v4")
	log.send(t, dropEvent(t, dot, sidBaseline)) // the lookup fails: not counted, not cached
	step(dot, 7, 6)
	r.stop(t)
	wantDrops(t, r.drops(t), map[dropKey]int64{
		{sidBaseline, "dns-v4", "ALE_AUTH_CONNECT_V4", "out"}:            1,
		{sidBaseline, "dot-v4", "ALE_AUTH_CONNECT_V4", "out"}:            1,
		{sidBaseline, "icmp-connect-v4", "ALE_AUTH_CONNECT_V4", "out"}:   3,
		{sidBaseline, telemetry.RuleOther, "ALE_AUTH_CONNECT_V4", "out"}: 2,
	})
}

// TestDropMetricsCollectionOff: with collection off the service says so once, with
// what to do, never subscribes, and retries; once collection is on it subscribes and
// counts; switched off again, the subscription ends and it says so again. A
// subscription refused as disabled is the same.
func TestDropMetricsCollectionOff(t *testing.T) {
	h := newHost(t)
	h.setup(sidBaseline, policy.Baseline)
	log := newFakeNetLog(h.session())
	disabled := fmt.Errorf("FwpmNetEventCreateEnumHandle0: %w", wfp.ErrNetEventsDisabled)
	log.set(disabled, nil)
	r := startDropRun(t, h, log, true, nil)
	const help = "netsh wfp set options netevents=on"
	deadline := time.Now().Add(10 * time.Second)
	for {
		if opens, _, _, _ := log.counts(); opens >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log was not reopened every 20 ms:\n%s", h.log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := warnings(h, help); n != 1 {
		t.Errorf("the collection-off help was logged %d times in 5 attempts, want once:\n%s", n, h.log.String())
	}
	if _, _, subs, _ := log.counts(); subs != 0 {
		t.Errorf("%d subscriptions while collection is off", subs)
	}

	log.set(nil, nil) // the operator turned it on
	r.waitLog(t, "subscribed to the net events (again)", 1)
	log.send(t, dropEvent(t, h.filterID(sidBaseline, "dns-v4"), sidBaseline))
	r.waitLog(t, counted, 1)

	log.set(disabled, nil) // and off again: the periodic probe notices
	r.waitLog(t, help, 2)
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, _, _, active := log.counts(); active == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the subscription stayed open after collection was switched off")
		}
		time.Sleep(5 * time.Millisecond)
	}

	log.set(nil, &wfp.CallError{Call: "FwpmNetEventSubscribe4", Code: wfp.ErrNetEventsDisabled})
	time.Sleep(200 * time.Millisecond) // ten retries
	if n := warnings(h, help); n != 2 {
		t.Errorf("a refused subscription: the help was logged %d times, want still 2 (the same episode):\n%s", n, h.log.String())
	}
	r.stop(t)
	wantDrops(t, r.drops(t), map[dropKey]int64{{sidBaseline, "dns-v4", "ALE_AUTH_CONNECT_V4", "out"}: 1})
	for _, rec := range h.log.records(t, 199) {
		if msg, _ := rec["msg"].(string); strings.Contains(msg, help) && rec["code"] != "FWP_E_NET_EVENTS_DISABLED" {
			t.Errorf("the collection-off record does not carry the code: %v", rec)
		}
	}
}

// TestDropMetricsOff: without drop_metrics nothing is opened or subscribed; with it but
// analytics off, neither, and the log says why once.
func TestDropMetricsOff(t *testing.T) {
	for _, c := range []struct {
		name      string
		option    bool
		analytics bool
		warn      string
	}{
		{"option off", false, true, ""},
		{"analytics off", true, false, "drop_metrics = true needs analytics on"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t)
			h.setup(sidBaseline, policy.Baseline)
			log := newFakeNetLog(h.session())
			r := startDropRun(t, h, log, c.analytics, func(cfg *Config) { cfg.DropMetrics = c.option })
			r.waitLog(t, `"msg":"converge"`, 1) // Run has passed the point where the counter starts
			time.Sleep(100 * time.Millisecond)  // five retry intervals
			r.stop(t)
			if opens, enums, subs, _ := log.counts(); opens+enums+subs != 0 {
				t.Errorf("opened the log %d times, probed %d, subscribed %d; want none", opens, enums, subs)
			}
			if c.warn != "" {
				if n := warnings(h, c.warn); n != 1 {
					t.Errorf("%q logged %d times, want once:\n%s", c.warn, n, h.log.String())
				}
			} else if strings.Contains(h.log.String(), "drop metrics") {
				t.Errorf("drop metrics mentioned although off:\n%s", h.log.String())
			}
			if got := r.drops(t); len(got) != 0 {
				t.Errorf("%s sent: %v", telemetry.MetricDrops, got)
			}
		})
	}
}

// TestDropMetricsOpenFailureLoggedOnce: an event log that cannot be opened (no net
// event log on a simulated host) is logged once and retried.
func TestDropMetricsOpenFailureLoggedOnce(t *testing.T) {
	h := newHost(t)
	opens := 0
	var mu sync.Mutex
	r := startDropRun(t, h, newFakeNetLog(nil), true, func(c *Config) {
		c.Events = func() (events.Source, events.Filters, io.Closer, error) {
			mu.Lock()
			defer mu.Unlock()
			opens++
			return nil, nil, nil, errors.New("a simulated host has no net event log")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := opens
		mu.Unlock()
		if n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not retried")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.stop(t)
	if n := warnings(h, "no net event log"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, h.log.String())
	}
}

// TestDropMetricsFloodDoesNotFloodTheLog: a sandboxed process can cause drops as fast
// as it can send, and the log file takes debug records whatever the level: a record
// per drop would rotate the service's history out of its 4 MiB in seconds. Every drop
// is counted, and at most dropDebugRecords per interval get a record of their own;
// the rest are summed in one record per interval.
func TestDropMetricsFloodDoesNotFloodTheLog(t *testing.T) {
	h := newHost(t)
	h.setup(sidBaseline, policy.Baseline)
	log := newFakeNetLog(h.session())
	r := startDropRun(t, h, log, true, func(c *Config) { c.DropRetry = 300 * time.Millisecond })
	const flood = 1000
	dns := h.filterID(sidBaseline, "dns-v4")
	for range flood {
		log.send(t, dropEvent(t, dns, sidBaseline))
	}
	summed := regexp.MustCompile(`drop metrics: (\d+) more net event\(s\) handled`)
	handled := func() (each, total int) {
		s := h.log.String()
		each = strings.Count(s, counted)
		total = each
		for _, m := range summed.FindAllStringSubmatch(s, -1) {
			n, _ := strconv.Atoi(m[1])
			total += n
		}
		return each, total
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, total := handled(); total >= flood {
			break
		}
		if time.Now().After(deadline) {
			each, total := handled()
			t.Fatalf("%d drops logged one by one, %d in all, after 20 s; want %d", each, total, flood)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if each, _ := handled(); each > flood/10 {
		t.Errorf("%d of %d drops logged one by one", each, flood)
	}
	r.stop(t)
	wantDrops(t, r.drops(t), map[dropKey]int64{{sidBaseline, "dns-v4", "ALE_AUTH_CONNECT_V4", "out"}: flood})
}

// blockingFilters blocks every FilterByID until release is closed.
type blockingFilters struct {
	events.Filters
	release chan struct{}
}

func (b *blockingFilters) FilterByID(id uint64) (*wfp.Filter, error) {
	<-b.release
	return b.Filters.FilterByID(id)
}

// TestDropMetricsQueueHoldsNoAppPaths: while the counter waits (a slow filter
// lookup), delivered events wait in its queue; each can carry a 64 KiB application
// path (a process started from a long path), which the counter never uses. The queue
// keeps the events without them: 1024 such events cost far less than 64 MiB.
func TestDropMetricsQueueHoldsNoAppPaths(t *testing.T) {
	h := newHost(t)
	h.setup(sidBaseline, policy.Baseline)
	filters := &blockingFilters{Filters: h.session(), release: make(chan struct{})}
	log := newFakeNetLog(filters)
	r := startDropRun(t, h, log, true, func(c *Config) { c.DropRetry = time.Hour })
	dns := h.filterID(sidBaseline, "dns-v4")
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n, appLen = 1024, 1 << 16
	for range n {
		e := dropEvent(t, dns, sidBaseline)
		e.Flags |= wfp.NetEventFlagAppIDSet
		e.AppID = make([]byte, appLen) // each event its own copy, as winengine's callback makes
		log.send(t, e)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	close(filters.release)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > n*appLen/4 {
		t.Errorf("%d queued events hold %d MiB", n, grown>>20)
	}
	r.waitLog(t, counted, dropDebugRecords)
	r.stop(t)
}
