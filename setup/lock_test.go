package setup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wfpsandbox/wfpsandbox/policy"
	"github.com/wfpsandbox/wfpsandbox/wfp"
)

func TestLockExcludesAndWaits(t *testing.T) {
	dir := t.TempDir()
	var log bufLogger
	l1, err := AcquireLock(context.Background(), dir, log.logger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := AcquireLock(ctx, dir, log.logger()); err == nil {
		t.Fatal("second lock taken while the first is held")
	}
	want := fmt.Sprintf("waiting for another wfpsandbox setup (pid %d) to finish", os.Getpid())
	if !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}
	got := make(chan error, 1)
	go func() {
		l, err := AcquireLock(context.Background(), dir, log.logger())
		if err == nil {
			err = l.Release()
		}
		got <- err
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("waiter returned while the lock was held: %v", err)
	default:
	}
	if err := l1.Release(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter did not get the lock after release")
	}
}

// Environment of the helper process.
const (
	helperEnv = "WFPSANDBOX_SETUP_TEST_HELPER"
)

// TestHelperSetupProcess is not a test: run by the concurrency tests as a separate
// process, it performs one setup.Run and prints the report as JSON.
func TestHelperSetupProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestConcurrentSetupProcesses")
	}
	h := &host{t: t, dir: os.Getenv("HELPER_STATE"), engine: os.Getenv("HELPER_ENGINE")}
	hold, _ := time.ParseDuration(os.Getenv("HELPER_HOLD"))
	o := h.opts(sidA)
	o.Logger = nil
	o.Profile = policy.Profile(os.Getenv("HELPER_PROFILE"))
	o.Logger = newTestStderrLogger()
	o.Open = func() (wfp.Engine, error) {
		time.Sleep(hold) // keep the setup lock for a while
		return h.open()
	}
	rep, err := Run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: Run:", err)
		os.Exit(2)
	}
	_ = json.NewEncoder(os.Stdout).Encode(rep)
	os.Exit(0)
}

type helperProc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

func startHelper(t *testing.T, h *host, profile policy.Profile, hold time.Duration) *helperProc {
	t.Helper()
	p := &helperProc{cmd: exec.Command(os.Args[0], "-test.run=^TestHelperSetupProcess$", "-test.count=1")}
	p.cmd.Env = append(os.Environ(), helperEnv+"=1", "HELPER_STATE="+h.dir, "HELPER_ENGINE="+h.engine,
		"HELPER_PROFILE="+string(profile), "HELPER_HOLD="+hold.String(), "WFPSANDBOX_ANALYTICS=0")
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *helperProc) wait(t *testing.T) Report {
	t.Helper()
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("helper %d: %v\nstderr:\n%s", p.cmd.Process.Pid, err, p.stderr.String())
	}
	var rep Report
	if err := json.Unmarshal(p.stdout.Bytes(), &rep); err != nil {
		t.Fatalf("helper output %q: %v", p.stdout.String(), err)
	}
	return rep
}

// waitForLockHolder waits until the lock file names pid.
func waitForLockHolder(t *testing.T, dir string, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(filepath.Join(dir, LockFile))
		if strings.TrimSpace(string(b)) == strconv.Itoa(pid) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("process %d never took the setup lock", pid)
}

// TestConcurrentSetupProcesses runs setup in two processes at once: the second waits
// for the first with a clear message, and the final record and WFP state agree with
// the run that finished last.
func TestConcurrentSetupProcesses(t *testing.T) {
	h := newHost(t)
	a := startHelper(t, h, policy.Baseline, 700*time.Millisecond)
	waitForLockHolder(t, h.dir, a.cmd.Process.Pid)
	b := startHelper(t, h, policy.Strict, 0)
	ra, rb := a.wait(t), b.wait(t)
	want := fmt.Sprintf("waiting for another wfpsandbox setup (pid %d) to finish", a.cmd.Process.Pid)
	if !strings.Contains(b.stderr.String(), want) {
		t.Errorf("second process did not say %q:\n%s", want, b.stderr.String())
	}
	if ra.WFPFailed() || rb.WFPFailed() {
		t.Fatalf("a WFP step failed: %+v / %+v", ra.Steps, rb.Steps)
	}
	wa, _ := ra.Step(StepWFP)
	wb, _ := rb.Step(StepWFP)
	if !wb.Started.After(ra.Finished) {
		t.Errorf("runs overlapped: A's WFP step %v–%v, A done %v, B's WFP step began %v", wa.Started, wa.Finished, ra.Finished, wb.Started)
	}
	m := h.record(sidA)
	if m.Profile != "strict" || m.PlanHash != rb.PlanHash {
		t.Errorf("final record is not the last run's: profile %s", m.Profile)
	}
	if v := h.verify(sidA, policy.Strict, ""); !v.Compliant {
		t.Errorf("engine does not hold the last run's plan: %+v", v.Findings)
	}
}

// TestConcurrentSetupProcessesAnyOrder starts several processes at once with different
// profiles: whatever the order, the record and the engine must agree.
func TestConcurrentSetupProcessesAnyOrder(t *testing.T) {
	h := newHost(t)
	profiles := []policy.Profile{policy.Baseline, policy.Strict, policy.Baseline, policy.Strict}
	var ps []*helperProc
	for _, p := range profiles {
		ps = append(ps, startHelper(t, h, p, 0))
	}
	var last Report
	for _, p := range ps {
		r := p.wait(t)
		if r.WFPFailed() {
			t.Fatalf("WFP step failed: %+v", r.Steps)
		}
		if r.Finished.After(last.Finished) {
			last = r
		}
	}
	m := h.record(sidA)
	if m.Profile != last.Profile || m.PlanHash != last.PlanHash {
		t.Errorf("record %s/%s, last run %s/%s", m.Profile, short(m.PlanHash), last.Profile, short(last.PlanHash))
	}
	if v := h.verify(sidA, policy.Profile(m.Profile), ""); !v.Compliant {
		t.Errorf("engine does not match the record's %s plan: %+v", m.Profile, v.Findings)
	}
	ents, _ := os.ReadDir(h.dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestRunGivesUpWaitingForTheLock(t *testing.T) {
	h := newHost(t)
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	held, err := AcquireLock(context.Background(), h.dir, h.log.logger())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	o := h.opts("sandbox")
	o.LockWait = 150 * time.Millisecond
	start := time.Now()
	_, err = Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "gave up after 150ms") {
		t.Fatalf("Run with the lock held: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("gave up after %v", took)
	}
	if h.opens != 0 {
		t.Error("the engine was opened without the lock")
	}
}

// TestLockOfCrashedProcessIsFree: a setup killed while it holds the lock (here with
// SIGKILL / TerminateProcess, inside its WFP step) leaves no stale lock: the next run
// proceeds at once, and the crashed run's lock file (still naming its PID) is reused.
func TestLockOfCrashedProcessIsFree(t *testing.T) {
	h := newHost(t)
	p := startHelper(t, h, policy.Baseline, time.Minute)
	waitForLockHolder(t, h.dir, p.cmd.Process.Pid)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	o := h.opts("sandbox")
	o.LockWait = 5 * time.Second
	start := time.Now()
	rep, err := Run(context.Background(), o)
	if err != nil || rep.WFPFailed() {
		t.Fatalf("Run after the lock holder was killed: %v %+v", err, rep.Steps)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Run took %v after the lock holder died: it waited for a stale lock", took)
	}
	if strings.Contains(h.log.String(), "waiting for another wfpsandbox setup") {
		t.Errorf("Run waited for a dead process:\n%s", h.log.String())
	}
}
