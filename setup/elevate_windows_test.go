//go:build windows

package setup

import (
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// TestShellExecuteInfoLayout checks the Go mirror against shellExecuteLayout (itself
// checked against the SDK headers by TestShellExecuteInfoABI), and the masks.
func TestShellExecuteInfoLayout(t *testing.T) {
	var s shellExecuteInfo
	want := shellExecuteLayout[int(unsafe.Sizeof(uintptr(0)))]
	if got := unsafe.Sizeof(s); got != want.size {
		t.Errorf("sizeof = %d, want %d", got, want.size)
	}
	if got := unsafe.Offsetof(s.nShow); got != want.nShow {
		t.Errorf("offsetof nShow = %d, want %d", got, want.nShow)
	}
	if got := unsafe.Offsetof(s.hProcess); got != want.hProcess {
		t.Errorf("offsetof hProcess = %d, want %d", got, want.hProcess)
	}
}

func TestShellExecuteMasks(t *testing.T) {
	for name, got := range map[string]uint32{
		"SEE_MASK_NOCLOSEPROCESS": seeMaskNoCloseProcess,
		"SEE_MASK_NOASYNC":        seeMaskNoAsync,
		"SEE_MASK_NO_CONSOLE":     seeMaskNoConsole,
	} {
		if want := shellExecuteMasks[name]; got != want {
			t.Errorf("%s = %#x, want %#x", name, got, want)
		}
	}
}

// TestParametersRoundTrip: the elevated child must see exactly the arguments ensure
// built. The shell's command line is the quoted program path followed by
// lpParameters; CommandLineToArgvW (windows.DecomposeCommandLine) must split it back
// into the same arguments, including a first argument with quotes or a trailing
// backslash, which ComposeCommandLine would mangle as a program name.
func TestParametersRoundTrip(t *testing.T) {
	for _, args := range [][]string{
		{"setup", "--sid", "S-1-5-21-1-2-3-1001", "--state-dir", `C:\ProgramData\wfpsandbox`},
		{`C:\dir with space\`, `say "hi"`, ``, `a\\b`, `tail\`, `x y\\`},
		{`"quoted"`, "--account", `Sandbox "Offline" User`},
	} {
		line := `"C:\Program Files\wfpsandbox\wfpsandbox.exe" ` + parameters(args)
		got, err := windows.DecomposeCommandLine(line)
		if err != nil {
			t.Fatalf("DecomposeCommandLine(%q): %v", line, err)
		}
		if len(got) != len(args)+1 || !slices.Equal(got[1:], args) {
			t.Errorf("parameters(%q) = %q, splits back into %q", args, parameters(args), got[1:])
		}
	}
}
