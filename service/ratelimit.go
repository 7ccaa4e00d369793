package service

import (
	"sync"
	"time"
)

// limiter is a token bucket per account: each repair takes a token; an account has at
// most burst tokens and gets one back every every. A tool that keeps undoing our
// repairs therefore gets at most burst repairs at once and then one per every, and
// the service never spins on a fight.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
	// throttled is true while the account's repairs are being refused, so that the
	// refusal is logged once per episode, not at every poll.
	throttled bool
}

func newLimiter(burst int, every time.Duration) *limiter {
	return &limiter{burst: float64(burst), every: every, buckets: map[string]*bucket{}}
}

// take takes a token of sid's bucket at now; first is true when this refusal starts
// a throttled episode (the previous take succeeded).
func (l *limiter) take(sid string, now time.Time) (ok, first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[sid]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[sid] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+float64(el)/float64(l.every))
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		b.throttled = false
		return true, false
	}
	first = !b.throttled
	b.throttled = true
	return false, first
}

// logBudget bounds the records of one kind that callers can cause: at most n per
// window; the rest are not logged, and their number goes with the next record that
// is. A local caller can send requests as fast as the pipe takes them, and the log
// file (4 MiB of history) and the Event Log must not be theirs to fill.
type logBudget struct {
	mu         sync.Mutex
	n          int
	window     time.Duration
	start      time.Time
	used       int
	suppressed int
}

// Defaults of the budgets of request records.
const (
	requestRecords       = 20
	requestRecordsWindow = time.Minute
)

func newLogBudget(n int, window time.Duration) *logBudget {
	return &logBudget{n: n, window: window}
}

// take says whether a record may be logged at now, and how many were not since the
// last one that was.
func (b *logBudget) take(now time.Time) (ok bool, suppressed int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.start) >= b.window || now.Before(b.start) {
		b.start, b.used = now, 0
	}
	if b.used >= b.n {
		b.suppressed++
		return false, 0
	}
	b.used++
	suppressed, b.suppressed = b.suppressed, 0
	return true, suppressed
}
