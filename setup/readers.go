package setup

import (
	"fmt"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
)

// applyReaders gives the plan's provider, sublayer and filters the security descriptor
// that grants FWPM_ACTRL_READ to the configured readers (account.ObjectSD): o.Readers,
// else config.toml's readers, else BUILTIN\Users. Without it an unelevated ensure can
// read none of them (WFP's default security gives non-admins only OPEN and CLASSIFY),
// and would have to trust the marker.
//
// The descriptor is input to Fwpm*Add0 only: it is not part of the plan hash or of
// reconcile's comparison, so changing the readers does not rewrite objects already
// installed (their descriptor is changed only when they are added again; see README,
// "Live check").
func applyReaders(o *Options, plan *policy.Plan) error {
	names := o.Readers
	if len(names) == 0 {
		cfg, err := LoadConfig(configPath(o.StateDir))
		if err != nil {
			return err
		}
		names = cfg.Readers
	}
	readers, err := account.ParseReaders(names)
	if err != nil {
		return fmt.Errorf("readers of the WFP objects (--reader or config.toml readers): %w", err)
	}
	sd, err := account.ObjectSD(readers)
	if err != nil {
		return fmt.Errorf("security descriptor of the WFP objects: %w", err)
	}
	plan.Provider.SecurityDescriptor = sd
	plan.Sublayer.SecurityDescriptor = sd
	for _, f := range plan.Filters {
		f.SecurityDescriptor = sd
	}
	return nil
}
