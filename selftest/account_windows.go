//go:build windows

package selftest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/wfpsandbox/wfpsandbox/internal/winapi"
)

// TempAccount is a local standard account created for one selftest (or integration
// test) run: random name, random password held only in this process's memory, member
// of no group but the default Users (USER_PRIV_USER), never Administrators.
type TempAccount struct {
	Name     string
	password string
	SID      string
}

// NewTempAccount creates a local standard user with a random name and a random strong
// password (NetUserAdd level 1, USER_PRIV_USER). The caller must Delete it, also on
// failure: it returns a non-nil account whenever NetUserAdd succeeded, even with an
// error from a later step.
func NewTempAccount(comment string) (*TempAccount, error) {
	name, err := RandomAccountName()
	if err != nil {
		return nil, err
	}
	return CreateTempAccount(name, comment)
}

// RandomAccountName returns AccountNamePrefix and eight random hex digits: a name can be
// recorded (the selftest's crash record) before the account is created.
func RandomAccountName() (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return AccountNamePrefix + hex.EncodeToString(b[:]), nil
}

// CreateTempAccount is NewTempAccount with the name chosen by the caller.
func CreateTempAccount(name, comment string) (*TempAccount, error) {
	pw, err := randomPassword()
	if err != nil {
		return nil, err
	}
	u := &TempAccount{Name: name, password: pw}
	uname, _ := windows.UTF16PtrFromString(u.Name)
	pass, _ := windows.UTF16PtrFromString(u.password)
	cmt, _ := windows.UTF16PtrFromString(comment)
	info := winapi.UserInfo1{
		Name:     uname,
		Password: pass,
		Priv:     winapi.UserPrivUser,
		Comment:  cmt,
		Flags:    winapi.UFScript | winapi.UFNormalAccount | winapi.UFDontExpirePasswd,
	}
	var parmErr uint32
	if err := winapi.NetUserAdd(nil, 1, (*byte)(unsafe.Pointer(&info)), &parmErr); err != nil {
		return nil, fmt.Errorf("NetUserAdd(%s): %w (parm_err %d)", u.Name, err, parmErr)
	}
	sid, _, _, err := windows.LookupSID("", u.Name)
	if err != nil {
		return u, fmt.Errorf("LookupAccountName(%s): %w", u.Name, err)
	}
	u.SID = sid.String()
	return u, nil
}

// Delete removes the account's profile (created when the probe ran with
// LOGON_WITH_PROFILE; absent otherwise; DeleteProfileW) and then the account
// (NetUserDel). A profile stays loaded for a moment after the last process of the
// account exits, so deletion is retried for up to 30 s. Every failure is returned.
func (u *TempAccount) Delete() error { return u.DeleteBy(time.Now().Add(30 * time.Second)) }

// DeleteBy is Delete retrying the profile's deletion until deadline only (the
// selftest's cleanup once the console is closed has seconds).
func (u *TempAccount) DeleteBy(deadline time.Time) error {
	var errs []error
	if u.SID != "" {
		sid, _ := windows.UTF16PtrFromString(u.SID)
		var err error
		for ; ; time.Sleep(500 * time.Millisecond) {
			err = winapi.DeleteProfile(sid, nil, nil)
			if err == nil || errors.Is(err, windows.ERROR_FILE_NOT_FOUND) || errors.Is(err, windows.ERROR_PATH_NOT_FOUND) ||
				time.Now().After(deadline) {
				break
			}
		}
		if err != nil && !errors.Is(err, windows.ERROR_FILE_NOT_FOUND) && !errors.Is(err, windows.ERROR_PATH_NOT_FOUND) {
			errs = append(errs, fmt.Errorf("DeleteProfileW(%s): %w — the profile of the temporary account is left behind", u.SID, err))
		}
	}
	name, _ := windows.UTF16PtrFromString(u.Name)
	if err := winapi.NetUserDel(nil, name); err != nil && !errors.Is(err, winapi.NERRUserNotFound) {
		errs = append(errs, fmt.Errorf("NetUserDel(%s): %w — the temporary account is left behind", u.Name, err))
	}
	return errors.Join(errs...)
}

// randomPassword returns 24 characters from crypto/rand with at least one upper-case
// letter, lower-case letter, digit and symbol, which satisfies the default complexity
// policy (whose other rule, not containing the 14-character account name, a random
// draw cannot realistically break).
func randomPassword() (string, error) {
	classes := []string{"ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz", "23456789", "!#%*+-=?@^_"}
	all := classes[0] + classes[1] + classes[2] + classes[3]
	var rerr error
	pick := func(set string) byte {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			rerr = err
			return set[0]
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
			return "", err
		}
		pw[i], pw[j.Int64()] = pw[j.Int64()], pw[i]
	}
	if rerr != nil {
		return "", rerr
	}
	return string(pw), nil
}

// Run starts exe as the account with CreateProcessWithLogonW (LOGON_WITH_PROFILE),
// waits for it and returns its exit code. CreateProcessWithLogonW rather than
// LogonUser + CreateProcessAsUser: the latter needs SeAssignPrimaryTokenPrivilege,
// which an elevated administrator does not hold, while the secondary-logon service does
// the work here and also grants the new logon access to the window station and desktop.
// The window is hidden; output goes to files (see the probe's doc).
func (u *TempAccount) Run(exe string, args []string, dir string, timeout time.Duration) (uint32, error) {
	return u.RunContext(context.Background(), exe, args, dir, timeout)
}

// RunContext is Run that also ends the process (TerminateProcess) when ctx is done, so
// that Ctrl+C or a closed console does not wait for the probe's timeout.
func (u *TempAccount) RunContext(ctx context.Context, exe string, args []string, dir string, timeout time.Duration) (uint32, error) {
	user, _ := windows.UTF16PtrFromString(u.Name)
	domain, _ := windows.UTF16PtrFromString(".")
	pass, _ := windows.UTF16PtrFromString(u.password)
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
	terminated := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(terminated)
		_ = windows.TerminateProcess(pi.Process, 1)
	})
	// The handle is closed only once the AfterFunc cannot run any more, or has finished.
	defer func() {
		if !stop() {
			<-terminated
		}
	}()
	ev, err := windows.WaitForSingleObject(pi.Process, uint32(timeout.Milliseconds()))
	if err != nil {
		return 0, fmt.Errorf("WaitForSingleObject: %w", err)
	}
	if ev != windows.WAIT_OBJECT_0 {
		_ = windows.TerminateProcess(pi.Process, 1)
		return 0, fmt.Errorf("%s as %s did not finish within %s", exe, u.Name, timeout)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%s as %s: ended: %w", exe, u.Name, context.Cause(ctx))
	}
	var code uint32
	if err := windows.GetExitCodeProcess(pi.Process, &code); err != nil {
		return 0, fmt.Errorf("GetExitCodeProcess: %w", err)
	}
	return code, nil
}
