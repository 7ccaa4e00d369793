package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp/memengine"
)

func TestServiceCommandOffWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the service control manager is real here")
	}
	code, out, stderr := wfpsandbox(t, "service", "status", "--format", "json")
	var doc serviceDoc
	if code != exitOK || json.Unmarshal([]byte(out), &doc) != nil || doc.Installed {
		t.Errorf("status: exit %d %s %s", code, out, stderr)
	}
	for _, sub := range []string{"install", "uninstall", "start", "stop"} {
		code, _, stderr := wfpsandbox(t, "service", sub)
		if code != exitError || !strings.Contains(stderr, "Windows service") {
			t.Errorf("%s: exit %d %s", sub, code, stderr)
		}
	}
	if code, _, stderr := wfpsandbox(t, "service", "restart"); code != exitError || !strings.Contains(stderr, `unknown subcommand "restart"`) {
		t.Errorf("restart: exit %d %s", code, stderr)
	}
	if code, _, stderr := wfpsandbox(t, "service"); code != exitError || !strings.Contains(stderr, "name a subcommand") {
		t.Errorf("no subcommand: exit %d %s", code, stderr)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// 'service run' in the foreground repairs a deleted filter within its poll
// (config.toml [service] poll = "1s"), and a bad config refuses to start.
func TestServiceRunRepairsOnPoll(t *testing.T) {
	h := newSimHost(t)
	if code, _, stderr := wfpsandbox(t, h.args("setup", "--sid", sid, "--user-match", "allow")...); code != exitOK {
		t.Fatalf("setup: %s", stderr)
	}
	cfg := filepath.Join(h.state, "config.toml")
	if err := os.WriteFile(cfg, []byte("[service]\npoll = \"100ms\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := wfpsandbox(t, "service", "run", "--state-dir", h.state, "--engine", h.engine); code != exitError ||
		!strings.Contains(stderr, "config.toml:2: service.poll") {
		t.Fatalf("bad poll: exit %d %s", code, stderr)
	}
	if err := os.WriteFile(cfg, []byte("[service]\npoll = \"1s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(h.engine, "memory:")
	present := func() bool {
		s, err := memengine.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		f, _ := s.Filter(policy.FilterKey(sid, "smb-v4"))
		return f != nil
	}
	del := func() {
		s, err := memengine.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.DeleteFilter(policy.FilterKey(sid, "smb-v4")); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"service", "run", "--state-dir", h.state, "--engine", h.engine}, &out, &errb)
	}()
	time.Sleep(300 * time.Millisecond) // the start pass is done
	del()
	start := time.Now()
	for !present() {
		if time.Since(start) > 5*time.Second {
			cancel()
			<-done
			t.Fatalf("not repaired within 5s of a 1s poll:\n%s", errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "repaired the wfpsandbox policy") {
		t.Errorf("no repair logged:\n%s", errb.String())
	}
}

// TestServiceRunBadConfigIsLogged: started by the service control manager, 'service
// run' has no stderr anyone reads; a config.toml it refuses is an error record (event
// 124) in the state directory's log (and so the Event Log on Windows), not only a line
// on stderr, so that an admin whose service does not start can find why.
func TestServiceRunBadConfigIsLogged(t *testing.T) {
	for _, cfg := range []string{"[service]\npoll = \"1ms\"\n", "[service]\ndrop_metrics = \"yes\"\n", "[service]\ncallers = [\"nobody\"]\n"} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := wfpsandbox(t, "service", "run", "--state-dir", dir, "--engine", "memory:"+filepath.Join(dir, "host.json"))
		if code != exitError || !strings.Contains(stderr, "config.toml") {
			t.Fatalf("%q: exit %d, stderr %q", cfg, code, stderr)
		}
		b, err := os.ReadFile(filepath.Join(dir, "wfpsandbox.log"))
		if err != nil || !strings.Contains(string(b), `"level":"ERROR","msg":"service: not started: `) || !strings.Contains(string(b), `"event":124`) {
			t.Errorf("%q: the log has no error record of the refusal (%v):\n%s", cfg, err, b)
		}
	}
}
