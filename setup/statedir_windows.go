//go:build windows

package setup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

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

// stateDirSDDL protects the state directory: owned by BUILTIN\Administrators; SYSTEM
// and Administrators have full control, Users may read (ensure reads the marker
// unelevated) but not create files — %ProgramData% otherwise lets any user create
// files in new subdirectories, and a forged marker would make ensure skip setup.
const stateDirSDDL = "O:BAD:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FR;;;BU)"

// createDefaultStateDir creates the default state directory with its security
// descriptor already in place (CreateDirectoryW's lpSecurityAttributes: "the
// lpSecurityDescriptor member of the structure specifies a security descriptor for
// the new directory", https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-createdirectoryw),
// so that there is no moment in which it has %ProgramData%'s inherited ACL, under
// which any user may create files in it. An existing directory is left for
// secureStateDir to check.
//
// The owner in the descriptor is Administrators. For a token's default owner, Microsoft
// documents that it "must match a group SID in the token, where the attributes on the
// group must include SE_GROUP_OWNER" (TOKEN_OWNER,
// https://learn.microsoft.com/windows-hardware/drivers/ddi/ntifs/ns-ntifs-_token_owner);
// the CreateDirectoryW page does not spell out the same rule for an owner given in
// lpSecurityAttributes — that an unelevated token (where Administrators is deny-only)
// gets ERROR_INVALID_OWNER is what TestCreateDefaultStateDir checks when run
// unelevated. Either way it fails closed: created through here, the directory has the
// protected DACL from its first moment; created any other way (by an older wfpsandbox,
// by another user), it is owned by its creator, and secureStateDir refuses it unless
// that is Administrators or SYSTEM.
func createDefaultStateDir(dir string) error {
	sd, err := windows.SecurityDescriptorFromString(stateDirSDDL)
	if err != nil {
		return fmt.Errorf("state directory %s: build security descriptor: %w", dir, err)
	}
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return fmt.Errorf("state directory %s: %w", dir, err)
	}
	sa := &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd}
	err = windows.CreateDirectory(p, sa)
	switch {
	case err == nil, errors.Is(err, windows.ERROR_ALREADY_EXISTS):
		return nil
	case errors.Is(err, windows.ERROR_INVALID_OWNER):
		return fmt.Errorf("state directory %s: CreateDirectoryW: %w (only an elevated administrator creates it; run setup elevated)", dir, err)
	}
	return fmt.Errorf("state directory %s: CreateDirectoryW: %w", dir, err)
}

// secureStateDir checks that the default state directory is what setup created, and
// sets its protected DACL. It is fatal for setup when it fails: a directory someone
// else controls would let them forge the marker or plant files setup reads.
//
//   - dir is opened itself, not followed (CreateFileW with FILE_FLAG_BACKUP_SEMANTICS,
//     needed to open a directory, and FILE_FLAG_OPEN_REPARSE_POINT,
//     https://learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-createfilew);
//     GetFileInformationByHandle must show a directory that is not a reparse point (a
//     junction or symbolic link in its place could lead anywhere);
//   - its owner (GetSecurityInfo, OWNER_SECURITY_INFORMATION,
//     https://learn.microsoft.com/windows/win32/api/aclapi/nf-aclapi-getsecurityinfo)
//     must be BUILTIN\Administrators or SYSTEM. Any user may create
//     %ProgramData%\wfpsandbox before setup first runs; its owner may always rewrite its
//     DACL (owners are implicitly granted READ_CONTROL and WRITE_DAC), so setting our
//     DACL on it would protect nothing. Objects an elevated administrator creates are
//     owned by the Administrators group ("for users who are members of the built-in
//     administrators group, the system automatically sets the default owner SID in the
//     access token to the administrators group",
//     https://learn.microsoft.com/windows/win32/ad/how-security-descriptors-are-set-on-new-directory-objects),
//     and createDefaultStateDir names it explicitly;
//   - the DACL is then set, protected, through a handle to the same directory
//     (SetSecurityInfo, which also propagates the inheritable ACEs to the files
//     already in it, https://learn.microsoft.com/windows/win32/api/aclapi/nf-aclapi-setsecurityinfo).
func secureStateDir(dir string) error {
	h, fi, err := openDir(dir, windows.READ_CONTROL|windows.FILE_READ_ATTRIBUTES)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("state directory %s: GetSecurityInfo: %w", dir, err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("state directory %s: owner: %w", dir, err)
	}
	if err := checkStateDir(dir, fi.FileAttributes, owner); err != nil {
		return err
	}

	want, err := windows.SecurityDescriptorFromString(stateDirSDDL)
	if err != nil {
		return fmt.Errorf("state directory %s: build DACL: %w", dir, err)
	}
	dacl, _, err := want.DACL()
	if err != nil {
		return fmt.Errorf("state directory %s: DACL: %w", dir, err)
	}
	hw, fw, err := openDir(dir, windows.READ_CONTROL|windows.WRITE_DAC|windows.FILE_READ_ATTRIBUTES)
	if err != nil {
		return fmt.Errorf("%w (is setup elevated?)", err)
	}
	defer windows.CloseHandle(hw)
	if fw.VolumeSerialNumber != fi.VolumeSerialNumber || fw.FileIndexHigh != fi.FileIndexHigh || fw.FileIndexLow != fi.FileIndexLow {
		return fmt.Errorf("state directory %s: %w: it was replaced while being checked", dir, ErrStateDirOwner)
	}
	err = windows.SetSecurityInfo(hw, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("state directory %s: SetSecurityInfo (protected DACL): %w (is setup elevated?)", dir, err)
	}
	return nil
}

// openDir opens the directory dir itself (no reparse point followed) with access.
func openDir(dir string, access uint32) (windows.Handle, windows.ByHandleFileInformation, error) {
	var fi windows.ByHandleFileInformation
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, fi, fmt.Errorf("state directory %s: %w", dir, err)
	}
	h, err := windows.CreateFile(p, access,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return 0, fi, fmt.Errorf("state directory %s: CreateFileW: %w", dir, err)
	}
	if err := windows.GetFileInformationByHandle(h, &fi); err != nil {
		windows.CloseHandle(h)
		return 0, fi, fmt.Errorf("state directory %s: GetFileInformationByHandle: %w", dir, err)
	}
	return h, fi, nil
}

// checkStateDir is secureStateDir's decision on what it found: a directory, not a
// reparse point, owned by Administrators or SYSTEM.
func checkStateDir(dir string, attrs uint32, owner *windows.SID) error {
	switch {
	case attrs&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0:
		return fmt.Errorf("state directory %s: %w: it is a reparse point (a junction or symbolic link), which could lead anywhere; remove it (rd %s) and run setup again", dir, ErrStateDirOwner, dir)
	case attrs&windows.FILE_ATTRIBUTE_DIRECTORY == 0:
		return fmt.Errorf("state directory %s: %w: it is not a directory; remove it and run setup again", dir, ErrStateDirOwner)
	case owner == nil:
		return fmt.Errorf("state directory %s: %w: it has no owner", dir, ErrStateDirOwner)
	case owner.IsWellKnown(windows.WinBuiltinAdministratorsSid), owner.IsWellKnown(windows.WinLocalSystemSid):
		return nil
	}
	who := owner.String()
	if acct, dom, _, err := owner.LookupAccount(""); err == nil {
		who = fmt.Sprintf(`%s\%s (%s)`, dom, acct, owner.String())
	}
	return fmt.Errorf("state directory %s: %w: it is owned by %s, who could have created it before setup to control what setup reads and writes there; "+
		"inspect its contents, then remove it (rd /s %s) or give it to Administrators (takeown /a /r /d y /f %s), and run setup again",
		dir, ErrStateDirOwner, who, dir, dir)
}
