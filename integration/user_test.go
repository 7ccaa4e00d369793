//go:build windows && wfpintegration

package integration

import (
	"testing"

	"github.com/wfpsandbox/wfpsandbox/selftest"
)

// tempUser is the product's temporary account (selftest.TempAccount), which the
// selftest uses too.
type tempUser = selftest.TempAccount

// newTempUser creates the temporary account and registers its deletion — profile
// first, then the account — with t.Cleanup before anything else can fail.
func newTempUser(t *testing.T) *tempUser {
	t.Helper()
	u, err := selftest.NewTempAccount("temporary wfpsandbox integration-test account; safe to delete")
	if u != nil {
		t.Cleanup(func() {
			if err := u.Delete(); err != nil {
				t.Error(err)
				return
			}
			t.Logf("deleted local account %s and its profile", u.Name)
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("created local account %s (%s)", u.Name, u.SID)
	return u
}
