package setup

import (
	"errors"
	"fmt"
	"slices"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/state"
)

// Given are the plan choices a caller gives (flags, options); empty fields are not
// given.
type Given struct {
	Profile    policy.Profile
	UserMatch  policy.UserMatch
	ProxyPorts []uint16
	// Policy is a policy file; it gives everything above and the extra rules.
	Policy *policy.File
}

// Any reports whether anything is given.
func (g Given) Any() bool {
	return g.Profile != "" || g.UserMatch != "" || len(g.ProxyPorts) > 0 || g.Policy != nil
}

// Choice is everything that chooses an account's plan besides the account: what setup
// records, and what ensure and verify rebuild the plan from.
type Choice struct {
	Profile    policy.Profile
	UserMatch  policy.UserMatch
	ProxyPorts []uint16
	// Rules are a policy file's extra block rules.
	Rules []policy.FileRule
}

// Choose returns the choice for an account whose record is rec (nil: none). A policy
// file replaces everything. Otherwise what is given wins and the rest comes from
// the record: the profile, the user-match shape, the proxy ports (unless a profile is
// given: they belong to the recorded profile) and the policy file's rules (only a
// policy file replaces those). Defaults fill what neither has.
func (g Given) Choose(rec *state.Record) (Choice, error) {
	if g.Policy != nil {
		f := g.Policy
		return Choice{Profile: f.Profile, UserMatch: f.UserMatch, ProxyPorts: slices.Clone(f.ProxyPorts),
			Rules: slices.Clone(f.Rules)}, nil
	}
	c := Choice{Profile: g.Profile, UserMatch: g.UserMatch, ProxyPorts: slices.Clone(g.ProxyPorts)}
	if rec != nil {
		if c.Profile == "" {
			c.Profile = policy.Profile(rec.Profile)
			if len(c.ProxyPorts) == 0 {
				c.ProxyPorts = slices.Clone(rec.ProxyPorts)
			}
		}
		if c.UserMatch == "" {
			c.UserMatch = policy.UserMatch(rec.UserMatch)
		}
		rules, err := rec.FileRules()
		if err != nil {
			return Choice{}, err
		}
		c.Rules = rules
	}
	if c.Profile == "" {
		c.Profile = policy.Baseline
	}
	if c.UserMatch == "" {
		c.UserMatch = policy.DefaultUserMatch
	}
	return c, nil
}

// Options returns the policy options of the choice for account sid.
func (c Choice) Options(sid string) policy.Options {
	o := policy.Options{SID: sid, Profile: c.Profile, UserMatch: c.UserMatch, ProxyPorts: slices.Clone(c.ProxyPorts)}
	for _, r := range c.Rules {
		o.Extra = append(o.Extra, r.Rules()...)
	}
	return o
}

// Plan builds the choice's plan for account sid.
func (c Choice) Plan(sid string) (*policy.Plan, error) {
	p, err := policy.Build(c.Options(sid))
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return p, nil
}

// RecordedPlan returns the plan for account sid that verify checks: what its last
// setup recorded in stateDir, with what g gives overriding it (Given.Choose). rec is
// the record used (nil when there is none or it is unusable); recErr says why a
// record there could not be used, and the plan is then g's alone; err is bad input
// in g.
func RecordedPlan(stateDir, sid string, g Given) (plan *policy.Plan, rec *state.Record, recErr, err error) {
	s, err := account.ParseSID(sid)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("sandbox account SID: %w", err)
	}
	rec, recErr = state.Read(stateDir, s.String())
	if errors.Is(recErr, state.ErrNoRecord) {
		recErr = nil
	}
	if recErr != nil {
		plan, _, _, err = recordPlan(nil, sid, g)
		return plan, nil, recErr, err
	}
	return recordPlan(rec, sid, g)
}
