//go:build wine

package winetest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serviceRun is `wfpsandbox service run --verbose` in the foreground under Wine against
// the emulator: the store dir/state.txt, the call log dir/service.jsonl, the state
// directory stateDir. Its output goes to a file, not a pipe: wineserver, started by the
// first Wine process, inherits its output and would keep a pipe open after the process
// is gone. The test's cleanup kills it (if still running) and logs its output.
type serviceRun struct {
	cmd     *exec.Cmd
	outPath string
	logPath string
	exited  chan error
	done    bool
}

func startServiceRun(t *testing.T, dir, stateDir string, env ...string) *serviceRun {
	t.Helper()
	exe := h.wfpsandboxExe(t)
	s := &serviceRun{outPath: filepath.Join(dir, "service.out"), logPath: filepath.Join(dir, "service.jsonl"), exited: make(chan error, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	s.cmd = exec.CommandContext(ctx, "wine", exe, "service", "run", "--verbose")
	s.cmd.Env = h.wineEnv(overridesEmu, append([]string{"WFPEMU_LOG=" + s.logPath,
		"WFPEMU_STATE=" + filepath.Join(dir, "state.txt"), "WFPSANDBOX_STATE_DIR=Z:" + stateDir}, env...)...)
	s.cmd.Dir = dir
	out, err := os.Create(s.outPath)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		out.Close()
		cancel()
		t.Fatal(err)
	}
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if !s.done {
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
		out.Close()
		cancel()
		t.Logf("service output:\n%s", s.output(t))
	})
	return s
}

// output is what the service has written so far.
func (s *serviceRun) output(t *testing.T) string { return fileText(t, s.outPath) }

// calls is the emulator's log of the service's calls so far.
func (s *serviceRun) calls(t *testing.T) callLog { return readCallLog(t, s.logPath) }

// waitUntil waits until ready(output) holds; the service exiting first, or within,
// fails the test.
func (s *serviceRun) waitUntil(t *testing.T, within time.Duration, what string, ready func(out string) bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ready(s.output(t)) {
		select {
		case err := <-s.exited:
			s.done = true
			t.Fatalf("the service exited before %s: %v\n%s", what, err, s.output(t))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not get to %s within %s:\n%s", what, within, s.output(t))
		}
	}
}

// waitFor waits until the output holds text.
func (s *serviceRun) waitFor(t *testing.T, within time.Duration, text string) {
	t.Helper()
	s.waitUntil(t, within, strings.TrimSpace(text), func(out string) bool { return strings.Contains(out, text) })
}

// interrupt stops the service with Ctrl+C (SIGINT, which Wine turns into the console's
// Ctrl+C) and waits for it to exit cleanly: what it does at exit (send its metrics)
// is done then.
func (s *serviceRun) interrupt(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		s.done = true
		if err != nil {
			t.Errorf("service run after Ctrl+C: %v\n%s", err, s.output(t))
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("still running 60 s after Ctrl+C:\n%s", s.output(t))
	}
}
