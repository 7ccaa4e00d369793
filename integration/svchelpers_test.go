//go:build windows && wfpintegration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/service"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

// cliRunTimeout bounds one CLI run as a temporary account.
const cliRunTimeout = 2 * time.Minute

// requireNoService fails the test when a wfpsandbox service is registered: the test's
// cleanup deletes it, and a developer's real service must not be the price of
// running the tests (as requireCleanHost for the WFP objects).
func requireNoService(t *testing.T) {
	t.Helper()
	st, err := service.Query()
	if err != nil {
		t.Fatalf("query the wfpsandbox service: %v", err)
	}
	if st.Installed {
		t.Fatalf("a wfpsandbox service is already installed (state %s) and the test's cleanup would delete it; "+
			"run `wfpsandbox service uninstall` first if that is intended", st.State)
	}
}

// registerServiceUninstall stops and deletes the wfpsandbox service when the test
// ends, whatever happened. Registered after the work directory (which holds the
// service's executable) and after registerUninstallAll, it runs before both: the
// executable is no longer in use when the directory is removed, and the service no
// longer repairs what the policy cleanup removes.
func registerServiceUninstall(t *testing.T) {
	t.Cleanup(func() {
		err := service.Uninstall(serviceWait)
		switch {
		case errors.Is(err, service.ErrNotInstalled):
		case err != nil:
			t.Errorf("cleanup: uninstall the wfpsandbox service: %v — run `sc.exe delete wfpsandbox`", err)
		default:
			t.Log("cleanup: the wfpsandbox service is stopped and deleted")
		}
	})
}

// cliRun is one run of the CLI: its exit code and output.
type cliRun struct {
	args           []string
	code           uint32
	stdout, stderr string
}

func (r *cliRun) String() string {
	return fmt.Sprintf("wfpsandbox %v → exit %d\nstdout:\n%s\nstderr:\n%s", r.args, r.code, r.stdout, r.stderr)
}

// cmdUnsafe are the characters cmd.exe or the command line would give a meaning to.
const cmdUnsafe = " \t\"&|<>^%()!,;="

// runCLIAs runs the CLI as the temporary account u (TempAccount.Run:
// CreateProcessWithLogonW) and returns its exit code and output. TempAccount.Run
// starts the process in a new, hidden console (CreateProcessWithLogonW's default
// creation flags include CREATE_NEW_CONSOLE) with no handles of this process, so
// what it prints cannot be read here; the CLI is therefore started through
// `cmd.exe /d /c exe args 1>out 2>err`, whose exit code is the CLI's ("cmd /c"
// returns the exit code of the command it ran). No token may hold a character cmd.exe
// or the command-line parsing interprets (cmdUnsafe) — paths of the work directory
// (C:\wfpsandbox-it-…), SIDs, flags and ports do not — so nothing is quoted and
// nothing needs to be; a token that does fails the test instead of being run wrong.
// The output files are in the work directory's out/, which every account may write.
func runCLIAs(t *testing.T, u *tempUser, dir *workDir, exe, name string, args ...string) *cliRun {
	t.Helper()
	stdout := filepath.Join(dir.Out, name+".stdout")
	stderr := filepath.Join(dir.Out, name+".stderr")
	line := append([]string{exe}, args...)
	for _, tok := range append(slices.Clone(line), stdout, stderr) {
		if strings.ContainsAny(tok, cmdUnsafe) {
			t.Fatalf("runCLIAs: %q has a character cmd.exe would interpret (%q); this helper does not quote", tok, cmdUnsafe)
		}
	}
	line = append(line, "1>"+stdout, "2>"+stderr)
	cmdExe := filepath.Join(os.Getenv("SystemRoot"), "System32", "cmd.exe")
	if os.Getenv("SystemRoot") == "" {
		cmdExe = `C:\Windows\System32\cmd.exe`
	}
	code, err := u.Run(cmdExe, append([]string{"/d", "/c"}, line...), dir.Root, cliRunTimeout)
	r := &cliRun{args: args, code: code}
	r.stdout, _ = readText(stdout)
	r.stderr, _ = readText(stderr)
	if err != nil {
		t.Fatalf("run wfpsandbox %v as %s: %v\n%s", args, u.Name, err, r)
	}
	t.Logf("as %s (%s): %s", u.Name, u.SID, r)
	return r
}

// runCLI runs the CLI as the test's own (elevated administrator) account.
func runCLI(t *testing.T, exe string, args ...string) *cliRun {
	t.Helper()
	var stdout, stderr strings.Builder
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := &cliRun{args: args}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = uint32(ee.ExitCode())
	case err != nil:
		t.Fatalf("wfpsandbox %v: %v", args, err)
	}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	t.Logf("as the test's account: %s", r)
	return r
}

// decodeJSON decodes a run's stdout into v, failing the test when it is not JSON.
func decodeJSON(t *testing.T, r *cliRun, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("wfpsandbox %v: stdout is not the JSON document: %v\n%s", r.args, err, r)
	}
}

func readText(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// The pipe-client helper: the test binary itself, run as a temporary account with
// -test.run=^TestServiceAskHelper$ and these flags, sends one request with the
// product's client (service.Ask) and writes what came back to a file. The CLI has no
// command that sends set-proxy-ports on its own (ensure does, but falls back to an
// elevation prompt when the service refuses, which a test run as a standard account
// must not reach), so this is how a caller outside `callers` tries it.
var (
	askRequest = flag.String("wfpsandbox.ask-request", "", "TestServiceAskHelper: file holding the service.Request to send")
	askOut     = flag.String("wfpsandbox.ask-out", "", "TestServiceAskHelper: file to write the askOutcome to")
)

// askOutcome is what the helper writes: the error of service.Ask, whether it wraps
// service.ErrNotAvailable (the pipe could not be used: not there, or refused at
// CreateFileW), and the response when there was one.
type askOutcome struct {
	Error        string            `json:"error,omitempty"`
	NotAvailable bool              `json:"notAvailable"`
	Response     *service.Response `json:"response,omitempty"`
}

// TestServiceAskHelper is not a test: it is the pipe-client helper (see askRequest)
// and skips unless run as one.
func TestServiceAskHelper(t *testing.T) {
	if *askRequest == "" || *askOut == "" {
		t.Skip("the pipe-client helper of TestService; runs only when started by it")
	}
	b, err := os.ReadFile(*askRequest)
	if err != nil {
		t.Fatal(err)
	}
	var req service.Request
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := service.Ask(ctx, &req)
	out := askOutcome{Response: resp}
	if err != nil {
		out.Error, out.NotAvailable = err.Error(), errors.Is(err, service.ErrNotAvailable)
	}
	b, err = json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(*askOut, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// askAs sends req to the service over its pipe from a process of u (the test binary
// as the pipe-client helper) and returns what that process got.
func askAs(t *testing.T, u *tempUser, dir *workDir, helperExe, name string, req *service.Request) *askOutcome {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	reqPath := filepath.Join(dir.Root, name+".request.json")
	if err := os.WriteFile(reqPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(dir.Out, name+".outcome.json")
	code, err := u.Run(helperExe, []string{"-test.run=^TestServiceAskHelper$", "-test.v",
		"-wfpsandbox.ask-request=" + reqPath, "-wfpsandbox.ask-out=" + outPath}, dir.Root, cliRunTimeout)
	if err != nil {
		t.Fatalf("pipe-client helper as %s: %v", u.Name, err)
	}
	data, rerr := os.ReadFile(outPath)
	if code != 0 || rerr != nil {
		t.Fatalf("pipe-client helper as %s exited with %d and wrote no outcome (%v)", u.Name, code, rerr)
	}
	var out askOutcome
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("pipe-client helper's outcome: %v\n%s", err, data)
	}
	t.Logf("as %s (%s): %s %s → %s", u.Name, u.SID, req.Op, req.SID, data)
	return &out
}

// copyTestBinary copies this test executable into the work directory, where the
// temporary accounts may run it (the go command builds it under the runner's own
// profile, out of their reach).
func copyTestBinary(t *testing.T, dir *workDir) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dst, err := dir.CopyIn(self, "integration.test.exe")
	if err != nil {
		t.Fatalf("copy the test binary: %v", err)
	}
	return dst
}

// snapshot is every filter of the wfpsandbox provider, by key, as the engine returns
// them (provider-scoped enumeration, checked against the full one by
// checkInstalledFilters elsewhere: hypothesis 6).
type snapshot map[wfp.GUID]*wfp.Filter

func takeSnapshot(t *testing.T, e wfp.Engine) snapshot {
	t.Helper()
	pk := policy.ProviderKey
	fs, err := e.Filters(&pk)
	if err != nil {
		t.Fatalf("enumerate the wfpsandbox provider's filters: %v", err)
	}
	s := snapshot{}
	for _, f := range fs {
		s[f.Key] = f
	}
	return s
}

func (s snapshot) keys() []string {
	var ks []string
	for k := range s {
		ks = append(ks, k.String())
	}
	slices.Sort(ks)
	return ks
}

// sameFilter reports whether two filters read from the engine are the same object
// definition: every field but the run-time ID, the effective weight (BFE's, not
// ours) and the security descriptor (not returned by enumeration).
func sameFilter(a, b *wfp.Filter) bool {
	ca, cb := *a, *b
	ca.ID, cb.ID = 0, 0
	ca.EffectiveWeight, cb.EffectiveWeight = 0, 0
	ca.SecurityDescriptor, cb.SecurityDescriptor = nil, nil
	return reflect.DeepEqual(ca, cb)
}

// describeFilter is one line about f for failure messages.
func describeFilter(f *wfp.Filter) string {
	if f == nil {
		return "(absent)"
	}
	return fmt.Sprintf("{%s} %q id %d action %s conditions %+v", f.Key, f.Name, f.ID, f.Action.Type, f.Conditions)
}

// registerStrayKill terminates, when the test ends, every process still running one
// of exes (the CLI and the test binary copied into the work directory) other than the
// wfpsandbox service's: a CLI run as a temporary account that outlived its
// cmd.exe (TempAccount.Run terminates only the process it started when its timeout
// passes) would keep the executable in use and the account's profile loaded, so that
// neither could be removed. Registered before registerServiceUninstall, it runs after
// it: the service is stopped by then (and its PID, if it still runs, is skipped).
func registerStrayKill(t *testing.T, exes ...string) {
	t.Cleanup(func() {
		var skip uint32
		if st, err := service.Query(); err == nil {
			skip = st.PID
		}
		// The accounts' processes grant their own user and SYSTEM access, not
		// Administrators: opening them to terminate needs SeDebugPrivilege, which an
		// elevated administrator's token holds disabled.
		if err := enablePrivilege("SeDebugPrivilege"); err != nil {
			t.Logf("cleanup: enable SeDebugPrivilege: %v (stray processes of the accounts may not be opened)", err)
		}
		snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPPROCESS, 0)
		if err != nil {
			t.Logf("cleanup: CreateToolhelp32Snapshot: %v (stray processes not looked for)", err)
			return
		}
		defer windows.CloseHandle(snap)
		var pe windows.ProcessEntry32
		pe.Size = uint32(unsafe.Sizeof(pe))
		for err = windows.Process32First(snap, &pe); err == nil; err = windows.Process32Next(snap, &pe) {
			if pe.ProcessID == 0 || pe.ProcessID == skip || pe.ProcessID == windows.GetCurrentProcessId() {
				continue
			}
			h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION|windows.PROCESS_TERMINATE, false, pe.ProcessID)
			if err != nil {
				continue // not ours to query (a protected or exited process)
			}
			var buf [windows.MAX_LONG_PATH]uint16
			n := uint32(len(buf))
			if windows.QueryFullProcessImageName(h, 0, &buf[0], &n) == nil {
				img := windows.UTF16ToString(buf[:n])
				for _, exe := range exes {
					if strings.EqualFold(img, exe) {
						t.Errorf("cleanup: %s (pid %d) was still running; terminated", img, pe.ProcessID)
						_ = windows.TerminateProcess(h, 1)
					}
				}
			}
			windows.CloseHandle(h)
		}
	})
}

// enablePrivilege enables a privilege the process token holds (AdjustTokenPrivileges;
// a privilege the token does not hold is silently not enabled: ERROR_NOT_ALL_ASSIGNED
// comes with success, and the OpenProcess that needed it then fails).
// https://learn.microsoft.com/windows/win32/api/securitybaseapi/nf-securitybaseapi-adjusttokenprivileges
func enablePrivilege(name string) error {
	var tok windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_ADJUST_PRIVILEGES|windows.TOKEN_QUERY, &tok); err != nil {
		return fmt.Errorf("OpenProcessToken: %w", err)
	}
	defer tok.Close()
	n, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return err
	}
	var luid windows.LUID
	if err := windows.LookupPrivilegeValue(nil, n, &luid); err != nil {
		return fmt.Errorf("LookupPrivilegeValueW(%s): %w", name, err)
	}
	tp := windows.Tokenprivileges{PrivilegeCount: 1}
	tp.Privileges[0] = windows.LUIDAndAttributes{Luid: luid, Attributes: windows.SE_PRIVILEGE_ENABLED}
	if err := windows.AdjustTokenPrivileges(tok, false, &tp, 0, nil, nil); err != nil {
		return fmt.Errorf("AdjustTokenPrivileges(%s): %w", name, err)
	}
	return nil
}
