package memengine_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/wfp"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

// populate adds one object of every kind and value shape the file must carry.
func populate(t *testing.T, s *memengine.Session) {
	t.Helper()
	must(t, s.BeginTransaction())
	p := provider(provA, true)
	p.Description, p.Data, p.ServiceName = "desc", []byte{1, 2, 3}, "svc"
	must(t, s.AddProvider(p))
	must(t, s.AddProvider(provider(provB, false)))
	must(t, s.AddSublayer(sublayer(subA, ptr(provA), true)))
	must(t, s.AddSublayer(sublayer(subB, nil, false)))
	f := filter(guid(1), subA, ptr(provA), true)
	f.Weight = wfp.U8(12)
	f.ProviderData = []byte("pd")
	f.Conditions = append(f.Conditions,
		wfp.Condition{Field: wfp.FieldALEUserID, Match: wfp.MatchEqual, Value: wfp.SD(userSD(t))},
		wfp.Condition{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.AddrMask(netip.MustParsePrefix("10.1.0.0/16"))},
		wfp.Condition{Field: wfp.FieldIPLocalPort, Match: wfp.MatchRange, Value: wfp.RangeOf(wfp.U16(1024), wfp.U16(65535))},
	)
	_, err := s.AddFilter(f)
	must(t, err)
	g := filter(guid(2), subB, nil, false)
	g.Layer = wfp.LayerALEAuthConnectV6
	g.Weight = wfp.U64(1 << 63)
	g.Conditions = []wfp.Condition{{Field: wfp.FieldIPRemoteAddress, Match: wfp.MatchEqual, Value: wfp.Value{Type: wfp.ByteArray16, Bytes: netip.MustParseAddr("2001:db8::1").AsSlice()}}}
	_, err = s.AddFilter(g)
	must(t, err)
	must(t, s.CommitTransaction())
}

func TestFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.json")
	mem := memengine.NewBFE()
	populate(t, mem.Open())

	s, err := memengine.OpenFile(path)
	must(t, err)
	populate(t, s)
	must(t, s.Close())
	data, err := os.ReadFile(path)
	must(t, err)
	var head struct {
		Format  string
		Version int
	}
	must(t, json.Unmarshal(data, &head))
	if head.Format != "wfpsandbox-memengine" || head.Version != 1 {
		t.Errorf("file header %+v", head)
	}
	// GUIDs as strings, types by SDK name.
	for _, want := range []string{`"key": "` + provA.String() + `"`, `"layer": "c38d57d1-05a7-4c33-904f-7fbceee60e82"`,
		`"type": "FWP_SECURITY_DESCRIPTOR_TYPE"`, `"match": "FWP_MATCH_RANGE"`, `"action": "FWP_ACTION_BLOCK"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("state file lacks %s", want)
		}
	}

	// A second "process" reads back exactly the state an in-memory engine holds after
	// the same calls.
	b2, err := memengine.OpenFileBFE(path)
	must(t, err)
	if got, want := snapshot(t, b2), snapshot(t, mem); got != want {
		t.Errorf("file round trip:\n%s\nwant\n%s", got, want)
	}
	f, err := b2.Open().Filter(guid(1))
	must(t, err)
	if len(f.Conditions) != 4 || !f.Conditions[1].Value.Equal(wfp.SD(userSD(t))) || !f.Weight.Equal(wfp.U8(12)) {
		t.Errorf("filter read back as %+v", f)
	}
}

func TestFileMissingIsEmptyHost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.json")
	s, err := memengine.OpenFile(path)
	must(t, err)
	ps, err := s.Providers()
	must(t, err)
	if len(ps) != 0 {
		t.Fatalf("%d providers in a missing file", len(ps))
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("opening created the state file before any write")
	}
	must(t, s.AddProvider(provider(provA, true)))
	if _, err := os.Stat(path); err != nil {
		t.Errorf("an implicit write did not create the file: %v", err)
	}
}

func TestFileBadContents(t *testing.T) {
	good := func(t *testing.T) []byte {
		path := filepath.Join(t.TempDir(), "good.json")
		s, err := memengine.OpenFile(path)
		must(t, err)
		populate(t, s)
		data, err := os.ReadFile(path)
		must(t, err)
		return data
	}(t)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)/2], "not valid JSON"},
		{"empty", []byte{}, "not valid JSON"},
		{"garbage", []byte("\x00\x01binary"), "not valid JSON"},
		{"future version", []byte(strings.Replace(string(good), `"version": 1`, `"version": 2`, 1)), "newer wfpsandbox"},
		{"wrong format", []byte(strings.Replace(string(good), "wfpsandbox-memengine", "something-else", 1)), `format is "something-else"`},
		{"unknown field", []byte(strings.Replace(string(good), `"nextFilterId"`, `"surprise": 1, "nextFilterId"`, 1)), "unknown field"},
		{"bad data type", []byte(strings.Replace(string(good), "FWP_UINT16", "FWP_UINT17", 1)), "FWP_UINT17"},
		{"filter ID counter reset", []byte(strings.Replace(string(good), `"nextFilterId": 3`, `"nextFilterId": 2`, 1)), "not below nextFilterId 2"},
		{"filter ID counter zero", []byte(strings.Replace(string(good), `"nextFilterId": 3`, `"nextFilterId": 0`, 1)), "nextFilterId is 0"},
		{"persistent filter in a static sublayer", func() []byte { // filter 2 (in static subB) is the last "flags": 0
			i := strings.LastIndex(string(good), `"flags": 0`)
			return []byte(string(good[:i]) + `"flags": 1` + string(good[i+len(`"flags": 0`):]))
		}(), "persistent filter"},
		{"persistent sublayer of a static provider", []byte(strings.Replace(string(good), `"flags": 1`, `"flags": 0`, 1)), "persistent sublayer"}, // provider A comes first
		{"dangling sublayer", []byte(strings.Replace(string(good), `"sublayer": "`+subB.String(), `"sublayer": "`+guid(77).String(), 1)), "missing sublayer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "host.json")
			must(t, os.WriteFile(path, tt.data, 0o600))
			_, err := memengine.OpenFile(path)
			if err == nil {
				t.Fatal("opened a bad state file")
			}
			if !errors.Is(err, memengine.ErrCorrupt) {
				t.Errorf("error %q does not wrap ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q should name %s and say %q", err, path, tt.want)
			}
			if !strings.Contains(err.Error(), "restore or remove it") {
				t.Errorf("error %q does not say what to do", err)
			}
			err = memengine.RestartFile(path)
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("RestartFile on a bad file: %v", err)
			}
			if after, _ := os.ReadFile(path); string(after) != string(tt.data) {
				t.Error("the bad file was changed")
			}
		})
	}
}

func TestFileUnusableDirectory(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "plain")
	must(t, os.WriteFile(notDir, nil, 0o600))
	for _, p := range []string{
		filepath.Join(dir, "missing", "host.json"),
		filepath.Join(notDir, "host.json"),
	} {
		_, err := memengine.OpenFile(p)
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("OpenFile(%s) = %v, want an error naming the path", p, err)
		}
	}
}

// A host in a directory that cannot be written can be opened and read (verify and
// explain work on a read-only host); the first write fails naming the file.
func TestFileReadOnlyDirectory(t *testing.T) {
	var path string
	switch {
	case runtime.GOOS == "windows":
		t.Skip("mode bits do not make a Windows directory read-only")
	case os.Geteuid() == 0:
		// root ignores mode bits; /proc refuses file creation even to root.
		path = "/proc/wfpsandbox-memengine-test.json"
	default:
		ro := filepath.Join(t.TempDir(), "ro")
		must(t, os.Mkdir(ro, 0o500))
		path = filepath.Join(ro, "host.json")
	}
	s, err := memengine.OpenFile(path)
	must(t, err)
	must(t, s.BeginTransaction())
	if fs, err := s.Filters(nil); err != nil || len(fs) != 0 {
		t.Fatalf("reading an empty read-only host: %v, %v", fs, err)
	}
	must(t, s.AbortTransaction())
	if err := s.AddProvider(provider(provA, true)); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a write to a read-only host: %v, want an error naming %s", err, path)
	}
}

// A commit whose file write fails reports the file and changes nothing.
func TestFileCommitFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "host.json")
	s, err := memengine.OpenFile(path)
	must(t, err)
	must(t, s.AddProvider(provider(provA, true)))
	before, err := os.ReadFile(path)
	must(t, err)
	must(t, s.BeginTransaction())
	must(t, s.AddProvider(provider(provB, true)))
	// Make the rename fail: the state path becomes a non-empty directory.
	must(t, os.Rename(path, path+".bak"))
	must(t, os.MkdirAll(filepath.Join(path, "x"), 0o700))
	err = s.CommitTransaction()
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("commit with an unwritable state file: %v", err)
	}
	must(t, os.RemoveAll(path))
	must(t, os.Rename(path+".bak", path))
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a failed commit changed the file")
	}
	wantCode(t, s.AbortTransaction(), "FwpmTransactionAbort0", wfp.ErrNoTxnInProgress) // the transaction is gone
	if matches, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*")); len(matches) != 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}
}

func TestRestartFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.json")
	s, err := memengine.OpenFile(path)
	must(t, err)
	populate(t, s)
	must(t, memengine.RestartFile(path))
	b, err := memengine.OpenFileBFE(path)
	must(t, err)
	n := b.Open()
	fs, err := n.Filters(nil)
	must(t, err)
	if len(fs) != 1 || fs[0].Key != guid(1) {
		t.Errorf("after RestartFile: %d filters, want only the persistent one", len(fs))
	}
	if _, err := n.Provider(provB); err == nil {
		t.Error("a static provider survived RestartFile")
	}
	if _, err := n.Sublayer(subA); err != nil {
		t.Error(err)
	}
	// Restarting a host with no file leaves it without one.
	none := filepath.Join(t.TempDir(), "none.json")
	must(t, memengine.RestartFile(none))
	if _, err := os.Stat(none); !os.IsNotExist(err) {
		t.Error("RestartFile created a file")
	}
}

// Two "processes" (two BFEs on one file) writing at once lose nothing: each transaction
// holds the lock file and re-reads the state.
func TestFileConcurrentProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.json")
	s, err := memengine.OpenFile(path)
	must(t, err)
	must(t, s.AddProvider(provider(provA, true)))
	must(t, s.AddSublayer(sublayer(subA, ptr(provA), true)))
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for p := range 4 {
		wg.Go(func() {
			proc, err := memengine.OpenFile(path)
			if err != nil {
				errs <- err
				return
			}
			for i := range 5 {
				if i%2 == 0 { // explicit transaction
					if err := proc.BeginTransaction(); err != nil {
						errs <- err
						return
					}
				}
				if _, err := proc.AddFilter(filter(guid(p*10+i), subA, ptr(provA), true)); err != nil {
					errs <- err
				}
				if i%2 == 0 {
					if err := proc.CommitTransaction(); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	fs, err := s.Filters(nil)
	must(t, err)
	ids := map[uint64]bool{}
	for _, f := range fs {
		ids[f.ID] = true
	}
	if len(fs) != 20 || len(ids) != 20 {
		t.Errorf("%d filters with %d distinct IDs after concurrent writers, want 20", len(fs), len(ids))
	}
}

// Another process's transaction holds the lock file: Begin waits its timeout, then
// FWP_E_TIMEOUT.
func TestFileLockTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.json")
	a, err := memengine.OpenFile(path)
	must(t, err)
	b, err := memengine.OpenFile(path)
	must(t, err)
	b.SetTxnWaitTimeout(40 * time.Millisecond)
	must(t, a.AddSublayer(sublayer(subA, nil, true))) // the first write creates the lock file
	must(t, a.BeginTransaction())
	start := time.Now()
	wantCode(t, b.BeginTransaction(), "FwpmTransactionBegin0", wfp.ErrTimeout)
	if time.Since(start) < 40*time.Millisecond {
		t.Error("gave up before the timeout")
	}
	must(t, a.AddProvider(provider(provA, true)))
	must(t, a.CommitTransaction())
	must(t, b.BeginTransaction())
	if _, err := b.Provider(provA); err != nil {
		t.Errorf("after taking the lock, the other process's commit is not visible: %v", err)
	}
	must(t, b.AbortTransaction())
}

// Restarting a file-backed BFE while one of its sessions has a transaction open aborts
// that transaction and frees the lock file, instead of waiting for it.
func TestFileBFERestartDuringTransaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.json")
	b, err := memengine.OpenFileBFE(path)
	must(t, err)
	s := b.Open()
	populate(t, s)
	must(t, s.BeginTransaction())
	must(t, s.DeleteFilter(guid(1)))
	start := time.Now()
	must(t, b.Restart())
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Restart waited %v for the dead session's lock", d)
	}
	wantCode(t, s.CommitTransaction(), "FwpmTransactionCommit0", wfp.ErrSessionAborted)
	n := b.Open()
	n.SetTxnWaitTimeout(100 * time.Millisecond)
	must(t, n.BeginTransaction())
	fs, err := n.Filters(nil)
	must(t, err)
	if len(fs) != 1 || fs[0].Key != guid(1) {
		t.Errorf("after restart: %d filters, want the persistent filter the aborted transaction deleted", len(fs))
	}
	must(t, n.AbortTransaction())
	must(t, s.Close())
}

// Reading a host creates no file: a transaction on a host that was never written takes
// the file lock only at its first write (creating the lock file then) and refuses that
// write when another process committed in between, instead of undoing that commit.
func TestFileReadersCreateNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "host.json")
	a, err := memengine.OpenFile(path)
	must(t, err)
	must(t, a.BeginTransaction())
	_, err = a.Filters(nil)
	must(t, err)
	must(t, a.CommitTransaction()) // a transaction without writes writes nothing either
	must(t, a.BeginTransaction())
	must(t, a.AbortTransaction())
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("reading a host created %v", entries)
	}

	// Two processes begin on the never-written host; b commits first.
	b, err := memengine.OpenFile(path)
	must(t, err)
	must(t, a.BeginTransaction())
	must(t, b.BeginTransaction())
	must(t, b.AddProvider(provider(provB, true)))
	must(t, b.CommitTransaction())
	err = a.AddProvider(provider(provA, true))
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("a write after another process's commit: %v, want it refused naming %s", err, path)
	}
	must(t, a.AbortTransaction())
	if _, err := a.Provider(provB); err != nil {
		t.Errorf("the other process's commit was lost: %v", err)
	}

	// Once a deferred transaction has written, it holds the lock like any other.
	fresh := filepath.Join(t.TempDir(), "host.json")
	a, err = memengine.OpenFile(fresh)
	must(t, err)
	b, err = memengine.OpenFile(fresh)
	must(t, err)
	must(t, a.BeginTransaction())
	must(t, a.AddProvider(provider(provA, true)))
	b.SetTxnWaitTimeout(40 * time.Millisecond)
	wantCode(t, b.BeginTransaction(), "FwpmTransactionBegin0", wfp.ErrTimeout)
	must(t, a.CommitTransaction())
	must(t, b.BeginTransaction())
	if _, err := b.Provider(provA); err != nil {
		t.Errorf("after the lock, the commit is not visible: %v", err)
	}
	must(t, b.AbortTransaction())
}
