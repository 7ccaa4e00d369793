package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wfpsandbox/wfpsandbox/events"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/telemetry"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// EventLog opens the net event log for an events request: the source of events and
// the engine to resolve their filters with, and what to close afterwards.
type EventLog func() (events.Source, events.Filters, io.Closer, error)

// Defaults of Config.
const (
	DefaultRepairBurst    = 3
	DefaultRepairEvery    = time.Minute
	DefaultRequestTimeout = 30 * time.Second
)

// Config configures a Service.
type Config struct {
	// StateDir holds the records and config.toml (required).
	StateDir string
	// Open opens the WFP engine (required).
	Open setup.Opener
	// Events opens the net event log; nil makes events requests CodeUnavailable.
	Events EventLog
	// Logger receives the service's records (tagged with the setup.EventService* IDs).
	Logger *slog.Logger
	// Metrics counts repairs (nil: not counted).
	Metrics *telemetry.Metrics
	// DropMetrics counts the sandbox accounts' drops from the net events in Metrics
	// (config.toml [service] drop_metrics; needs Events and an enabled Metrics; see
	// drops.go). DropRetry is how often a failed subscription (collection off) is
	// retried (DefaultDropRetry when zero).
	DropMetrics bool
	DropRetry   time.Duration
	// Poll is the interval between checks of every account
	// (setup.DefaultServicePoll when zero; at least setup.MinServicePoll).
	Poll time.Duration
	// Callers are the SIDs besides SYSTEM and Administrators that may ask for status
	// and set-proxy-ports (config.toml [service] callers).
	Callers []string
	// RepairBurst and RepairEvery rate-limit repairs per account: at most RepairBurst
	// at once, then one per RepairEvery (DefaultRepairBurst, DefaultRepairEvery).
	RepairBurst int
	RepairEvery time.Duration
	// RequestTimeout bounds one request (DefaultRequestTimeout).
	RequestTimeout time.Duration
	// NotifyDelay is the wait after a WFP change notification before converging
	// (DefaultNotifyDelay; see notify.go).
	NotifyDelay time.Duration

	// ToolVersion is what set-proxy-ports and a rerun setup record (the build's when empty).
	ToolVersion string
	// Resolve and Now replace account.Resolve and time.Now (tests).
	Resolve setup.Resolver
	Now     func() time.Time
}

// Service is the service's core: the converge loop and the request handler. Its
// engine work (a converge pass, one request) runs one at a time.
type Service struct {
	cfg    Config
	log    *slog.Logger
	lim    *limiter
	sem    chan struct{}
	notify chan struct{}
	// notifying: Run holds a live WFP change subscription (notify.go).
	notifying atomic.Bool
	// failing holds, per account SID ("" for the records' listing), the failure last
	// logged at Error by a converge pass, so that one that persists is logged once
	// (noteFailure); used under sem only.
	failing map[string]string
	// refusals bounds the records of refused requests; pipeDebug the pipe's debug
	// records of a connection (logBudget).
	refusals, pipeDebug *logBudget
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("service: no state directory")
	}
	if cfg.Open == nil {
		return nil, errors.New("service: no WFP engine")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Poll == 0 {
		cfg.Poll = setup.DefaultServicePoll
	}
	if cfg.Poll < setup.MinServicePoll {
		return nil, fmt.Errorf("service: poll %s is shorter than %s", cfg.Poll, setup.MinServicePoll)
	}
	if cfg.RepairBurst <= 0 {
		cfg.RepairBurst = DefaultRepairBurst
	}
	if cfg.RepairEvery <= 0 {
		cfg.RepairEvery = DefaultRepairEvery
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.NotifyDelay <= 0 {
		cfg.NotifyDelay = DefaultNotifyDelay
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{
		cfg: cfg, log: cfg.Logger, lim: newLimiter(cfg.RepairBurst, cfg.RepairEvery),
		sem: make(chan struct{}, 1), notify: make(chan struct{}, 1), failing: map[string]string{},
		refusals:  newLogBudget(requestRecords, requestRecordsWindow),
		pipeDebug: newLogBudget(requestRecords, requestRecordsWindow),
	}, nil
}

// FromConfig returns the Poll and Callers of the state directory's config.toml.
func FromConfig(stateDir string) (poll time.Duration, callers []string, err error) {
	c, err := setup.LoadConfig(setup.ConfigPath(stateDir))
	if err != nil {
		return 0, nil, err
	}
	return c.Service.PollInterval(), c.Service.Callers, nil
}

// Notify asks for a converge pass now (a WFP change notification, a new record). It
// never blocks: notifications that arrive while one is pending are merged.
func (s *Service) Notify() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Run converges every account at once, then whenever Notify is called and every
// Poll, until ctx is done. When the engine offers change notifications
// (wfp.ChangeSubscriber) Run keeps a session subscribed to the wfpsandbox provider's
// objects and converges NotifyDelay after each change; when it cannot subscribe, or
// the subscription's session dies, it logs it (setup.EventServiceNotifications),
// converges on the poll and tries again at every poll.
func (s *Service) Run(ctx context.Context) error {
	s.log.Info("wfpsandbox service running", setup.Event(setup.EventServiceState),
		"poll", s.cfg.Poll.String(), "stateDir", s.cfg.StateDir, "callers", len(s.cfg.Callers))
	defer s.startDropMetrics(ctx)()
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	w := &watcher{s: s}
	defer w.close()
	w.ensure()
	for {
		s.ConvergeAll(ctx)
		select {
		case <-ctx.Done():
		case <-t.C:
			w.ensure()
		case <-s.notify:
			s.settle(ctx)
		}
		if ctx.Err() != nil {
			s.log.Info("wfpsandbox service stopping", setup.Event(setup.EventServiceState))
			return nil
		}
	}
}

// Action is what a converge pass did for one account.
type Action string

// Actions.
const (
	ActionCurrent   Action = "current"   // the live policy is the record's plan
	ActionRepaired  Action = "repaired"  // it was not; Install made it so
	ActionSetup     Action = "setup"     // the record needed a full setup (new version, failed WFP step); setup.Run ran
	ActionThrottled Action = "throttled" // it was not, but the account's repair budget is spent
	ActionSkipped   Action = "skipped"   // the record is unusable: only setup can act on it
	ActionFailed    Action = "failed"    // the check or the repair failed; nothing changed
)

// Outcome is one account's result of a converge pass.
type Outcome struct {
	SID     string             `json:"sid"`
	Action  Action             `json:"action"`
	Changes []reconcile.Change `json:"changes,omitempty"`
	Error   string             `json:"error,omitempty"`
}

// ConvergeAll checks every recorded account and repairs what differs from its
// record's plan (see Outcome). It waits for a request in progress to finish.
func (s *Service) ConvergeAll(ctx context.Context) []Outcome {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil
	}
	defer func() { <-s.sem }()
	ents, err := state.List(s.cfg.StateDir)
	if err != nil {
		s.noteFailure("", "cannot list the setup records: "+err.Error(), setup.Event(setup.EventServiceRepairFailed))
		return nil
	}
	s.noteSuccess("", "the setup records can be listed again")
	var out []Outcome
	for _, e := range ents {
		o := s.converge(ctx, e)
		s.log.Debug("converge", "sid", o.SID, "action", string(o.Action))
		out = append(out, o)
	}
	return out
}

// noteFailure logs a converge pass's failure for key (an account's SID, "repair "
// and its SID, "" for the listing) at Error the first time, and at Debug while the same failure repeats: a
// pass runs at every poll (as often as every second) and on every change
// notification, and an unreadable state directory or an engine that cannot be opened
// would otherwise fill the Event Log with one identical error per pass.
func (s *Service) noteFailure(key, msg string, attrs ...any) {
	if s.failing[key] == msg {
		s.log.Debug(msg+" (still failing; logged at error level once)", attrs...)
		return
	}
	s.failing[key] = msg
	s.log.Error(msg, attrs...)
}

// noteSuccess ends key's failure episode, saying so when one was logged.
func (s *Service) noteSuccess(key, msg string, attrs ...any) {
	if _, ok := s.failing[key]; !ok {
		return
	}
	delete(s.failing, key)
	s.log.Info(msg, append(attrs, setup.Event(setup.EventServiceState))...)
}

// recordPlan rebuilds the plan a record holds, with the security descriptor of the
// readers it records (setup.PlanOfRecord): what a repair adds is as readable as the
// objects setup added.
func (s *Service) recordPlan(rec *state.Record) (*policy.Plan, error) {
	return setup.PlanOfRecord(s.cfg.StateDir, rec)
}

// needsSetup says why a record is for setup to act on, not a repair: another setup
// version, a plan that no longer builds to the recorded hash, a failed WFP step.
func needsSetup(rec *state.Record, plan *policy.Plan) string {
	switch {
	case rec.SetupVersion != setup.SetupVersion:
		return fmt.Sprintf("recorded by setup version %d, this is %d", rec.SetupVersion, setup.SetupVersion)
	case plan.Hash() != rec.PlanHash:
		return "the recorded plan hash is not what the record's choices build now"
	}
	if st, ok := rec.Step(setup.StepWFP); !ok || st.Status != setup.StatusOK {
		return "the record's WFP step did not succeed"
	}
	return ""
}

func (s *Service) converge(ctx context.Context, e state.Entry) Outcome {
	o := Outcome{SID: e.SID, Action: ActionSkipped}
	if e.Record == nil {
		o.Error = fmt.Sprint(e.Err)
		return o
	}
	rec := e.Record
	plan, err := s.recordPlan(rec)
	if err != nil {
		o.Error = "its plan does not build: " + err.Error()
		return o
	}
	if why := needsSetup(rec, plan); why != "" {
		return s.rerunSetup(ctx, rec, why)
	}
	live, err := s.checkLive(plan)
	if err != nil {
		o.Action, o.Error = ActionFailed, err.Error()
		s.noteFailure(rec.Account.SID, "service: cannot check the policy: "+err.Error(), append(wfpAttrs(err),
			setup.Event(setup.EventServiceRepairFailed), "sid", rec.Account.SID)...)
		return o
	}
	s.noteSuccess(rec.Account.SID, "service: the policy can be checked again", "sid", rec.Account.SID)
	if live.Current {
		o.Action = ActionCurrent
		return o
	}
	if ok, first := s.lim.take(rec.Account.SID, s.cfg.Now()); !ok {
		o.Action = ActionThrottled
		if first {
			s.log.Warn("service: the policy keeps drifting; repairs paused by the rate limit (another tool may be changing it)",
				setup.Event(setup.EventServiceThrottled), "sid", rec.Account.SID, "findings", findingsText(live.Findings),
				"burst", s.cfg.RepairBurst, "every", s.cfg.RepairEvery.String())
		}
		return o
	}
	return s.repair(ctx, rec.Account.SID, live.Findings)
}

// checkLive opens the engine and reads the plan's objects back by key
// (reconcile.CheckLive): a poll's cost does not grow with the host's other filters.
// What it cannot see — another owner's filter overriding a block — reinstalling would
// not fix either; the status request's full verify reports it.
func (s *Service) checkLive(plan *policy.Plan) (*reconcile.LiveResult, error) {
	e, err := s.cfg.Open()
	if err != nil {
		return nil, fmt.Errorf("open WFP engine: %w", err)
	}
	defer e.Close()
	return reconcile.CheckLive(e, plan)
}

// verify opens the engine and verifies plan.
func (s *Service) verify(plan *policy.Plan) (*reconcile.Report, error) {
	e, err := s.cfg.Open()
	if err != nil {
		return nil, fmt.Errorf("open WFP engine: %w", err)
	}
	defer e.Close()
	return reconcile.Verify(e, plan)
}

// repair reinstalls the plan of sid's record, holding setup's lock and with the
// record read again under it: a setup that ran meanwhile chose the plan.
func (s *Service) repair(ctx context.Context, sid string, found []reconcile.Finding) Outcome {
	o := Outcome{SID: sid, Action: ActionFailed}
	fail := func(err error) Outcome {
		o.Error = err.Error()
		s.noteFailure("repair "+sid, "service: repair failed; nothing was changed: "+err.Error(), append(wfpAttrs(err),
			setup.Event(setup.EventServiceRepairFailed), "sid", sid)...)
		return o
	}
	lctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	lock, err := setup.AcquireLock(lctx, s.cfg.StateDir, s.log)
	cancel()
	if err != nil {
		return fail(err)
	}
	defer lock.Release()
	rec, err := state.Read(s.cfg.StateDir, sid)
	if err != nil {
		o.Action, o.Error = ActionSkipped, err.Error()
		return o
	}
	plan, err := s.recordPlan(rec)
	if err != nil {
		return fail(err)
	}
	e, err := s.cfg.Open()
	if err != nil {
		return fail(fmt.Errorf("open WFP engine: %w", err))
	}
	defer e.Close()
	res, err := reconcile.Install(e, plan, reconcile.Options{Logger: s.log})
	if err != nil {
		return fail(err)
	}
	o.Changes = res.Changes
	if res.Writes == 0 {
		// Drift Install cannot fix (a disabled provider or filter): report it; the
		// rate limit keeps this from repeating at every poll.
		o.Error = "drift that reinstalling does not fix: " + findingsText(found)
		s.log.Warn("service: "+o.Error, setup.Event(setup.EventServiceRepairFailed), "sid", sid)
		return o
	}
	o.Action = ActionRepaired
	s.noteSuccess("repair "+sid, "service: repairs work again", "sid", sid)
	what := changeSummary(res.Changes)
	s.log.Warn("service: repaired the wfpsandbox policy", setup.Event(setup.EventServiceRepaired),
		"sid", sid, "account", accountName(rec), "writes", res.Writes, "change", what, "findings", findingsText(found))
	s.cfg.Metrics.PolicyRepaired(ctx, accountName(rec), what)
	return o
}

// rerunSetup runs full setup from the record for an account whose record needs it.
func (s *Service) rerunSetup(ctx context.Context, rec *state.Record, why string) Outcome {
	sid := rec.Account.SID
	o := Outcome{SID: sid, Action: ActionThrottled}
	if ok, first := s.lim.take(sid, s.cfg.Now()); !ok {
		if first {
			s.log.Warn("service: setup needed but paused by the rate limit: "+why, setup.Event(setup.EventServiceThrottled), "sid", sid)
		}
		return o
	}
	s.log.Info("service: running setup from the record: "+why, setup.Event(setup.EventSetupNeeded), "sid", sid)
	rep, err := setup.Run(ctx, s.setupOptions(sid, nil))
	o.Changes = rep.Changes
	switch {
	case err != nil:
		o.Action, o.Error = ActionFailed, err.Error()
	case rep.WFPFailed():
		st, _ := rep.Step(setup.StepWFP)
		o.Action, o.Error = ActionFailed, st.Error
	default:
		o.Action = ActionSetup
		if rep.Writes > 0 {
			s.cfg.Metrics.PolicyRepaired(ctx, accountName(rec), changeSummary(rep.Changes))
		}
	}
	return o
}

// setupOptions are setup.Run's options for sid from its record, with ports, when
// given, replacing the recorded proxy ports.
func (s *Service) setupOptions(sid string, ports []uint16) setup.Options {
	return setup.Options{
		Account: sid, FromRecord: true, ProxyPorts: ports, StateDir: s.cfg.StateDir, Open: s.cfg.Open,
		Logger: s.log, ToolVersion: s.cfg.ToolVersion, Resolve: s.cfg.Resolve, Now: s.cfg.Now,
		LockWait: s.cfg.RequestTimeout,
	}
}

// Handle answers one request from caller: decode and validate it, check that the
// caller may make it, run it within RequestTimeout. It never panics and always
// returns a response.
func (s *Service) Handle(ctx context.Context, caller Caller, data []byte) (resp *Response) {
	req, err := ParseRequest(data)
	if err != nil {
		var re *RequestError
		code := CodeBadRequest
		if errors.As(err, &re) {
			code = re.Code
		}
		s.refused("service: invalid request refused: "+err.Error(), "caller", caller.User)
		return errorResponse("", code, err)
	}
	if !may(caller, req.Op, s.cfg.Callers) {
		s.refused("service: request denied", "caller", caller.User, "op", req.Op, "sid", req.SID)
		return errorResponse(req.Op, CodeDenied, fmt.Errorf("%s: caller %s may not do this: only SYSTEM, Administrators and the SIDs in config.toml [service] callers (status, set-proxy-ports) may", req.Op, orUnknown(caller.User)))
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return errorResponse(req.Op, CodeBusy, fmt.Errorf("%s: the service is busy (a repair or another request); try again", req.Op))
	}
	done := make(chan *Response, 1)
	go func() {
		defer func() { <-s.sem }()
		defer func() {
			if p := recover(); p != nil {
				s.log.Error(fmt.Sprintf("service: request %s panicked: %v\n%s", req.Op, p, debug.Stack()))
				done <- errorResponse(req.Op, CodeInternal, fmt.Errorf("%s: internal error", req.Op))
			}
		}()
		done <- s.dispatch(ctx, caller, req)
	}()
	select {
	case r := <-done:
		return r
	case <-ctx.Done():
		return errorResponse(req.Op, CodeTimeout, fmt.Errorf("%s: not finished within %s; a set-proxy-ports may still complete (one transaction: all or nothing), ask for status", req.Op, s.cfg.RequestTimeout))
	}
}

// refused logs a refused request (a warning, event 123) within the refusals budget:
// a caller looping on bad requests gets 20 records a minute, and the next record
// logged says how many were not.
func (s *Service) refused(msg string, attrs ...any) {
	ok, suppressed := s.refusals.take(s.cfg.Now())
	if !ok {
		return
	}
	if suppressed > 0 {
		attrs = append(attrs, "notLogged", suppressed)
		msg += fmt.Sprintf(" (%d refusal(s) before this one not logged: at most %d a %s)", suppressed, requestRecords, requestRecordsWindow)
	}
	s.log.Warn(msg, append(attrs, setup.Event(setup.EventServiceRequest))...)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unidentified)"
	}
	return s
}

func (s *Service) dispatch(ctx context.Context, caller Caller, req *Request) *Response {
	switch req.Op {
	case OpStatus:
		return s.status(req)
	case OpSetProxyPorts:
		return s.setProxyPorts(ctx, caller, req)
	case OpEvents:
		return s.events(req)
	}
	return errorResponse(req.Op, CodeBadRequest, fmt.Errorf("unknown op %q", req.Op))
}

// recorded reads req's account's record; a response when there is none usable.
func (s *Service) recorded(req *Request) (*state.Record, *Response) {
	rec, err := state.Read(s.cfg.StateDir, req.SID)
	switch {
	case errors.Is(err, state.ErrNoRecord):
		return nil, errorResponse(req.Op, CodeNotRecorded, fmt.Errorf("%s: no setup record for %s: run 'wfpsandbox setup --sid %s' (elevated) first", req.Op, req.SID, req.SID))
	case err != nil:
		return nil, errorResponse(req.Op, CodeNotRecorded, fmt.Errorf("%s: the setup record of %s is unusable (%v): run 'wfpsandbox setup' (elevated)", req.Op, req.SID, err))
	}
	return rec, nil
}

func (s *Service) status(req *Request) *Response {
	rec, bad := s.recorded(req)
	if bad != nil {
		return bad
	}
	plan, err := s.recordPlan(rec)
	if err != nil {
		return errorResponse(req.Op, CodeNotRecorded, fmt.Errorf("status: the plan of %s's record does not build: %w", req.SID, err))
	}
	rep, err := s.verify(plan)
	if err != nil {
		return failure(req.Op, err)
	}
	r := &StatusResult{
		SID: rec.Account.SID, Profile: rec.Profile, UserMatch: string(plan.UserMatch), ProxyPorts: rec.ProxyPorts,
		PlanHash: rec.PlanHash, FilterCount: rec.FilterCount, SetupVersion: rec.SetupVersion,
		Current: rep.Compliant && needsSetup(rec, plan) == "", Verify: rep, Notifications: s.Notifications(),
	}
	return &Response{Version: ProtocolVersion, Op: req.Op, OK: true, Status: r}
}

func (s *Service) setProxyPorts(ctx context.Context, caller Caller, req *Request) *Response {
	rec, bad := s.recorded(req)
	if bad != nil {
		return bad
	}
	if policy.Profile(rec.Profile) != policy.Strict {
		return errorResponse(req.Op, CodeRefused, fmt.Errorf("set-proxy-ports: %s is set up with profile %s: proxy ports belong to the strict profile; changing the profile needs an elevated setup", req.SID, rec.Profile))
	}
	rep, err := setup.Run(ctx, s.setupOptions(req.SID, req.ProxyPorts))
	if err != nil {
		code := CodeFailed
		if errors.Is(err, setup.ErrInput) {
			code = CodeRefused
		}
		return errorResponse(req.Op, code, fmt.Errorf("set-proxy-ports: %w", err))
	}
	if rep.WFPFailed() {
		st, _ := rep.Step(setup.StepWFP)
		r := errorResponse(req.Op, CodeFailed, fmt.Errorf("set-proxy-ports: the WFP step failed, nothing was changed (recorded; retried by the service): %s", st.Error))
		r.Error.WFPCode = st.Code
		return r
	}
	s.log.Info("service: proxy ports set", setup.Event(setup.EventServiceRequest), "caller", caller.User,
		"sid", req.SID, "proxyPorts", fmt.Sprint(req.ProxyPorts), "writes", rep.Writes)
	return &Response{Version: ProtocolVersion, Op: req.Op, OK: true, SetProxyPorts: &SetProxyPortsResult{
		SID: req.SID, ProxyPorts: req.ProxyPorts, PlanHash: rep.PlanHash, Changes: rep.Changes,
		Writes: rep.Writes, RecordPath: rep.RecordPath,
	}}
}

func (s *Service) events(req *Request) *Response {
	if s.cfg.Events == nil {
		return errorResponse(req.Op, CodeUnavailable, errors.New("events: the net event log is not available here"))
	}
	d, _ := req.since() // validated
	src, filters, closer, err := s.cfg.Events()
	if err != nil {
		return errorResponse(req.Op, CodeUnavailable, fmt.Errorf("events: open the net event log: %w", err))
	}
	if closer != nil {
		defer closer.Close()
	}
	rep, err := events.Collect(src, events.NewResolver(filters), events.Selection{Since: s.cfg.Now().Add(-d), SID: req.SID})
	if err != nil {
		return failure(req.Op, fmt.Errorf("events: %w", err))
	}
	if n := len(rep.Events); n > MaxEvents {
		rep.Events = rep.Events[n-MaxEvents:] // oldest first: keep the newest
	}
	return &Response{Version: ProtocolVersion, Op: req.Op, OK: true, Events: rep}
}

// failure is the response for an operation that failed with a WFP or engine error.
func failure(op string, err error) *Response {
	code := CodeFailed
	if wfp.Unavailable(err) {
		code = CodeUnavailable
	}
	r := errorResponse(op, code, err)
	if c, ok := wfp.CodeOf(err); ok {
		r.Error.WFPCode = c.Name()
	}
	return r
}

// wfpAttrs are log attributes naming the WFP call and status of err, when it has them.
func wfpAttrs(err error) []any {
	var as []any
	var ce *wfp.CallError
	if errors.As(err, &ce) {
		as = append(as, "call", ce.Call)
	}
	if c, ok := wfp.CodeOf(err); ok {
		as = append(as, "code", c.Name())
	}
	return as
}

// changeSummary is the AttrChange value of a change set: the sorted distinct
// "op:kind:reason" of its changes, the reason cut to its first words ("missing",
// "drifted", "not in plan", "parent replaced").
func changeSummary(cs []reconcile.Change) string {
	seen := map[string]bool{}
	for _, c := range cs {
		why := c.Reason
		if i := strings.IndexAny(why, ":("); i >= 0 {
			why = why[:i]
		}
		seen[fmt.Sprintf("%s:%s:%s", c.Op, c.Kind, strings.TrimSpace(why))] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// findingsText summarizes findings for a log line.
func findingsText(found []reconcile.Finding) string {
	var parts []string
	for i, f := range found {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(found)-5))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %s %s", f.Kind, f.Name, f.Problem))
	}
	return strings.Join(parts, "; ")
}

// accountName is the record's DOMAIN\name, or its SID.
func accountName(rec *state.Record) string {
	a := rec.Account
	switch {
	case a.Name != "" && a.Domain != "":
		return a.Domain + `\` + a.Name
	case a.Name != "":
		return a.Name
	}
	return a.SID
}
