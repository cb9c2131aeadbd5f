package auth

import (
	"fmt"
	"testing"
	"time"
)

// fakeClock is a settable time source for the throttle and the htpasswd
// reload check.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock           { return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }
func throttleWith(c *fakeClock, limit int) *Throttle {
	th := NewThrottle(limit, time.Minute)
	th.now = c.now
	return th
}

func TestThrottle(t *testing.T) {
	type step struct {
		advance time.Duration
		fail    int // failures to record first
		key     string
		blocked bool
		left    time.Duration // when blocked
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"unknown key", []step{{key: "a"}}},
		{"below the limit", []step{{fail: 2, key: "a"}}},
		{"at the limit", []step{{fail: 3, key: "a", blocked: true, left: time.Minute}}},
		{"other keys unaffected", []step{{fail: 3, key: "a", blocked: true, left: time.Minute}, {key: "b"}}},
		{"blocked until the window ends", []step{
			{fail: 3, key: "a", blocked: true, left: time.Minute},
			{advance: 40 * time.Second, key: "a", blocked: true, left: 20 * time.Second},
			{advance: 19 * time.Second, key: "a", blocked: true, left: time.Second},
			{advance: time.Second, key: "a"},
		}},
		{"the window starts at the first failure", []step{
			{fail: 2, key: "a"},
			{advance: 50 * time.Second, fail: 1, key: "a", blocked: true, left: 10 * time.Second},
			{advance: 10 * time.Second, key: "a"},
		}},
		{"a new window after the old one", []step{
			{fail: 2, key: "a"},
			{advance: 61 * time.Second, fail: 2, key: "a"},
			{fail: 1, key: "a", blocked: true, left: time.Minute},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeClock()
			th := throttleWith(c, 3)
			for i, s := range tc.steps {
				c.add(s.advance)
				for range s.fail {
					th.Fail(s.key)
				}
				left, blocked := th.Blocked(s.key)
				if blocked != s.blocked || (blocked && left != s.left) {
					t.Errorf("step %d: Blocked(%q) = %v, %v; want %v, %v", i, s.key, left, blocked, s.left, s.blocked)
				}
			}
		})
	}
}

func TestThrottleBoundedMemory(t *testing.T) {
	c := newFakeClock()
	th := throttleWith(c, 3)
	th.max = 100
	for i := range 1000 {
		th.Fail(fmt.Sprintf("addr-%d", i))
		if len(th.entries) > th.max {
			t.Fatalf("after %d keys: %d entries, max %d", i+1, len(th.entries), th.max)
		}
	}
	// Fill the table again, then let the window pass: the next new key
	// prunes every expired entry rather than half of the table.
	for i := range th.max - len(th.entries) {
		th.Fail(fmt.Sprintf("fill-%d", i))
	}
	if len(th.entries) != th.max {
		t.Fatalf("table not full: %d", len(th.entries))
	}
	c.add(2 * time.Minute)
	th.Fail("late")
	if len(th.entries) != 1 {
		t.Errorf("after the window, a new key left %d entries, want 1 (all expired ones pruned)", len(th.entries))
	}
}

func TestThrottleBlockedExpiresEntry(t *testing.T) {
	c := newFakeClock()
	th := throttleWith(c, 1)
	th.Fail("a")
	c.add(time.Minute)
	if _, blocked := th.Blocked("a"); blocked {
		t.Fatalf("blocked after the window")
	}
	if len(th.entries) != 0 {
		t.Errorf("expired entry kept: %d entries", len(th.entries))
	}
}
