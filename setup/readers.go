package setup

import (
	"fmt"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// applyReaders gives the plan's provider, sublayer and filters the security descriptor
// that grants FWPM_ACTRL_READ to the configured readers (account.ObjectSD): o.Readers,
// else config.toml's readers, else BUILTIN\Users. Without it an unelevated ensure can
// read none of them (WFP's default security gives non-admins only OPEN and CLASSIFY),
// and would have to trust the marker.
//
// The descriptor is input to Fwpm*Add0, and grantReaders sets it on objects already
// installed after the install commits; it is not part of the plan hash or of
// reconcile's comparison (see README, "The live check").
func applyReaders(o *Options, plan *policy.Plan) error {
	sd, err := readersSD(o)
	if err != nil {
		return err
	}
	plan.Provider.SecurityDescriptor = sd
	plan.Sublayer.SecurityDescriptor = sd
	for _, f := range plan.Filters {
		f.SecurityDescriptor = sd
	}
	return nil
}

// readersSD is the objects' security descriptor for the readers o names (--reader,
// else config.toml's readers, else the default).
func readersSD(o *Options) ([]byte, error) {
	names := o.Readers
	if len(names) == 0 {
		cfg, err := LoadConfig(configPath(o.StateDir))
		if err != nil {
			return nil, err
		}
		names = cfg.Readers
	}
	readers, err := account.ParseReaders(names)
	if err != nil {
		return nil, fmt.Errorf("readers of the WFP objects (--reader or config.toml readers): %w", err)
	}
	sd, err := account.ObjectSD(readers)
	if err != nil {
		return nil, fmt.Errorf("security descriptor of the WFP objects: %w", err)
	}
	return sd, nil
}

// grantReaders brings the DACL of every installed object of the plan up to date
// (reconcile.ApplySecurity), so that objects installed before the read grant existed,
// or before the readers changed, become readable too. It is not part of the WFP
// step's outcome: a failure changes who may read the policy, not what it blocks, so it
// is logged as a warning (ensure then reports live: false, access-denied) and the next
// setup tries again.
func (r *runner) grantReaders(e wfp.Engine, plan *policy.Plan) {
	n, err := reconcile.ApplySecurity(e, plan)
	if err != nil {
		r.log.Warn("could not grant read access to the WFP objects (ensure may not be able to read the live policy): "+err.Error(),
			"set", n)
		return
	}
	r.log.Debug("read access to the WFP objects set", "objects", n)
}
