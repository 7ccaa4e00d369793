package memengine_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// FWPM_TXN_READ_ONLY: reads see the committed objects; every Add and Delete fails with
// FWP_E_INCOMPATIBLE_TXN and changes nothing; committing applies nothing.
func TestReadTransactionRefusesWrites(t *testing.T) {
	b, s := base(t)
	fk := guid(1)
	_, err := s.AddFilter(filterNoID(fk))
	must(t, err)
	before := snapshot(t, b)

	must(t, s.BeginReadTransaction())
	if _, err := s.Filter(fk); err != nil {
		t.Fatalf("Filter inside a read-only transaction: %v", err)
	}
	_, err = s.AddFilter(filter(guid(2), subA, ptr(provA), true))
	wantCode(t, err, "FwpmFilterAdd0", wfp.ErrIncompatibleTxn)
	wantCode(t, s.AddProvider(provider(provB, true)), "FwpmProviderAdd0", wfp.ErrIncompatibleTxn)
	wantCode(t, s.AddSublayer(sublayer(subB, ptr(provA), true)), "FwpmSubLayerAdd0", wfp.ErrIncompatibleTxn)
	wantCode(t, s.DeleteFilter(fk), "FwpmFilterDeleteByKey0", wfp.ErrIncompatibleTxn)
	wantCode(t, s.DeleteSublayer(subA), "FwpmSubLayerDeleteByKey0", wfp.ErrIncompatibleTxn)
	wantCode(t, s.DeleteProvider(provA), "FwpmProviderDeleteByKey0", wfp.ErrIncompatibleTxn)
	wantCode(t, s.BeginTransaction(), "FwpmTransactionBegin0", wfp.ErrTxnInProgress)
	must(t, s.CommitTransaction())
	if after := snapshot(t, b); after != before {
		t.Fatalf("a read-only transaction changed the engine:\n%s\nwant\n%s", after, before)
	}
	// After it, writes work again (the session is not left read-only).
	if _, err := s.AddFilter(filter(guid(2), subA, ptr(provA), true)); err != nil {
		t.Fatalf("AddFilter after the read-only transaction: %v", err)
	}
}

// A read-only transaction takes the transaction lock like a read-write one, so a writer
// waits for it (the conservative model of what WFP leaves undocumented, readtxn.go).
func TestReadTransactionHoldsLock(t *testing.T) {
	b, s := base(t)
	must(t, s.BeginReadTransaction())
	other := b.Open()
	other.SetTxnWaitTimeout(1) // 1 ns: do not wait
	wantCode(t, other.BeginTransaction(), "FwpmTransactionBegin0", wfp.ErrTimeout)
	must(t, s.AbortTransaction())
	must(t, other.BeginTransaction())
	must(t, other.AbortTransaction())
}

// The sd argument: a valid self-relative descriptor is kept with the object (and in the
// state file); an invalid one fails with ERROR_INVALID_SECURITY_DESCR and adds nothing.
func TestAddKeepsSecurityDescriptor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.json")
	s, err := memengine.OpenFile(path)
	must(t, err)
	sd := userSD(t)
	p := provider(provA, true)
	p.SecurityDescriptor = sd
	must(t, s.AddProvider(p))
	sl := sublayer(subA, ptr(provA), true)
	sl.SecurityDescriptor = sd
	must(t, s.AddSublayer(sl))
	f := filter(guid(1), subA, ptr(provA), true)
	f.SecurityDescriptor = sd
	_, err = s.AddFilter(f)
	must(t, err)

	bad := filter(guid(2), subA, ptr(provA), true)
	bad.SecurityDescriptor = []byte{1, 0, 4, 0} // truncated, not self-relative
	_, err = s.AddFilter(bad)
	wantCode(t, err, "FwpmFilterAdd0", wfp.ErrInvalidSecurityDescr)
	if _, err := s.Filter(guid(2)); err == nil {
		t.Fatal("the filter with an invalid sd was added")
	}

	again, err := memengine.OpenFile(path) // read back from the file
	must(t, err)
	for _, o := range []struct {
		kind string
		key  wfp.GUID
	}{{"provider", provA}, {"sublayer", subA}, {"filter", guid(1)}} {
		got, err := again.SecurityDescriptor(o.kind, o.key)
		must(t, err)
		if !bytes.Equal(got, sd) {
			t.Errorf("%s read back with sd % x, want % x", o.kind, got, sd)
		}
	}
	// Like FWPM_FILTER0 & co., what Get and Enum return carries no descriptor.
	gp, err := again.Provider(provA)
	must(t, err)
	gf, err := again.Filter(guid(1))
	must(t, err)
	fs, err := again.Filters(nil)
	must(t, err)
	if gp.SecurityDescriptor != nil || gf.SecurityDescriptor != nil || len(fs) != 1 || fs[0].SecurityDescriptor != nil {
		t.Error("a Get or an enumeration returned the security descriptor, which the real engine cannot")
	}
	if _, err := again.SecurityDescriptor("filter", guid(9)); err == nil {
		t.Error("SecurityDescriptor of a missing filter succeeded")
	}
}

func filterNoID(key wfp.GUID) *wfp.Filter { return filter(key, subA, ptr(provA), true) }

// BenchmarkGetByKey: a Get by key outside a transaction costs the same on an engine
// holding 10 filters and on one holding 10,000 (it used to copy the whole committed
// state first).
//
//	go test -run '^$' -bench BenchmarkGetByKey ./wfp/memengine/
func BenchmarkGetByKey(b *testing.B) {
	for _, n := range []int{10, 10000} {
		bfe := memengine.NewBFE()
		s := bfe.Open()
		must(b, s.AddProvider(provider(provA, true)))
		must(b, s.AddSublayer(sublayer(subA, ptr(provA), true)))
		must(b, s.BeginTransaction())
		for i := range n {
			_, err := s.AddFilter(filter(wfp.NameGUID(provA, fmt.Sprint(i)), subA, ptr(provA), true))
			must(b, err)
		}
		must(b, s.CommitTransaction())
		key := wfp.NameGUID(provA, fmt.Sprint(n/2))
		b.Run(fmt.Sprintf("filters=%d", n), func(b *testing.B) {
			for range b.N {
				if _, err := s.Filter(key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
