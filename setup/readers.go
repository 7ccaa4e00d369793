package setup

import (
	"fmt"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/reconcile"
	"github.com/wfpsandbox/wfpsandbox/state"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// applyReaders gives the plan's provider, sublayer and filters the security descriptor
// that grants FWPM_ACTRL_READ to the readers (account.ObjectSD): o.Readers (--reader),
// else config.toml's readers, else those prev (the account's record) says the last
// setup granted, else BUILTIN\Users. Without it an unelevated ensure can read none of
// them (WFP's default security gives non-admins only OPEN and CLASSIFY), and would
// have to trust the record. It returns the readers' SIDs, for the record.
//
// The descriptor is input to Fwpm*Add0, and grantReaders sets it on objects already
// installed after the install commits; it is not part of the plan hash or of
// reconcile's comparison (see README, "The live check").
func applyReaders(o *Options, plan *policy.Plan, prev *state.Record) ([]string, error) {
	names, err := readerNames(o, prev)
	if err != nil {
		return nil, err
	}
	return setReaders(plan, names)
}

// readerNames are the readers applyReaders uses, unparsed.
func readerNames(o *Options, prev *state.Record) ([]string, error) {
	if len(o.Readers) > 0 {
		return o.Readers, nil
	}
	cfg, err := LoadConfig(configPath(o.StateDir))
	if err != nil {
		return nil, err
	}
	if len(cfg.Readers) == 0 && prev != nil {
		return prev.Readers, nil
	}
	return cfg.Readers, nil
}

// checkReaders refuses readers that applyReaders would refuse, without a plan.
func checkReaders(o *Options) error {
	names, err := readerNames(o, nil)
	if err == nil {
		_, err = account.ParseReaders(names)
	}
	if err != nil {
		return fmt.Errorf("readers of the WFP objects (--reader or config.toml readers): %w", err)
	}
	return nil
}

// setReaders parses names (account.ParseReaders: none is the default) and gives every
// object of plan their security descriptor; it returns the readers as SIDs.
func setReaders(plan *policy.Plan, names []string) ([]string, error) {
	readers, err := account.ParseReaders(names)
	if err != nil {
		return nil, fmt.Errorf("readers of the WFP objects (--reader or config.toml readers): %w", err)
	}
	sd, err := account.ObjectSD(readers)
	if err != nil {
		return nil, fmt.Errorf("security descriptor of the WFP objects: %w", err)
	}
	plan.Provider.SecurityDescriptor = sd
	plan.Sublayer.SecurityDescriptor = sd
	for _, f := range plan.Filters {
		f.SecurityDescriptor = sd
	}
	out := make([]string, len(readers))
	for i, r := range readers {
		out[i] = r.String()
	}
	return out, nil
}

// PlanOfRecord is the plan an account's record holds, as a repair installs it: the
// recorded choices (Given{}.Choose) and the security descriptor of the readers the
// record names — what the objects still installed were added with — or, for a record
// from before readers were recorded, config.toml's readers, else BUILTIN\Users. The
// service's repairs use it, so an object it adds again is as readable as its siblings.
func PlanOfRecord(stateDir string, rec *state.Record) (*policy.Plan, error) {
	c, err := Given{}.Choose(rec)
	if err != nil {
		return nil, err
	}
	plan, err := c.Plan(rec.Account.SID)
	if err != nil {
		return nil, err
	}
	names := rec.Readers
	if len(names) == 0 {
		cfg, err := LoadConfig(configPath(stateDir))
		if err != nil {
			return nil, err
		}
		names = cfg.Readers
	}
	if _, err := setReaders(plan, names); err != nil {
		return nil, err
	}
	return plan, nil
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
