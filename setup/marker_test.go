package setup

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// goodMarker is a valid marker as JSON, built by hand (not by WriteMarker) so the
// reader is tested against the documented layout.
const goodMarker = `{
  "format": 1,
  "setupVersion": 1,
  "toolVersion": "v0.1.0",
  "account": {"name": "sandbox", "domain": "HOST", "sid": "S-1-5-21-1111111111-2222222222-3333333333-1001"},
  "profile": "baseline",
  "userMatch": "deny",
  "planHash": "abc123",
  "filterCount": 12,
  "started": "2026-11-27T04:00:00Z",
  "finished": "2026-11-27T04:00:01Z",
  "steps": [
    {"name": "account", "status": "ok", "attempts": 1, "started": "2026-11-27T04:00:00Z", "finished": "2026-11-27T04:00:00Z"},
    {"name": "wfp", "status": "failed", "error": "FwpmEngineOpen0: RPC_S_CANNOT_SUPPORT", "call": "FwpmEngineOpen0",
     "code": "RPC_S_CANNOT_SUPPORT (0x000006E4)", "unavailable": true, "attempts": 1, "failures": 2,
     "started": "2026-11-27T04:00:00Z", "finished": "2026-11-27T04:00:01Z"}
  ]
}`

func TestReadMarkerGood(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, MarkerFile), []byte(goodMarker), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ReadMarker(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := m.Step(StepWFP)
	if m.Account.SID != sidA || m.Account.Domain != "HOST" || m.FilterCount != 12 || !s.Failed() ||
		!s.Unavailable || s.Failures != 2 || s.Finished.Sub(s.Started) != time.Second {
		t.Errorf("decoded %+v", m)
	}
	// Round trip through WriteMarker.
	dir2 := t.TempDir()
	if err := WriteMarker(dir2, m); err != nil {
		t.Fatal(err)
	}
	m2, err := ReadMarker(dir2)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(m)
	b, _ := json.Marshal(m2)
	if string(a) != string(b) {
		t.Errorf("round trip differs:\n%s\n%s", a, b)
	}
	if ents, _ := os.ReadDir(dir2); len(ents) != 1 {
		t.Errorf("WriteMarker left temporary files: %v", ents)
	}
}

// corruptCases are the unusable markers: name, how to make it, expected kind.
var corruptCases = []struct {
	name string
	make func(t *testing.T, path string)
	kind CorruptKind
}{
	{"empty", writeBytes(""), CorruptEmpty},
	{"whitespace", writeBytes(" \n\t\n"), CorruptEmpty},
	{"truncated", writeBytes(goodMarker[:len(goodMarker)/2]), CorruptTruncated},
	{"truncated after format", writeBytes(`{"format": 1, "setupVersion": 1, "acc`), CorruptTruncated},
	{"not JSON", writeBytes("setup ok\n"), CorruptSyntax},
	{"binary", writeBytes("\x00\x01\x02\xff"), CorruptSyntax},
	{"array", writeBytes(`[1, 2, 3]`), CorruptTypes},
	{"format is a string", writeBytes(strings.Replace(goodMarker, `"format": 1`, `"format": "1"`, 1)), CorruptTypes},
	{"setupVersion is a string", writeBytes(strings.Replace(goodMarker, `"setupVersion": 1`, `"setupVersion": "one"`, 1)), CorruptTypes},
	{"steps is an object", writeBytes(`{"format":1,"setupVersion":1,"account":{"sid":"S-1-5-21-1-2-3-1001"},"profile":"baseline","steps":{}}`), CorruptTypes},
	{"attempts negative float", writeBytes(strings.Replace(goodMarker, `"attempts": 1, "failures"`, `"attempts": -1.5, "failures"`, 1)), CorruptTypes},
	{"future format", writeBytes(strings.Replace(goodMarker, `"format": 1`, `"format": 99`, 1)), CorruptFuture},
	{"no format", writeBytes(strings.Replace(goodMarker, `"format": 1,`, ``, 1)), CorruptInvalid},
	{"no SID", writeBytes(strings.Replace(goodMarker, `"sid": "S-1-5-21-1111111111-2222222222-3333333333-1001"`, `"sid": ""`, 1)), CorruptInvalid},
	{"unknown status", writeBytes(strings.Replace(goodMarker, `"status": "ok"`, `"status": "maybe"`, 1)), CorruptInvalid},
	{"unknown field", writeBytes(strings.Replace(goodMarker, `"profile"`, `"surprise": 1, "profile"`, 1)), CorruptInvalid},
	{"directory in its place", func(t *testing.T, path string) {
		if err := os.MkdirAll(filepath.Join(path, "x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}, CorruptUnreadable},
}

func writeBytes(s string) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadMarkerCorrupt(t *testing.T) {
	for _, c := range corruptCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.make(t, filepath.Join(dir, MarkerFile))
			m, err := ReadMarker(dir)
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("ReadMarker = %+v, %v; want a *CorruptError", m, err)
			}
			if ce.Kind != c.kind {
				t.Errorf("kind = %q, want %q (%v)", ce.Kind, c.kind, err)
			}
			rs := NeedsSetup(m, err, Want{SetupVersion: SetupVersion})
			if len(rs) != 1 || rs[0].Code != ReasonCorruptMarker {
				t.Errorf("NeedsSetup = %v, want corrupt-marker", rs)
			}
		})
	}
}

// TestRunSetsCorruptMarkerAside: Run never crashes on an unusable marker; it keeps it
// as a backup and writes a good one.
func TestRunSetsCorruptMarkerAside(t *testing.T) {
	for _, c := range corruptCases {
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t)
			if err := os.MkdirAll(h.dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(h.dir, MarkerFile)
			c.make(t, path)
			before, _ := os.ReadFile(path) // "" for the directory case
			rep := h.run(h.opts("sandbox"))
			if rep.SetAside == "" || !strings.HasPrefix(filepath.Base(rep.SetAside), MarkerFile+".corrupt-") {
				t.Fatalf("SetAside = %q", rep.SetAside)
			}
			if !hasReason(rep.Reasons, ReasonCorruptMarker) {
				t.Errorf("reasons = %v", reasonCodes(rep.Reasons))
			}
			fi, err := os.Stat(rep.SetAside)
			if err != nil {
				t.Fatal(err)
			}
			if !fi.IsDir() {
				if after, _ := os.ReadFile(rep.SetAside); string(after) != string(before) {
					t.Errorf("backup content differs from the original")
				}
			}
			if m := h.marker(); m.Account.SID != sidA {
				t.Errorf("new marker = %+v", m)
			}
			if !strings.Contains(h.log.String(), "event=105") {
				t.Errorf("no marker-set-aside event logged")
			}
		})
	}
}

func TestSetAsideNamesDoNotCollide(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	var got []string
	for i := 0; i < 3; i++ {
		if err := os.WriteFile(filepath.Join(dir, MarkerFile), []byte{byte('a' + i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := SetAside(dir, now)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, filepath.Base(p))
	}
	want := []string{
		"setup-marker.json.corrupt-20261127T040000Z",
		"setup-marker.json.corrupt-20261127T040000Z-2",
		"setup-marker.json.corrupt-20261127T040000Z-3",
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("backups %v, want %v", got, want)
	}
}

func TestWriteMarkerRefusesInvalid(t *testing.T) {
	dir := t.TempDir()
	if err := WriteMarker(dir, &Marker{Format: MarkerFormat, SetupVersion: 1}); err == nil {
		t.Error("WriteMarker accepted a marker without SID or steps")
	}
	if _, err := ReadMarker(dir); !errors.Is(err, ErrNoMarker) {
		t.Errorf("something was written: %v", err)
	}
}
