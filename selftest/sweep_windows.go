//go:build windows

package selftest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"

	"github.com/wfpsandbox/wfpsandbox/internal/winapi"
	"github.com/wfpsandbox/wfpsandbox/selftest/probe"
	"github.com/wfpsandbox/wfpsandbox/setup"
)

// sweepRetry bounds the retries of each deletion of the sweep.
const sweepRetry = 5 * time.Second

func init() {
	if probe.AppContainerName != probeAppContainer {
		panic("selftest: probeAppContainer differs from probe.AppContainerName")
	}
}

// beginCrashRecord is the first thing Run does once elevated: it opens the crash record
// in the state directory (opts.StateDir, else setup.DefaultStateDir(), prepared as setup
// prepares it), taking the selftest lock — so a second selftest refuses to start — and
// sweeps what a run that died left (rep.Swept); what the sweep could not undo is carried
// into this run's record. An error means nothing was changed (a corrupt record is
// refused, never guessed at).
func beginCrashRecord(opts RunOptions, rep *Report, log *slog.Logger) (*Journal, error) {
	dir := opts.StateDir
	if dir == "" {
		d, err := setup.DefaultStateDir()
		if err != nil {
			return nil, fmt.Errorf("the state directory for the selftest's crash record: %w; nothing was changed", err)
		}
		dir = d
	}
	if err := setup.PrepareStateDir(dir); err != nil {
		return nil, fmt.Errorf("the state directory for the selftest's crash record: %w; nothing was changed", err)
	}
	run, err := NewRunID()
	if err != nil {
		return nil, err
	}
	j, prev, err := OpenJournal(dir, run, os.Getpid(), nil)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		log.Info("sweeping what an earlier selftest that did not finish left", "record", j.Path(), "run", prev.Run, "entries", len(prev.Entries))
		out, keep := Sweep(prev, newHostUndoer(sweepRetry), time.Now().Add(normalCleanup))
		rep.Swept = append(rep.Swept, out...)
		for _, o := range out {
			log.Info("swept: "+o.Line(), "outcome", o.Outcome)
		}
		if err := j.Carry(keep); err != nil {
			// Not Close: it would remove the record, and what it still names with it.
			_ = j.Abandon()
			return nil, fmt.Errorf("carry what the sweep could not undo into the crash record: %w; the record %s is left as it was", err, j.Path())
		}
	}
	return j, nil
}

// newJournaledAccount records the account's name, then creates it (with a journal its
// comment is accountComment, naming the run, which is what the sweep checks; without
// one, comment), then records its SID. The entry is dropped when NetUserAdd did not
// create it.
func newJournaledAccount(j *Journal, comment string) (*TempAccount, *JournalEntry, error) {
	name, err := RandomAccountName()
	if err != nil {
		return nil, nil, err
	}
	e, err := j.Add(JournalEntry{Kind: KindAccount, Name: name})
	if err != nil {
		return nil, nil, fmt.Errorf("record the temporary account before creating it: %w; nothing was created", err)
	}
	if j != nil {
		comment = accountComment(j.Run())
	}
	acct, err := CreateTempAccount(name, comment)
	if acct == nil {
		_ = j.Done(e)
		return nil, nil, err
	}
	if acct.SID != "" {
		if serr := j.SetSID(e, acct.SID); serr != nil && err == nil {
			err = serr
		}
	}
	return acct, e, err
}

// newJournaledWorkDir records the work directory's path (prefix and 16 random hex
// digits at the system drive's root; a journal takes only WorkDirPrefix), then creates
// it.
func newJournaledWorkDir(j *Journal, prefix string) (*WorkDir, *JournalEntry, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, nil, err
	}
	path := WorkDirRoot() + prefix + hex.EncodeToString(b[:])
	e, err := j.Add(JournalEntry{Kind: KindWorkDir, Path: path})
	if err != nil {
		return nil, nil, fmt.Errorf("record the work directory before creating it: %w", err)
	}
	wd, err := NewWorkDirAt(path)
	if wd == nil {
		_ = j.Done(e)
	}
	return wd, e, err
}

// hostUndoer is the Undoer of this host. Each deletion retries for up to retry (a profile
// or a file may still be in use for a moment), so that one stuck entry does not use up
// the sweep's whole time. A function missing from its DLL (x/sys's LazyProc panics; Wine
// lacks DeleteProfileW, for one) is an error of that step, never a crash of the sweep.
type hostUndoer struct{ retry time.Duration }

// noPanic turns a panic of a Win32 call (a missing export) into *err.
func noPanic(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%v", r)
	}
}

func newHostUndoer(retry time.Duration) hostUndoer { return hostUndoer{retry: retry} }

// Account: NetUserGetInfo level 10 (usri10_comment is the account's comment, the one
// NetUserAdd's usri1_comment set;
// learn.microsoft.com/windows/win32/api/lmaccess/ns-lmaccess-user_info_10) and
// LookupAccountName for the SID.
func (hostUndoer) Account(name string) (_ AccountFacts, err error) {
	defer noPanic(&err)
	n, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return AccountFacts{}, err
	}
	var buf *byte
	err = windows.NetUserGetInfo(nil, n, 10, &buf)
	if errors.Is(err, winapi.NERRUserNotFound) {
		return AccountFacts{}, nil
	}
	if err != nil {
		return AccountFacts{}, fmt.Errorf("NetUserGetInfo(%s): %w", name, err)
	}
	info := (*windows.UserInfo10)(unsafe.Pointer(buf))
	f := AccountFacts{Exists: true, Comment: windows.UTF16PtrToString(info.Comment)}
	windows.NetApiBufferFree(buf)
	sid, _, _, err := windows.LookupSID("", name)
	if err != nil {
		return AccountFacts{}, fmt.Errorf("LookupAccountName(%s): %w", name, err)
	}
	f.SID = sid.String()
	return f, nil
}

func (u hostUndoer) DeleteAccount(name, sid string) (err error) {
	defer noPanic(&err)
	return (&TempAccount{Name: name, SID: sid}).DeleteBy(time.Now().Add(u.retry))
}

// Profile: LookupAccountSid says whether the SID names an account today (ERROR_NONE_MAPPED:
// none; learn.microsoft.com/windows/win32/api/winbase/nf-winbase-lookupaccountsidw), and
// the ProfileList key HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\<SID>
// its ProfileImagePath — the registry entry DeleteProfileW itself reads when given no
// path ("If this parameter is NULL, the function obtains the path from the registry",
// learn.microsoft.com/windows/win32/api/userenv/nf-userenv-deleteprofilew).
func (hostUndoer) Profile(sid string) (_ ProfileFacts, err error) {
	defer noPanic(&err)
	s, err := windows.StringToSid(sid)
	if err != nil {
		return ProfileFacts{}, err
	}
	var f ProfileFacts
	acct, dom, _, lerr := s.LookupAccount("")
	switch {
	case lerr == nil:
		f.Account = dom + `\` + acct
		return f, nil
	case !errors.Is(lerr, windows.ERROR_NONE_MAPPED):
		return ProfileFacts{}, fmt.Errorf("LookupAccountSid(%s): %w", sid, lerr)
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\`+sid, registry.QUERY_VALUE)
	if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
		return f, nil
	}
	if err != nil {
		return ProfileFacts{}, fmt.Errorf("ProfileList\\%s: %w", sid, err)
	}
	defer k.Close()
	p, _, err := k.GetStringValue("ProfileImagePath")
	if err != nil {
		return ProfileFacts{}, fmt.Errorf("ProfileList\\%s ProfileImagePath: %w", sid, err)
	}
	if p == "" {
		return ProfileFacts{}, fmt.Errorf("ProfileList\\%s has an empty ProfileImagePath", sid)
	}
	f.Path = p
	return f, nil
}

func (hostUndoer) DeleteProfile(sid string) (err error) {
	defer noPanic(&err)
	p, err := windows.UTF16PtrFromString(sid)
	if err != nil {
		return err
	}
	err = winapi.DeleteProfile(p, nil, nil)
	if err == nil || errors.Is(err, windows.ERROR_FILE_NOT_FOUND) || errors.Is(err, windows.ERROR_PATH_NOT_FOUND) {
		return nil
	}
	return fmt.Errorf("DeleteProfileW(%s): %w", sid, err)
}

// Dir opens path itself (FILE_FLAG_OPEN_REPARSE_POINT: a junction or link is not
// followed; FILE_FLAG_BACKUP_SEMANTICS to open a directory;
// learn.microsoft.com/windows/win32/api/fileapi/nf-fileapi-createfilew) and reads its
// attributes and owner (GetSecurityInfo) through that handle.
func (hostUndoer) Dir(path string) (_ DirFacts, err error) {
	defer noPanic(&err)
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return DirFacts{}, err
	}
	h, err := windows.CreateFile(p, windows.READ_CONTROL|windows.FILE_READ_ATTRIBUTES,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) || errors.Is(err, windows.ERROR_PATH_NOT_FOUND) {
		return DirFacts{}, nil
	}
	if err != nil {
		return DirFacts{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer windows.CloseHandle(h)
	var fi windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &fi); err != nil {
		return DirFacts{}, fmt.Errorf("GetFileInformationByHandle(%s): %w", path, err)
	}
	f := DirFacts{Exists: true,
		Plain: fi.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY != 0 && fi.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT == 0}
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return DirFacts{}, fmt.Errorf("GetSecurityInfo(%s): %w", path, err)
	}
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return DirFacts{}, fmt.Errorf("owner of %s: %v", path, err)
	}
	f.Owner = owner.String()
	f.AdminOwned = owner.IsWellKnown(windows.WinBuiltinAdministratorsSid) || owner.IsWellKnown(windows.WinLocalSystemSid)
	return f, nil
}

func (u hostUndoer) RemoveDir(path string) error {
	return (&WorkDir{Root: path}).RemoveBy(time.Now().Add(u.retry))
}

// RemoveLoopbackExemption removes the AppContainer's SID (derived from its name) from
// the exemption list as it is now; every other entry stays (removeLoopbackExemption).
func (hostUndoer) RemoveLoopbackExemption(name string) (_ bool, err error) {
	defer noPanic(&err)
	if name != probe.AppContainerName {
		return false, fmt.Errorf("%s is not the probe's AppContainer", name)
	}
	sid, err := probeSID()
	if err != nil {
		return false, err
	}
	return removeLoopbackExemption(sid)
}

// DeleteAppContainerProfile deletes the current user's profile name; "Deleting a
// non-existent profile returns success"
// (learn.microsoft.com/windows/win32/api/userenv/nf-userenv-deleteappcontainerprofile).
func (hostUndoer) DeleteAppContainerProfile(name string) (err error) {
	defer noPanic(&err)
	n, _ := windows.UTF16PtrFromString(name)
	if err := winapi.DeleteAppContainerProfile(n); err != nil {
		return fmt.Errorf("DeleteAppContainerProfile(%s): %w", name, err)
	}
	return nil
}

func (hostUndoer) CurrentUser() string {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return ""
	}
	return u.User.Sid.String()
}
