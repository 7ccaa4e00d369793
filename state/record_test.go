package state

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
)

const (
	sidA = "S-1-5-21-1111111111-2222222222-3333333333-1001"
	sidB = "S-1-5-21-1111111111-2222222222-3333333333-1002"
	hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// goodRecord is a valid record as JSON, built by hand (not by Write) so the reader is
// tested against the documented layout.
const goodRecord = `{
  "format": 2,
  "setupVersion": 1,
  "toolVersion": "v0.1.0",
  "account": {"name": "sandbox", "domain": "HOST", "sid": "S-1-5-21-1111111111-2222222222-3333333333-1001"},
  "profile": "strict",
  "userMatch": "deny",
  "proxyPorts": [3128],
  "rules": [
    {"id": "ssh", "direction": "out", "protocol": "tcp", "ports": ["22", "6000-6010"], "remote": ["10.0.0.0/8", "fd00::/8"]},
    {"id": "no-listen", "direction": "in", "protocol": "any", "ports": ["8080"]}
  ],
  "readers": ["S-1-5-32-545", "S-1-5-21-1111111111-2222222222-3333333333-1002"],
  "planHash": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
  "filterCount": 24,
  "started": "2026-11-27T04:00:00Z",
  "finished": "2026-11-27T04:00:01Z",
  "steps": [
    {"name": "account", "status": "ok", "attempts": 1, "started": "2026-11-27T04:00:00Z", "finished": "2026-11-27T04:00:00Z"},
    {"name": "wfp", "status": "failed", "error": "FwpmEngineOpen0: RPC_S_CANNOT_SUPPORT", "call": "FwpmEngineOpen0",
     "code": "RPC_S_CANNOT_SUPPORT (0x000006E4)", "unavailable": true, "attempts": 1, "failures": 2,
     "started": "2026-11-27T04:00:00Z", "finished": "2026-11-27T04:00:01Z"}
  ]
}`

func writeRecordFile(t *testing.T, dir, sid, content string) string {
	t.Helper()
	p := Path(dir, sid)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadGood(t *testing.T) {
	dir := t.TempDir()
	writeRecordFile(t, dir, sidA, goodRecord)
	r, err := Read(dir, sidA)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := r.Step("wfp")
	if r.Account.SID != sidA || r.Account.Domain != "HOST" || r.FilterCount != 24 || !s.Failed() ||
		!s.Unavailable || s.Failures != 2 || s.Finished.Sub(s.Started) != time.Second {
		t.Errorf("decoded %+v", r)
	}
	frs, err := r.FileRules()
	if err != nil {
		t.Fatal(err)
	}
	if len(frs) != 2 || len(frs[0].Ports) != 2 || frs[0].Ports[1] != (policy.PortRange{Low: 6000, High: 6010}) ||
		frs[0].Remote[1].String() != "fd00::/8" || frs[1].Direction != "in" {
		t.Errorf("rules %+v", frs)
	}
	// RulesOf is FileRules' inverse.
	if got, _ := json.Marshal(RulesOf(frs)); !strings.Contains(goodRecord, `"ports": ["22", "6000-6010"]`) ||
		string(got) != `[{"id":"ssh","direction":"out","protocol":"tcp","ports":["22","6000-6010"],"remote":["10.0.0.0/8","fd00::/8"]},{"id":"no-listen","direction":"in","protocol":"any","ports":["8080"]}]` {
		t.Errorf("RulesOf = %s", got)
	}
	// Round trip through Write.
	dir2 := t.TempDir()
	if err := Write(dir2, r); err != nil {
		t.Fatal(err)
	}
	r2, err := Read(dir2, sidA)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(r)
	b, _ := json.Marshal(r2)
	if string(a) != string(b) {
		t.Errorf("round trip differs:\n%s\n%s", a, b)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir2, AccountsDir)); len(ents) != 1 {
		t.Errorf("Write left temporary files: %v", ents)
	}
	if _, err := Read(dir2, sidB); !errors.Is(err, ErrNoRecord) {
		t.Errorf("another account's record: %v, want ErrNoRecord", err)
	}
}

func replace(old, new string) string {
	if !strings.Contains(goodRecord, old) {
		panic("test case does not apply: " + old)
	}
	return strings.Replace(goodRecord, old, new, 1)
}

// corruptCases are unusable records: name, content, expected kind. The "invalid"
// ones parse; their values are ones setup never writes.
var corruptCases = []struct {
	name    string
	content string
	kind    CorruptKind
}{
	{"empty", "", CorruptEmpty},
	{"whitespace", " \n\t\n", CorruptEmpty},
	{"truncated", goodRecord[:len(goodRecord)/2], CorruptTruncated},
	{"truncated after format", `{"format": 2, "setupVersion": 1, "acc`, CorruptTruncated},
	{"not JSON", "setup ok\n", CorruptSyntax},
	{"binary", "\x00\x01\x02\xff", CorruptSyntax},
	{"array", `[1, 2, 3]`, CorruptTypes},
	{"format is a string", replace(`"format": 2`, `"format": "2"`), CorruptTypes},
	{"setupVersion is a string", replace(`"setupVersion": 1`, `"setupVersion": "one"`), CorruptTypes},
	{"attempts negative float", replace(`"attempts": 1, "failures"`, `"attempts": -1.5, "failures"`), CorruptTypes},
	{"future format", replace(`"format": 2`, `"format": 99`), CorruptFuture},
	{"no format", replace(`"format": 2,`, ``), CorruptInvalid},
	{"trailing data", goodRecord + `{}`, CorruptSyntax},
	{"unknown field", replace(`"profile"`, `"surprise": 1, "profile"`), CorruptInvalid},
	{"no SID", replace(`"sid": "`+sidA+`"`, `"sid": ""`), CorruptInvalid},
	{"malformed SID", replace(`"sid": "`+sidA+`"`, `"sid": "S-1-5-21-x"`), CorruptInvalid},
	{"SID not canonical", replace(`"sid": "`+sidA+`"`, `"sid": "s-1-5-21-1111111111-2222222222-3333333333-1001"`), CorruptInvalid},
	{"SID of a built-in account", replace(`"sid": "`+sidA+`"`, `"sid": "S-1-5-21-1111111111-2222222222-3333333333-500"`), CorruptInvalid},
	{"unknown profile", replace(`"profile": "strict"`, `"profile": "bogus"`), CorruptInvalid},
	{"unknown user match", replace(`"userMatch": "deny"`, `"userMatch": "maybe"`), CorruptInvalid},
	{"proxy ports without strict", replace(`"profile": "strict"`, `"profile": "baseline"`), CorruptInvalid},
	{"proxy port zero", replace(`"proxyPorts": [3128]`, `"proxyPorts": [0]`), CorruptInvalid},
	{"plan hash not SHA-256", replace(hash, "abc123"), CorruptInvalid},
	{"negative filter count", replace(`"filterCount": 24`, `"filterCount": -1`), CorruptInvalid},
	{"zero times", replace(`"started": "2026-11-27T04:00:00Z",
  "finished"`, `"started": "0001-01-01T00:00:00Z",
  "finished"`), CorruptInvalid},
	{"finished before started", replace(`"finished": "2026-11-27T04:00:01Z",
  "steps"`, `"finished": "2026-11-27T03:00:00Z",
  "steps"`), CorruptInvalid},
	{"no steps", replace(goodRecord[strings.Index(goodRecord, `"steps": [`):strings.LastIndex(goodRecord, "]")+1], `"steps": []`), CorruptInvalid},
	{"unknown status", replace(`"status": "ok"`, `"status": "maybe"`), CorruptInvalid},
	{"negative failures", replace(`"failures": 2`, `"failures": -2`), CorruptInvalid},
	{"failed without failures", replace(`"failures": 2,`, ``), CorruptInvalid},
	{"negative writes", replace(`"attempts": 1, "started"`, `"attempts": 1, "writes": -3, "started"`), CorruptInvalid},
	{"rule id", replace(`"id": "ssh"`, `"id": "SSH!"`), CorruptInvalid},
	{"rule direction", replace(`"direction": "out"`, `"direction": "sideways"`), CorruptInvalid},
	{"rule protocol", replace(`"protocol": "tcp"`, `"protocol": "sctp"`), CorruptInvalid},
	{"rule port zero", replace(`"ports": ["22"`, `"ports": ["0"`), CorruptInvalid},
	{"rule port range reversed", replace(`"6000-6010"`, `"6010-6000"`), CorruptInvalid},
	{"rule port not canonical", replace(`["22"`, `["022"`), CorruptInvalid},
	{"rule remote host bits", replace(`"10.0.0.0/8"`, `"10.0.0.1/8"`), CorruptInvalid},
	{"rule remote zone", replace(`"fd00::/8"`, `"fe80::1%eth0/128"`), CorruptInvalid},
	{"rule remote mapped", replace(`"fd00::/8"`, `"::ffff:10.0.0.0/104"`), CorruptInvalid},
	{"rule ids repeated", replace(`"id": "no-listen"`, `"id": "ssh"`), CorruptInvalid},
	{"reader malformed", replace(`"readers": ["S-1-5-32-545"`, `"readers": ["BU"`), CorruptInvalid},
	{"reader not canonical", replace(`"readers": ["S-1-5-32-545"`, `"readers": ["s-1-5-32-545"`), CorruptInvalid},
	{"readers not strings", replace(`"readers": ["S-1-5-32-545"`, `"readers": [545`), CorruptTypes},
	{"too many readers", replace(`"readers": ["S-1-5-32-545"`, `"readers": [`+strings.Repeat(`"S-1-5-32-545", `, 17)+`"S-1-5-32-545"`), CorruptInvalid},
}

func TestReadCorrupt(t *testing.T) {
	for _, c := range corruptCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeRecordFile(t, dir, sidA, c.content)
			r, err := Read(dir, sidA)
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Read = %+v, %v; want a *CorruptError", r, err)
			}
			if ce.Kind != c.kind || ce.Path != path || ce.SID != sidA {
				t.Errorf("error %+v, want kind %q, path %s, SID %s (%v)", ce, c.kind, path, sidA, err)
			}
			if r := mustDecode(c.content); r != nil && c.kind == CorruptInvalid && c.name != "unknown field" {
				if err := Write(t.TempDir(), r); err == nil {
					t.Error("Write accepted an invalid record")
				}
			}
		})
	}
}

// mustDecode decodes without validation (nil when that fails), to feed Write.
func mustDecode(content string) *Record {
	var r Record
	if json.Unmarshal([]byte(content), &r) != nil {
		return nil
	}
	return &r
}

func TestReadRefusesMismatchedSID(t *testing.T) {
	dir := t.TempDir()
	writeRecordFile(t, dir, sidB, goodRecord) // records sidA, named sidB
	_, err := Read(dir, sidB)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Kind != CorruptMismatch {
		t.Errorf("Read = %v, want a mismatched-record error", err)
	}
	ents, err := List(dir)
	if err != nil || len(ents) != 1 || ents[0].SID != sidB || ents[0].Err == nil {
		t.Errorf("List = %+v, %v; want one unusable entry for %s", ents, err, sidB)
	}
}

func TestReadDirectoryInPlace(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(Path(dir, sidA), "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if _, err := Read(dir, sidA); !errors.As(err, &ce) || ce.Kind != CorruptUnreadable {
		t.Errorf("Read = %v, want unreadable", err)
	}
}

// legacyMarker is a format-1 setup-marker.json as earlier versions wrote it.
var legacyMarker = strings.NewReplacer(`"format": 2`, `"format": 1`, `"profile": "strict"`, `"profile": "baseline"`,
	`"proxyPorts": [3128],`, ``).Replace(goodRecord[:strings.Index(goodRecord, `  "rules"`)]) +
	goodRecord[strings.Index(goodRecord, `  "planHash"`):]

func TestLegacyMarkerReadAndMigrated(t *testing.T) {
	dir := t.TempDir()
	legacy := filepath.Join(dir, LegacyMarkerFile)
	if err := os.WriteFile(legacy, []byte(legacyMarker), 0o644); err != nil {
		t.Fatal(err)
	}
	// Before migration, reads see the marker as its account's record, and only its.
	if r, err := Read(dir, sidA); err != nil || r.Account.SID != sidA || r.Format != 1 {
		t.Fatalf("Read before migration = %+v, %v", r, err)
	}
	if _, err := Read(dir, sidB); !errors.Is(err, ErrNoRecord) {
		t.Errorf("Read of another account = %v", err)
	}
	if ents, err := List(dir); err != nil || len(ents) != 1 || ents[0].SID != sidA || ents[0].Record == nil {
		t.Errorf("List before migration = %+v, %v", ents, err)
	}
	mig, err := MigrateLegacy(dir, time.Now())
	if err != nil || mig.SID != sidA || mig.SetAside != "" {
		t.Fatalf("MigrateLegacy = %+v, %v", mig, err)
	}
	if _, err := os.Lstat(legacy); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old marker still there: %v", err)
	}
	r, err := Read(dir, sidA)
	if err != nil || r.Format != Format || r.Profile != "baseline" {
		t.Errorf("record after migration = %+v, %v", r, err)
	}
	if mig, err := MigrateLegacy(dir, time.Now()); err != nil || mig != (Migration{}) {
		t.Errorf("second migration = %+v, %v; want nothing to do", mig, err)
	}
}

func TestLegacyMarkerDoesNotReplaceANewerRecord(t *testing.T) {
	dir := t.TempDir()
	writeRecordFile(t, dir, sidA, goodRecord)
	if err := os.WriteFile(filepath.Join(dir, LegacyMarkerFile), []byte(legacyMarker), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := MigrateLegacy(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	if r, err := Read(dir, sidA); err != nil || r.Profile != "strict" {
		t.Errorf("record = %+v, %v; want the newer (strict) record kept", r, err)
	}
}

func TestCorruptLegacyMarkerSetAside(t *testing.T) {
	dir := t.TempDir()
	legacy := filepath.Join(dir, LegacyMarkerFile)
	if err := os.WriteFile(legacy, []byte(`{"format": 1, "setupV`), 0o644); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if _, err := Read(dir, sidA); !errors.As(err, &ce) || ce.Path != legacy || ce.Kind != CorruptTruncated {
		t.Errorf("Read = %v; want the old marker's truncation", err)
	}
	now := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	mig, err := MigrateLegacy(dir, now)
	if err != nil || filepath.Base(mig.SetAside) != LegacyMarkerFile+".corrupt-20261127T040000Z" || mig.Err == nil {
		t.Fatalf("MigrateLegacy = %+v, %v", mig, err)
	}
	if _, err := Read(dir, sidA); !errors.Is(err, ErrNoRecord) {
		t.Errorf("after setting it aside: %v", err)
	}
}

func TestSetAsideNamesDoNotCollide(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	var got []string
	for i := 0; i < 3; i++ {
		p := writeRecordFile(t, dir, sidA, string(rune('a'+i)))
		dst, err := SetAside(p, now)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, filepath.Base(dst))
	}
	want := []string{
		sidA + ".json.corrupt-20261127T040000Z",
		sidA + ".json.corrupt-20261127T040000Z-2",
		sidA + ".json.corrupt-20261127T040000Z-3",
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("backups %v, want %v", got, want)
	}
	// Backups are not records.
	if ents, err := List(dir); err != nil || len(ents) != 0 {
		t.Errorf("List = %+v, %v; want no records", ents, err)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	writeRecordFile(t, dir, sidA, goodRecord)
	writeRecordFile(t, dir, sidB, strings.ReplaceAll(goodRecord, sidA, sidB))
	if removed, err := Remove(dir, sidA); err != nil || len(removed) != 1 {
		t.Fatalf("Remove = %v, %v", removed, err)
	}
	if _, err := Read(dir, sidA); !errors.Is(err, ErrNoRecord) {
		t.Errorf("A after removing A: %v", err)
	}
	if _, err := Read(dir, sidB); err != nil {
		t.Errorf("B after removing A: %v", err)
	}
	if removed, err := Remove(dir, sidA); err != nil || len(removed) != 0 {
		t.Errorf("second Remove = %v, %v; want nothing removed", removed, err)
	}
	if err := os.WriteFile(filepath.Join(dir, LegacyMarkerFile), []byte(legacyMarker), 0o644); err != nil {
		t.Fatal(err)
	}
	if removed, err := RemoveAll(dir); err != nil || len(removed) != 2 {
		t.Errorf("RemoveAll = %v, %v; want B's record and the old marker", removed, err)
	}
	if ents, err := List(dir); err != nil || len(ents) != 0 {
		t.Errorf("List after RemoveAll = %+v, %v", ents, err)
	}
}

func TestWriteRefusesInvalid(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, &Record{Format: Format, SetupVersion: 1, Account: Account{SID: sidA}}); err == nil {
		t.Error("Write accepted a record without profile, hash, times or steps")
	}
	if _, err := Read(dir, sidA); !errors.Is(err, ErrNoRecord) {
		t.Errorf("something was written: %v", err)
	}
}
