//go:build windows

package service

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"
)

type fakeRecovery struct {
	actions []mgr.RecoveryAction
	reset   uint32
	flag    bool
	flagErr error
}

func (f *fakeRecovery) SetRecoveryActions(a []mgr.RecoveryAction, reset uint32) error {
	f.actions, f.reset = a, reset
	return nil
}

func (f *fakeRecovery) SetRecoveryActionsOnNonCrashFailures(flag bool) error {
	if f.flagErr != nil {
		return f.flagErr
	}
	f.flag = flag
	return nil
}

// TestSetRecovery: Install's recovery restarts the service after 5 s, 30 s, 60 s, and
// sets fFailureActionsOnNonCrashFailures, without which a run that fails and reports
// SERVICE_STOPPED with an error exit code (RunAsService) is never restarted. A service
// control manager without that level (Wine's) is a warning; another failure is an
// error. Runs under Wine (wine/winetest TestServiceWindowsUnits).
func TestSetRecovery(t *testing.T) {
	f := &fakeRecovery{}
	warning, err := setRecovery(f)
	if err != nil || warning != "" || !f.flag || len(f.actions) != 3 || f.reset != 24*60*60 {
		t.Errorf("setRecovery: warning %q, err %v, flag %v, actions %v, reset %d", warning, err, f.flag, f.actions, f.reset)
	}
	warning, err = setRecovery(&fakeRecovery{flagErr: windows.ERROR_INVALID_LEVEL})
	if err != nil || !strings.Contains(warning, "SERVICE_CONFIG_FAILURE_ACTIONS_FLAG") {
		t.Errorf("without the level: warning %q, err %v; want a warning", warning, err)
	}
	_, err = setRecovery(&fakeRecovery{flagErr: windows.ERROR_ACCESS_DENIED})
	if !errors.Is(err, windows.ERROR_ACCESS_DENIED) || !strings.Contains(err.Error(), "SERVICE_CONFIG_FAILURE_ACTIONS_FLAG") {
		t.Errorf("refused: %v; want the call named", err)
	}
}
