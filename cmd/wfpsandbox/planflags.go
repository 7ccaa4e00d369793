package main

import (
	"flag"
	"fmt"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
)

// planFlags are the flags that choose a plan: whose, which profile, which user-match shape.
type planFlags struct {
	sid, account, profile, userMatch string
}

func addPlanFlags(fs *flag.FlagSet) *planFlags {
	p := &planFlags{}
	fs.StringVar(&p.sid, "sid", "", "the sandbox account's SID (S-1-5-21-...)")
	fs.StringVar(&p.account, "account", "", "the sandbox account's name (Windows only; resolved to its SID)")
	fs.StringVar(&p.profile, "profile", string(policy.Baseline), "profile: baseline or strict")
	fs.StringVar(&p.userMatch, "user-match", string(policy.DefaultUserMatch),
		"ALE_USER_ID condition shape: deny (NOT_EQUAL + deny ACE, resists restricted-token/AppContainer escape) or allow (EQUAL + allow ACE, the original design)")
	return p
}

// resolveSID returns the SID the flags name: --sid as given, or --account looked up.
func (p *planFlags) resolveSID() (string, error) {
	switch {
	case p.sid != "" && p.account != "":
		return "", fmt.Errorf("give --sid or --account, not both")
	case p.sid != "":
		return p.sid, nil
	case p.account != "":
		a, err := account.Resolve(p.account)
		if err != nil {
			return "", err
		}
		return a.SID.String(), nil
	default:
		return "", fmt.Errorf("name the sandbox account with --sid S-1-5-21-... or --account NAME")
	}
}

// options returns the policy options the flags choose.
func (p *planFlags) options() (policy.Options, error) {
	sid, err := p.resolveSID()
	if err != nil {
		return policy.Options{}, err
	}
	return policy.Options{SID: sid, Profile: policy.Profile(p.profile), UserMatch: policy.UserMatch(p.userMatch)}, nil
}

// build returns the validated plan the flags choose.
func (p *planFlags) build() (*policy.Plan, error) {
	opts, err := p.options()
	if err != nil {
		return nil, err
	}
	return policy.Build(opts)
}
