//go:build unix

package setup

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestShellExecuteInfoABI compiles static assertions of shellExecuteLayout and
// shellExecuteMasks against the mingw-w64 SDK headers (shellapi.h) for 64- and 32-bit
// Windows. It needs x86_64-w64-mingw32-gcc and i686-w64-mingw32-gcc and fails without
// them.
func TestShellExecuteInfoABI(t *testing.T) {
	for _, cc := range []struct {
		compiler string
		ptr      int
	}{{"x86_64-w64-mingw32-gcc", 8}, {"i686-w64-mingw32-gcc", 4}} {
		path, err := exec.LookPath(cc.compiler)
		if err != nil {
			t.Fatalf("%s not found (install gcc-mingw-w64): %v", cc.compiler, err)
		}
		l := shellExecuteLayout[cc.ptr]
		var b strings.Builder
		b.WriteString("#include <windows.h>\n#include <shellapi.h>\n#include <stddef.h>\n")
		fmt.Fprintf(&b, "_Static_assert(sizeof(void*) == %d, \"pointer size\");\n", cc.ptr)
		fmt.Fprintf(&b, "_Static_assert(sizeof(SHELLEXECUTEINFOW) == %d, \"size\");\n", l.size)
		fmt.Fprintf(&b, "_Static_assert(offsetof(SHELLEXECUTEINFOW, nShow) == %d, \"nShow\");\n", l.nShow)
		fmt.Fprintf(&b, "_Static_assert(offsetof(SHELLEXECUTEINFOW, hProcess) == %d, \"hProcess\");\n", l.hProcess)
		for name, v := range shellExecuteMasks {
			fmt.Fprintf(&b, "_Static_assert(%s == 0x%X, \"%s\");\n", name, v, name)
		}
		src := filepath.Join(t.TempDir(), "sei.c")
		if err := os.WriteFile(src, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(path, "-fsyntax-only", src).CombinedOutput()
		if err != nil {
			t.Errorf("%s: the SDK disagrees with shellExecuteLayout/shellExecuteMasks: %v\n%s", cc.compiler, err, out)
		}
	}
}
