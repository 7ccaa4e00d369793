//go:build windows && wfpintegration

package main

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

	"github.com/wfpsandbox/wfpsandbox/selftest/probeproto"
	"github.com/wfpsandbox/wfpsandbox/internal/winapi"
)

// childTimeout bounds how long a child may run; its plan has a handful of attempts with
// short timeouts.
const childTimeout = 2 * time.Minute

// spawn starts this program again, in the token shape as, to make the plan's attempts;
// the child appends its records to outPath. Everything here is what any process of
// the sandbox account may do without a privilege: CreateRestrictedToken on its own
// token and CreateProcessAsUser with that restricted copy (documented as needing no
// SeAssignPrimaryTokenPrivilege), and AppContainer creation.
func spawn(as, planPath, outPath string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"-plan", planPath, "-out", outPath, "-as", probeproto.AsPlain, "-label", as}
	switch as {
	case probeproto.AsRestrictedDenyOnly, probeproto.AsRestrictedSIDs:
		tok, err := restrictedToken(as)
		if err != nil {
			return err
		}
		defer tok.Close()
		return runWithToken(tok, self, args)
	case probeproto.AsAppContainer:
		return runInAppContainer(self, args)
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

// appContainerName names the probe's AppContainer profile (per user).
const appContainerName = "wfpsandbox.integration.probe"

// runInAppContainer runs the child in an AppContainer with the internetClient and
// privateNetworkClientServer capabilities, so that Windows' own AppContainer network
// isolation lets its non-loopback attempts through and only wfpsandbox's filters are
// left to block them. Loopback stays closed to AppContainers whatever the capabilities
// (it needs a loopback exemption); the control run shows that.
func runInAppContainer(exe string, args []string) error {
	name, _ := windows.UTF16PtrFromString(appContainerName)
	var sid *windows.SID
	err := winapi.CreateAppContainerProfile(name, name, name, nil, 0, &sid)
	if err == winapi.HRESULTAlreadyExists {
		err = winapi.DeriveAppContainerSidFromAppContainerName(name, &sid)
	}
	if err != nil {
		return fmt.Errorf("CreateAppContainerProfile(%s): %w", appContainerName, err)
	}
	defer windows.FreeSid(sid)
	defer winapi.DeleteAppContainerProfile(name)

	var caps []windows.SIDAndAttributes
	for _, s := range []string{"S-1-15-3-1", "S-1-15-3-3"} { // internetClient, privateNetworkClientServer
		c, err := windows.StringToSid(s)
		if err != nil {
			return fmt.Errorf("capability SID %s: %w", s, err)
		}
		caps = append(caps, windows.SIDAndAttributes{Sid: c, Attributes: windows.SE_GROUP_ENABLED})
	}
	sc := winapi.SecurityCapabilities{AppContainerSid: sid, Capabilities: &caps[0], CapabilityCount: uint32(len(caps))}
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
