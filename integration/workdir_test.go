//go:build windows && wfpintegration

package integration

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/selftest"
)

// workDir is the product's shared work directory (selftest.WorkDir: protected DACL,
// an "out" subdirectory every token shape can write to).
type workDir struct{ *selftest.WorkDir }

func newWorkDir(t *testing.T) *workDir {
	t.Helper()
	w, err := selftest.NewWorkDir("wfpsandbox-it-")
	if w != nil {
		t.Cleanup(func() {
			if err := w.Remove(); err != nil {
				t.Error(err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return &workDir{w}
}

// build compiles a package of this module with the go command into t.TempDir() and
// copies the executable into the work directory, where it inherits the directory's ACL.
func (w *workDir) build(t *testing.T, pkg, exeName string, tags ...string) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not in PATH (%v): the integration tests build the CLI with it", err)
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
	dst, err := w.CopyIn(tmp, exeName)
	if err != nil {
		t.Fatalf("copy %s: %v", exeName, err)
	}
	return dst
}
