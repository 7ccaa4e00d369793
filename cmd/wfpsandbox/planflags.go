package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
)

// planFlags are the flags that choose a plan: whose, which profile, which user-match
// shape, which proxy ports — or a policy file that chooses all but the account.
type planFlags struct {
	fs                                           *flag.FlagSet
	sid, account, profile, userMatch, policyFile string
	proxyPorts                                   []uint16
}

func addPlanFlags(fs *flag.FlagSet) *planFlags {
	p := &planFlags{fs: fs}
	fs.StringVar(&p.sid, "sid", "", "the sandbox account's SID (S-1-5-21-...)")
	fs.StringVar(&p.account, "account", "", "the sandbox account's name (Windows only; resolved to its SID)")
	p.profile, p.userMatch = string(policy.Baseline), string(policy.DefaultUserMatch)
	fs.Func("profile", "profile: baseline or strict (default baseline)", func(s string) error {
		if s != string(policy.Baseline) && s != string(policy.Strict) {
			return fmt.Errorf("unknown profile %q: want %s or %s", s, policy.Baseline, policy.Strict)
		}
		p.profile = s
		return nil
	})
	fs.Func("user-match", "how filters are scoped to the account: deny (its own sublayer: soft guard permits for everyone else, then unconditioned blocks; resists restricted-token/AppContainer escape) or allow (EQUAL + D:(A;;CC;;;SID) on every filter in the shared sublayer, the original design) (default "+string(policy.DefaultUserMatch)+")", func(s string) error {
		if s != string(policy.MatchDeny) && s != string(policy.MatchAllow) {
			return fmt.Errorf("unknown user-match shape %q: want %s or %s", s, policy.MatchDeny, policy.MatchAllow)
		}
		p.userMatch = s
		return nil
	})
	fs.Func("proxy-port", "strict profile: a loopback TCP port the account may connect to (repeat or comma-separate; default: all of loopback)", func(s string) error {
		for _, part := range strings.Split(s, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(part), 10, 16)
			if err != nil || n == 0 {
				return fmt.Errorf("%q is not a port number (1-65535)", part)
			}
			p.proxyPorts = append(p.proxyPorts, uint16(n))
		}
		return nil
	})
	fs.StringVar(&p.policyFile, "policy", "", "a policy file (TOML) choosing the profile, user-match, proxy ports and extra block rules")
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
	return p.optionsFor(sid)
}

// optionsFor returns the policy options for account sid: from the policy file when
// one is given (then the flags it replaces must not be given too), else from the flags.
func (p *planFlags) optionsFor(sid string) (policy.Options, error) {
	if p.policyFile == "" {
		return policy.Options{SID: sid, Profile: policy.Profile(p.profile), UserMatch: policy.UserMatch(p.userMatch), ProxyPorts: p.proxyPorts}, nil
	}
	for _, name := range []string{"profile", "user-match", "proxy-port"} {
		if p.given(name) {
			return policy.Options{}, fmt.Errorf("--policy %s sets the profile, user-match and proxy ports; do not also give --%s", p.policyFile, name)
		}
	}
	f, err := policy.LoadFile(p.policyFile)
	if err != nil {
		return policy.Options{}, err
	}
	return f.Options(sid), nil
}

// given reports whether the flag was set on the command line.
func (p *planFlags) given(name string) bool {
	set := false
	p.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// build returns the validated plan the flags choose.
func (p *planFlags) build() (*policy.Plan, error) {
	opts, err := p.options()
	if err != nil {
		return nil, err
	}
	return policy.Build(opts)
}
