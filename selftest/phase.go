package selftest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// CheckPersistence: after a BFE restart (Installed.AfterRestart), every object of the
// persistent plan is installed again. Run never records it: it adds nothing persistent.
const CheckPersistence = "persistent-after-bfe-restart"

// Installed is a policy installed outside a prober's dynamic session — the persistent
// install by reconcile.Install or by `wfpsandbox setup` — that Prober.PolicyPhase probes.
// Run never uses it: its plan lives in its own dynamic session.
type Installed struct {
	// Plan is what was installed for the prober's account, with the real keys and the
	// PERSISTENT flags (policy.Build's plan). Its profile and user-match are the phase
	// report's; the account's wfp-read attempt reads its first filter.
	Plan *policy.Plan
	// Engine is a session through which the installed objects are read back (the
	// install, verify and enumeration checks) and, on Windows, net events are read
	// (attribution); nil leaves those not run.
	Engine wfp.Engine
	// By names the installer in the checks ("reconcile.Install", "wfpsandbox setup").
	By string
	// AfterRestart says BFE was restarted since the install: the objects reading back
	// then settles persistent-filters-survive-bfe-restart (CheckPersistence).
	AfterRestart bool
}

// InstalledChecks are the report's checks for a phase against an Installed policy. What
// they mean there:
//
//   - install: the plan's provider, sublayer and every filter are in the engine (read by
//     key), so FwpmFilterAdd0 accepted them when in.By added them; the prober did not
//     see the add itself;
//   - verify: the same read-back as Run's (ReadBack), zero drift;
//   - enum-provider-scoped: the provider-scoped enumeration of the plan's provider (all
//     of its accounts) against a full one;
//   - not-equal-sd-refused: not run — it is asked only in Run's dynamic session;
//   - cleanup: not run — removing the policy is its installer's business, and the
//     prober's own cleanup (account, work directory, exemption) is Prober.Close's;
//   - persistent-after-bfe-restart (only with in.AfterRestart): as install.
func InstalledChecks(in Installed) []Check {
	by := in.By
	if by == "" {
		by = "the caller"
	}
	var cs []Check
	install := Check{ID: CheckInstall}
	verify := Check{ID: CheckVerify}
	enum := Check{ID: CheckEnumScoped}
	switch {
	case in.Plan == nil || in.Plan.Provider == nil || in.Plan.Sublayer == nil:
		install.Detail = "no plan given"
		verify.Detail, enum.Detail = install.Detail, install.Detail
	case in.Engine == nil:
		install.Detail = "installed outside the selftest's session by " + by + "; not read back (no engine session given)"
		verify.Detail, enum.Detail = "no engine session given", "no engine session given"
	default:
		n := 2 + len(in.Plan.Filters)
		drift, err := ReadBack(in.Engine, in.Plan)
		if err != nil {
			install.Ran, install.OK = true, false
			install.Detail = fmt.Sprintf("installed by %s, but it does not read back: %v", by, err)
			verify.Detail = err.Error()
		} else {
			var missing []string
			for _, d := range drift {
				if strings.HasSuffix(d, ": missing") {
					missing = append(missing, d)
				}
			}
			install.Ran, install.OK = true, len(missing) == 0
			install.Detail = fmt.Sprintf("installed outside the selftest's session by %s: provider, sublayer and %d filters read back by key", by, len(in.Plan.Filters))
			if len(missing) > 0 {
				install.Detail = fmt.Sprintf("installed by %s, but %d of its %d filters are not in the engine: %v", by, len(missing), len(in.Plan.Filters), missing)
			}
			verify = Check{ID: CheckVerify, Ran: true, OK: len(drift) == 0, Detail: fmt.Sprintf("%d objects read back, drift: %v", n, drift)}
		}
		if d, err := EnumScoped(in.Engine, in.Plan.Provider.Key); err != nil {
			enum.Detail = err.Error()
		} else {
			enum = Check{ID: CheckEnumScoped, Ran: true, OK: d == "", Detail: d}
		}
	}
	cs = append(cs, install, verify, enum,
		Check{ID: CheckNotEqualSD, Ran: false, Detail: "asked only in the selftest's own dynamic session"},
		Check{ID: CheckCleanup, Ran: false, Detail: "the policy was installed outside the selftest's session: removing it is " + by + "'s business"})
	if in.AfterRestart {
		p := Check{ID: CheckPersistence, Ran: install.Ran, OK: install.OK, Detail: "after the BFE restart: " + install.Detail}
		cs = append(cs, p)
	}
	return cs
}

// PhaseReport returns a new report for a phase judged against cfg: r's host facts,
// account, other account, notes and control-phase checks (logon, children-start), and
// r's control result in every cell; no policy result yet. A prober records several
// phases this way against one control — the persistent install per user-match shape,
// after a BFE restart — each settled on its own. cfg must lay out the same probes as r
// (the prober's attempts were planned for them): only the user-match, and which
// policy file named the rules, may differ.
func (r *Report) PhaseReport(cfg Config, now time.Time) (*Report, error) {
	out := NewReport(cfg, r.Version, now)
	// An extra rule's probe may have moved to another of its ports (ChoosePorts): the
	// prober's attempts went there, so the phase's probe does too.
	same := slices.EqualFunc(out.Probes, r.Probes, func(a, b Probe) bool {
		return a.ID == b.ID && a.Kind == b.Kind && a.Scope == b.Scope && a.Rule == b.Rule && (a.Port == b.Port || a.Rule != "")
	})
	if !same {
		return nil, fmt.Errorf("selftest: the %s profile (proxy ports %v, %d extra rules) has other probes than the prober's %s (%v, %d extra rules)",
			out.Config.Profile, out.Config.ProxyPorts, len(out.Config.Extra), r.Config.Profile, r.Config.ProxyPorts, len(r.Config.Extra))
	}
	for i := range out.Probes {
		out.Probes[i].Port, out.Probes[i].PortNote = r.Probes[i].Port, r.Probes[i].PortNote
	}
	out.Host = r.Host
	out.Host.FirewallOn = maps.Clone(r.Host.FirewallOn)
	out.Host.Providers = slices.Clone(r.Host.Providers)
	out.Account, out.Other = r.Account, r.Other
	out.NotRun = append(out.NotRun, r.NotRun...)
	for _, id := range []string{CheckLogon, CheckChildren} {
		if c, ok := r.check(id); ok {
			out.SetCheck(c)
		}
	}
	for i := range out.Cells {
		if c := r.Cell(out.Cells[i].Probe, out.Cells[i].Identity); c != nil {
			out.Cells[i].Control = c.Control
		}
	}
	return out, nil
}

// BlockedSince lists, as evidence lines, every cell whose control r records as blocked
// (WSAEACCES) while base's control of the same cell was allowed: run on a second
// control phase after an uninstall, what something still blocks. Cells base could not
// observe (its control was not allowed: raw sockets for a non-administrator,
// AppContainer isolation) are left out.
func (r *Report) BlockedSince(base *Report) []string {
	var out []string
	for _, c := range r.Cells {
		b := base.Cell(c.Probe, c.Identity)
		if b == nil || b.Control.Outcome != OutcomeAllowed || c.Control.Outcome != OutcomeBlocked {
			continue
		}
		out = append(out, fmt.Sprintf("%s as %s: allowed in the first control, now blocked (%s)", c.Probe, c.Identity, c.Control.Error))
	}
	return out
}

// withReadKey returns a copy of plans whose wfp-read attempts read the filter key.
func withReadKey(plans map[Identity][]probeproto.Attempt, key string) map[Identity][]probeproto.Attempt {
	out := make(map[Identity][]probeproto.Attempt, len(plans))
	for id, as := range plans {
		as = slices.Clone(as)
		for i := range as {
			if as[i].Kind == probeproto.KindWFPRead {
				as[i].Key = key
			}
		}
		out[id] = as
	}
	return out
}
