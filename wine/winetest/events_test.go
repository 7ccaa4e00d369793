//go:build wine

package winetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The canned net events of wine/fwpemu/netevents.c (WFPEMU_NETEVENTS=canned), in the
// order the emulator logs them (oldest first). The expectations below are written from
// that file's table, not from wfpsandbox's output.
const (
	cannedEvents   = 8 // one of which is not a drop
	cannedShownAll = 7 // --all: every drop
	cannedShown    = 5 // without --all: ours and the undecodable ones
	foreignName    = "Contoso Firewall (wfpemu)"
	curlPath       = `\device\harddiskvolume3\tools\curl.exe`
)

// eventsJSON is the part of `events --format json` the tests read.
type eventsJSON struct {
	StructVersion int `json:"structVersion"`
	Undecodable   int `json:"undecodable"`
	Hidden        struct {
		NotADrop int `json:"notADrop"`
		NotOurs  int `json:"notOurs"`
	} `json:"hidden"`
	Events []eventJSON `json:"events"`
}

type eventJSON struct {
	Time          time.Time `json:"time"`
	SID           string    `json:"sid"`
	App           string    `json:"app"`
	Protocol      string    `json:"protocol"`
	RemoteAddress string    `json:"remoteAddress"`
	RemotePort    *int      `json:"remotePort"`
	Direction     string    `json:"direction"`
	Layer         string    `json:"layer"`
	FilterID      *uint64   `json:"filterId"`
	Ours          bool      `json:"ours"`
	StructVersion int       `json:"structVersion"`
	Filter        *struct {
		Name, Key, Rule, SID, Provider string
	} `json:"filter"`
	Notes []string `json:"notes"`
}

func (e eventJSON) hasNote(s string) bool {
	for _, n := range e.Notes {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// eventsHost installs the baseline policy for the Wine user once, in a state directory
// the Events tests share (they only read it: the emulator's non-persistent "Contoso"
// objects do not reach the state file), so that the canned events name real wfpsandbox
// filters.
func eventsHost(t *testing.T) (exe, sid, dir string) {
	t.Helper()
	exe, sid = h.wfpsandboxExe(t), h.userSID(t)
	eventsOnce.Do(func() {
		eventsDir, eventsErr = os.MkdirTemp(h.work, "events-")
		if eventsErr != nil {
			return
		}
		if r := h.run(t, runOpts{dir: eventsDir, name: "setup"}, exe, "setup", "--sid", sid); r.code != 0 {
			eventsErr = fmt.Errorf("setup: %s", r.describe())
		}
	})
	if eventsErr != nil {
		t.Fatal(eventsErr)
	}
	return exe, sid, eventsDir
}

var (
	eventsOnce sync.Once
	eventsDir  string
	eventsErr  error
)

// noCrash fails when the process died instead of exiting: a Go panic, or an exception
// Wine reports (an access violation in the reader, say).
func noCrash(t *testing.T, what string, r run) {
	t.Helper()
	for _, s := range []string{"panic:", "goroutine ", "Exception", "unhandled", "SIGSEGV", "access violation"} {
		if strings.Contains(r.stderr, s) || strings.Contains(r.stdout, s) {
			t.Errorf("%s crashed (%q):\n%s", what, s, r.describe())
			return
		}
	}
}

// checkPagesFreed checks that every non-empty page of net events was handed back with
// FwpmFreeMemory0 exactly once (api.c marks those frees "netEventPage"), and that the
// blocks api.c itself returned (FwpmFilterGetById0 for the filter lookups, the
// emulator's own enumeration) were all freed, with no bad free and no open session.
func checkPagesFreed(t *testing.T, log callLog, enumFn string) {
	t.Helper()
	pages := 0
	for _, r := range log.calls(enumFn) {
		var out struct{ NumEntriesReturned int }
		if err := json.Unmarshal(r.Out, &out); err == nil && out.NumEntriesReturned > 0 {
			pages++
		}
	}
	freed := 0
	for _, r := range log.calls("FwpmFreeMemory0") {
		if strings.Contains(string(r.Out), `"netEventPage":true`) {
			freed++
		}
	}
	if pages == 0 || freed != pages {
		t.Errorf("%d pages of %s, %d frees of them: every page must be freed exactly once", pages, enumFn, freed)
	}
	log.checkMemory(t)
}

// TestEventsEveryStructVersion runs `events --all --format json` against the canned
// events laid out as each FWPM_NET_EVENTn version the reader knows, and checks every
// event, the malformed ones included.
func TestEventsEveryStructVersion(t *testing.T) {
	exe, sid, dir := eventsHost(t)
	env := []string{"WFPEMU_NETEVENTS=canned"}
	for v := 0; v <= 5; v++ {
		name := fmt.Sprintf("events-v%d", v)
		r := h.run(t, runOpts{dir: dir, name: name, env: env}, exe, "events", "--all", "--format", "json",
			"--net-event-version", fmt.Sprint(v))
		noCrash(t, name, r)
		if r.code != 0 {
			t.Errorf("%s: %s", name, r.describe())
			continue
		}
		var doc eventsJSON
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Errorf("%s: %v\n%s", name, err, r.describe())
			continue
		}
		if n := len(r.log.calls(fmt.Sprintf("FwpmNetEventEnum%d", v))); n == 0 {
			t.Errorf("%s: FwpmNetEventEnum%d was not called", name, v)
		}
		checkPagesFreed(t, r.log, fmt.Sprintf("FwpmNetEventEnum%d", v))
		if d := r.log.calls("FwpmNetEventDestroyEnumHandle0"); len(d) != 1 || d[0].Status != statusOK {
			t.Errorf("%s: FwpmNetEventDestroyEnumHandle0 calls %+v", name, d)
		}
		checkCannedEvents(t, name, v, sid, doc, true)
	}
}

func checkCannedEvents(t *testing.T, name string, v int, sid string, doc eventsJSON, all bool) {
	t.Helper()
	want := cannedShown
	if all {
		want = cannedShownAll
	}
	if doc.StructVersion != v || len(doc.Events) != want || doc.Hidden.NotADrop != 1 {
		t.Fatalf("%s: structVersion %d, %d events, hidden %+v; want %d, %d, 1 not a drop", name, doc.StructVersion,
			len(doc.Events), doc.Hidden, v, want)
	}
	ev := doc.Events
	if !all {
		// Without --all the foreign drop and the drop by a vanished filter are hidden.
		if doc.Hidden.NotOurs != 2 {
			t.Errorf("%s: hidden %+v, want 2 not ours", name, doc.Hidden)
		}
		ev = append(append([]eventJSON{}, ev[:2]...), append([]eventJSON{{}, {}}, ev[2:]...)...)
	}
	wantDir := "out"
	if v == 0 {
		wantDir = "" // CLASSIFY_DROP0 has no direction
	}
	for i, e := range ev {
		if e.StructVersion != v && (all || (i != 2 && i != 3)) {
			t.Errorf("%s event %d: structVersion %d", name, i, e.StructVersion)
		}
	}
	// 0: ours, UDP to 9.9.9.9:53 by curl.exe, the IPv4 DNS rule.
	if e := ev[0]; !e.Ours || e.Filter == nil || e.Filter.Rule != "dns-v4" || e.Filter.SID != sid || e.SID != sid ||
		e.App != curlPath || e.Protocol != "udp" || e.RemoteAddress != "9.9.9.9" || e.RemotePort == nil ||
		*e.RemotePort != 53 || e.Layer != "ALE_AUTH_CONNECT_V4" || e.Direction != wantDir || len(e.Notes) != 0 ||
		time.Since(e.Time) > 10*time.Minute {
		t.Errorf("%s event 0 (ours, v4): %+v %+v", name, e, e.Filter)
	}
	// 1: ours, TCP to [2001:db8::35]:853, the IPv6 DNS-over-TLS rule.
	if e := ev[1]; !e.Ours || e.Filter == nil || e.Filter.Rule != "dot-v6" || e.Protocol != "tcp" || e.RemoteAddress != "2001:db8::35" || e.Layer != "ALE_AUTH_CONNECT_V6" ||
		len(e.Notes) != 0 {
		t.Errorf("%s event 1 (ours, v6): %+v", name, e)
	}
	if all {
		// 2: another provider's filter, named with its provider.
		if e := ev[2]; e.Ours || e.Filter == nil || e.Filter.Provider != foreignName {
			t.Errorf("%s event 2 (foreign): %+v %+v", name, e, e.Filter)
		}
		// 3: a filter ID that no longer exists.
		if e := ev[3]; e.Ours || e.Filter != nil || e.FilterID == nil || !e.hasNote("no longer exists") {
			t.Errorf("%s event 3 (gone): %+v", name, e)
		}
	}
	// 4: no flag set, wild pointers behind them: nothing read, the account from the filter.
	if e := ev[4]; !e.Ours || e.App != "" || e.Protocol != "" || !e.hasNote("FWPM_NET_EVENT_FLAG_APP_ID_SET is not set") ||
		!e.hasNote("FWPM_NET_EVENT_FLAG_USER_ID_SET is not set") || e.SID != sid || !e.hasNote("ownership tag") {
		t.Errorf("%s event 4 (missing flags): %+v", name, e)
	}
	// 5: NULL pointers: appId data, userId, classifyDrop.
	if e := ev[5]; e.FilterID != nil || e.SID != "" || !e.hasNote("appId: NULL data with size 12") ||
		!e.hasNote("userId is NULL") || !e.hasNote("classifyDrop is NULL") {
		t.Errorf("%s event 5 (NULL pointers): %+v", name, e)
	}
	// 6: zero-length appId, a SID of revision 9, layer 999, direction 7.
	if e := ev[6]; !e.hasNote("the appId blob is empty") || !e.hasNote("not a SID (revision 9") ||
		!e.hasNote("unknown layer ID 999") || (v > 0 && !e.hasNote("msFwpDirection 0x7")) {
		t.Errorf("%s event 6 (zero-length, bad values): %+v", name, e)
	}
	if doc.Undecodable != 3 {
		t.Errorf("%s: undecodable %d, want the 3 malformed events", name, doc.Undecodable)
	}
}

// TestEventsDefaults runs `events` as an operator would: the structure version the
// (Wine-reported) Windows version selects, only our drops, as a table and as JSON.
func TestEventsDefaults(t *testing.T) {
	exe, sid, dir := eventsHost(t)
	env := []string{"WFPEMU_NETEVENTS=canned"}
	r := h.run(t, runOpts{dir: dir, name: "events-json", env: env}, exe, "events", "--format", "json")
	noCrash(t, "events", r)
	var doc eventsJSON
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 0 {
		t.Fatalf("%v\n%s", err, r.describe())
	}
	t.Logf("Wine's Windows version selects FWPM_NET_EVENT%d", doc.StructVersion)
	if len(r.log.calls(fmt.Sprintf("FwpmNetEventEnum%d", doc.StructVersion))) == 0 {
		t.Errorf("structVersion %d but FwpmNetEventEnum%d was not called", doc.StructVersion, doc.StructVersion)
	}
	checkCannedEvents(t, "default", doc.StructVersion, sid, doc, false)

	text := h.run(t, runOpts{dir: dir, name: "events-text", env: env}, exe, "events")
	noCrash(t, "events (text)", text)
	for _, want := range []string{"rule dns-v4", "9.9.9.9:53", curlPath, "could not decode the dropping filter: classifyDrop is NULL",
		"2 drop(s) by other providers' filters not shown (use --all)", "128 KB"} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, text.describe())
		}
	}
	if strings.Contains(text.stdout, foreignName) {
		t.Errorf("another provider's drop shown without --all:\n%s", text.stdout)
	}

	empty := h.run(t, runOpts{dir: dir, name: "events-empty"}, exe, "events")
	if empty.code != 0 || !strings.Contains(empty.stdout, "no matching drops") {
		t.Errorf("empty log: %s", empty.describe())
	}
}

func TestEventsCollectionDisabled(t *testing.T) {
	exe, _, dir := eventsHost(t)
	env := []string{"WFPEMU_NETEVENTS=disabled"}
	r := h.run(t, runOpts{dir: dir, name: "disabled", env: env}, exe, "events")
	noCrash(t, "events", r)
	if r.code != 2 {
		t.Errorf("exit %d, want 2", r.code)
	}
	for _, want := range []string{"netsh wfp set options netevents=on", "128 KB", "reboot", "FWP_E_NET_EVENTS_DISABLED"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.describe())
		}
	}
	j := h.run(t, runOpts{dir: dir, name: "disabled-json", env: env}, exe, "events", "--format", "json")
	var doc struct{ Error, Code string }
	if err := json.Unmarshal([]byte(j.stdout), &doc); err != nil || doc.Code != "FWP_E_NET_EVENTS_DISABLED" ||
		!strings.Contains(doc.Error, "netevents=on") {
		t.Errorf("JSON error (%v): %s", err, j.describe())
	}
}

// TestEventsFollowCtrlC runs `events --follow` against the emulator's subscription,
// waits for the canned events, then sends SIGINT, which Wine turns into the console's
// Ctrl+C: the command must unsubscribe and exit 0.
func TestEventsFollowCtrlC(t *testing.T) {
	exe, _, dir := eventsHost(t)
	for _, v := range []int{1, 2, 3, 4, 5} {
		t.Run(fmt.Sprintf("FWPM_NET_EVENT%d", v), func(t *testing.T) {
			logPath := filepath.Join(dir, fmt.Sprintf("follow-v%d.jsonl", v))
			cmd := exec.Command("wine", exe, "events", "--follow", "--format", "json", "--net-event-version", fmt.Sprint(v))
			cmd.Env = h.wineEnv(overridesEmu, "WFPEMU_NETEVENTS=canned", "WFPEMU_LOG="+logPath,
				"WFPEMU_STATE="+filepath.Join(dir, "state.txt"), "WFPSANDBOX_STATE_DIR=Z:"+filepath.Join(dir, "wfpsandbox-state"))
			cmd.Dir = dir
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			deadline := time.Now().Add(90 * time.Second)
			for strings.Count(stdout.String(), "\n") < cannedShown && time.Now().Before(deadline) {
				select {
				case err := <-exited:
					t.Fatalf("exited before Ctrl+C: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
				case <-time.After(200 * time.Millisecond):
				}
			}
			if n := strings.Count(stdout.String(), "\n"); n != cannedShown {
				_ = cmd.Process.Kill()
				t.Fatalf("%d events after 90 s, want %d:\n%s\nstderr:\n%s", n, cannedShown, stdout.String(), stderr.String())
			}
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("after Ctrl+C: %v\nstderr:\n%s", err, stderr.String())
				}
			case <-time.After(60 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("still running 60 s after Ctrl+C")
			}
			r := run{stdout: stdout.String(), stderr: stderr.String()}
			noCrash(t, "events --follow", r)
			for i, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
				var e eventJSON
				if err := json.Unmarshal([]byte(line), &e); err != nil || e.StructVersion != v {
					t.Errorf("line %d %q: %v", i, line, err)
				}
			}
			log := readCallLog(t, logPath)
			sub := log.calls(fmt.Sprintf("FwpmNetEventSubscribe%d", v-1))
			unsub := log.calls("FwpmNetEventUnsubscribe0")
			if len(sub) != 1 || sub[0].Status != statusOK || len(unsub) != 1 || unsub[0].Status != statusOK {
				t.Errorf("subscribe %+v unsubscribe %+v: want one of each, both OK", sub, unsub)
			}
			log.checkMemory(t)
		})
	}
}

// TestEventsVersionFromWindowsVersion makes Wine report other Windows versions (per
// program: HKCU\Software\Wine\AppDefaults\<exe>\Version, on a copy of wfpsandbox.exe so
// that no other test sees it) and checks that `events` picks the structure version
// wfp-facts.md §7 gives for it, and calls that FwpmNetEventEnum.
func TestEventsVersionFromWindowsVersion(t *testing.T) {
	exe, _, dir := eventsHost(t)
	cases := []struct {
		wine string
		want int
	}{{"vista", 0}, {"win7", 1}, {"win81", 2}, {"win10", 5}}
	reg := "Windows Registry Editor Version 5.00\r\n"
	for _, c := range cases {
		if err := copyFile(exe, filepath.Join(h.bin, "wfpsandbox-"+c.wine+".exe")); err != nil {
			t.Fatal(err)
		}
		reg += fmt.Sprintf("\r\n[HKEY_CURRENT_USER\\Software\\Wine\\AppDefaults\\wfpsandbox-%s.exe]\r\n\"Version\"=\"%s\"\r\n", c.wine, c.wine)
	}
	regFile := filepath.Join(dir, "versions.reg")
	if err := os.WriteFile(regFile, []byte(reg), 0o644); err != nil {
		t.Fatal(err)
	}
	imp := exec.Command("wine", "reg", "import", regFile)
	imp.Env = h.wineEnv(overridesEmu)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("wine reg import: %v\n%s", err, out)
	}
	for _, c := range cases {
		copyExe := filepath.Join(h.bin, "wfpsandbox-"+c.wine+".exe")
		r := h.run(t, runOpts{dir: dir, name: "events-" + c.wine, env: []string{"WFPEMU_NETEVENTS=canned"}}, copyExe, "events", "--format", "json")
		noCrash(t, c.wine, r)
		var doc eventsJSON
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 0 {
			t.Errorf("%s: %v\n%s", c.wine, err, r.describe())
			continue
		}
		if doc.StructVersion != c.want || len(r.log.calls(fmt.Sprintf("FwpmNetEventEnum%d", c.want))) == 0 {
			t.Errorf("Wine as %s: structVersion %d, want %d (FwpmNetEventEnum%d)", c.wine, doc.StructVersion, c.want, c.want)
		}
	}
}
