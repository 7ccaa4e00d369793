package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/wfpsandbox/wfpsandbox/policy"
)

const sid = "S-1-5-21-1000-1000-1000-1001"

// wfpsandbox runs the CLI in-process and returns exit code, stdout and stderr.
func wfpsandbox(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestPlanJSONSchema(t *testing.T) {
	code, out, stderr := wfpsandbox(t, "plan", "--sid", sid, "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		SID      string `json:"sid"`
		Provider struct {
			Key string `json:"key"`
		} `json:"provider"`
		Sublayer struct {
			Key    string `json:"key"`
			Weight int    `json:"weight"`
			SID    string `json:"sid"`
		} `json:"sublayer"`
		Filters []struct {
			Key, Name, Layer, LayerKey, Action string
			Flags                              []string
			Conditions                         []struct {
				Field, Match, Type string
				Value              any
			}
		} `json:"filters"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, out)
	}
	// The default (deny) plan: the account's own sublayer, 4 guard permits, 12 blocks.
	if doc.SID != sid || doc.Sublayer.Weight != 0xFFFF || doc.Sublayer.SID != sid ||
		doc.Sublayer.Key != policy.SublayerKeyFor(sid).String() || len(doc.Filters) != 16 {
		t.Fatalf("plan doc: sid %q sublayer %+v filters %d", doc.SID, doc.Sublayer, len(doc.Filters))
	}
	ports := map[float64]int{}
	guardSDDL := "D:(D;;CC;;;" + sid + ")(A;;CC;;;WD)(A;;CC;;;AN)(A;;CC;;;AC)(A;;CC;;;S-1-15-2-2)(A;;CC;;;RC)(A;;CC;;;WR)"
	for i, f := range doc.Filters {
		if !strings.HasPrefix(f.Layer, "FWPM_LAYER_ALE_") || len(f.LayerKey) != 36 {
			t.Errorf("filter %s: layer %q key %q", f.Name, f.Layer, f.LayerKey)
		}
		if i < 4 {
			if f.Action != "FWP_ACTION_PERMIT" || strings.Join(f.Flags, "|") != "FWPM_FILTER_FLAG_PERSISTENT" || len(f.Conditions) != 1 {
				t.Errorf("guard %s: action %s flags %v conditions %d", f.Name, f.Action, f.Flags, len(f.Conditions))
				continue
			}
			user := f.Conditions[0]
			if user.Field != "FWPM_CONDITION_ALE_USER_ID" || user.Match != "FWP_MATCH_EQUAL" ||
				user.Type != "FWP_SECURITY_DESCRIPTOR_TYPE" || user.Value != guardSDDL {
				t.Errorf("guard %s: user condition %+v, want EQUAL %s", f.Name, user, guardSDDL)
			}
			continue
		}
		if f.Action != "FWP_ACTION_BLOCK" || strings.Join(f.Flags, "|") != "FWPM_FILTER_FLAG_PERSISTENT|FWPM_FILTER_FLAG_CLEAR_ACTION_RIGHT" || len(f.Conditions) != 1 {
			t.Errorf("block %s: action %s flags %v conditions %+v (want one, no user condition)", f.Name, f.Action, f.Flags, f.Conditions)
			continue
		}
		if c := f.Conditions[0]; c.Field == "FWPM_CONDITION_IP_REMOTE_PORT" {
			if c.Type != "FWP_UINT16" {
				t.Errorf("port condition type %s", c.Type)
			}
			ports[c.Value.(float64)]++
		}
	}
	for _, p := range []float64{53, 853, 445, 139} {
		if ports[p] != 2 {
			t.Errorf("port %v appears in %d filters, want 2 (v4 and v6)", p, ports[p])
		}
	}
}

func TestSetupVerifyUninstallOnSimulatedHost(t *testing.T) {
	engine := "memory:" + filepath.Join(t.TempDir(), "host.json")

	code, out, stderr := wfpsandbox(t, "setup", "--sid", sid, "--engine", engine, "--format", "json")
	if code != exitOK {
		t.Fatalf("setup: exit %d: %s%s", code, out, stderr)
	}
	if w := writes(t, out); w != 18 {
		t.Fatalf("fresh setup made %d writes, want 18 (provider, the account's sublayer, 4 guards, 12 blocks)", w)
	}
	if code, out, stderr = wfpsandbox(t, "verify", "--sid", sid, "--engine", engine); code != exitOK {
		t.Fatalf("verify after setup: exit %d: %s%s", code, out, stderr)
	}
	code, out, _ = wfpsandbox(t, "setup", "--sid", sid, "--engine", engine, "--format", "json")
	if code != exitOK || writes(t, out) != 0 {
		t.Fatalf("second setup: exit %d, %d writes, want 0: %s", code, writes(t, out), out)
	}
	// The other user-match shape is a different policy: verify must see drift.
	if code, out, _ = wfpsandbox(t, "verify", "--sid", sid, "--user-match", "allow", "--engine", engine); code != exitDrift {
		t.Fatalf("verify with another shape: exit %d, want %d: %s", code, exitDrift, out)
	}
	code, out, stderr = wfpsandbox(t, "uninstall", "--all", "--engine", engine, "--format", "json")
	if code != exitOK || writes(t, out) != 18 {
		t.Fatalf("uninstall: exit %d, %s %s", code, out, stderr)
	}
	if code, _, _ = wfpsandbox(t, "verify", "--sid", sid, "--engine", engine); code != exitDrift {
		t.Fatalf("verify after uninstall: exit %d, want %d", code, exitDrift)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.json")
	code, out, stderr := wfpsandbox(t, "setup", "--sid", sid, "--engine", "memory:"+path, "--dry-run", "--format", "json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Changes []any `json:"changes"`
		DryRun  bool  `json:"dryRun"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Changes) != 18 || !res.DryRun {
		t.Fatalf("dry run result %s (%v)", out, err)
	}
	// Nothing at all was written: no host file (verify refuses a host that does not
	// exist), no lock file beside it.
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Fatalf("a dry run created %v", entries)
	}
	if code, _, stderr := wfpsandbox(t, "verify", "--sid", sid, "--engine", "memory:"+path); code != exitError || !strings.Contains(stderr, path) {
		t.Fatalf("verify of a host a dry run did not create: exit %d, %s", code, stderr)
	}
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "host.json")
	if code, _, stderr := wfpsandbox(t, "setup", "--sid", sid, "--engine", "memory:"+good); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	before, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt.json")
	if err := os.WriteFile(corrupt, []byte(`{"format":"wfpsandbox-memengine","version":1,"providers":[{"key":`), 0o644); err != nil {
		t.Fatal(err)
	}
	corruptBefore, _ := os.ReadFile(corrupt)
	cases := []struct {
		name string
		args []string
		want string // the error names this
	}{
		{"malformed SID", []string{"setup", "--sid", "S-1-5-21-x", "--engine", "memory:" + good}, "S-1-5-21-x"},
		{"not a user SID", []string{"setup", "--sid", "S-1-5-18", "--engine", "memory:" + good}, "S-1-5-18"},
		{"unknown profile", []string{"setup", "--sid", sid, "--profile", "paranoid", "--engine", "memory:" + good}, "paranoid"},
		{"unknown user match", []string{"setup", "--sid", sid, "--user-match", "x", "--engine", "memory:" + good}, `"x"`},
		{"unwritable engine path", []string{"setup", "--sid", sid, "--engine", "memory:" + filepath.Join(dir, "no", "such", "dir", "h.json")}, filepath.Join(dir, "no", "such", "dir")},
		{"corrupt engine file", []string{"setup", "--sid", sid, "--engine", "memory:" + corrupt}, corrupt},
		{"no account", []string{"setup", "--engine", "memory:" + good}, "--sid"},
		{"unknown engine", []string{"setup", "--sid", sid, "--engine", "bfe"}, "bfe"},
		{"stray argument", []string{"plan", "--sid", sid, "extra"}, "extra"},
		// --sid takes a SID, never a name to look up (that is --account).
		{"a name as --sid", []string{"setup", "--sid", "sandbox", "--engine", "memory:" + good}, `--sid: invalid SID "sandbox"`},
		{"a path as --sid", []string{"setup", "--sid", `..\..\x`, "--engine", "memory:" + good}, `--sid: invalid SID`},
		{"a name as ensure --sid", []string{"ensure", "--sid", "sandbox", "--engine", "memory:" + good, "--state-dir", filepath.Join(dir, "state")}, `--sid: invalid SID "sandbox"`},
	}
	if runtime.GOOS != "windows" {
		cases = append(cases, struct {
			name string
			args []string
			want string
		}{"account names need Windows", []string{"setup", "--account", "sandbox", "--engine", "memory:" + good}, "--sid"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := wfpsandbox(t, c.args...)
			if code != exitError {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitError, stderr)
			}
			if !strings.Contains(stderr, c.want) {
				t.Fatalf("stderr %q does not name %q", stderr, c.want)
			}
		})
	}
	after, _ := os.ReadFile(good)
	if !bytes.Equal(before, after) {
		t.Fatal("a refused command changed the simulated host")
	}
	if corruptAfter, _ := os.ReadFile(corrupt); !bytes.Equal(corruptBefore, corruptAfter) {
		t.Fatal("the corrupt engine file was modified")
	}
}

func TestJSONErrors(t *testing.T) {
	code, out, _ := wfpsandbox(t, "plan", "--sid", "bogus", "--format", "json")
	var doc errorDoc
	if code != exitError || json.Unmarshal([]byte(out), &doc) != nil || !strings.Contains(doc.Error, "bogus") {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, _, stderr := wfpsandbox(t, "instal"); code != exitError || !strings.Contains(stderr, "instal") {
		t.Fatalf("exit %d %s", code, stderr)
	}
}

func writes(t *testing.T, out string) int {
	t.Helper()
	var res struct {
		Writes int `json:"writes"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("result JSON: %v\n%s", err, out)
	}
	return res.Writes
}

// TestUsageErrorsPrintJSON: scripts asking for JSON get a JSON error document on stdout
// for usage errors too — an unknown flag (even before --format json), a stray argument,
// an unknown command — with exit code 2.
func TestUsageErrorsPrintJSON(t *testing.T) {
	for _, args := range [][]string{
		{"setup", "--bogus", "--format", "json"},
		{"setup", "--format=json", "--sid", sid, "extra"},
		{"verify", "-format", "json", "--engine"},
		{"instal", "--format", "json"},
	} {
		code, out, _ := wfpsandbox(t, args...)
		var doc errorDoc
		if code != exitError || json.Unmarshal([]byte(out), &doc) != nil || doc.Error == "" {
			t.Errorf("%q: exit %d, stdout %q; want exit %d and a JSON error", args, code, out, exitError)
		}
	}
}
