//go:build windows

package probe

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/internal/winapi"
	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
)

// childTimeout bounds how long a child may run; its plan has a handful of attempts with
// short timeouts.
const childTimeout = 2 * time.Minute

// spawn starts this program again, in the token shape as, to make the plan's attempts;
// the child appends its records to outPath. Everything here is what any process of
// the sandbox account may do without a privilege: CreateRestrictedToken on its own
// token and CreateProcessAsUser with that restricted copy (documented as needing no
// SeAssignPrimaryTokenPrivilege), lowering a copy's integrity level, and AppContainer
// creation.
func spawn(as, planPath, outPath string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := append(append([]string{}, selfArgs...), "-plan", planPath, "-out", outPath, "-as", probeproto.AsPlain, "-label", as)
	switch as {
	case probeproto.AsRestrictedDenyOnly, probeproto.AsRestrictedSIDs:
		tok, err := restrictedToken(as)
		if err != nil {
			return err
		}
		defer tok.Close()
		return runWithToken(tok, self, args)
	case probeproto.AsLowIntegrity:
		tok, err := lowIntegrityToken()
		if err != nil {
			return err
		}
		defer tok.Close()
		return runWithToken(tok, self, args)
	case probeproto.AsAppContainer:
		return runInAppContainer(self, args, true)
	case probeproto.AsAppContainerNoCaps:
		return runInAppContainer(self, args, false)
	default:
		return fmt.Errorf("unknown token shape %q", as)
	}
}

// restrictedToken returns a restricted primary token made from this process's own.
func restrictedToken(as string) (windows.Token, error) {
	var own windows.Token
	const access = windows.TOKEN_DUPLICATE | windows.TOKEN_QUERY | windows.TOKEN_ASSIGN_PRIMARY | windows.TOKEN_ADJUST_DEFAULT
	if err := windows.OpenProcessToken(windows.CurrentProcess(), access, &own); err != nil {
		return 0, fmt.Errorf("OpenProcessToken: %w", err)
	}
	defer own.Close()
	u, err := own.GetTokenUser()
	if err != nil {
		return 0, fmt.Errorf("GetTokenInformation(TokenUser): %w", err)
	}
	var restricted windows.Token
	switch as {
	case probeproto.AsRestrictedDenyOnly:
		// SidsToDisable: the user SID stays in the token but only for deny ACEs.
		disable := []windows.SIDAndAttributes{{Sid: u.User.Sid}}
		err = winapi.CreateRestrictedToken(own, 0, 1, &disable[0], 0, nil, 0, nil, &restricted)
	case probeproto.AsRestrictedSIDs:
		// Restricting SIDs without the user SID: an access check must also pass with
		// only these SIDs. Users keeps System32 readable, Everyone the test directory,
		// RESTRICTED the per-session object directories; none is the user.
		var sids []windows.SIDAndAttributes
		for _, k := range []windows.WELL_KNOWN_SID_TYPE{windows.WinWorldSid, windows.WinBuiltinUsersSid,
			windows.WinAuthenticatedUserSid, windows.WinRestrictedCodeSid} {
			s, err := windows.CreateWellKnownSid(k)
			if err != nil {
				return 0, fmt.Errorf("CreateWellKnownSid(%d): %w", k, err)
			}
			sids = append(sids, windows.SIDAndAttributes{Sid: s})
		}
		err = winapi.CreateRestrictedToken(own, 0, 0, nil, 0, nil, uint32(len(sids)), &sids[0], &restricted)
	}
	if err != nil {
		return 0, fmt.Errorf("CreateRestrictedToken(%s): %w", as, err)
	}
	return restricted, nil
}

// runWithToken runs the child with CreateProcessAsUser (os/exec's Token path) and no
// console (DETACHED_PROCESS), so no console host has to accept the restricted token.
func runWithToken(tok windows.Token, exe string, args []string) error {
	cmd := exec.Command(exe, args...)
	// The parent's environment, not CreateEnvironmentBlock(token) (os/exec's default
	// with a token), which would need more access to the restricted token than the
	// child needs and reads the profile under that token.
	cmd.Env = os.Environ()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Token: syscall.Token(tok), CreationFlags: windows.DETACHED_PROCESS}
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("CreateProcessAsUser with the restricted token: %w", err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("child: %w (stderr: %s)", err, strings.TrimSpace(stderr.String()))
		}
		return nil
	case <-time.After(childTimeout):
		_ = cmd.Process.Kill()
		return fmt.Errorf("child did not finish within %s", childTimeout)
	}
}

// AppContainerName names the probe's AppContainer profile (per user). Its SID is
// derived from the name alone (DeriveAppContainerSidFromAppContainerName), so the
// selftest can give it a loopback exemption before the account's probe creates it.
const AppContainerName = "wfpsandbox.selftest.probe"

// lowIntegrityToken returns a primary copy of this process's token at low mandatory
// integrity, as learn.microsoft.com "Designing Applications to Run at a Low Integrity
// Level" does: DuplicateTokenEx, then SetTokenInformation(TokenIntegrityLevel) with
// the low label S-1-16-4096 (lowering needs no privilege).
func lowIntegrityToken() (windows.Token, error) {
	var own windows.Token
	const access = windows.TOKEN_DUPLICATE | windows.TOKEN_QUERY | windows.TOKEN_ASSIGN_PRIMARY | windows.TOKEN_ADJUST_DEFAULT
	if err := windows.OpenProcessToken(windows.CurrentProcess(), access, &own); err != nil {
		return 0, fmt.Errorf("OpenProcessToken: %w", err)
	}
	defer own.Close()
	var low windows.Token
	if err := windows.DuplicateTokenEx(own, 0, nil, windows.SecurityImpersonation, windows.TokenPrimary, &low); err != nil {
		return 0, fmt.Errorf("DuplicateTokenEx: %w", err)
	}
	sid, err := windows.StringToSid("S-1-16-4096") // SECURITY_MANDATORY_LOW_RID
	if err != nil {
		low.Close()
		return 0, err
	}
	tml := windows.Tokenmandatorylabel{Label: windows.SIDAndAttributes{Sid: sid, Attributes: windows.SE_GROUP_INTEGRITY}}
	if err := windows.SetTokenInformation(low, windows.TokenIntegrityLevel, (*byte)(unsafe.Pointer(&tml)), tml.Size()); err != nil {
		low.Close()
		return 0, fmt.Errorf("SetTokenInformation(TokenIntegrityLevel, low): %w", err)
	}
	return low, nil
}

// runInAppContainer runs the child in an AppContainer — with the internetClient and
// privateNetworkClientServer capabilities when withCaps, so that Windows' own
// AppContainer network isolation lets its non-loopback attempts through and only
// wfpsandbox's filters are left to block them; without any capability otherwise.
// Loopback stays closed to AppContainers whatever the capabilities unless the profile
// has a loopback exemption (NetworkIsolationSetAppContainerConfig, which the selftest
// sets for AppContainerName); the control run shows which.
func runInAppContainer(exe string, args []string, withCaps bool) error {
	name, _ := windows.UTF16PtrFromString(AppContainerName)
	var sid *windows.SID
	err := winapi.CreateAppContainerProfile(name, name, name, nil, 0, &sid)
	if err == winapi.HRESULTAlreadyExists {
		err = winapi.DeriveAppContainerSidFromAppContainerName(name, &sid)
	}
	if err != nil {
		return fmt.Errorf("CreateAppContainerProfile(%s): %w", AppContainerName, err)
	}
	defer windows.FreeSid(sid)
	defer winapi.DeleteAppContainerProfile(name)

	var caps []windows.SIDAndAttributes
	capSIDs := []string{"S-1-15-3-1", "S-1-15-3-3"} // internetClient, privateNetworkClientServer
	if !withCaps {
		capSIDs = nil
	}
	for _, s := range capSIDs {
		c, err := windows.StringToSid(s)
		if err != nil {
			return fmt.Errorf("capability SID %s: %w", s, err)
		}
		caps = append(caps, windows.SIDAndAttributes{Sid: c, Attributes: windows.SE_GROUP_ENABLED})
	}
	sc := winapi.SecurityCapabilities{AppContainerSid: sid, CapabilityCount: uint32(len(caps))}
	if len(caps) > 0 {
		sc.Capabilities = &caps[0]
	}
	attrs, err := windows.NewProcThreadAttributeList(1)
	if err != nil {
		return fmt.Errorf("InitializeProcThreadAttributeList: %w", err)
	}
	defer attrs.Delete()
	if err := attrs.Update(winapi.ProcThreadAttributeSecurityCapabilities, unsafe.Pointer(&sc), unsafe.Sizeof(sc)); err != nil {
		return fmt.Errorf("UpdateProcThreadAttribute(SECURITY_CAPABILITIES): %w", err)
	}
	si := windows.StartupInfoEx{ProcThreadAttributeList: attrs.List()}
	si.Cb = uint32(unsafe.Sizeof(si))
	app, err := windows.UTF16PtrFromString(exe)
	if err != nil {
		return err
	}
	cmdLine, err := windows.UTF16PtrFromString(windows.ComposeCommandLine(append([]string{exe}, args...)))
	if err != nil {
		return err
	}
	var pi windows.ProcessInformation
	err = windows.CreateProcess(app, cmdLine, nil, nil, false,
		windows.EXTENDED_STARTUPINFO_PRESENT|windows.DETACHED_PROCESS, nil, nil, &si.StartupInfo, &pi)
	runtime.KeepAlive(caps)
	runtime.KeepAlive(&sc)
	if err != nil {
		return fmt.Errorf("CreateProcess in AppContainer %s: %w", sid, err)
	}
	defer windows.CloseHandle(pi.Process)
	defer windows.CloseHandle(pi.Thread)
	return waitProcess(pi.Process, childTimeout)
}

// waitProcess waits for a process and turns a non-zero exit code into an error.
func waitProcess(h windows.Handle, timeout time.Duration) error {
	ev, err := windows.WaitForSingleObject(h, uint32(timeout.Milliseconds()))
	if err != nil {
		return fmt.Errorf("WaitForSingleObject: %w", err)
	}
	if ev != windows.WAIT_OBJECT_0 {
		_ = windows.TerminateProcess(h, 1)
		return fmt.Errorf("child did not finish within %s", timeout)
	}
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return fmt.Errorf("GetExitCodeProcess: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("child exited with code %d", code)
	}
	return nil
}
