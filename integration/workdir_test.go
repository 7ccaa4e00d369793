//go:build windows && wfpintegration

package integration

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"
)

// workDir is where the binaries, plans and probe outputs live. t.TempDir() is under the
// test account's profile, which the sandbox account cannot reach, so this directory
// is made at the root of the system drive with an explicit, protected DACL:
//
//   - the directory itself (binaries, plans): SYSTEM and Administrators full control,
//     Everyone and ALL APPLICATION PACKAGES read and execute — so no other account can
//     swap a binary while the test runs;
//   - its "out" subdirectory (probe outputs): additionally Everyone and ALL
//     APPLICATION PACKAGES modify — Everyone because a restricted token's second
//     access check sees only its restricting SIDs, which include Everyone but not the
//     user, and ALL APPLICATION PACKAGES for the AppContainer child — and a low
//     mandatory label, because an AppContainer runs at low integrity and may not write
//     to objects of the default (medium) label whatever their DACL says.
type workDir struct {
	Root string
	Out  string
}

const (
	rootSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;GRGX;;;WD)(A;OICI;GRGX;;;AC)"
	// 0x1301bf: FILE_GENERIC_READ|WRITE|EXECUTE|DELETE (modify). ML;OICI;NW;;;LW: low
	// label, no write-up, inherited by the files the probes create.
	outSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1301bf;;;WD)(A;OICI;0x1301bf;;;AC)S:(ML;OICI;NW;;;LW)"
)

func newWorkDir(t *testing.T) *workDir {
	t.Helper()
	drive := os.Getenv("SystemDrive")
	if drive == "" {
		drive = "C:"
	}
	root, err := os.MkdirTemp(drive+`\`, "wfpsandbox-it-")
	if err != nil {
		t.Fatalf("create the shared test directory: %v", err)
	}
	t.Cleanup(func() {
		// Processes of the account may hold files for a moment after they exit.
		var err error
		for i := 0; i < 10; i++ {
			if err = os.RemoveAll(root); err == nil {
				return
			}
			time.Sleep(time.Second)
		}
		t.Errorf("remove %s: %v", root, err)
	})
	w := &workDir{Root: root, Out: filepath.Join(root, "out")}
	if err := os.Mkdir(w.Out, 0o777); err != nil {
		t.Fatal(err)
	}
	setDACL(t, root, rootSDDL)
	setDACL(t, w.Out, outSDDL)
	return w
}

// setDACL replaces the DACL of path with the one of sddl, protected from inheritance,
// and its mandatory label with the one of sddl, if sddl has one.
func setDACL(t *testing.T, path, sddl string) {
	t.Helper()
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		t.Fatalf("ConvertStringSecurityDescriptorToSecurityDescriptor(%s): %v", sddl, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		t.Fatalf("DACL of %s: %v", sddl, err)
	}
	info := windows.SECURITY_INFORMATION(windows.DACL_SECURITY_INFORMATION | windows.PROTECTED_DACL_SECURITY_INFORMATION)
	var label *windows.ACL
	if strings.Contains(sddl, "S:") {
		if label, _, err = sd.SACL(); err != nil {
			t.Fatalf("SACL of %s: %v", sddl, err)
		}
		info |= windows.LABEL_SECURITY_INFORMATION
	}
	if err := windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, info, nil, nil, dacl, label); err != nil {
		t.Fatalf("SetNamedSecurityInfo(%s): %v", path, err)
	}
}

// build compiles a package of this module with the go command into t.TempDir() and
// copies the executable into the work directory, where it inherits the directory's
// ACL (a copy, not a rename: a renamed file keeps the ACL of where it was made).
func (w *workDir) build(t *testing.T, pkg, exeName string, tags ...string) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not in PATH (%v): the integration tests build the probe and the CLI with it", err)
	}
	tmp := filepath.Join(t.TempDir(), exeName)
	args := []string{"build", "-o", tmp}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	out, err := exec.Command(goCmd, append(args, pkg)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	dst := filepath.Join(w.Root, exeName)
	if err := copyFile(tmp, dst); err != nil {
		t.Fatalf("copy %s: %v", exeName, err)
	}
	return dst
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
