package setup_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/setup"
	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/winengine"
)

// A sandbox's elevated helper installs or repairs the policy for its account. The
// README shows this example; it is compiled with the tests so it cannot drift.
func ExampleRun() {
	rep, err := setup.Run(context.Background(), setup.Options{
		Account:    "sandbox-offline", // a local account name (Windows) or a SID
		Profile:    policy.Strict,
		ProxyPorts: []uint16{3128},
		Open: func() (wfp.Engine, error) {
			e, err := winengine.Open(winengine.Options{Name: "my-sandbox"})
			if err != nil {
				return nil, err
			}
			return e, nil
		},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	switch {
	case err != nil: // bad input, or the account or record step failed
		fmt.Println("setup failed:", err)
	case rep.WFPFailed(): // in the account's record; the next run retries it
		fmt.Println("setup done, WFP step failed")
	default:
		fmt.Println("policy in place")
	}
}
