//go:build windows

package probe

import (
	"errors"
	"fmt"

	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/winengine"
)

// wfpReadByKey opens a non-dynamic WFP session as this process's token, tries a
// read-only transaction and reads one object by key (a.Network is its kind, a.Target
// its key). What WFP's documentation leaves open for a non-admin (wfp-facts §11): the
// engine's default security grants Everyone FWPM_ACTRL_OPEN (so the session should
// open) but not BEGIN_READ_TXN (so the transaction should be refused), and the object's
// own descriptor must grant FWPM_ACTRL_READ (setup's account.ObjectSD) for the Get.
// The detail records whether the transaction was allowed; the Get's outcome is the
// record's.
func wfpReadByKey(a probeproto.Attempt) (detail string, err error) {
	key, err := wfp.ParseGUID(a.Target)
	if err != nil {
		return "", fmt.Errorf("target %q: %w", a.Target, err)
	}
	e, err := winengine.Open(winengine.Options{Name: "wfpsandbox integration probe", Description: "read by key"})
	if err != nil {
		return "FwpmEngineOpen0 failed", err
	}
	defer e.Close()
	detail = "read-only transaction: allowed"
	if terr := e.BeginReadTransaction(); terr != nil {
		detail = "read-only transaction: refused (" + terr.Error() + ")"
	} else {
		defer e.AbortTransaction()
	}
	switch a.Network {
	case "provider":
		_, err = e.Provider(key)
	case "sublayer":
		_, err = e.Sublayer(key)
	case "filter":
		_, err = e.Filter(key)
	default:
		err = errors.New("unknown object kind " + a.Network)
	}
	return detail, err
}
