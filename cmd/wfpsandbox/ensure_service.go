package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/service"
	"github.com/wfpsandbox/wfpsandbox/setup"
)

// askService asks the wfpsandbox service (service.Ask: the named pipe on Windows,
// "not available" elsewhere). Tests replace it with an in-process service.
var askService = service.Ask

// serviceAskTimeout bounds a question ensure puts to the service.
const serviceAskTimeout = 30 * time.Second

// Ensure's paths ("via").
const (
	viaDirect  = "direct"  // ensure read what it could itself (and elevates for setup)
	viaService = "service" // the live status, or the change, came from the wfpsandbox service
)

// serviceStatus fills in the live check of res from the service when ensure could
// not read the live policy itself (the usual case unelevated). It reports whether the
// service answered.
func serviceStatus(ctx context.Context, res *setup.CheckResult) bool {
	if res.Live || res.Account.SID == "" || res.Record == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, serviceAskTimeout)
	defer cancel()
	resp, err := askService(ctx, &service.Request{Version: service.ProtocolVersion, Op: service.OpStatus, SID: res.Account.SID})
	if err != nil || !resp.OK || resp.Status == nil || resp.Status.Verify == nil {
		return false
	}
	// The service verified the plan of the same record; a plan that ensure's flags
	// change is not what it checked, and those reasons stay.
	if resp.Status.PlanHash != res.Record.PlanHash || res.PlanHash != res.Record.PlanHash {
		return false
	}
	rep := resp.Status.Verify
	res.Live, res.ServiceVerify, res.LiveReason, res.LiveError = true, rep, "", ""
	// Another owner's overriding filter is reported in serviceVerify, not made a reason:
	// setup cannot remove it, and running setup for it would prompt on every start. The
	// rest is what ensure's own live check would find.
	var drift []reconcile.Finding
	for _, f := range rep.Findings {
		if f.Problem != reconcile.ProblemOverride {
			drift = append(drift, f)
		}
	}
	if len(drift) > 0 {
		var parts []string
		for i, f := range drift {
			if i == 3 {
				parts = append(parts, fmt.Sprintf("and %d more", len(drift)-3))
				break
			}
			parts = append(parts, fmt.Sprintf("%s %s %s", f.Kind, f.Name, f.Problem))
		}
		res.Reasons = append(res.Reasons, setup.Reason{Code: setup.ReasonPolicyDrift,
			Detail: fmt.Sprintf("the wfpsandbox service reports the installed WFP policy differs from the plan (%d of %d filters as planned): %s",
				rep.Matching, rep.Planned, strings.Join(parts, "; "))})
	}
	return true
}

// onlyProxyPorts returns the ports ensure was given when they are the only
// difference between what it wants and the account's record: the record is strict,
// only --proxy-port was given (no profile, user-match or policy file), and the
// reasons setup is needed are the plan change that follows from the ports and, when
// ensure read the live policy itself, the drift of the live policy from that new plan
// (the service's setup installs the whole new plan, so it repairs any other drift too).
func onlyProxyPorts(p *planFlags, res *setup.CheckResult) ([]uint16, bool) {
	if res.Record == nil || policy.Profile(res.Record.Profile) != policy.Strict || res.AccountMissing ||
		len(p.proxyPorts) == 0 || len(p.proxyPorts) > service.MaxProxyPorts ||
		p.policyFile != "" || p.given("profile") || p.given("user-match") {
		return nil, false
	}
	changed := false
	for _, r := range res.Reasons {
		switch r.Code {
		case setup.ReasonPlanChanged:
			changed = true
		case setup.ReasonPolicyDrift:
		default:
			return nil, false
		}
	}
	return p.proxyPorts, changed
}

// serviceSetProxyPorts has the service apply ports; the error says why it did not.
func serviceSetProxyPorts(ctx context.Context, sid string, ports []uint16) (*service.SetProxyPortsResult, error) {
	ctx, cancel := context.WithTimeout(ctx, serviceAskTimeout)
	defer cancel()
	resp, err := askService(ctx, &service.Request{Version: service.ProtocolVersion, Op: service.OpSetProxyPorts, SID: sid, ProxyPorts: ports})
	if err != nil {
		return nil, err
	}
	if !resp.OK || resp.SetProxyPorts == nil {
		if resp.Error != nil {
			return nil, fmt.Errorf("the wfpsandbox service refused set-proxy-ports (%s): %s", resp.Error.Code, resp.Error.Message)
		}
		return nil, fmt.Errorf("the wfpsandbox service gave no answer to set-proxy-ports")
	}
	return resp.SetProxyPorts, nil
}
