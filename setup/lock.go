package setup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wfpsandbox/wfpsandbox/internal/safefile"
)

// errLocked is returned by tryLock when another process holds the lock.
var errLocked = errors.New("locked by another process")

// lockPoll is how often a waiting run retries the lock.
const lockPoll = 50 * time.Millisecond

// Lock is the setup lock: an exclusive OS lock on setup.lock in the state directory
// (flock on Unix, LockFileEx on Windows). The OS drops it when the holder exits, so a
// crashed run never leaves a stale lock. The file holds the holder's PID, for the
// waiting message only; it is never removed (removing it would let two runs hold locks
// on two different files).
type Lock struct {
	f    *os.File
	path string
}

// AcquireLock takes the setup lock in dir, waiting for another run to finish. While
// it waits it logs, once, "waiting for another wfpsandbox setup (pid N) to finish".
// It gives up when ctx is done.
func AcquireLock(ctx context.Context, dir string, logger *slog.Logger) (*Lock, error) {
	path := filepath.Join(dir, LockFile)
	// Never through a link planted in the state directory: the elevated setup would
	// truncate and write the link's target (safefile.OpenFile refuses it).
	f, err := safefile.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open setup lock: %w", err)
	}
	waited := false
	start := time.Now()
	for {
		err := tryLock(f)
		if err == nil {
			break
		}
		if !errors.Is(err, errLocked) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !waited {
			waited = true
			holder := "unknown pid"
			if pid := readPID(f); pid > 0 {
				holder = "pid " + strconv.Itoa(pid)
			}
			logger.Info(fmt.Sprintf("waiting for another wfpsandbox setup (%s) to finish", holder), "lock", path)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the setup lock %s: %w", path, context.Cause(ctx))
		case <-time.After(lockPoll):
		}
	}
	if waited {
		logger.Info("the other wfpsandbox setup finished; continuing", "waited", time.Since(start).Round(time.Millisecond).String())
	}
	// Record our PID for the next waiter. Failing to is harmless.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f, path: path}, nil
}

// Release drops the lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if err != nil {
		return fmt.Errorf("release %s: %w", l.path, err)
	}
	return nil
}

// readPID reads the holder's PID from the lock file, or 0.
func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		return 0
	}
	return pid
}
