package reconcile

import (
	"bytes"
	"errors"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// An install made without descriptors (an older version) gets the plan's DACL on every
// object; inside a transaction the call is refused.
func TestApplySecurityUpdatesOldInstall(t *testing.T) {
	bfe := memengine.NewBFE()
	s := bfe.Open()
	p := livePlan(t, sidA)
	mustInstallPlan(t, s, p) // no descriptors, as before this version

	sd, err := account.ObjectSD(account.DefaultObjectReaders)
	if err != nil {
		t.Fatal(err)
	}
	withSD := clonePlan(p)
	withSD.Provider.SecurityDescriptor, withSD.Sublayer.SecurityDescriptor = sd, sd
	for _, f := range withSD.Filters {
		f.SecurityDescriptor = sd
	}
	// Install does not see the difference (descriptors are not compared)...
	if res, err := Install(s, withSD, Options{}); err != nil || res.Writes != 0 {
		t.Fatalf("Install with descriptors on the old install: %v, %+v; want no writes", err, res)
	}
	// ...ApplySecurity sets them.
	n, err := ApplySecurity(s, withSD)
	if err != nil || n != 2+len(p.Filters) {
		t.Fatalf("ApplySecurity = %d, %v; want %d objects", n, err, 2+len(p.Filters))
	}
	check := func(kind string, key wfp.GUID) {
		got, err := s.SecurityDescriptor(kind, key)
		if err != nil || !bytes.Equal(got, sd) {
			t.Errorf("%s %s: sd % x, %v; want the plan's", kind, key, got, err)
		}
	}
	check("provider", p.Provider.Key)
	check("sublayer", p.Sublayer.Key)
	for _, f := range p.Filters {
		check("filter", f.Key)
	}

	if err := s.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if _, err := ApplySecurity(s, withSD); !errors.Is(err, wfp.ErrTxnInProgress) {
		t.Errorf("ApplySecurity inside a transaction: %v, want FWP_E_TXN_IN_PROGRESS", err)
	}
	_ = s.AbortTransaction()

	if _, err := ApplySecurity(&callCounter{Engine: s}, withSD); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("ApplySecurity on an engine without SetDACL: %v, want ErrUnsupported", err)
	}
}
