//go:build windows && wfpintegration

package integration

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/internal/winapi"
)

// tempUser is a local account created for one test run.
type tempUser struct {
	Name     string
	Password string
	SID      string
}

// newTempUser creates a local standard user with a random name and a random strong
// password. Its deletion — profile first, then the account — is registered with
// t.Cleanup before anything else can fail, so it runs whatever happens next.
func newTempUser(t *testing.T) *tempUser {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	u := &tempUser{Name: "wfpsbx" + hex.EncodeToString(b[:]), Password: randomPassword(t)}
	name, _ := windows.UTF16PtrFromString(u.Name)
	pass, _ := windows.UTF16PtrFromString(u.Password)
	comment, _ := windows.UTF16PtrFromString("temporary wfpsandbox integration-test account; safe to delete")
	info := winapi.UserInfo1{
		Name:     name,
		Password: pass,
		Priv:     winapi.UserPrivUser,
		Comment:  comment,
		Flags:    winapi.UFScript | winapi.UFNormalAccount | winapi.UFDontExpirePasswd,
	}
	var parmErr uint32
	if err := winapi.NetUserAdd(nil, 1, (*byte)(unsafe.Pointer(&info)), &parmErr); err != nil {
		t.Fatalf("NetUserAdd(%s): %v (parm_err %d)", u.Name, err, parmErr)
	}
	t.Cleanup(func() { u.delete(t) })
	sid, _, _, err := windows.LookupSID("", u.Name)
	if err != nil {
		t.Fatalf("LookupAccountName(%s): %v", u.Name, err)
	}
	u.SID = sid.String()
	t.Logf("created local account %s (%s)", u.Name, u.SID)
	return u
}

// delete removes the account's profile (created when the probe ran with
// LOGON_WITH_PROFILE; absent otherwise) and then the account. A profile stays loaded
// for a moment after the last process of the account exits, so deletion is retried.
func (u *tempUser) delete(t *testing.T) {
	if u.SID != "" {
		sid, _ := windows.UTF16PtrFromString(u.SID)
		var err error
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
			err = winapi.DeleteProfile(sid, nil, nil)
			if err == nil || errors.Is(err, windows.ERROR_FILE_NOT_FOUND) || errors.Is(err, windows.ERROR_PATH_NOT_FOUND) ||
				time.Now().After(deadline) {
				break
			}
		}
		if err != nil && !errors.Is(err, windows.ERROR_FILE_NOT_FOUND) && !errors.Is(err, windows.ERROR_PATH_NOT_FOUND) {
			t.Errorf("DeleteProfile(%s): %v — the profile of the temporary account is left behind", u.SID, err)
		}
	}
	name, _ := windows.UTF16PtrFromString(u.Name)
	if err := winapi.NetUserDel(nil, name); err != nil && !errors.Is(err, winapi.NERRUserNotFound) {
		t.Errorf("NetUserDel(%s): %v — the temporary account is left behind", u.Name, err)
		return
	}
	t.Logf("deleted local account %s and its profile", u.Name)
}

// randomPassword returns 24 characters from crypto/rand with at least one upper-case
// letter, lower-case letter, digit and symbol, which satisfies the default complexity
// policy (whose other rule, not containing the 14-character account name, a random
// draw cannot realistically break).
func randomPassword(t *testing.T) string {
	classes := []string{"ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz", "23456789", "!#%*+-=?@^_"}
	all := classes[0] + classes[1] + classes[2] + classes[3]
	pick := func(set string) byte {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			t.Fatal(err)
		}
		return set[n.Int64()]
	}
	pw := make([]byte, 0, 24)
	for _, c := range classes {
		pw = append(pw, pick(c))
	}
	for len(pw) < cap(pw) {
		pw = append(pw, pick(all))
	}
	// Shuffle so the class order is not fixed (Fisher–Yates).
	for i := len(pw) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			t.Fatal(err)
		}
		pw[i], pw[j.Int64()] = pw[j.Int64()], pw[i]
	}
	return string(pw)
}

// run starts exe as the account with CreateProcessWithLogonW (LOGON_WITH_PROFILE),
// waits for it and returns its exit code. CreateProcessWithLogonW rather than
// LogonUser + CreateProcessAsUser: the latter needs SeAssignPrimaryTokenPrivilege,
// which an elevated administrator does not hold, while the secondary-logon service does
// the work here and also grants the new logon access to the window station and desktop.
// The window is hidden; output goes to files (see the probe's doc).
func (u *tempUser) run(exe string, args []string, dir string, timeout time.Duration) (uint32, error) {
	user, _ := windows.UTF16PtrFromString(u.Name)
	domain, _ := windows.UTF16PtrFromString(".")
	pass, _ := windows.UTF16PtrFromString(u.Password)
	app, err := windows.UTF16PtrFromString(exe)
	if err != nil {
		return 0, err
	}
	cmdLine, err := windows.UTF16PtrFromString(windows.ComposeCommandLine(append([]string{exe}, args...)))
	if err != nil {
		return 0, err
	}
	cwd, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, err
	}
	si := windows.StartupInfo{Flags: windows.STARTF_USESHOWWINDOW, ShowWindow: windows.SW_HIDE}
	si.Cb = uint32(unsafe.Sizeof(si))
	var pi windows.ProcessInformation
	if err := winapi.CreateProcessWithLogon(user, domain, pass, winapi.LogonWithProfile, app, cmdLine, 0, nil, cwd, &si, &pi); err != nil {
		return 0, fmt.Errorf("CreateProcessWithLogonW(%s, %s): %w", u.Name, exe, err)
	}
	defer windows.CloseHandle(pi.Process)
	defer windows.CloseHandle(pi.Thread)
	ev, err := windows.WaitForSingleObject(pi.Process, uint32(timeout.Milliseconds()))
	if err != nil {
		return 0, fmt.Errorf("WaitForSingleObject: %w", err)
	}
	if ev != windows.WAIT_OBJECT_0 {
		_ = windows.TerminateProcess(pi.Process, 1)
		return 0, fmt.Errorf("%s as %s did not finish within %s", exe, u.Name, timeout)
	}
	var code uint32
	if err := windows.GetExitCodeProcess(pi.Process, &code); err != nil {
		return 0, fmt.Errorf("GetExitCodeProcess: %w", err)
	}
	return code, nil
}
