package memengine_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// oldDenyHost is a simulated host written by main at 477aedb, before the engines refused
// FWP_MATCH_NOT_EQUAL on a security descriptor: `wfpsandbox setup --sid
// S-1-5-21-1000-1000-1000-1001 --engine memory:PATH` with the default --user-match deny,
// i.e. a provider, the shared sublayer and 12 filters whose ALE_USER_ID condition is
// NOT_EQUAL an SD. The file is checked in as that run wrote it.
const oldDenyHost = "testdata/main-477aedb-deny.json"

// TestOldNotEqualStateLoads: what is installed is installed. A host file holding NOT_EQUAL
// filters still loads and lists them, they can be deleted (the migration's path), and only
// adding such a filter again is refused.
func TestOldNotEqualStateLoads(t *testing.T) {
	data, err := os.ReadFile(oldDenyHost)
	must(t, err)
	path := filepath.Join(t.TempDir(), "host.json")
	must(t, os.WriteFile(path, data, 0o600))

	s, err := memengine.OpenFile(path)
	must(t, err)
	defer s.Close()
	fs, err := s.Filters(nil)
	must(t, err)
	var old []*wfp.Filter
	for _, f := range fs {
		for _, c := range f.Conditions {
			if c.Field == wfp.FieldALEUserID && c.Match == wfp.MatchNotEqual && c.Value.Type == wfp.SecurityDescriptor {
				old = append(old, f)
			}
		}
	}
	if len(fs) != 12 || len(old) != 12 {
		t.Fatalf("listed %d filters, %d with ALE_USER_ID NOT_EQUAL an SD; want 12 and 12", len(fs), len(old))
	}
	if _, err := s.Filter(old[0].Key); err != nil {
		t.Fatalf("get by key of a loaded NOT_EQUAL filter: %v", err)
	}

	must(t, s.BeginTransaction())
	again := old[0].Clone()
	again.Key = guid(99)
	_, err = s.AddFilter(again)
	wantCode(t, err, "FwpmFilterAdd0", wfp.ErrMatchTypeMismatch)
	for _, f := range old {
		must(t, s.DeleteFilter(f.Key))
	}
	must(t, s.CommitTransaction())
	if fs, err := s.Filters(nil); err != nil || len(fs) != 0 {
		t.Fatalf("after deleting the old filters: %d left, %v", len(fs), err)
	}
}
