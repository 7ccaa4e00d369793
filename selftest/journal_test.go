package selftest

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
	"github.com/wfpsandbox/wfpsandbox/setup"
)

const (
	testRun    = "0123456789abcdef"
	testRun2   = "fedcba9876543210"
	journalSID = "S-1-5-21-1-2-3-1005"
	testAdmin  = "S-1-5-21-1-2-3-500"
)

var testTime = time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testTime }

func openTest(t *testing.T, dir, run string) (*Journal, *JournalRecord) {
	t.Helper()
	j, prev, err := OpenJournal(dir, run, 4242, fixedNow)
	if err != nil {
		t.Fatalf("OpenJournal: %v", err)
	}
	return j, prev
}

func readRecord(t *testing.T, dir string) *JournalRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, JournalDir, JournalFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeJournal(b)
	if err != nil {
		t.Fatalf("the journal wrote a record it cannot read: %v\n%s", err, b)
	}
	return r
}

// The record is on disk before each thing is made, follows it, and is gone after a run
// that undid everything.
func TestJournalLifecycle(t *testing.T) {
	dir := t.TempDir()
	j, prev := openTest(t, dir, testRun)
	if prev != nil {
		t.Fatalf("a fresh state directory has a previous record: %+v", prev)
	}
	if r := readRecord(t, dir); r != nil {
		t.Fatalf("a record before anything was added: %+v", r)
	}
	acct, err := j.Add(JournalEntry{Kind: KindAccount, Name: "wfpsbx0a1b2c3d"})
	if err != nil {
		t.Fatal(err)
	}
	wd, err := j.Add(JournalEntry{Kind: KindWorkDir, Path: `C:\` + WorkDirPrefix + "00112233445566ff"})
	if err != nil {
		t.Fatal(err)
	}
	r := readRecord(t, dir)
	if r == nil || len(r.Entries) != 2 || r.Run != testRun || r.PID != 4242 || r.Entries[0].Run != testRun {
		t.Fatalf("after two adds the record is %+v", r)
	}
	if err := j.SetSID(acct, journalSID); err != nil {
		t.Fatal(err)
	}
	if r := readRecord(t, dir); r.Entries[0].SID != journalSID {
		t.Errorf("SetSID not written: %+v", r.Entries[0])
	}
	if err := j.SetSID(acct, "S-1-5-21-01-2"); err == nil {
		t.Errorf("SetSID took a non-canonical SID")
	}
	if err := j.Done(wd); err != nil {
		t.Fatal(err)
	}
	if r := readRecord(t, dir); len(r.Entries) != 1 || r.Entries[0].Kind != KindAccount {
		t.Errorf("after Done(work dir) the record is %+v", r)
	}
	if err := j.Done(acct); err != nil {
		t.Fatal(err)
	}
	if r := readRecord(t, dir); r != nil {
		t.Errorf("a record after everything was undone: %+v", r)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	// The lock is free again, and no previous record is seen.
	j2, prev := openTest(t, dir, testRun2)
	defer j2.Close()
	if prev != nil {
		t.Errorf("previous record after a clean run: %+v", prev)
	}
}

// Add refuses an entry a decoder would refuse, and writes nothing for it.
func TestJournalAddRefusesWhatItCouldNotRead(t *testing.T) {
	dir := t.TempDir()
	j, _ := openTest(t, dir, testRun)
	defer j.Close()
	for _, e := range []JournalEntry{
		{Kind: KindAccount, Name: "Administrator"},
		{Kind: KindWorkDir, Path: `C:\Windows`},
		{Kind: KindLoopbackExemption, Name: "someone.else"},
		{Kind: "registry-key", Name: "x"},
	} {
		if _, err := j.Add(e); err == nil {
			t.Errorf("Add(%+v) accepted", e)
		}
	}
	if r := readRecord(t, dir); r != nil {
		t.Errorf("refused adds wrote a record: %+v", r)
	}
}

// While one run holds the lock, another refuses to start ("another selftest is running").
func TestJournalLockRefusesASecondRun(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "windows" && runtime.GOOS != "darwin" {
		t.Skip("no file locking here")
	}
	dir := t.TempDir()
	j, _ := openTest(t, dir, testRun)
	if _, err := j.Add(JournalEntry{Kind: KindAccount, Name: "wfpsbx0a1b2c3d"}); err != nil {
		t.Fatal(err)
	}
	_, _, err := OpenJournal(dir, testRun2, 1, fixedNow)
	if !errors.Is(err, setup.ErrLocked) || !strings.Contains(err.Error(), "another wfpsandbox selftest is running") {
		t.Fatalf("second OpenJournal while the first holds the lock: %v", err)
	}
	// The running run's record is untouched by the refused one.
	if r := readRecord(t, dir); r == nil || r.Run != testRun || len(r.Entries) != 1 {
		t.Errorf("record after the refused run: %+v", r)
	}
	// The first run "dies": its lock goes (the OS drops it with the process; here the
	// file is closed without Close's final write) and its record stays.
	if err := j.lock.Release(); err != nil {
		t.Fatal(err)
	}
	j2, prev := openTest(t, dir, testRun2)
	defer j2.Close()
	if prev == nil || prev.Run != testRun || len(prev.Entries) != 1 || prev.Entries[0].Name != "wfpsbx0a1b2c3d" {
		t.Fatalf("the next run does not see the dead run's record: %+v", prev)
	}
}

func validRecord() JournalRecord {
	return JournalRecord{Format: journalFormat, Run: testRun, PID: 7, Started: testTime, Note: journalNote, Entries: []JournalEntry{
		{Kind: KindAccount, Run: testRun, Name: "wfpsbx0a1b2c3d", SID: journalSID, Added: testTime},
		{Kind: KindWorkDir, Run: testRun, Path: `C:\` + WorkDirPrefix + "00112233445566ff", Added: testTime},
		{Kind: KindLoopbackExemption, Run: testRun, Name: probeAppContainer, Added: testTime},
		{Kind: KindAppContainerProfile, Run: testRun, Name: probeAppContainer, User: testAdmin, Added: testTime},
	}}
}

func encode(t testing.TB, r JournalRecord) []byte {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeJournal(t *testing.T) {
	if _, err := DecodeJournal(encode(t, validRecord())); err != nil {
		t.Fatalf("a valid record: %v", err)
	}
	mut := func(f func(*JournalRecord)) []byte {
		r := validRecord()
		f(&r)
		return encode(t, r)
	}
	bad := map[string][]byte{
		"empty":           nil,
		"not JSON":        []byte("run.json\x00\x01"),
		"truncated":       encode(t, validRecord())[:40],
		"two objects":     append(encode(t, validRecord()), encode(t, validRecord())...),
		"unknown field":   []byte(`{"format":1,"run":"0123456789abcdef","pid":1,"started":"2026-12-03T14:00:00Z","entries":[],"extra":1}`),
		"unknown entry":   []byte(`{"format":1,"run":"0123456789abcdef","pid":1,"started":"2026-12-03T14:00:00Z","entries":[{"kind":"account","run":"0123456789abcdef","name":"wfpsbx0a1b2c3d","added":"2026-12-03T14:00:00Z","home":"C:\\"}]}`),
		"wrong types":     []byte(`{"format":"1","run":1,"pid":1,"started":"x","entries":{}}`),
		"future format":   mut(func(r *JournalRecord) { r.Format = 2 }),
		"format 0":        mut(func(r *JournalRecord) { r.Format = 0 }),
		"bad run":         mut(func(r *JournalRecord) { r.Run = "../../x" }),
		"no pid":          mut(func(r *JournalRecord) { r.PID = 0 }),
		"no start":        mut(func(r *JournalRecord) { r.Started = time.Time{} }),
		"admin account":   mut(func(r *JournalRecord) { r.Entries[0].Name = "Administrator" }),
		"prefix only":     mut(func(r *JournalRecord) { r.Entries[0].Name = "wfpsbx" }),
		"upper-case hex":  mut(func(r *JournalRecord) { r.Entries[0].Name = "wfpsbx0A1B2C3D" }),
		"odd SID":         mut(func(r *JournalRecord) { r.Entries[0].SID = "S-1-5-21-01-2-3" }),
		"builtin SID":     mut(func(r *JournalRecord) { r.Entries[0].SID = "S-1-5-32-544" }),
		"account path":    mut(func(r *JournalRecord) { r.Entries[0].Path = `C:\x` }),
		"system dir":      mut(func(r *JournalRecord) { r.Entries[1].Path = `C:\Windows` }),
		"nested dir":      mut(func(r *JournalRecord) { r.Entries[1].Path = `C:\Users\` + WorkDirPrefix + "00112233445566ff" }),
		"dot dot":         mut(func(r *JournalRecord) { r.Entries[1].Path = `C:\` + WorkDirPrefix + `00112233445566ff\..` }),
		"relative dir":    mut(func(r *JournalRecord) { r.Entries[1].Path = WorkDirPrefix + "00112233445566ff" }),
		"other container": mut(func(r *JournalRecord) { r.Entries[2].Name = "Microsoft.WindowsStore" }),
		"loopback user":   mut(func(r *JournalRecord) { r.Entries[2].User = testAdmin }),
		"profile no user": mut(func(r *JournalRecord) { r.Entries[3].User = "" }),
		"entry no run":    mut(func(r *JournalRecord) { r.Entries[0].Run = "" }),
		"entry no time":   mut(func(r *JournalRecord) { r.Entries[0].Added = time.Time{} }),
		"unknown kind":    mut(func(r *JournalRecord) { r.Entries[0].Kind = "service" }),
		"too many": mut(func(r *JournalRecord) {
			for len(r.Entries) <= maxJournalEntries {
				r.Entries = append(r.Entries, r.Entries[0])
			}
		}),
	}
	for name, b := range bad {
		if _, err := DecodeJournal(b); !errors.Is(err, ErrCorruptJournal) {
			t.Errorf("%s: DecodeJournal = %v, want ErrCorruptJournal", name, err)
		}
	}
}

// A record that cannot be trusted stops the run before anything is swept or made, says
// what to do, and is left where it is.
func TestOpenJournalRefusesABadRecord(t *testing.T) {
	cases := map[string]struct {
		plant func(t *testing.T, path string)
		want  error
	}{
		"corrupt": {func(t *testing.T, p string) { write(t, p, []byte(`{"format":1,"run":"0123456789abcdef"`)) }, ErrCorruptJournal},
		"oversized": {func(t *testing.T, p string) {
			write(t, p, []byte(strings.Repeat(" ", journalLimit+1)))
		}, safefile.ErrTooLarge},
		"symlink": {func(t *testing.T, p string) {
			target := filepath.Join(filepath.Dir(filepath.Dir(p)), "elsewhere.json")
			write(t, target, encode(t, validRecord()))
			if err := os.Symlink(target, p); err != nil {
				t.Skipf("symlink: %v", err)
			}
		}, safefile.ErrLink},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, JournalDir), 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, JournalDir, JournalFile)
			c.plant(t, path)
			before, _ := os.Lstat(path)
			_, _, err := OpenJournal(dir, testRun2, 1, fixedNow)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), "nothing it names was removed") || !strings.Contains(err.Error(), "remove it and run again") {
				t.Fatalf("OpenJournal = %v, want %v and what to do", err, c.want)
			}
			after, lerr := os.Lstat(path)
			if lerr != nil || !os.SameFile(before, after) || before.Size() != after.Size() {
				t.Errorf("the refused record was changed: %v", lerr)
			}
			// The refusal does not keep the lock: once the record is dealt with, a run starts.
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			j, _ := openTest(t, dir, testRun2)
			j.Close()
		})
	}
}

// A link as the record directory is refused: the record would be written wherever it
// points.
func TestOpenJournalRefusesALinkedDirectory(t *testing.T) {
	dir := t.TempDir()
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(dir, JournalDir)); err != nil {
		t.Skipf("symlink: %v", err)
	}
	if _, _, err := OpenJournal(dir, testRun, 1, fixedNow); !errors.Is(err, safefile.ErrLink) {
		t.Fatalf("OpenJournal through a linked directory = %v, want ErrLink", err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("files were made through the link: %v", ents)
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeHost is an Undoer over maps; it records every deletion.
type fakeHost struct {
	accounts map[string]AccountFacts
	dirs     map[string]DirFacts
	profiles map[string]ProfileFacts // by SID
	exempt   map[string]bool
	user     string
	fail     map[string]error // by method name
	deleted  []string
}

func (f *fakeHost) err(m string) error { return f.fail[m] }

func (f *fakeHost) Account(name string) (AccountFacts, error) {
	if err := f.err("Account"); err != nil {
		return AccountFacts{}, err
	}
	return f.accounts[name], nil
}
func (f *fakeHost) DeleteAccount(name, sid string) error {
	if err := f.err("DeleteAccount"); err != nil {
		return err
	}
	f.deleted = append(f.deleted, "account "+name+" "+sid)
	delete(f.accounts, name)
	return nil
}
func (f *fakeHost) Profile(sid string) (ProfileFacts, error) {
	if err := f.err("Profile"); err != nil {
		return ProfileFacts{}, err
	}
	return f.profiles[sid], nil
}
func (f *fakeHost) DeleteProfile(sid string) error {
	if err := f.err("DeleteProfile"); err != nil {
		return err
	}
	f.deleted = append(f.deleted, "profile "+sid)
	return nil
}
func (f *fakeHost) Dir(path string) (DirFacts, error) {
	if err := f.err("Dir"); err != nil {
		return DirFacts{}, err
	}
	return f.dirs[path], nil
}
func (f *fakeHost) RemoveDir(path string) error {
	if err := f.err("RemoveDir"); err != nil {
		return err
	}
	f.deleted = append(f.deleted, "dir "+path)
	delete(f.dirs, path)
	return nil
}
func (f *fakeHost) RemoveLoopbackExemption(name string) (bool, error) {
	if err := f.err("RemoveLoopbackExemption"); err != nil {
		return false, err
	}
	was := f.exempt[name]
	if was {
		f.deleted = append(f.deleted, "exemption "+name)
	}
	delete(f.exempt, name)
	return was, nil
}
func (f *fakeHost) DeleteAppContainerProfile(name string) error {
	if err := f.err("DeleteAppContainerProfile"); err != nil {
		return err
	}
	f.deleted = append(f.deleted, "appcontainer "+name+" of "+f.user)
	return nil
}
func (f *fakeHost) CurrentUser() string { return f.user }

func TestSweepDecisions(t *testing.T) {
	rec := validRecord()
	acct, wd, lb, acp := rec.Entries[0], rec.Entries[1], rec.Entries[2], rec.Entries[3]
	ours := AccountFacts{Exists: true, SID: journalSID, Comment: accountComment(testRun)}
	okDir := DirFacts{Exists: true, Plain: true, AdminOwned: true, Owner: "S-1-5-32-544"}
	cases := []struct {
		name    string
		entry   JournalEntry
		host    fakeHost
		outcome string
		deleted string // what was deleted, "" for nothing
		detail  string // in the outcome's detail
	}{
		{"our account", acct, fakeHost{accounts: map[string]AccountFacts{acct.Name: ours}}, SweptRemoved, "account wfpsbx0a1b2c3d " + journalSID, ""},
		{"our account, SID not recorded yet", JournalEntry{Kind: KindAccount, Run: testRun, Name: acct.Name, Added: testTime},
			fakeHost{accounts: map[string]AccountFacts{acct.Name: ours}}, SweptRemoved, "account wfpsbx0a1b2c3d " + journalSID, ""},
		{"account of another run's comment", acct, fakeHost{accounts: map[string]AccountFacts{acct.Name: {Exists: true, SID: journalSID, Comment: accountComment(testRun2)}}},
			SweptRefused, "", "not deleted"},
		{"same name, someone's comment", acct, fakeHost{accounts: map[string]AccountFacts{acct.Name: {Exists: true, SID: journalSID, Comment: "Bob's account"}}},
			SweptRefused, "", "net user wfpsbx0a1b2c3d /delete"},
		{"same name, other SID", acct, fakeHost{accounts: map[string]AccountFacts{acct.Name: {Exists: true, SID: "S-1-5-21-9-9-9-1001", Comment: accountComment(testRun)}}},
			SweptRefused, "", "not the recorded"},
		{"account gone, profile swept", acct, fakeHost{profiles: map[string]ProfileFacts{journalSID: {Path: `C:\Users\wfpsbx0a1b2c3d`}}}, SweptGone, "profile " + journalSID, "profile"},
		{"account gone, profile of a second directory of the name", acct, fakeHost{profiles: map[string]ProfileFacts{journalSID: {Path: `C:\Users\WFPSBX0A1B2C3D.HOST`}}}, SweptGone, "profile " + journalSID, "profile"},
		{"account gone, no profile", acct, fakeHost{}, SweptGone, "", "were gone"},
		// A record (in a state directory others may write) naming another user's SID
		// must not get that user's profile deleted.
		{"account gone, recorded SID is another account's", acct, fakeHost{profiles: map[string]ProfileFacts{journalSID: {Account: `HOST\bob`, Path: `C:\Users\bob`}}}, SweptRefused, "", `HOST\bob`},
		{"account gone, recorded SID's profile is not the account's", acct, fakeHost{profiles: map[string]ProfileFacts{journalSID: {Path: `C:\Users\bob`}}}, SweptRefused, "", `C:\Users\bob`},
		{"account gone, profile named like ours but longer", acct, fakeHost{profiles: map[string]ProfileFacts{journalSID: {Path: `C:\Users\wfpsbx0a1b2c3dx`}}}, SweptRefused, "", "not deleted"},
		{"account gone, profile lookup fails", acct, fakeHost{fail: map[string]error{"Profile": errors.New("registry busy")}}, SweptKept, "", "registry busy"},
		{"account gone before its SID was known", JournalEntry{Kind: KindAccount, Run: testRun, Name: acct.Name, Added: testTime}, fakeHost{}, SweptGone, "", ""},
		{"lookup fails", acct, fakeHost{fail: map[string]error{"Account": errors.New("RPC unavailable")}}, SweptKept, "", "tries again"},
		{"delete fails", acct, fakeHost{accounts: map[string]AccountFacts{acct.Name: ours}, fail: map[string]error{"DeleteAccount": errors.New("access denied")}}, SweptKept, "", "access denied"},
		{"our dir", wd, fakeHost{dirs: map[string]DirFacts{wd.Path: okDir}}, SweptRemoved, "dir " + wd.Path, ""},
		{"dir gone", wd, fakeHost{}, SweptGone, "", ""},
		{"dir is a junction", wd, fakeHost{dirs: map[string]DirFacts{wd.Path: {Exists: true, AdminOwned: true}}}, SweptRefused, "", "not followed"},
		{"dir a user made", wd, fakeHost{dirs: map[string]DirFacts{wd.Path: {Exists: true, Plain: true, Owner: "S-1-5-21-1-2-3-1001"}}}, SweptRefused, "", "S-1-5-21-1-2-3-1001"},
		{"dir of the admin who sweeps", wd, fakeHost{user: testAdmin, dirs: map[string]DirFacts{wd.Path: {Exists: true, Plain: true, Owner: testAdmin}}}, SweptRemoved, "dir " + wd.Path, ""},
		{"dir of another admin", wd, fakeHost{user: testAdmin, dirs: map[string]DirFacts{wd.Path: {Exists: true, Plain: true, Owner: "S-1-5-21-1-2-3-1001"}}}, SweptRefused, "", "not removed"},
		{"dir removal fails", wd, fakeHost{dirs: map[string]DirFacts{wd.Path: okDir}, fail: map[string]error{"RemoveDir": errors.New("in use")}}, SweptKept, "", "in use"},
		{"exemption there", lb, fakeHost{exempt: map[string]bool{probeAppContainer: true}}, SweptRemoved, "exemption " + probeAppContainer, "untouched"},
		{"exemption gone", lb, fakeHost{}, SweptGone, "", ""},
		{"my AppContainer profile", acp, fakeHost{user: testAdmin}, SweptRemoved, "appcontainer " + probeAppContainer + " of " + testAdmin, ""},
		{"another admin's AppContainer profile", acp, fakeHost{user: "S-1-5-21-1-2-3-501"}, SweptKept, "", "run the selftest as that user"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.host
			out, keep := Sweep(&JournalRecord{Run: testRun, Entries: []JournalEntry{c.entry}}, &h, time.Time{})
			if len(out) != 1 {
				t.Fatalf("outcomes %+v", out)
			}
			o := out[0]
			if o.Outcome != c.outcome || !strings.Contains(o.Detail, c.detail) {
				t.Errorf("outcome %q %q, want %q containing %q", o.Outcome, o.Detail, c.outcome, c.detail)
			}
			if got := strings.Join(h.deleted, ";"); got != c.deleted {
				t.Errorf("deleted %q, want %q", got, c.deleted)
			}
			if kept := len(keep) == 1; kept != (c.outcome == SweptKept) {
				t.Errorf("kept for the next run: %v, outcome %s", keep, o.Outcome)
			}
			if !strings.Contains(o.Line(), c.entry.String()) || !strings.Contains(o.Line(), o.Outcome) {
				t.Errorf("Line() = %q", o.Line())
			}
		})
	}
}

// An account whose deletion failed is kept with the SID the sweep learned, so that the
// next run can still delete its profile once the account itself is gone.
func TestSweepKeepsTheLearnedSID(t *testing.T) {
	h := &fakeHost{accounts: map[string]AccountFacts{"wfpsbx0a1b2c3d": {Exists: true, SID: journalSID, Comment: accountComment(testRun)}},
		fail: map[string]error{"DeleteAccount": errors.New("DeleteProfileW: in use")}}
	_, keep := Sweep(&JournalRecord{Run: testRun, Entries: []JournalEntry{{Kind: KindAccount, Run: testRun, Name: "wfpsbx0a1b2c3d", Added: testTime}}}, h, time.Time{})
	if len(keep) != 1 || keep[0].SID != journalSID {
		t.Fatalf("kept %+v", keep)
	}
	if err := checkEntry(keep[0]); err != nil {
		t.Errorf("kept entry does not check: %v", err)
	}
}

// Past the deadline nothing more is done; every entry is kept for the next run.
func TestSweepStopsAtTheDeadline(t *testing.T) {
	rec := validRecord()
	h := &fakeHost{accounts: map[string]AccountFacts{"wfpsbx0a1b2c3d": {Exists: true, SID: journalSID, Comment: accountComment(testRun)}}, user: testAdmin}
	out, keep := Sweep(&rec, h, time.Now().Add(-time.Second))
	if len(h.deleted) != 0 || len(keep) != len(rec.Entries) || len(out) != len(rec.Entries) {
		t.Fatalf("past the deadline: deleted %v, kept %d of %d", h.deleted, len(keep), len(rec.Entries))
	}
}

// What a sweep keeps is carried into the new run's record, still under the run that made
// it (whose comment identifies the account), and seen by the run after.
func TestSweepCarry(t *testing.T) {
	dir := t.TempDir()
	j, _ := openTest(t, dir, testRun)
	if _, err := j.Add(JournalEntry{Kind: KindAccount, Name: "wfpsbx0a1b2c3d"}); err != nil {
		t.Fatal(err)
	}
	j.lock.Release() // dies
	j2, prev := openTest(t, dir, testRun2)
	h := &fakeHost{fail: map[string]error{"Account": errors.New("busy")}}
	out, keep := Sweep(prev, h, time.Now().Add(time.Minute))
	if len(out) != 1 || out[0].Outcome != SweptKept {
		t.Fatalf("outcomes %+v", out)
	}
	if err := j2.Carry(keep); err != nil {
		t.Fatal(err)
	}
	if err := j2.Close(); err != nil {
		t.Fatal(err)
	}
	r := readRecord(t, dir)
	if r == nil || r.Run != testRun2 || len(r.Entries) != 1 || r.Entries[0].Run != testRun {
		t.Fatalf("record after a run that carried an entry: %+v", r)
	}
	// The run after sweeps it with the original run's comment.
	j3, prev := openTest(t, dir, testRun)
	defer j3.Close()
	h = &fakeHost{accounts: map[string]AccountFacts{"wfpsbx0a1b2c3d": {Exists: true, SID: journalSID, Comment: accountComment(testRun)}}}
	if out, _ := Sweep(prev, h, time.Time{}); len(out) != 1 || out[0].Outcome != SweptRemoved {
		t.Errorf("carried entry not swept: %+v", out)
	}
}

func TestWriteSwept(t *testing.T) {
	var b strings.Builder
	writeSwept(&b, nil)
	if b.Len() != 0 {
		t.Errorf("nothing swept wrote %q", b.String())
	}
	writeSwept(&b, []SweepOutcome{{Run: testRun, Entry: validRecord().Entries[0], Outcome: SweptRemoved}})
	if s := b.String(); !strings.Contains(s, "earlier selftest that did not finish") || !strings.Contains(s, "wfpsbx0a1b2c3d") || !strings.Contains(s, "removed") {
		t.Errorf("text: %q", s)
	}
}

func TestCleanupDeadline(t *testing.T) {
	now := time.Now()
	ctx, cancel := context.WithCancelCause(context.Background())
	if d := cleanupDeadline(ctx, now); !d.Equal(now.Add(normalCleanup)) {
		t.Errorf("not cancelled: %v", d.Sub(now))
	}
	cancel(context.Canceled) // Ctrl+C
	if d := cleanupDeadline(ctx, now); !d.Equal(now.Add(normalCleanup)) {
		t.Errorf("Ctrl+C: %v", d.Sub(now))
	}
	at := now.Add(-time.Second)
	ctx, cancel = context.WithCancelCause(context.Background())
	cancel(&Terminating{At: at, Reason: "the console was closed"})
	if d := cleanupDeadline(ctx, now); !d.Equal(at.Add(CloseBudget)) {
		t.Errorf("console closed: %v after the signal, want %v", d.Sub(at), CloseBudget)
	}
	if CloseBudget >= 5*time.Second {
		t.Errorf("CloseBudget %v does not fit the 5 s Windows grants after CTRL_CLOSE_EVENT", CloseBudget)
	}
}

// FuzzDecodeJournal: the decoder never panics, and what it accepts it would write again
// and read back the same.
func FuzzDecodeJournal(f *testing.F) {
	f.Add(encode(f, validRecord()))
	f.Add([]byte(`{"format":1,"run":"0123456789abcdef","pid":1,"started":"2026-12-03T14:00:00Z","entries":[]}`))
	f.Add([]byte(`{"format":2}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeJournal(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptJournal) {
				t.Fatalf("error does not wrap ErrCorruptJournal: %v", err)
			}
			return
		}
		again, err := DecodeJournal(encode(t, *r))
		if err != nil {
			t.Fatalf("re-encoded record refused: %v", err)
		}
		if len(again.Entries) != len(r.Entries) || again.Run != r.Run {
			t.Fatalf("round trip changed the record: %+v → %+v", r, again)
		}
		for _, e := range r.Entries {
			if err := checkEntry(e); err != nil {
				t.Fatalf("accepted entry fails its own check: %v", err)
			}
		}
	})
}

// A record holds at most maxJournalEntries: past that, Add refuses (so nothing more is
// made) rather than write a record the next run would refuse as corrupt.
func TestJournalAddRefusesPastTheCap(t *testing.T) {
	dir := t.TempDir()
	j, _ := openTest(t, dir, testRun)
	defer j.Close()
	for i := 0; i < maxJournalEntries; i++ {
		if _, err := j.Add(JournalEntry{Kind: KindLoopbackExemption, Name: probeAppContainer}); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	if _, err := j.Add(JournalEntry{Kind: KindLoopbackExemption, Name: probeAppContainer}); err == nil {
		t.Fatalf("entry %d accepted", maxJournalEntries+1)
	}
	b, err := os.ReadFile(filepath.Join(dir, JournalDir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeJournal(b); err != nil {
		t.Errorf("the full record does not decode: %v", err)
	}
}

// Carry keeps the cap too: a record it wrote past it would make every later run refuse
// to start.
func TestJournalCarryRefusesPastTheCap(t *testing.T) {
	dir := t.TempDir()
	j, _ := openTest(t, dir, testRun2)
	defer j.Close()
	var es []JournalEntry
	for i := 0; i <= maxJournalEntries; i++ {
		es = append(es, JournalEntry{Kind: KindLoopbackExemption, Run: testRun, Name: probeAppContainer, Added: testTime})
	}
	if err := j.Carry(es); err == nil {
		t.Fatalf("carried %d entries", len(es))
	}
	if _, err := os.Stat(filepath.Join(dir, JournalDir, JournalFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a record was written: %v", err)
	}
	if err := j.Carry(es[:maxJournalEntries]); err != nil {
		t.Errorf("carrying %d entries: %v", maxJournalEntries, err)
	}
}

// A run that cannot carry an earlier run's leftovers abandons its journal: the earlier
// record stays for the next run, where Close would have removed it.
func TestJournalAbandonKeepsTheRecord(t *testing.T) {
	dir := t.TempDir()
	j, _ := openTest(t, dir, testRun)
	if _, err := j.Add(JournalEntry{Kind: KindAccount, Name: "wfpsbx0a1b2c3d"}); err != nil {
		t.Fatal(err)
	}
	j.lock.Release() // dies
	j2, prev := openTest(t, dir, testRun2)
	if prev == nil || len(prev.Entries) != 1 {
		t.Fatalf("prev %+v", prev)
	}
	if err := j2.Abandon(); err != nil {
		t.Fatal(err)
	}
	if r := readRecord(t, dir); r == nil || r.Run != testRun || len(r.Entries) != 1 {
		t.Fatalf("after Abandon the record is %+v, want the earlier run's", r)
	}
	j3, prev := openTest(t, dir, testRun2) // the lock was released
	defer j3.Close()
	if prev == nil || len(prev.Entries) != 1 {
		t.Errorf("the next run sees %+v", prev)
	}
}

// The cleanup's steps share one budget: the deadline is fixed when the first step asks
// for it, however long the steps take.
func TestCleanupBySharesOneBudget(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	clock := now
	by := cleanupBy(context.Background(), func() time.Time { return clock })
	first := by()
	clock = clock.Add(40 * time.Second) // a slow first step
	if second := by(); !second.Equal(first) || !first.Equal(now.Add(normalCleanup)) {
		t.Errorf("deadlines %v then %v, want both %v", first, second, now.Add(normalCleanup))
	}
}

// A console closed while the cleanup runs cuts the shared budget down to CloseBudget.
func TestCleanupByConsoleClosedMidway(t *testing.T) {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	clock := now
	ctx, cancel := context.WithCancelCause(context.Background())
	by := cleanupBy(ctx, func() time.Time { return clock })
	by()
	clock = clock.Add(2 * time.Second)
	cancel(&Terminating{At: clock, Reason: "the console was closed"})
	if d := by(); !d.Equal(clock.Add(CloseBudget)) {
		t.Errorf("after the console closed: deadline %v from the start, want %v", d.Sub(now), clock.Add(CloseBudget).Sub(now))
	}
}
