package reconcile

import (
	"errors"
	"fmt"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// ApplySecurity sets, on the installed provider, sublayer and planned filters, the
// DACL of the security descriptor each carries in the plan (SecurityDescriptor; objects
// with none are skipped), with wfp.SecuritySetter. Install adds new objects with their
// descriptor, but it neither reads nor compares descriptors (Fwpm*GetByKey0 does not
// return them), so an object installed earlier — by an older version, or before the
// readers changed — keeps the one it was added with; this brings it up to date.
//
// It must run after Install's transaction has committed: WFP does not allow
// Fwpm*SetSecurityInfo0 inside an explicit transaction. Each call is its own change,
// so a failure part-way leaves some objects with the new DACL and some with the old —
// which changes who may read them, never what they block. It returns how many objects
// it set, and errors naming the object and wrapping the engine's; an engine
// that does not implement wfp.SecuritySetter is an error wrapping
// errors.ErrUnsupported.
func ApplySecurity(e wfp.Engine, plan *policy.Plan) (int, error) {
	setter, ok := e.(wfp.SecuritySetter)
	if !ok {
		return 0, fmt.Errorf("set the security of the wfpsandbox objects: %w (the engine cannot set a DACL)", errors.ErrUnsupported)
	}
	n := 0
	set := func(kind wfp.ObjectKind, key wfp.GUID, name string, sd []byte) error {
		if len(sd) == 0 {
			return nil
		}
		if err := setter.SetDACL(kind, key, sd); err != nil {
			return fmt.Errorf("set the DACL of %s: %w", wfp.ObjectName(string(kind), key, name), err)
		}
		n++
		return nil
	}
	if err := set(wfp.ObjectProvider, plan.Provider.Key, plan.Provider.Name, plan.Provider.SecurityDescriptor); err != nil {
		return n, err
	}
	if err := set(wfp.ObjectSublayer, plan.Sublayer.Key, plan.Sublayer.Name, plan.Sublayer.SecurityDescriptor); err != nil {
		return n, err
	}
	for _, f := range plan.Filters {
		if err := set(wfp.ObjectFilter, f.Key, f.Name, f.SecurityDescriptor); err != nil {
			return n, err
		}
	}
	return n, nil
}
