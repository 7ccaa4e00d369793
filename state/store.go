package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/wfpsandbox/wfpsandbox/account"
	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
)

// Names in the state directory.
//
// Each account has its own record file, accounts/<SID>.json, rather than one file
// holding a map of accounts, because:
//   - a record is replaced by one atomic rename (temp file, fsync, rename, fsync of the
//     directory), so writing A's record can never lose or tear B's, with no
//     read-modify-write of a shared file;
//   - an unusable record is set aside on its own: a corrupt record for A leaves B's
//     readable and B current;
//   - uninstalling A forgets A by removing one file.
//
// Setup still takes one lock per host (setup.lock), so no two setups write at once.
const (
	// AccountsDir is the directory of the per-account records.
	AccountsDir = "accounts"
	// LegacyMarkerFile is the single marker of earlier versions. Setup migrates it
	// into its account's record (MigrateLegacy); reads fall back to it until then.
	LegacyMarkerFile = "setup-marker.json"
)

// ErrNoRecord means there is no record for the account: setup never ran for it here
// (or its record was removed by uninstall).
var ErrNoRecord = errors.New("no setup record")

// Path returns the record file of the account sid (canonical S-1-… form).
func Path(dir, sid string) string {
	return filepath.Join(dir, AccountsDir, sid+".json")
}

// CheckDir returns nil when the records' directory of the state directory dir,
// accounts/, is a real directory or does not exist yet, and an error naming it
// (wrapping safefile.ErrLink or safefile.ErrNotRegular) when it is a symbolic link, a
// reparse point or not a directory. Every read, removal and set-aside of a record
// checks it: a record removed or renamed through a linked accounts/ would be removed
// or renamed wherever the link points, outside the state directory. Setup and
// uninstall call it before they change anything.
func CheckDir(dir string) error {
	err := safefile.CheckDirNoFollow(filepath.Join(dir, AccountsDir))
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("setup records: %w", err)
}

// readFile reads at most MaxSize bytes of path. Every read of a record goes through
// it, so that how a record file is opened (regular files only, no links) is decided
// in one place.
func readFile(path string) ([]byte, error) {
	// A regular file only, no link followed, bounded: a FIFO here used to block setup
	// forever while it held the lock, /dev/zero to exhaust memory.
	return safefile.ReadNoFollow(path, MaxSize)
}

// load reads and decodes the record at path. wantSID, when not empty, is the account
// the file name names: a record for another account is refused.
func load(path, wantSID string) (*Record, error) {
	if wantSID != "" {
		// A record's directory, accounts/: not followed when it is a link.
		if err := CheckDir(filepath.Dir(filepath.Dir(path))); err != nil {
			return nil, &CorruptError{Path: path, SID: wantSID, Kind: CorruptUnreadable, Err: err}
		}
	}
	data, err := readFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoRecord
	}
	if err != nil {
		return nil, &CorruptError{Path: path, SID: wantSID, Kind: CorruptUnreadable, Err: err}
	}
	r, kind, err := Decode(data)
	if err != nil {
		return nil, &CorruptError{Path: path, SID: wantSID, Kind: kind, Err: err}
	}
	if wantSID != "" && r.Account.SID != wantSID {
		return nil, &CorruptError{Path: path, SID: wantSID, Kind: CorruptMismatch,
			Err: fmt.Errorf("it records account %s, but its file name names %s", r.Account.SID, wantSID)}
	}
	return r, nil
}

// Read returns the record of account sid. Until setup has migrated it, the old
// single marker is read too: when there is no record for sid, the marker is returned
// if it records sid, and its error if it is unusable (it might have been sid's).
// Read returns ErrNoRecord when there is nothing for sid and a *CorruptError when the
// record is unusable; it never modifies anything.
func Read(dir, sid string) (*Record, error) {
	canon, err := canonicalSID(sid)
	if err != nil {
		return nil, err
	}
	r, err := load(Path(dir, canon), canon)
	if !errors.Is(err, ErrNoRecord) {
		return r, err
	}
	m, merr := load(filepath.Join(dir, LegacyMarkerFile), "")
	switch {
	case errors.Is(merr, ErrNoRecord):
		return nil, ErrNoRecord
	case merr != nil:
		return nil, merr
	case m.Account.SID != canon:
		return nil, ErrNoRecord
	}
	return m, nil
}

// Entry is one account that has a record file (or the old marker): its record, or
// why that is unusable.
type Entry struct {
	SID    string
	Record *Record // nil when Err is set
	Err    error   // a *CorruptError
}

// List returns every account with a record, sorted by SID, the old marker's included
// (as its account's, unless that account has a record of its own). Files in
// accounts/ whose name is not <SID>.json are not records and are skipped. An unusable
// old marker, whose account is unknown, is an Entry with an empty SID.
func List(dir string) ([]Entry, error) {
	if err := CheckDir(dir); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(dir, AccountsDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list setup records: %w", err)
	}
	var out []Entry
	have := map[string]bool{}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		sid, err := canonicalSID(name)
		if err != nil || sid != name {
			continue
		}
		r, err := load(Path(dir, sid), sid)
		if errors.Is(err, ErrNoRecord) {
			continue // removed meanwhile
		}
		have[sid] = true
		out = append(out, Entry{SID: sid, Record: r, Err: err})
	}
	m, merr := load(filepath.Join(dir, LegacyMarkerFile), "")
	switch {
	case errors.Is(merr, ErrNoRecord):
	case merr != nil:
		out = append(out, Entry{Err: merr})
	case !have[m.Account.SID]:
		out = append(out, Entry{SID: m.Account.SID, Record: m})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SID < out[j].SID })
	return out, nil
}

// Write writes r as its account's record, atomically: readers see the old record or
// the new one, never a mix, even across a crash. It creates accounts/ when needed.
func Write(dir string, r *Record) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("setup record: refusing to write: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("setup record: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("setup record: create %s: %w", dir, err)
	}
	// accounts/ itself must be a real directory: a record renamed into a planted link
	// or junction would land wherever it points.
	if err := safefile.MkdirNoFollow(filepath.Join(dir, AccountsDir), 0o755); err != nil {
		return fmt.Errorf("setup record: %w", err)
	}
	return writeFileAtomic(Path(dir, r.Account.SID), append(data, '\n'), 0o644)
}

// SetAside renames an unusable record (or old marker) at path to
// <name>.corrupt-<UTC time> beside it, so that it can be inspected, and returns the
// new path.
func SetAside(path string, now time.Time) (string, error) {
	if d := filepath.Dir(path); filepath.Base(d) == AccountsDir {
		if err := CheckDir(filepath.Dir(d)); err != nil {
			return "", fmt.Errorf("set aside %s: %w", path, err)
		}
	}
	base := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	dst := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
			break
		}
		if i > 100 {
			return "", fmt.Errorf("set aside %s: too many backups named %s*", path, base)
		}
		dst = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, dst); err != nil {
		return "", fmt.Errorf("set aside unusable setup record: %w", err)
	}
	syncDir(filepath.Dir(path))
	return dst, nil
}

// Migration is what MigrateLegacy did with the old marker.
type Migration struct {
	// SID is the account whose record the old marker became ("" when none).
	SID string
	// SetAside is where an unusable old marker was moved ("" when it was not).
	SetAside string
	// Err is why an unusable old marker was unusable.
	Err *CorruptError
}

// MigrateLegacy turns the old single marker, if any, into its account's record: it
// is read once, written as accounts/<SID>.json unless that account already has a
// record (which is newer), and removed. An unusable old marker is set aside as
// setup-marker.json.corrupt-<time>. Setup calls it, holding the lock.
func MigrateLegacy(dir string, now time.Time) (Migration, error) {
	path := filepath.Join(dir, LegacyMarkerFile)
	m, err := load(path, "")
	var ce *CorruptError
	switch {
	case errors.Is(err, ErrNoRecord):
		return Migration{}, nil
	case errors.As(err, &ce):
		dst, serr := SetAside(path, now)
		return Migration{SetAside: dst, Err: ce}, serr
	case err != nil:
		return Migration{}, err
	}
	if _, err := load(Path(dir, m.Account.SID), m.Account.SID); errors.Is(err, ErrNoRecord) {
		m.Format = Format // format 2 only adds rules, which the old marker never held
		if err := Write(dir, m); err != nil {
			return Migration{}, fmt.Errorf("migrate %s: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil {
		return Migration{}, fmt.Errorf("migrate %s: remove it: %w", path, err)
	}
	syncDir(dir)
	return Migration{SID: m.Account.SID}, nil
}

// Remove forgets account sid: its record and, if it records sid, the old marker.
// Nothing to remove is not an error.
func Remove(dir, sid string) (removed []string, err error) {
	canon, err := canonicalSID(sid)
	if err != nil {
		return nil, err
	}
	if err := CheckDir(dir); err != nil {
		return nil, err
	}
	paths := []string{Path(dir, canon)}
	if m, err := load(filepath.Join(dir, LegacyMarkerFile), ""); err == nil && m.Account.SID == canon {
		paths = append(paths, filepath.Join(dir, LegacyMarkerFile))
	}
	return removeAll(paths)
}

// RemoveAll forgets every account: every record file and the old marker.
func RemoveAll(dir string) ([]string, error) {
	if err := CheckDir(dir); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(dir, AccountsDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("list setup records: %w", err)
	}
	var paths []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".json") {
			paths = append(paths, filepath.Join(dir, AccountsDir, e.Name()))
		}
	}
	return removeAll(append(paths, filepath.Join(dir, LegacyMarkerFile)))
}

// removeAll removes every path it can: one that cannot be removed (a directory
// planted as a record) does not keep the records after it, whose filters are gone too,
// from being forgotten.
func removeAll(paths []string) ([]string, error) {
	var removed []string
	var errs []error
	for _, p := range paths {
		err := os.Remove(p)
		switch {
		case err == nil:
			removed = append(removed, p)
		case !errors.Is(err, os.ErrNotExist):
			errs = append(errs, fmt.Errorf("remove setup record: %w", err))
		}
	}
	return removed, errors.Join(errs...)
}

// canonicalSID parses sid and returns its canonical string (a record's file name).
func canonicalSID(sid string) (string, error) {
	s, err := account.ParseSID(sid)
	if err != nil {
		return "", fmt.Errorf("setup record: %w", err)
	}
	return s.String(), nil
}
