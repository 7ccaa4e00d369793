//go:build windows

package selftest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// WorkDir is where the probe helper's executable, plans and outputs live during a run.
// A directory under the caller's profile is out of the account's reach, so it is made
// at the root of the system drive with an explicit, protected DACL:
//
//   - the directory itself (executable, plans): SYSTEM and Administrators full control,
//     Everyone and ALL APPLICATION PACKAGES read and execute — so no other account can
//     swap the executable while the run uses it;
//   - its "out" subdirectory (probe outputs): additionally Everyone and ALL
//     APPLICATION PACKAGES modify — Everyone because a restricted token's second
//     access check sees only its restricting SIDs, which include Everyone but not the
//     user, and ALL APPLICATION PACKAGES for the AppContainer child — and a low
//     mandatory label, because AppContainer and low-integrity children may not write
//     to objects of the default (medium) label whatever their DACL says.
type WorkDir struct {
	Root string
	Out  string
}

const (
	rootSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;GRGX;;;WD)(A;OICI;GRGX;;;AC)"
	// 0x1301bf: FILE_GENERIC_READ|WRITE|EXECUTE|DELETE (modify). ML;OICI;NW;;;LW: low
	// label, no write-up, inherited by the files the probes create.
	outSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1301bf;;;WD)(A;OICI;0x1301bf;;;AC)S:(ML;OICI;NW;;;LW)"
)

// NewWorkDir creates the directory (prefix and 16 random hex digits name it) with the
// ACLs above. The caller must Remove it.
func NewWorkDir(prefix string) (*WorkDir, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	return NewWorkDirAt(WorkDirRoot() + prefix + hex.EncodeToString(b[:]))
}

// WorkDirRoot is the system drive's root, where work directories are made.
func WorkDirRoot() string {
	drive := os.Getenv("SystemDrive")
	if drive == "" {
		drive = "C:"
	}
	return drive + `\`
}

// NewWorkDirAt is NewWorkDir at a path the caller chose (and recorded) beforehand; it
// fails if anything is already there.
//
// The directory is created with its protected DACL already in place (CreateDirectoryW's
// lpSecurityAttributes: "the lpSecurityDescriptor member of the structure specifies a
// security descriptor for the new directory",
// learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-createdirectoryw), never
// with what it would inherit from the drive's root: there, by default, Authenticated
// Users get Modify on every new subfolder ("NT AUTHORITY\Authenticated
// Users:(OI)(CI)(IO)(M)" on C:\, the Windows 10 STIG's check text of the default), so
// between a plain mkdir and the DACL any user who watches C:\ could plant the probe
// helper's executable (a file of theirs, which they could rewrite before this
// administrator runs it) or a link.
func NewWorkDirAt(root string) (*WorkDir, error) {
	if err := mkdirSD(root, rootSDDL); err != nil {
		return nil, fmt.Errorf("create the shared work directory: %w", err)
	}
	if afterWorkDirMkdir != nil {
		afterWorkDirMkdir(root)
	}
	return prepareWorkDir(root)
}

// afterWorkDirMkdir, when set (tests), sees the directory just after it was created.
var afterWorkDirMkdir func(root string)

// mkdirSD creates the directory path with the security descriptor of sddl from its
// first moment; it fails if anything is at path.
func mkdirSD(path, sddl string) error {
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return fmt.Errorf("ConvertStringSecurityDescriptorToSecurityDescriptor(%s): %w", sddl, err)
	}
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return err
	}
	sa := &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd}
	if err := windows.CreateDirectory(p, sa); err != nil {
		return &os.PathError{Op: "CreateDirectoryW", Path: path, Err: err}
	}
	return nil
}

func prepareWorkDir(root string) (*WorkDir, error) {
	w := &WorkDir{Root: root, Out: filepath.Join(root, "out")}
	// Made inside the protected root, "out" inherits its DACL (no one else may write)
	// until setDACL opens it to the probes.
	if err := os.Mkdir(w.Out, 0o777); err != nil {
		return w, err
	}
	if err := setDACL(root, rootSDDL); err != nil {
		return w, err
	}
	return w, setDACL(w.Out, outSDDL)
}

// Remove deletes the directory, retrying for a while: processes of the account may
// hold files for a moment after they exit.
func (w *WorkDir) Remove() error { return w.RemoveBy(time.Now().Add(10 * time.Second)) }

// RemoveBy is Remove retrying until deadline only.
func (w *WorkDir) RemoveBy(deadline time.Time) error {
	var err error
	for {
		if err = os.RemoveAll(w.Root); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("remove %s: %w", w.Root, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// CopyIn copies the file src into the directory as name, where it inherits the
// directory's ACL (a copy, not a rename: a renamed file keeps the ACL of where it was
// made), and returns its path.
func (w *WorkDir) CopyIn(src, name string) (string, error) {
	dst := filepath.Join(w.Root, name)
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	// O_EXCL: a file already there is not ours to write (and keeps its own owner and
	// DACL), so it is refused rather than truncated and run.
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return "", err
	}
	return dst, out.Close()
}

// setDACL replaces the DACL of path with the one of sddl, protected from inheritance,
// and its mandatory label with the one of sddl, if sddl has one.
func setDACL(path, sddl string) error {
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return fmt.Errorf("ConvertStringSecurityDescriptorToSecurityDescriptor(%s): %w", sddl, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("DACL of %s: %w", sddl, err)
	}
	info := windows.SECURITY_INFORMATION(windows.DACL_SECURITY_INFORMATION | windows.PROTECTED_DACL_SECURITY_INFORMATION)
	var label *windows.ACL
	if strings.Contains(sddl, "S:") {
		if label, _, err = sd.SACL(); err != nil {
			return fmt.Errorf("SACL of %s: %w", sddl, err)
		}
		info |= windows.LABEL_SECURITY_INFORMATION
	}
	if err := windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, info, nil, nil, dacl, label); err != nil {
		return fmt.Errorf("SetNamedSecurityInfo(%s): %w", path, err)
	}
	return nil
}
