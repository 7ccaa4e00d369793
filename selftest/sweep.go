package selftest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Undoer is what the sweep asks of the host (on Windows: netapi32, userenv, the file
// system, NetworkIsolation*; in tests, a fake). Every method reports what it found; the
// decision what to delete is Sweep's.
type Undoer interface {
	// Account looks the local account up by name.
	Account(name string) (AccountFacts, error)
	// DeleteAccount deletes the account's profile (when sid is not empty) and the account.
	DeleteAccount(name, sid string) error
	// Profile says what the host knows of sid: whether it names an account today and
	// where its profile is, if it has one.
	Profile(sid string) (ProfileFacts, error)
	// DeleteProfile deletes the profile of sid, whose account is gone; none is not an error.
	DeleteProfile(sid string) error
	// Dir looks at path without following it.
	Dir(path string) (DirFacts, error)
	// RemoveDir removes the directory tree at path.
	RemoveDir(path string) error
	// RemoveLoopbackExemption removes the AppContainer name from the loopback exemption
	// list, leaving every other entry; removed is false when it was not in the list.
	RemoveLoopbackExemption(name string) (removed bool, err error)
	// DeleteAppContainerProfile deletes the current user's AppContainer profile name
	// (none is not an error).
	DeleteAppContainerProfile(name string) error
	// CurrentUser is the SID of the user the sweep runs as.
	CurrentUser() string
}

// AccountFacts is what the host says of a local account.
type AccountFacts struct {
	Exists  bool
	SID     string
	Comment string
}

// ProfileFacts is what the host says of a SID's profile.
type ProfileFacts struct {
	// Account names the account the SID belongs to today ("" when it maps to none).
	Account string
	// Path is the profile's directory as the registry's ProfileList records it ("" when
	// the SID has no profile).
	Path string
}

// profileOf reports whether path, a profile directory, is one Windows made for the
// account name: its last element is the name, or the name, a dot and a suffix (the
// form Windows gives a profile when a directory of the name already exists, e.g.
// wfpsbx0a1b2c3d.HOST or wfpsbx0a1b2c3d.000).
func profileOf(path, name string) bool {
	base := path
	if i := strings.LastIndexAny(base, `\/`); i >= 0 {
		base = base[i+1:]
	}
	base = strings.ToLower(base)
	name = strings.ToLower(name)
	return base == name || (strings.HasPrefix(base, name+".") && len(base) > len(name)+1)
}

// DirFacts is what the file system says of a path.
type DirFacts struct {
	Exists bool
	// Plain: a directory, not a link, junction or other reparse point.
	Plain bool
	// AdminOwned: owned by BUILTIN\Administrators or SYSTEM, as what an elevated
	// administrator creates is; a non-administrator cannot create a directory so owned.
	AdminOwned bool
	Owner      string
}

// Sweep outcomes.
const (
	SweptRemoved = "removed" // it was there, it was ours, it is gone now
	SweptGone    = "gone"    // it was no longer there
	SweptKept    = "kept"    // not undone now (an error, or another user's); tried again next run
	SweptRefused = "refused" // there, but not verifiably ours: left alone, never tried again
)

// SweepOutcome is what the sweep did with one entry of a dead run's record.
type SweepOutcome struct {
	Run     string       `json:"run"`
	Entry   JournalEntry `json:"entry"`
	Outcome string       `json:"outcome"`
	Detail  string       `json:"detail,omitempty"`
}

// Line is the outcome in words.
func (o SweepOutcome) Line() string {
	s := fmt.Sprintf("%s (run %s): %s", o.Entry, o.Run, o.Outcome)
	if o.Detail != "" {
		s += " — " + o.Detail
	}
	return s
}

// Sweep undoes what prev, the record of a run that died, names — each entry only once
// it is verified to be that run's — and returns what it did and the entries to keep for
// the next run (errors, another user's AppContainer profile). It never deletes:
//
//   - an account whose name, comment (accountComment of the entry's run) or SID (when
//     recorded) differ from what the run made;
//   - the profile of an account that is gone unless no account has the recorded SID
//     today and the profile's directory is named after the recorded account (a record
//     is only as trustworthy as its directory: with --state-dir or WFPSANDBOX_STATE_DIR
//     somewhere others may write, anyone could name a SID in it);
//   - a directory that is a link or reparse point, or owned by anyone but
//     Administrators, SYSTEM or the user the sweep runs as (a non-administrator can make
//     C:\wfpsandbox-selftest-… and fill it; what an elevated administrator makes is owned
//     by Administrators, or by the administrator where the security option "System
//     objects: Default owner for objects created by members of the Administrators
//     group" says "Object creator");
//   - anything once the deadline has passed (kept for the next run).
func Sweep(prev *JournalRecord, u Undoer, deadline time.Time) (out []SweepOutcome, keep []JournalEntry) {
	if prev == nil {
		return nil, nil
	}
	for _, e := range prev.Entries {
		o := SweepOutcome{Run: e.Run, Entry: e}
		if !deadline.IsZero() && time.Now().After(deadline) {
			o.Outcome, o.Detail = SweptKept, "out of time; the next selftest tries again"
		} else {
			o.Outcome, o.Detail = sweepOne(&e, u)
		}
		if o.Outcome == SweptKept {
			keep = append(keep, e)
		}
		out = append(out, o)
	}
	return out, keep
}

// sweepOne undoes e. It fills in what it learned that the next run needs (an account's
// SID, so that its profile can still be deleted once the account is gone).
func sweepOne(e *JournalEntry, u Undoer) (outcome, detail string) {
	kept := func(err error) (string, string) { return SweptKept, err.Error() + "; the next selftest tries again" }
	switch e.Kind {
	case KindAccount:
		f, err := u.Account(e.Name)
		if err != nil {
			return kept(fmt.Errorf("look the account up: %w", err))
		}
		if !f.Exists {
			if e.SID == "" {
				return SweptGone, ""
			}
			// The account is gone; its profile may not be (the run died between the two).
			// The SID is only the record's word, and DeleteProfileW deletes whichever
			// profile it names, so it is deleted only when no account has that SID
			// today and the profile directory is the one Windows made for the
			// recorded name; a record naming another user's SID deletes nothing.
			pf, err := u.Profile(e.SID)
			if err != nil {
				return kept(fmt.Errorf("the account is gone; look its profile up: %w", err))
			}
			switch {
			case pf.Account != "":
				return SweptRefused, fmt.Sprintf("the account is gone, but its recorded SID %s is the account %s's: that profile is not deleted", e.SID, pf.Account)
			case pf.Path == "":
				return SweptGone, "the account and its profile were gone"
			case !profileOf(pf.Path, e.Name):
				return SweptRefused, fmt.Sprintf("the account is gone, but the profile of its recorded SID %s is %s, not one made for %s: not deleted; inspect it yourself", e.SID, pf.Path, e.Name)
			}
			if err := u.DeleteProfile(e.SID); err != nil {
				return kept(fmt.Errorf("the account is gone, its profile: %w", err))
			}
			return SweptGone, "the account was gone; its profile (if any) is deleted"
		}
		if want := accountComment(e.Run); f.Comment != want {
			return SweptRefused, fmt.Sprintf("an account of that name exists but its comment is %q, not the selftest's %q: not deleted; if it is a leftover, delete it with 'net user %s /delete'", f.Comment, want, e.Name)
		}
		if e.SID != "" && f.SID != e.SID {
			return SweptRefused, fmt.Sprintf("an account of that name exists with SID %s, not the recorded %s: not deleted", f.SID, e.SID)
		}
		if err := u.DeleteAccount(e.Name, f.SID); err != nil {
			e.SID = f.SID
			return kept(err)
		}
		return SweptRemoved, ""
	case KindWorkDir:
		f, err := u.Dir(e.Path)
		if err != nil {
			return kept(fmt.Errorf("look at the directory: %w", err))
		}
		switch {
		case !f.Exists:
			return SweptGone, ""
		case !f.Plain:
			return SweptRefused, "it is a link or reparse point, not the directory the selftest made: not removed, not followed; inspect and remove it yourself"
		case !f.AdminOwned && (f.Owner == "" || f.Owner != u.CurrentUser()):
			return SweptRefused, fmt.Sprintf("it is owned by %s, not by Administrators, SYSTEM or you, so it is not the one the selftest made: not removed; inspect it yourself", f.Owner)
		}
		if err := u.RemoveDir(e.Path); err != nil {
			return kept(err)
		}
		return SweptRemoved, ""
	case KindLoopbackExemption:
		removed, err := u.RemoveLoopbackExemption(e.Name)
		if err != nil {
			return kept(err)
		}
		if !removed {
			return SweptGone, ""
		}
		return SweptRemoved, "removed from the loopback exemption list; the list's other entries are untouched"
	case KindAppContainerProfile:
		if cur := u.CurrentUser(); cur != e.User {
			return SweptKept, fmt.Sprintf("it is in the profile of %s, and only that user can delete it (this selftest runs as %s): run the selftest as that user once", e.User, cur)
		}
		if err := u.DeleteAppContainerProfile(e.Name); err != nil {
			return kept(err)
		}
		return SweptRemoved, "deleted (DeleteAppContainerProfile also succeeds when it was already gone)"
	}
	return SweptRefused, "unknown kind"
}

// writeSwept writes the sweep's outcomes for a person (Report.WriteText).
func writeSwept(w io.Writer, swept []SweepOutcome) {
	if len(swept) == 0 {
		return
	}
	fmt.Fprintf(w, "\nleft by an earlier selftest that did not finish, swept first:\n")
	for _, o := range swept {
		fmt.Fprintf(w, "  - %s\n", o.Line())
	}
}

// Terminating is the cancellation cause the CLI gives Run when Windows is about to end
// the process (console closed: CTRL_CLOSE_EVENT, which Go's os/signal delivers as
// syscall.SIGTERM). Run then bounds its cleanup to CloseBudget from At.
type Terminating struct {
	At     time.Time
	Reason string
}

func (t *Terminating) Error() string {
	return t.Reason + ": the process ends within seconds (cleanup bounded to " + CloseBudget.String() + ")"
}

// CloseBudget is the time Run gives its cleanup once the console is closed. Windows
// ends a console process 5 s after CTRL_CLOSE_EVENT if its handler has not returned
// (learn.microsoft.com/windows/console/handlerroutine, older revision: "5 seconds for
// CTRL_CLOSE_EVENT, and 20 seconds for CTRL_LOGOFF_EVENT or CTRL_SHUTDOWN_EVENT";
// github.com/microsoft/terminal doc/ConsoleCtrlEvent.md: CTRL_CLOSE_EVENT,
// SPI_GETHUNGAPPTIMEOUT, 5000 ms), and Go's handler blocks until then
// (runtime.ctrlHandler: "Block indefinitely to give signal handlers a chance to clean
// up"). Logoff and shutdown events reach services only ("Interactive applications are
// terminated at logoff", same page), so an interactive selftest cannot count on them.
// 3 s leaves room for the report and the record; what is not undone by then stays in
// the record for the next run.
const CloseBudget = 3 * time.Second

// normalCleanup bounds the cleanup after a normal end, an error or Ctrl+C: a profile
// stays loaded for a moment after the account's last process exits.
const normalCleanup = 45 * time.Second

// cleanupBy returns when the whole cleanup must stop, fixed at its first call (the
// cleanup's start) by cleanupDeadline: every undo step shares one budget, so a Ctrl+C
// cleanup of four things ends within normalCleanup, not four times it.
func cleanupBy(ctx context.Context, now func() time.Time) func() time.Time {
	var once sync.Once
	var by time.Time
	return func() time.Time {
		once.Do(func() { by = cleanupDeadline(ctx, now()) })
		// A console closed during the cleanup still shortens it to CloseBudget.
		if t := cleanupDeadline(ctx, now()); t.Before(by) {
			return t
		}
		return by
	}
}

// cleanupDeadline is when the cleanup must stop: CloseBudget after a Terminating
// cancellation, normalCleanup from now otherwise.
func cleanupDeadline(ctx context.Context, now time.Time) time.Time {
	var t *Terminating
	if errors.As(context.Cause(ctx), &t) {
		return t.At.Add(CloseBudget)
	}
	return now.Add(normalCleanup)
}
