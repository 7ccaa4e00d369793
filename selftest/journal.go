package selftest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
	"github.com/wfpsandbox/wfpsandbox/setup"
)

// The crash record (README "Check it on your host"). WFP objects need none: they live in
// a dynamic session, and BFE deletes them when the process ends, however it ends. The
// rest of what a run creates — the temporary account and its profile, the work
// directory, the AppContainer loopback exemption, the AppContainer profile of the
// calling user — outlives a killed process. So before it creates each, a run writes
// what it is about to create to a small record in the state directory
// (<state dir>\selftest\run.json, replaced atomically), and removes the entry once it
// has undone it. A run that ends normally leaves no record. The next run finds the
// record of one that died, and sweeps it: each entry is checked to be really the
// selftest's (an account's name, comment and SID; a directory's name, owner and kind)
// before anything is deleted, and a record that is not exactly what a run writes is
// refused — nothing is deleted on a corrupt record.
//
// Whether a record's run is still alive is decided by a lock: a run holds an exclusive
// OS lock on <state dir>\selftest\selftest.lock for as long as it lives (the OS drops it
// when the process ends, also when it is killed), so a second run that cannot take it
// refuses to start, and one that can knows the record's writer is dead.

// Journal file names, in the JournalDir subdirectory of the state directory.
const (
	JournalDir      = "selftest"
	JournalFile     = "run.json"
	JournalLockFile = "selftest.lock"
)

// journalFormat is the record's format; journalLimit bounds what is read (a record holds
// a handful of entries, well under 4 KiB); maxJournalEntries bounds the entries.
const (
	journalFormat     = 1
	journalLimit      = 64 << 10
	maxJournalEntries = 32
)

// Kinds of journal entries: what a run creates that outlives it.
const (
	// KindAccount is the temporary account (Name; SID once known) and its profile.
	KindAccount = "account"
	// KindWorkDir is the work directory (Path).
	KindWorkDir = "work-dir"
	// KindLoopbackExemption is the probe's AppContainer (Name) added to the loopback
	// exemption list; only written when the run added it.
	KindLoopbackExemption = "loopback-exemption"
	// KindAppContainerProfile is the probe's AppContainer profile (Name) in the profile of
	// the calling user (User, a SID), made by the probe helper run as that user.
	KindAppContainerProfile = "appcontainer-profile"
)

// AccountNamePrefix starts every temporary account's name; eight lower-case hex digits
// follow.
const AccountNamePrefix = "wfpsbx"

// WorkDirPrefix starts the name of every work directory (at the root of the system
// drive); sixteen lower-case hex digits follow.
const WorkDirPrefix = "wfpsandbox-selftest-"

// probeAppContainer is probe.AppContainerName (defined for Windows only; the Windows
// part of this package panics at init if they differ).
const probeAppContainer = "wfpsandbox.selftest.probe"

// accountComment is the comment (USER_INFO_1 usri1_comment) of the temporary account of
// run: the sweep deletes an account only when its comment is exactly this.
func accountComment(run string) string {
	return "temporary account of wfpsandbox selftest run " + run + "; deleted when it ends; safe to delete"
}

var (
	runIDPattern   = regexp.MustCompile(`^[0-9a-f]{16}$`)
	accountPattern = regexp.MustCompile(`^` + AccountNamePrefix + `[0-9a-f]{8}$`)
	workDirPattern = regexp.MustCompile(`^[A-Za-z]:\\` + WorkDirPrefix + `[0-9a-f]{16}$`)
)

// JournalEntry is one thing a run is creating or has created.
type JournalEntry struct {
	Kind string `json:"kind"`
	// Run is the run that made it: the record's own, or an earlier one's whose sweep
	// could not undo it (carried).
	Run string `json:"run"`
	// Name: the account's (KindAccount) or the AppContainer's (the others but work-dir).
	Name string `json:"name,omitempty"`
	// SID: the account's, once looked up.
	SID string `json:"sid,omitempty"`
	// Path: the work directory's.
	Path string `json:"path,omitempty"`
	// User: whose AppContainer profile (KindAppContainerProfile).
	User  string    `json:"user,omitempty"`
	Added time.Time `json:"added"`
}

// String names the entry for a person.
func (e JournalEntry) String() string {
	switch e.Kind {
	case KindAccount:
		if e.SID != "" {
			return fmt.Sprintf("temporary account %s (%s) and its profile", e.Name, e.SID)
		}
		return "temporary account " + e.Name
	case KindWorkDir:
		return "work directory " + e.Path
	case KindLoopbackExemption:
		return "loopback exemption of the AppContainer " + e.Name
	case KindAppContainerProfile:
		return fmt.Sprintf("AppContainer profile %s of %s", e.Name, e.User)
	}
	return e.Kind
}

// JournalRecord is the file's content.
type JournalRecord struct {
	Format  int            `json:"format"`
	Run     string         `json:"run"` // 16 hex digits, random per run
	PID     int            `json:"pid"`
	Started time.Time      `json:"started"`
	Note    string         `json:"note"`
	Entries []JournalEntry `json:"entries"`
}

const journalNote = "what a running wfpsandbox selftest has created; the next selftest removes what a run that died left (README: Check it on your host)"

// ErrCorruptJournal: the record is not one a run writes. Nothing is swept.
var ErrCorruptJournal = errors.New("the selftest's crash record is not one it writes")

// DecodeJournal parses a record strictly: one JSON object, no unknown field, this
// format, a run ID, at most maxJournalEntries entries, each of a known kind with exactly
// the fields of its kind, in the forms a run writes them (an account name
// "wfpsbx" + 8 hex digits and a canonical SID, a work directory X:\wfpsandbox-selftest-
// + 16 hex digits, the probe's AppContainer name). Anything else wraps ErrCorruptJournal.
func DecodeJournal(b []byte) (*JournalRecord, error) {
	bad := func(format string, a ...any) (*JournalRecord, error) {
		return nil, fmt.Errorf("%w: %s", ErrCorruptJournal, fmt.Sprintf(format, a...))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r JournalRecord
	if err := dec.Decode(&r); err != nil {
		return bad("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("data after the record")
	}
	switch {
	case r.Format > journalFormat:
		return bad("format %d, written by a newer wfpsandbox (this one reads %d)", r.Format, journalFormat)
	case r.Format != journalFormat:
		return bad("format %d", r.Format)
	case !runIDPattern.MatchString(r.Run):
		return bad("run ID %q", r.Run)
	case r.PID <= 0:
		return bad("pid %d", r.PID)
	case r.Started.IsZero():
		return bad("no start time")
	case len(r.Entries) > maxJournalEntries:
		return bad("%d entries, a run writes at most %d", len(r.Entries), maxJournalEntries)
	}
	for i, e := range r.Entries {
		if err := checkEntry(e); err != nil {
			return bad("entry %d: %v", i, err)
		}
	}
	return &r, nil
}

func checkEntry(e JournalEntry) error {
	if e.Added.IsZero() {
		return errors.New("no time")
	}
	if !runIDPattern.MatchString(e.Run) {
		return fmt.Errorf("run ID %q", e.Run)
	}
	sid := func(s string, optional bool) error {
		if s == "" && optional {
			return nil
		}
		p, err := account.ParseSID(s)
		if err != nil {
			return err
		}
		if p.String() != s {
			return fmt.Errorf("SID %q is not canonical", s)
		}
		return nil
	}
	switch e.Kind {
	case KindAccount:
		if !accountPattern.MatchString(e.Name) {
			return fmt.Errorf("account name %q is not a temporary account's", e.Name)
		}
		if e.Path != "" || e.User != "" {
			return errors.New("an account entry has only a name and a SID")
		}
		if err := sid(e.SID, true); err != nil {
			return err
		}
		if e.SID != "" && !strings.HasPrefix(e.SID, "S-1-5-21-") {
			return fmt.Errorf("SID %s is not a local account's", e.SID)
		}
	case KindWorkDir:
		if !workDirPattern.MatchString(e.Path) {
			return fmt.Errorf("path %q is not a work directory's", e.Path)
		}
		if e.Name != "" || e.SID != "" || e.User != "" {
			return errors.New("a work-dir entry has only a path")
		}
	case KindLoopbackExemption, KindAppContainerProfile:
		if e.Name != probeAppContainer {
			return fmt.Errorf("AppContainer %q is not the probe's", e.Name)
		}
		if e.Path != "" || e.SID != "" {
			return errors.New("an AppContainer entry has only a name (and a user)")
		}
		if e.Kind == KindLoopbackExemption && e.User != "" {
			return errors.New("a loopback-exemption entry has no user")
		}
		if e.Kind == KindAppContainerProfile {
			if err := sid(e.User, false); err != nil {
				return fmt.Errorf("user: %w", err)
			}
		}
	default:
		return fmt.Errorf("unknown kind %q", e.Kind)
	}
	return nil
}

// Journal is the live record of one run. Its methods are safe for concurrent use; a
// nil *Journal records nothing (a run without a state directory).
type Journal struct {
	mu   sync.Mutex
	dir  string
	lock *setup.Lock
	rec  JournalRecord // Entries unused: live holds them
	live []*JournalEntry
	now  func() time.Time
}

// NewRunID returns a random run ID (16 hex digits).
func NewRunID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// OpenJournal takes the selftest lock in stateDir's JournalDir (created if missing, never
// through a link) and reads the record a previous run left, if any: prev is nil when
// there is none. When the lock is held the error wraps setup.ErrLocked (another selftest
// is running). A record that cannot be read or is corrupt is an error wrapping
// ErrCorruptJournal (or safefile's ErrLink, ErrTooLarge…), with what to do; the lock is
// not kept then. The new journal holds no entry and writes nothing until its first Add.
func OpenJournal(stateDir, run string, pid int, now func() time.Time) (j *Journal, prev *JournalRecord, err error) {
	if now == nil {
		now = time.Now
	}
	dir := filepath.Join(stateDir, JournalDir)
	if err := safefile.MkdirNoFollow(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("the selftest's record directory: %w", err)
	}
	lock, err := setup.TryLockFile(filepath.Join(dir, JournalLockFile))
	if err != nil {
		if errors.Is(err, setup.ErrLocked) {
			return nil, nil, fmt.Errorf("another wfpsandbox selftest is running (it holds %w); nothing was changed", err)
		}
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			_ = lock.Release()
		}
	}()
	path := filepath.Join(dir, JournalFile)
	b, rerr := safefile.ReadNoFollow(path, journalLimit)
	switch {
	case errors.Is(rerr, fs.ErrNotExist):
	case rerr != nil:
		return nil, nil, fmt.Errorf("the crash record of an earlier selftest cannot be read, so nothing it names was removed: %w; inspect it (it lists a temporary account wfpsbx…, a work directory %s…), undo what it lists by hand (net user NAME /delete, rd /s DIR), remove it and run again", rerr, `C:\`+WorkDirPrefix)
	default:
		prev, err = DecodeJournal(b)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w; nothing it names was removed: inspect it, undo what it lists by hand (net user NAME /delete, rd /s DIR), remove it and run again", path, err)
		}
	}
	j = &Journal{dir: dir, lock: lock, now: now,
		rec: JournalRecord{Format: journalFormat, Run: run, PID: pid, Started: now().UTC(), Note: journalNote}}
	return j, prev, nil
}

// Run is the run ID the journal was opened with ("" for a nil journal).
func (j *Journal) Run() string {
	if j == nil {
		return ""
	}
	return j.rec.Run
}

// Path is the record's path ("" for a nil journal).
func (j *Journal) Path() string {
	if j == nil {
		return ""
	}
	return filepath.Join(j.dir, JournalFile)
}

// Carry keeps entries of an earlier run that its sweep could not undo, so that the next
// run tries again; it writes the record.
func (j *Journal) Carry(es []JournalEntry) error {
	if j == nil || len(es) == 0 {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.live)+len(es) > maxJournalEntries {
		// Written, such a record would be refused as corrupt by every run after.
		return fmt.Errorf("selftest: the crash record would hold %d entries, at most %d are kept", len(j.live)+len(es), maxJournalEntries)
	}
	for _, e := range es {
		if err := checkEntry(e); err != nil {
			return fmt.Errorf("selftest: crash record entry %s: %w", e, err)
		}
		j.live = append(j.live, &e)
	}
	return j.writeLocked()
}

// Add records e (its time set) before the run creates what it names, and returns a
// handle for Update and Done. The record is on disk when it returns; if it cannot be
// written the caller must not create the thing.
func (j *Journal) Add(e JournalEntry) (*JournalEntry, error) {
	if j == nil {
		return &JournalEntry{}, nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.live) >= maxJournalEntries {
		return nil, fmt.Errorf("the crash record is full (%d entries)", maxJournalEntries)
	}
	e.Added = j.now().UTC()
	e.Run = j.rec.Run
	if err := checkEntry(e); err != nil {
		return nil, fmt.Errorf("selftest: crash record entry: %w", err)
	}
	p := &e
	j.live = append(j.live, p)
	if err := j.writeLocked(); err != nil {
		j.live = j.live[:len(j.live)-1]
		return nil, err
	}
	return p, nil
}

// SetSID records the account's SID in its entry once it is known.
func (j *Journal) SetSID(e *JournalEntry, sid string) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, p := range j.live {
		if p == e {
			old := e.SID
			e.SID = sid
			if err := checkEntry(*e); err != nil {
				e.SID = old
				return fmt.Errorf("selftest: crash record entry: %w", err)
			}
			return j.writeLocked()
		}
	}
	return nil
}

// Done removes e once what it names has been undone (or deliberately kept, as
// --keep-account keeps the account).
func (j *Journal) Done(e *JournalEntry) error {
	if j == nil || e == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for i, p := range j.live {
		if p == e {
			j.live = append(j.live[:i:i], j.live[i+1:]...)
			return j.writeLocked()
		}
	}
	return nil
}

// Left is what the record still holds.
func (j *Journal) Left() []JournalEntry {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.liveLocked()
}

func (j *Journal) liveLocked() []JournalEntry {
	out := []JournalEntry{}
	for _, p := range j.live {
		out = append(out, *p)
	}
	return out
}

// Close writes the record one last time — removing it when nothing is left, as after
// every run that undid all it made — and releases the lock.
func (j *Journal) Close() error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.writeLocked()
	if rerr := j.lock.Release(); err == nil {
		err = rerr
	}
	return err
}

// Abandon releases the lock and leaves the record on disk as it is — for a run that
// stops before it could write what it carries: Close would write its (empty) live set,
// removing the earlier run's record and with it what is still to sweep.
func (j *Journal) Abandon() error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.lock.Release()
}

// writeLocked replaces the record with the live entries (temporary file, fsync, rename)
// or removes it when there is none.
func (j *Journal) writeLocked() error {
	path := filepath.Join(j.dir, JournalFile)
	if err := safefile.CheckDirNoFollow(j.dir); err != nil {
		return err
	}
	rec := j.rec
	rec.Entries = j.liveLocked()
	if len(rec.Entries) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove the selftest's crash record: %w", err)
		}
		return nil
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := safefile.CreateTemp(j.dir, JournalFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("write the selftest's crash record: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// A rename replaces a link at path rather than writing through it.
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write the selftest's crash record %s: %w", path, err)
	}
	return nil
}
