//go:build !windows

package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/selftest"
)

// Off Windows the selftest says it is Windows-only, exits 2 and writes nothing.
func TestSelftestWindowsOnly(t *testing.T) {
	report := filepath.Join(t.TempDir(), "report.json")
	code, out, stderr := wfpsandbox(t, "selftest", "--report", report)
	if code != exitError || !strings.Contains(stderr, "only on Windows") {
		t.Fatalf("exit %d, stderr %q, stdout %q", code, stderr, out)
	}
	if _, err := os.Stat(report); !os.IsNotExist(err) {
		t.Errorf("a report was written off Windows: %v", err)
	}
	code, out, _ = wfpsandbox(t, "selftest", "--format", "json")
	var doc errorDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != exitError || !strings.Contains(doc.Error, "only on Windows") {
		t.Errorf("json: exit %d, %q (%v)", code, out, err)
	}
	code, _, stderr = wfpsandbox(t, "selftest-probe", "-plan", "p", "-out", "o")
	if code != exitError || !strings.Contains(stderr, "only on Windows") {
		t.Errorf("selftest-probe: exit %d, %q", code, stderr)
	}
}

// Bad input is refused, naming the thing, before the platform matters.
func TestSelftestBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--profile", "bogus"}, `unknown profile "bogus"`},
		{[]string{"--sid", sid}, "creates its own temporary account"},
		{[]string{"--proxy-port", "8080"}, "proxy ports apply only"},
		{[]string{"--policy", filepath.Join(t.TempDir(), "missing.toml")}, "missing.toml"},
	} {
		code, _, stderr := wfpsandbox(t, append([]string{"selftest"}, tc.args...)...)
		if code != exitError || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "only on Windows") {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, code, stderr, tc.want)
		}
	}
}

// The probe helper is hidden from help; selftest is listed.
func TestSelftestInHelp(t *testing.T) {
	_, out, _ := wfpsandbox(t, "help")
	if !strings.Contains(out, "selftest ") || strings.Contains(out, "selftest-probe") {
		t.Errorf("help:\n%s", out)
	}
}

// SIGTERM (what Go delivers on Windows for a closed console) cancels the selftest's
// context with a selftest.Terminating cause, which bounds its cleanup; without it the
// context stays live, and stop undoes the Notify.
func TestSelftestUntilTerminated(t *testing.T) {
	ctx, stop := untilTerminated(context.Background())
	defer stop()
	select {
	case <-ctx.Done():
		t.Fatal("cancelled without a signal")
	case <-time.After(50 * time.Millisecond):
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
	var term *selftest.Terminating
	if !errors.As(context.Cause(ctx), &term) || time.Since(term.At) > 5*time.Second || !strings.Contains(term.Error(), "console was closed") {
		t.Errorf("cause %v", context.Cause(ctx))
	}
}
