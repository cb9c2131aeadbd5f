// Package health runs the periodic checks of distribution's health
// section (the storage backends, files, HTTP and TCP dependencies) and
// serves their results: /debug/health on the debug listener, and a gate
// that answers 503 to every request while a check fails, as registry:2
// does, so a load balancer or Kubernetes takes the node out of rotation.
package health

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Check is one periodic check.
type Check struct {
	// Name identifies the check in /debug/health's answer.
	Name string
	// Interval is the time between runs (default 10s).
	Interval time.Duration
	// Threshold is how many failures in a row make the check fail
	// (default 1).
	Threshold int
	// Run returns nil when what it checks is healthy.
	Run func(ctx context.Context) error
}

// Checker runs checks and remembers their state.
type Checker struct {
	log    *slog.Logger
	checks []Check

	mu     sync.Mutex
	failed map[string]error // checks failing now, by name
}

// New returns a checker for checks; nothing runs before Start.
func New(log *slog.Logger, checks []Check) *Checker {
	return &Checker{log: log, checks: checks, failed: make(map[string]error)}
}

// Enabled reports whether there is anything to check.
func (c *Checker) Enabled() bool { return c != nil && len(c.checks) > 0 }

// Start runs every check once, so the state is known before the first
// request, then each again every Interval until ctx ends.
func (c *Checker) Start(ctx context.Context) {
	if !c.Enabled() {
		return
	}
	var first sync.WaitGroup
	for _, ch := range c.checks {
		first.Add(1)
		go c.loop(ctx, ch, first.Done)
	}
	first.Wait()
}

func (c *Checker) loop(ctx context.Context, ch Check, firstDone func()) {
	interval := ch.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	threshold := max(ch.Threshold, 1)
	failures := 0
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := c.runOnce(ctx, ch, interval)
		if err != nil {
			failures++
		} else {
			failures = 0
		}
		if ctx.Err() == nil {
			c.record(ch.Name, err, failures >= threshold)
		}
		if firstDone != nil {
			firstDone()
			firstDone = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runOnce runs a check with a deadline of one interval, so a hung
// dependency counts as a failure instead of stalling the loop.
func (c *Checker) runOnce(ctx context.Context, ch Check, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	return ch.Run(ctx)
}

func (c *Checker) record(name string, err error, failing bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, was := c.failed[name]
	switch {
	case failing:
		c.failed[name] = err
		if !was {
			c.log.Warn("health check failing", "check", name, "err", err)
		}
	case was && err == nil:
		delete(c.failed, name)
		c.log.Info("health check passing again", "check", name)
	}
}

// Failures returns the failing checks' errors by name; empty when healthy.
func (c *Checker) Failures() map[string]string {
	out := make(map[string]string)
	if c == nil {
		return out
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, err := range c.failed {
		out[name] = err.Error()
	}
	return out
}

// Handler answers 200 with {} when every check passes, else 503 with the
// failing checks and their errors, as distribution's /debug/health does.
func (c *Checker) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		failures := c.Failures()
		status := http.StatusOK
		if len(failures) > 0 {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, failures)
	})
}

// Live answers 200 while the process serves: a liveness probe, which must
// not fail because a dependency is down (a restart would not bring it back).
func Live() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{})
	})
}

// Gate answers 503 to every request while a check fails, with the
// failing checks as /debug/health shows them, and passes requests to next
// otherwise.
func (c *Checker) Gate(next http.Handler) http.Handler {
	if !c.Enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		failures := c.Failures()
		if len(failures) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", "10")
		writeJSON(w, http.StatusServiceUnavailable, failures)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}
