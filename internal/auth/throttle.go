package auth

import (
	"sync"
	"time"
)

// Throttle counts failed logins per key (client address, user name) in a
// fixed window and refuses a key that failed too often until its window
// ends. Successes do not reset the count: an attacker who knows one
// password must not get unlimited guesses at the others.
type Throttle struct {
	limit  int
	window time.Duration
	max    int // entries kept at most
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*throttleEntry
}

type throttleEntry struct {
	start    time.Time
	failures int
}

// NewThrottle allows limit failures per key per window.
func NewThrottle(limit int, window time.Duration) *Throttle {
	return &Throttle{limit: limit, window: window, max: 100000, now: time.Now, entries: map[string]*throttleEntry{}}
}

// Blocked reports whether key is refused now, and for how long.
func (t *Throttle) Blocked(key string) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil {
		return 0, false
	}
	left := e.start.Add(t.window).Sub(t.now())
	if left <= 0 {
		delete(t.entries, key)
		return 0, false
	}
	return left, e.failures >= t.limit
}

// Fail records a failed attempt for key.
func (t *Throttle) Fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	e := t.entries[key]
	if e == nil || now.Sub(e.start) >= t.window {
		if len(t.entries) >= t.max {
			t.prune(now)
		}
		e = &throttleEntry{start: now}
		t.entries[key] = e
	}
	e.failures++
}

// prune drops expired entries; if that is not enough, an arbitrary half
// goes (map order), so a flood of addresses cannot grow memory without
// bound.
func (t *Throttle) prune(now time.Time) {
	for k, e := range t.entries {
		if now.Sub(e.start) >= t.window {
			delete(t.entries, k)
		}
	}
	if len(t.entries) < t.max {
		return
	}
	n := 0
	for k := range t.entries {
		if n >= t.max/2 {
			break
		}
		delete(t.entries, k)
		n++
	}
}
