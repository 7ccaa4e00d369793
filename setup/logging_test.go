package setup

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRotatingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LogFile)
	f, err := openRotatingFile(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	line := func(i int) []byte { return []byte(fmt.Sprintf("record %02d %s\n", i, strings.Repeat("x", 28))) } // 40 bytes
	for i := 0; i < 10; i++ {
		if _, err := f.Write(line(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// 2 records per file: 8,9 current; 6,7 in .1; 4,5 in .2; older ones dropped.
	want := map[string]string{
		LogFile:        string(line(8)) + string(line(9)),
		LogFile + ".1": string(line(6)) + string(line(7)),
		LogFile + ".2": string(line(4)) + string(line(5)),
	}
	for name, w := range want {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != w {
			t.Errorf("%s = %q (%v), want %q", name, b, err, w)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 3 {
		t.Errorf("%d files, want 3 (cap exceeded)", len(ents))
	}
}

type fakeEvent struct {
	level string
	id    uint32
	msg   string
}

type fakeSink struct{ got []fakeEvent }

func (f *fakeSink) Info(id uint32, m string) error {
	f.got = append(f.got, fakeEvent{"info", id, m})
	return nil
}
func (f *fakeSink) Warning(id uint32, m string) error {
	f.got = append(f.got, fakeEvent{"warning", id, m})
	return nil
}
func (f *fakeSink) Error(id uint32, m string) error {
	f.got = append(f.got, fakeEvent{"error", id, m})
	return nil
}
func (f *fakeSink) Close() error { return nil }

func TestEventHandler(t *testing.T) {
	sink := &fakeSink{}
	log := slog.New(newEventHandler(sink))
	log.Info("not for the event log", "k", 1)
	log.Debug("debug with an ID is still written", Event(EventStep))
	log.Info("setup done", Event(EventSetupOK), "account", `HOST\sandbox`)
	log.With("run", 7).WithGroup("wfp").Warn("step failed", Event(EventWFPFailed), "code", "FWP_E_TIMEOUT")
	log.Error("boom")
	log.Warn("group", slog.Group("g", "a", 1, "b", "two"))
	want := []fakeEvent{
		{"info", 110, "debug with an ID is still written"},
		{"info", 100, "setup done\r\n\r\naccount: HOST\\sandbox"},
		// Inside a group the ID is not at the top level: it is an ordinary attribute.
		{"warning", 199, "step failed\r\n\r\nrun: 7\r\nwfp.event: 101\r\nwfp.code: FWP_E_TIMEOUT"},
		{"error", 199, "boom"},
		{"warning", 199, "group\r\n\r\ng.a: 1\r\ng.b: two"},
	}
	if len(sink.got) != len(want) {
		t.Fatalf("got %d events %+v, want %d", len(sink.got), sink.got, len(want))
	}
	for i := range want {
		if sink.got[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, sink.got[i], want[i])
		}
	}
}

func TestEventIDsAreStableAndInRange(t *testing.T) {
	seen := map[EventID]bool{}
	for _, e := range Events() {
		if e.ID < 1 || e.ID > 1000 {
			t.Errorf("%s: ID %d outside EventCreate.exe's 1..1000", e.Name, e.ID)
		}
		if seen[e.ID] {
			t.Errorf("ID %d used twice", e.ID)
		}
		seen[e.ID] = true
	}
	// The documented numbers (README, monitoring rules): changing one is a breaking change.
	fixed := map[EventID]EventID{EventSetupOK: 100, EventWFPFailed: 101, EventSetupError: 102, EventVerifyDrift: 103}
	for got, want := range fixed {
		if got != want {
			t.Errorf("event renumbered: %d, documented as %d", got, want)
		}
	}
}

func TestNewLoggerWritesJSONLines(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	var stderr bytes.Buffer
	log, closer, warns := NewLogger(LogOptions{Stderr: &stderr, StateDir: dir, EventLog: true})
	if len(warns) != 0 {
		t.Fatalf("warnings: %v", warns)
	}
	log.Debug("only in the file")
	log.Warn("step wfp: failed", Event(EventStep), "call", "FwpmEngineOpen0")
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr.String(), "only in the file") || !strings.Contains(stderr.String(), "call=FwpmEngineOpen0") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	f, err := os.Open(filepath.Join(dir, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		recs = append(recs, m)
	}
	if len(recs) != 2 || recs[0]["msg"] != "only in the file" || recs[1]["event"] != float64(EventStep) || recs[1]["call"] != "FwpmEngineOpen0" {
		t.Errorf("records %v", recs)
	}
}

func TestNewLoggerSurvivesUnwritableStateDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	log, closer, warns := NewLogger(LogOptions{Stderr: &stderr, StateDir: filepath.Join(file, "state")})
	defer closer.Close()
	if len(warns) != 1 || !strings.Contains(warns[0].Error(), "a-file") {
		t.Errorf("warnings %v, want one naming the state directory", warns)
	}
	log.Info("still works")
	if !strings.Contains(stderr.String(), "still works") {
		t.Error("logger broken after a failed log file")
	}
}
