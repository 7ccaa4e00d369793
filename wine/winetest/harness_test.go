//go:build wine

package winetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tools the tests need, with the Debian packages that provide them.
var requiredTools = []struct{ name, packages string }{
	{"wine", "wine wine64"},
	{"wineboot", "wine"},
	{"wineserver", "wine"},
	{"x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64 mingw-w64-x86-64-dev"},
}

// overridesEmu makes Wine load the emulator and the shim from system32 instead of its
// builtin fwpuclnt.dll; overridesStub forces Wine's builtin fwpuclnt.dll stub.
const (
	overridesEmu  = "fwpuclnt=n;bcryptprimitives=n"
	overridesStub = "fwpuclnt=b;bcryptprimitives=n"
)

// harness is shared by every test of the binary: one Wine prefix, one build of each DLL.
type harness struct {
	root   string // repository root
	work   string // temporary directory of this test binary
	bin    string // built DLLs and programs
	prefix string // WINEPREFIX

	exeOnce sync.Once
	exe     string
	exeErr  error

	sidOnce sync.Once
	sid     string
	sidErr  error

	delOnce sync.Once
	delExe  string
	delErr  error
}

var h *harness

func TestMain(m *testing.M) {
	var err error
	h, err = newHarness()
	if err != nil {
		fmt.Fprintf(os.Stderr, "winetest: %v\n", err)
		if h != nil {
			h.close()
		}
		os.Exit(1)
	}
	code := m.Run()
	h.close()
	os.Exit(code)
}

func newHarness() (*harness, error) {
	var missing []string
	for _, t := range requiredTools {
		if _, err := exec.LookPath(t.name); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian: apt-get install %s)", t.name, t.packages))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing tools, the Wine tests cannot run:\n  %s", strings.Join(missing, "\n  "))
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "winetest-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	hh := &harness{root: root, work: work, bin: filepath.Join(work, "bin"), prefix: filepath.Join(work, "prefix")}
	if err := os.MkdirAll(hh.bin, 0o755); err != nil {
		return hh, err
	}
	if err := hh.buildDLLs(); err != nil {
		return hh, err
	}
	start := time.Now()
	if err := hh.makePrefix(); err != nil {
		return hh, err
	}
	fmt.Fprintf(os.Stderr, "winetest: Wine prefix ready in %s\n", time.Since(start).Round(time.Millisecond))
	return hh, nil
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside the module")
	}
	return filepath.Dir(mod), nil
}

// mingw compiles C with the flags every wine/ artefact uses.
func (hh *harness) mingw(out string, args ...string) error {
	full := append([]string{"-O2", "-Wall", "-Wextra", "-Werror", "-std=gnu11", "-o", out}, args...)
	cmd := exec.Command("x86_64-w64-mingw32-gcc", full...)
	cmd.Dir = hh.root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("x86_64-w64-mingw32-gcc -o %s: %w\n%s", filepath.Base(out), err, b)
	}
	return nil
}

func (hh *harness) buildDLLs() error {
	srcs, err := filepath.Glob(filepath.Join(hh.root, "wine", "fwpemu", "*.c"))
	if err != nil || len(srcs) == 0 {
		return fmt.Errorf("no C sources in wine/fwpemu: %v", err)
	}
	args := append([]string{"-shared", "-static-libgcc"}, srcs...)
	args = append(args, filepath.Join(hh.root, "wine", "fwpemu", "fwpuclnt.def"), "-ladvapi32")
	if err := hh.mingw(filepath.Join(hh.bin, "fwpuclnt.dll"), args...); err != nil {
		return err
	}
	return hh.mingw(filepath.Join(hh.bin, "bcryptprimitives.dll"), "-shared", "-static-libgcc",
		filepath.Join(hh.root, "wine", "prng", "prng.c"), filepath.Join(hh.root, "wine", "prng", "bcryptprimitives.def"),
		"-ladvapi32")
}

// wineEnv is the environment of every Wine process: the test's own, minus anything that
// would steer Wine or the emulator, plus the prefix and the given overrides.
func (hh *harness) wineEnv(overrides string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "WINE") || strings.HasPrefix(kv, "WFPEMU_") || strings.HasPrefix(kv, "DISPLAY=") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "WINEPREFIX="+hh.prefix, "WINEDEBUG=-all", "DISPLAY=", "WINEDLLOVERRIDES="+overrides)
	return append(env, extra...)
}

func (hh *harness) makePrefix() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, args := range [][]string{{"wineboot", "-i"}, {"wineserver", "-w"}} {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = hh.wineEnv("")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, b)
		}
	}
	sys32 := filepath.Join(hh.prefix, "drive_c", "windows", "system32")
	for _, dll := range []string{"fwpuclnt.dll", "bcryptprimitives.dll"} {
		if err := copyFile(filepath.Join(hh.bin, dll), filepath.Join(sys32, dll)); err != nil {
			return fmt.Errorf("install %s into the prefix: %w", dll, err)
		}
	}
	return nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

func (hh *harness) close() {
	if _, err := os.Stat(hh.prefix); err == nil {
		cmd := exec.Command("wineserver", "-k")
		cmd.Env = hh.wineEnv("")
		_ = cmd.Run()
	}
	if os.Getenv("WINETEST_KEEP") == "" {
		_ = os.RemoveAll(hh.work)
	} else {
		fmt.Fprintf(os.Stderr, "winetest: kept %s\n", hh.work)
	}
}

// goBuild cross-compiles a package of this module for windows/amd64.
func (hh *harness) goBuild(pkg, out string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = hh.root
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("GOOS=windows GOARCH=amd64 go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// goTestBinary compiles the tests of a package for windows/amd64 with extra build tags.
func (hh *harness) goTestBinary(pkg, tags, out string) error {
	cmd := exec.Command("go", "test", "-c", "-tags", tags, "-o", out, pkg)
	cmd.Dir = hh.root
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("GOOS=windows GOARCH=amd64 go test -c -tags %s %s: %w\n%s", tags, pkg, err, b)
	}
	return nil
}

// wfpsandboxExe builds wfpsandbox.exe once; every test that needs it fails if it does not build.
func (hh *harness) wfpsandboxExe(t *testing.T) string {
	t.Helper()
	hh.exeOnce.Do(func() {
		hh.exe = filepath.Join(hh.bin, "wfpsandbox.exe")
		hh.exeErr = hh.goBuild("./cmd/wfpsandbox", hh.exe)
	})
	if hh.exeErr != nil {
		t.Fatal(hh.exeErr)
	}
	return hh.exe
}

// userSID is the SID of the prefix's user (testdata/tokenuser.c). Setup resolves the
// sandbox account with LookupAccountSid, and Wine knows no other ordinary account, so the
// CLI tests sandbox this one.
func (hh *harness) userSID(t *testing.T) string {
	t.Helper()
	hh.sidOnce.Do(func() {
		exe := filepath.Join(hh.bin, "tokenuser.exe")
		if hh.sidErr = hh.mingw(exe, filepath.Join(hh.root, "wine", "winetest", "testdata", "tokenuser.c"), "-ladvapi32"); hh.sidErr != nil {
			return
		}
		cmd := exec.Command("wine", exe)
		cmd.Env = hh.wineEnv(overridesEmu)
		out, err := cmd.Output()
		hh.sid = strings.TrimSpace(string(out))
		if err != nil || !strings.HasPrefix(hh.sid, "S-1-5-21-") {
			hh.sidErr = fmt.Errorf("tokenuser.exe: %q, %v", hh.sid, err)
		}
	})
	if hh.sidErr != nil {
		t.Fatal(hh.sidErr)
	}
	return hh.sid
}

// deleteFirstFilter is a tamperer in a process of its own: it takes the first filter of
// dir's emulator store and deletes it by key through the WFP API
// (testdata/delfilter.c: FwpmEngineOpen0, FwpmFilterDeleteByKey0), as another tool on
// the host would, and returns its key once that process has deleted it (a service
// watching may put it back at once, so the store is not checked here).
func (hh *harness) deleteFirstFilter(t *testing.T, dir, name string) string {
	t.Helper()
	hh.delOnce.Do(func() {
		hh.delExe = filepath.Join(hh.bin, "delfilter.exe")
		hh.delErr = hh.mingw(hh.delExe, filepath.Join(hh.root, "wine", "winetest", "testdata", "delfilter.c"), "-lfwpuclnt", "-lrpcrt4")
	})
	if hh.delErr != nil {
		t.Fatal(hh.delErr)
	}
	key := ""
	for _, line := range strings.Split(fileText(t, filepath.Join(dir, "state.txt")), "\n") {
		if strings.HasPrefix(line, "F ") {
			key = strings.Fields(line)[1]
			break
		}
	}
	if key == "" {
		t.Fatal("no filter in the emulator's store")
	}
	r := hh.run(t, runOpts{dir: dir, name: name}, hh.delExe, key)
	dels := r.log.calls("FwpmFilterDeleteByKey0")
	if r.code != 0 || len(dels) != 1 || dels[0].Status != statusOK {
		t.Fatalf("delfilter %s: %s\ncalls: %+v", key, r.describe(), dels)
	}
	return key
}

// run is one Wine process: its exit code, output and the emulator's log of its calls.
type run struct {
	code           int
	stdout, stderr string
	log            callLog
	elapsed        time.Duration
}

// runOpts says how to run: the directory holding the emulator's state file, the name
// of this run's call log (one log per process keeps runs apart), overrides and extra
// environment.
type runOpts struct {
	dir       string
	name      string
	overrides string
	env       []string
}

func (hh *harness) run(t *testing.T, o runOpts, exe string, args ...string) run {
	t.Helper()
	if o.overrides == "" {
		o.overrides = overridesEmu
	}
	logPath := filepath.Join(o.dir, o.name+".jsonl")
	// wfpsandbox's own state (marker, lock, log) stays in the test's directory too.
	env := hh.wineEnv(o.overrides, append([]string{
		"WFPEMU_LOG=" + logPath,
		"WFPEMU_STATE=" + filepath.Join(o.dir, "state.txt"),
		"WFPSANDBOX_STATE_DIR=Z:" + filepath.Join(o.dir, "wfpsandbox-state"),
	}, o.env...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	var err error
	for attempt := 1; ; attempt++ {
		cmd := exec.CommandContext(ctx, "wine", append([]string{exe}, args...)...)
		cmd.Env = env
		cmd.Dir = o.dir
		stdout.Reset()
		stderr.Reset()
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err = cmd.Run()
		// The Wine loader could not reach the prefix's wineserver (seen once in CI: it
		// was exiting, 3 s after its last client, as a new process connected): the
		// program never ran, so running it again is the same test. Once only.
		if attempt == 1 && err != nil && strings.Contains(stderr.String(), "wine client error") && stdout.Len() == 0 {
			t.Logf("wine %s: %s; running it again", filepath.Base(exe), strings.TrimSpace(stderr.String()))
			continue
		}
		break
	}
	r := run{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("wine %s %s: %v\nstderr:\n%s", filepath.Base(exe), strings.Join(args, " "), err, r.stderr)
	}
	if ctx.Err() != nil {
		t.Fatalf("wine %s %s: timed out", filepath.Base(exe), strings.Join(args, " "))
	}
	r.log = readCallLog(t, logPath)
	t.Logf("wine %s %s: exit %d in %s, %d logged calls", filepath.Base(exe), strings.Join(args, " "), r.code,
		r.elapsed.Round(time.Millisecond), len(r.log))
	return r
}

// describe is the run's output for failure messages.
func (r run) describe() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

func fileText(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
