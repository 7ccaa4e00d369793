package service

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// sharedHost is a host whose sessions are all opened on one in-memory BFE, so that they
// see each other's change notifications (as every session of the one real BFE does).
func sharedHost(t *testing.T) *host {
	t.Helper()
	h := newHost(t)
	h.bfe = memengine.NewBFE()
	return h
}

// runService starts s.Run and stops it at the end of the test.
func runService(t *testing.T, s *Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func within(t *testing.T, d time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func (h *host) opensCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.opens
}

// passes counts the converge passes logged for sid.
func (h *host) passes(sid string) int {
	return strings.Count(h.log.String(), `"msg":"converge","sid":"`+sid+`"`)
}

// statusNotifications asks s for sid's status and returns what it says of notifications.
func statusNotifications(t *testing.T, s *Service, sid string) bool {
	t.Helper()
	r := s.Handle(context.Background(), system, request(t, statusReq(sid)))
	if !r.OK || r.Status == nil {
		t.Fatalf("status: %+v", r.Error)
	}
	return r.Status.Notifications
}

// TestNotificationRepairsLongBeforeThePoll: with an hour's poll, a filter deleted by
// another session is put back within a second, so the notification did it.
func TestNotificationRepairsLongBeforeThePoll(t *testing.T) {
	h := sharedHost(t)
	h.setup(sidStrict, policy.Strict, 3128)
	s := h.service(func(c *Config) { c.Poll = time.Hour })
	runService(t, s)
	within(t, 5*time.Second, "first pass and subscription", func() bool { return h.passes(sidStrict) == 1 && s.Notifications() })
	if r := h.log.records(t, setup.EventServiceNotifications); len(r) != 1 || r[0]["level"] != "INFO" {
		t.Errorf("notification records %v", r)
	}
	if !statusNotifications(t, s, sidStrict) {
		t.Error("status says notifications are off")
	}
	h.tamper(sidStrict, "strict-block-connect-v4")
	took := within(t, 5*time.Second, "repair on notification", func() bool { return h.verify(sidStrict).Compliant })
	t.Logf("repaired %s after the delete", took)
	if took > 2*time.Second {
		t.Errorf("repair took %s: the notification should trigger a pass after %s", took, DefaultNotifyDelay)
	}
	// The record is logged just after the commit that made the policy compliant.
	within(t, time.Second, "the repair logged", func() bool { return len(h.log.records(t, setup.EventServiceRepaired)) == 1 })
}

// TestNotificationsDoNotLoop: the repair's own writes notify the service (its repair
// session is not the subscription's), which causes one more pass; that pass finds the
// policy current and writes nothing, so nothing follows.
func TestNotificationsDoNotLoop(t *testing.T) {
	h := sharedHost(t)
	h.setup(sidStrict, policy.Strict, 3128)
	h.setup(sidBaseline, policy.Baseline)
	s := h.service(func(c *Config) { c.Poll = time.Hour; c.NotifyDelay = 20 * time.Millisecond })
	runService(t, s)
	within(t, 5*time.Second, "first pass", func() bool { return h.passes(sidStrict) == 1 && s.Notifications() })
	commits := h.commitCount()
	h.tamper(sidStrict, "dns-v4")
	h.tamper(sidStrict, "dns-v6")
	within(t, 5*time.Second, "repair", func() bool { return h.verify(sidStrict).Compliant })
	time.Sleep(500 * time.Millisecond) // 25 notify delays: any loop would have run by now
	opens, passes := h.opensCount(), h.passes(sidStrict)
	time.Sleep(500 * time.Millisecond)
	if h.opensCount() != opens || h.passes(sidStrict) != passes {
		t.Fatalf("still converging: %d → %d opens, %d → %d passes", opens, h.opensCount(), passes, h.passes(sidStrict))
	}
	// The start pass, the one (or, if the two deletes were told apart, two) the deletes
	// caused, and at most one more for the repair's own adds.
	if passes > 4 {
		t.Errorf("%d passes for one tamper", passes)
	}
	if got := h.commitCount() - commits; got != 1 {
		t.Errorf("%d commits after the tamper, want the repair's one", got)
	}
	if n := len(h.log.records(t, setup.EventServiceRepaired)); n != 1 {
		t.Errorf("%d repairs logged, want 1", n)
	}
}

// TestSubscriptionFailureFallsBackToThePoll: a refused subscription is logged once
// (event 125, warning), the poll still repairs, and the next poll subscribes again.
func TestSubscriptionFailureFallsBackToThePoll(t *testing.T) {
	h := sharedHost(t)
	h.setup(sidBaseline, policy.Baseline)
	var refuse atomic.Bool
	refuse.Store(true)
	var attempts atomic.Int32
	h.fault = func(c memengine.Call) error {
		if c.Name == "FwpmFilterSubscribeChanges0" {
			attempts.Add(1)
			if refuse.Load() {
				return wfp.ErrAccessDenied
			}
		}
		return nil
	}
	s := h.service(func(c *Config) { c.Poll = setup.MinServicePoll })
	runService(t, s)
	within(t, 5*time.Second, "the refusal logged", func() bool { return len(h.log.records(t, setup.EventServiceNotifications)) == 1 })
	if r := h.log.records(t, setup.EventServiceNotifications)[0]; r["level"] != "WARN" || !strings.Contains(r["msg"].(string), "ERROR_ACCESS_DENIED") {
		t.Errorf("record %v", r)
	}
	if s.Notifications() || statusNotifications(t, s, sidBaseline) {
		t.Error("notifications said on with the subscription refused")
	}
	h.tamper(sidBaseline, "smb-v4")
	within(t, 4*time.Second, "repair by the poll", func() bool { return h.verify(sidBaseline).Compliant })
	within(t, 4*time.Second, "a retry at the next poll", func() bool { return attempts.Load() >= 3 })
	if n := len(h.log.records(t, setup.EventServiceNotifications)); n != 1 {
		t.Errorf("the refusal was logged %d times, want once", n)
	}
	refuse.Store(false)
	within(t, 4*time.Second, "subscribed at a later poll", s.Notifications)
	r := h.log.records(t, setup.EventServiceNotifications)
	if last := r[len(r)-1]; last["level"] != "INFO" {
		t.Errorf("after subscribing: %v", last)
	}
}

// TestSubscriptionSessionDeathIsNoticed: the BFE restarts, the subscription's session
// is aborted (no more notifications); the next poll notices, logs it and subscribes
// on a new session, which notifications reach again.
func TestSubscriptionSessionDeathIsNoticed(t *testing.T) {
	h := sharedHost(t)
	h.setup(sidBaseline, policy.Baseline)
	s := h.service(func(c *Config) { c.Poll = setup.MinServicePoll })
	runService(t, s)
	within(t, 5*time.Second, "subscribed", s.Notifications)
	if err := h.bfe.Restart(); err != nil {
		t.Fatal(err)
	}
	within(t, 4*time.Second, "the dead session logged", func() bool {
		for _, r := range h.log.records(t, setup.EventServiceNotifications) {
			if r["level"] == "WARN" && strings.Contains(r["msg"].(string), "FWP_E_SESSION_ABORTED") {
				return true
			}
		}
		return false
	})
	within(t, 4*time.Second, "subscribed again", func() bool {
		n := 0
		for _, r := range h.log.records(t, setup.EventServiceNotifications) {
			if r["level"] == "INFO" {
				n++
			}
		}
		return n == 2 && s.Notifications()
	})
}

// TestEngineWithoutNotifications: an engine that is no wfp.ChangeSubscriber, or one
// that answers wfp.ErrChangesUnsupported (memengine's file-backed host), is said so
// once; the service polls.
func TestEngineWithoutNotifications(t *testing.T) {
	h := newHost(t)
	h.setup(sidBaseline, policy.Baseline)
	s := h.service(func(c *Config) {
		c.Poll = time.Hour
		c.Open = func() (wfp.Engine, error) {
			e, err := h.open()
			return struct{ wfp.Engine }{e}, err
		}
	})
	runService(t, s)
	within(t, 5*time.Second, "first pass", func() bool { return h.passes(sidBaseline) == 1 })
	r := h.log.records(t, setup.EventServiceNotifications)
	if len(r) != 1 || !strings.Contains(r[0]["msg"].(string), "no change notifications") || s.Notifications() {
		t.Errorf("records %v, Notifications %v", r, s.Notifications())
	}
}

func TestFileHostHasNoNotifications(t *testing.T) {
	h := newHost(t) // file-backed: each session opens the file, as separate processes would
	h.setup(sidBaseline, policy.Baseline)
	s := h.service(func(c *Config) { c.Poll = setup.MinServicePoll })
	runService(t, s)
	within(t, 5*time.Second, "two polls", func() bool { return h.passes(sidBaseline) >= 3 })
	r := h.log.records(t, setup.EventServiceNotifications)
	if len(r) != 1 || r[0]["level"] != "INFO" || !strings.Contains(r[0]["msg"].(string), "not available") || s.Notifications() {
		t.Errorf("records %v, Notifications %v", r, s.Notifications())
	}
}
