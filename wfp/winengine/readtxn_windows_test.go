//go:build windows && wfpintegration

package winengine

import (
	"errors"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// Objects added with wfpsandbox's security descriptor (account.ObjectSD), then read
// back inside a read-only transaction (FWPM_TXN_READ_ONLY), in which every add and
// delete fails with FWP_E_INCOMPATIBLE_TXN (FwpmFilterAdd0's documentation).
func TestIntegrationSecurityDescriptorAndReadTransaction(t *testing.T) {
	requireElevated(t)
	e := openDynamic(t)
	o := newTestObjects(t)
	sd, err := account.ObjectSD(account.DefaultObjectReaders)
	if err != nil {
		t.Fatal(err)
	}
	o.provider.SecurityDescriptor, o.sublayer.SecurityDescriptor, o.filter.SecurityDescriptor = sd, sd, sd
	inTxn(t, e, func() error {
		if err := e.AddProvider(o.provider); err != nil {
			return err
		}
		if err := e.AddSublayer(o.sublayer); err != nil {
			return err
		}
		_, err := e.AddFilter(o.filter)
		return err
	})

	if err := e.BeginReadTransaction(); err != nil {
		t.Fatalf("BeginReadTransaction: %v", err)
	}
	if _, err := e.Filter(o.filter.Key); err != nil {
		t.Errorf("Filter inside a read-only transaction: %v", err)
	}
	if _, err := e.Sublayer(o.sublayer.Key); err != nil {
		t.Errorf("Sublayer inside a read-only transaction: %v", err)
	}
	other := newTestObjects(t)
	other.filter.ProviderKey, other.filter.Sublayer = &o.provider.Key, o.sublayer.Key
	if _, err := e.AddFilter(other.filter); !errors.Is(err, wfp.ErrIncompatibleTxn) {
		t.Errorf("AddFilter in a read-only transaction: %v, want FWP_E_INCOMPATIBLE_TXN", err)
	}
	if err := e.DeleteFilter(o.filter.Key); !errors.Is(err, wfp.ErrIncompatibleTxn) {
		t.Errorf("DeleteFilter in a read-only transaction: %v, want FWP_E_INCOMPATIBLE_TXN", err)
	}
	if err := e.AbortTransaction(); err != nil {
		t.Fatalf("AbortTransaction: %v", err)
	}
	if _, err := e.Filter(o.filter.Key); err != nil {
		t.Errorf("the filter is gone after the read-only transaction: %v", err)
	}

	// The DACL of existing objects can be set again outside a transaction (the call
	// setup makes after its commit), and not inside one.
	for _, x := range []struct {
		kind wfp.ObjectKind
		key  wfp.GUID
	}{{wfp.ObjectProvider, o.provider.Key}, {wfp.ObjectSublayer, o.sublayer.Key}, {wfp.ObjectFilter, o.filter.Key}} {
		if err := e.SetDACL(x.kind, x.key, sd); err != nil {
			t.Errorf("SetDACL(%s): %v", x.kind, err)
		}
	}
	if err := e.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := e.SetDACL(wfp.ObjectFilter, o.filter.Key, sd); err == nil {
		t.Error("SetDACL inside an explicit transaction succeeded; WFP documents that it cannot be called there")
	} else {
		t.Logf("SetDACL inside a transaction: %v (the code is undocumented)", err)
	}
	if err := e.AbortTransaction(); err != nil {
		t.Fatal(err)
	}
}
