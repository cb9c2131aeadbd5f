package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
)

// Clock tells the time; tests inject one to step through backoffs without
// sleeping.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Defaults for what an endpoint leaves unset.
const (
	defaultTimeout    = 5 * time.Second
	defaultThreshold  = 5
	defaultBackoff    = time.Second
	defaultMaxBackoff = 5 * time.Minute
	// maxRetryAfter bounds how long a receiver's Retry-After may hold an
	// event back.
	maxRetryAfter = time.Hour
	// laneHeads is how many repositories one claim serves, in parallel;
	// laneRun how many of a repository's events it takes, in order.
	laneHeads = 16
	laneRun   = 16
	// maxErrorBody is how much of a failed answer is read (and then
	// dropped): enough to reuse the connection.
	maxErrorBody = 64 << 10
)

// endpoint is an endpoint's settings with defaults applied and secrets
// decoded. Its String never shows URL, headers or keys.
type endpoint struct {
	name                         string
	url                          string
	headers                      http.Header
	timeout, backoff, maxBackoff time.Duration
	maxAge                       time.Duration
	threshold, maxAttempts       int
	keys                         [][]byte
	format                       string
}

func (e *endpoint) String() string { return "endpoint " + e.name }

func newEndpoint(c config.Endpoint) (*endpoint, error) {
	e := &endpoint{name: c.Name, url: c.URL, headers: http.Header{}, timeout: c.Timeout, backoff: c.Backoff,
		maxBackoff: c.MaxBackoff, maxAge: c.MaxAge, threshold: c.Threshold, maxAttempts: c.MaxAttempts,
		format: strings.ToLower(c.Format)}
	for k, vs := range c.Headers {
		for _, v := range vs {
			e.headers.Add(k, v)
		}
	}
	if e.timeout <= 0 {
		e.timeout = defaultTimeout
	}
	if e.threshold <= 0 {
		e.threshold = defaultThreshold
	}
	if e.backoff <= 0 {
		e.backoff = defaultBackoff
	}
	if e.maxBackoff <= 0 {
		e.maxBackoff = defaultMaxBackoff
	}
	if e.maxBackoff < e.backoff {
		e.maxBackoff = e.backoff
	}
	for _, s := range c.Secrets {
		k, err := config.DecodeWebhookSecret(s)
		if err != nil {
			return nil, fmt.Errorf("notifications endpoint %s: secret: %w", c.Name, err)
		}
		e.keys = append(e.keys, k)
	}
	return e, nil
}

// backoffCeiling is the longest wait after the n-th failure in a row
// (n >= 1): backoff doubled n-1 times, at most maxBackoff.
func (e *endpoint) backoffCeiling(n int) time.Duration {
	d := e.backoff
	for i := 1; i < n && d < e.maxBackoff; i++ {
		d *= 2
	}
	return min(d, e.maxBackoff)
}

// lane delivers one endpoint's events: its own claims, its own failure
// count and pause, so a dead endpoint delays nothing else.
type lane struct {
	ep     *endpoint
	store  meta.EventStore
	client *http.Client
	clock  Clock
	// jitter picks the wait in [d/2, d] (equal jitter): retries of many
	// events spread out instead of arriving together.
	jitter func(d time.Duration) time.Duration
	owner  string // lease owner: this process
	node   string // recorded with each attempt
	lease  time.Duration
	log    *slog.Logger
	m      *laneMetrics

	mu          sync.Mutex
	failures    int // in a row
	pausedUntil time.Time
}

func equalJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d-d/2+1)
}

// step claims the deliveries due now (a run of each of several
// repositories), attempts each repository's run in order and the
// repositories in parallel, and records every outcome in one transaction.
// A run stops at its first failure: the rest of it is given back untried,
// to wait behind the failed event. It returns how many it attempted.
func (l *lane) step(ctx context.Context) (int, error) {
	now := l.clock.Now()
	l.mu.Lock()
	paused := now.Before(l.pausedUntil)
	l.mu.Unlock()
	if paused {
		return 0, nil
	}
	ds, err := l.store.ClaimDeliveries(ctx, l.ep.name, l.owner, now, now.Add(l.lease), laneHeads, laneRun)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", l.ep, err)
	}
	results := make([]*meta.AttemptResult, len(ds))
	var wg sync.WaitGroup
	for _, run := range runs(ds) {
		wg.Go(func() {
			for _, i := range run {
				r := l.attempt(ctx, ds[i])
				results[i] = &r
				l.account(r)
				if r.State == meta.DeliveryPending || l.isPaused(r.At) {
					return
				}
			}
		})
	}
	wg.Wait()
	held, err := l.store.FinishDeliveries(ctx, l.owner, ds, results)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", l.ep, err)
	}
	attempted := 0
	for i, r := range results {
		if r == nil {
			continue
		}
		attempted++
		if !held[i] {
			l.m.leaseLost()
		}
		if r.State == meta.DeliveryDead {
			l.log.Warn("webhook event given up", "endpoint", l.ep.name, "event", ds[i].EventID, "attempts", ds[i].Attempts+1,
				"status", r.Status, "err", r.Err)
		}
	}
	return attempted, nil
}

// runs groups the indexes of ds by repository, in order.
func runs(ds []meta.Delivery) [][]int {
	var out [][]int
	at := map[string]int{}
	for i, d := range ds {
		j, ok := at[d.Repo]
		if !ok {
			j = len(out)
			at[d.Repo] = j
			out = append(out, nil)
		}
		out[j] = append(out[j], i)
	}
	return out
}

func (l *lane) isPaused(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return now.Before(l.pausedUntil)
}

// account updates the failure count and the pause that threshold
// failures in a row start, and the metrics.
func (l *lane) account(r meta.AttemptResult) {
	l.m.attempt(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.State == meta.DeliveryDelivered {
		l.failures = 0
		l.pausedUntil = time.Time{}
		return
	}
	l.failures++
	if over := l.failures - l.ep.threshold; over >= 0 {
		l.pausedUntil = r.At.Add(l.jitter(l.ep.backoffCeiling(over + 1)))
	}
}

// attempt POSTs one event and decides what follows.
func (l *lane) attempt(ctx context.Context, d meta.Delivery) meta.AttemptResult {
	at := l.clock.Now()
	start := time.Now()
	status, retryAfter, err := l.post(ctx, d, at)
	r := l.outcome(d, at, status, err, retryAfter)
	r.Duration = time.Since(start)
	r.Node = l.node
	return r
}

// post sends the event and returns the answer's status.
func (l *lane) post(ctx context.Context, d meta.Delivery, at time.Time) (int, time.Duration, error) {
	body, ctype, err := Body(l.ep.format, d.Payload)
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, l.ep.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.ep.url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, errors.New("bad endpoint URL")
	}
	for k, vs := range l.ep.headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", ctype)
	sign(req.Header, l.ep.keys, d.EventID, at, body)
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, 0, scrub(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), at), nil
}

// scrub drops the URL from a client error: it may carry credentials.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("timeout")
		}
		return ue.Err
	}
	return err
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// outcome decides what follows an attempt: delivered on a 2xx only; dead
// once the attempt or age limit is reached; else pending, retried after
// the backoff (or the receiver's Retry-After, when longer).
func (l *lane) outcome(d meta.Delivery, at time.Time, status int, err error, wait time.Duration) meta.AttemptResult {
	r := meta.AttemptResult{At: at, Status: status}
	if err == nil && status >= 200 && status < 300 {
		r.State, r.NextAt = meta.DeliveryDelivered, at
		return r
	}
	switch {
	case err != nil:
		r.Err = err.Error()
	default:
		r.Err = "answered " + strconv.Itoa(status)
	}
	attempts := d.Attempts + 1
	if (l.ep.maxAttempts > 0 && attempts >= l.ep.maxAttempts) || (l.ep.maxAge > 0 && at.Sub(d.StartedAt) >= l.ep.maxAge) {
		r.State, r.NextAt = meta.DeliveryDead, at
		return r
	}
	backoff := l.jitter(l.ep.backoffCeiling(attempts))
	r.State, r.NextAt = meta.DeliveryPending, at.Add(max(backoff, min(wait, maxRetryAfter)))
	if limit := d.StartedAt.Add(l.ep.maxAge); l.ep.maxAge > 0 && r.NextAt.After(limit) {
		r.NextAt = limit // one last try at the age limit
	}
	return r
}

// maxIdlePoll bounds how long an idle lane waits before it looks again
// (a wake-up from a new event comes at once).
const maxIdlePoll = 5 * time.Second

// run steps until ctx ends; with drain set it also returns once nothing
// is due. An idle lane looks less and less often, up to maxIdlePoll: a
// repository blocked behind a failing event makes every look scan it.
func (l *lane) run(ctx context.Context, kick <-chan struct{}, poll time.Duration, draining func() bool) {
	t := time.NewTimer(poll)
	defer t.Stop()
	wait := poll
	for ctx.Err() == nil {
		n, err := l.step(ctx)
		if err != nil && ctx.Err() == nil {
			l.log.Error("webhook delivery", "endpoint", l.ep.name, "err", err)
		}
		if n > 0 && err == nil {
			wait = poll
			continue // more may be due at once
		}
		if draining() {
			return
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-kick:
			wait = poll
		case <-t.C:
			wait = min(2*wait, maxIdlePoll)
		}
	}
}
