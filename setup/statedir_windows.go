//go:build windows

package setup

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

func defaultStateDir() (string, error) {
	base, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil || base == "" {
		base = os.Getenv("ProgramData")
	}
	if base == "" {
		return "", fmt.Errorf("state directory: cannot find %%ProgramData%%: %v", err)
	}
	return filepath.Join(base, "wfpsandbox"), nil
}

// stateDirSDDL protects the state directory: SYSTEM and Administrators have full
// control, Users may read (ensure reads the marker unelevated) but not create files —
// %ProgramData% otherwise lets any user create files in new subdirectories, and a
// forged marker would make ensure skip setup.
const stateDirSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FR;;;BU)"

// secureStateDir sets the protected DACL on dir. It fails (and setup reports it) when
// the caller may not change the DACL, i.e. is not elevated.
func secureStateDir(dir string) error {
	sd, err := windows.SecurityDescriptorFromString(stateDirSDDL)
	if err != nil {
		return fmt.Errorf("state directory %s: build DACL: %w", dir, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("state directory %s: DACL: %w", dir, err)
	}
	err = windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("state directory %s: SetNamedSecurityInfo: %w", dir, err)
	}
	return nil
}
