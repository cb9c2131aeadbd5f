package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// receiver is a real HTTP endpoint on loopback that records what arrives
// and answers with what its answer function says.
type receiver struct {
	srv *httptest.Server

	mu     sync.Mutex
	got    []received
	answer func(ev Event, n int) (int, http.Header) // n: this event's arrivals so far
}

type received struct {
	ev      Event
	body    []byte
	headers http.Header
	status  int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{answer: func(Event, int) (int, http.Header) { return http.StatusOK, nil }}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var env struct{ Events []Event }
		json.Unmarshal(body, &env)
		var ev Event
		if len(env.Events) == 1 {
			ev = env.Events[0]
		}
		r.mu.Lock()
		n := 0
		for _, g := range r.got {
			if g.ev.ID == ev.ID {
				n++
			}
		}
		status, h := r.answer(ev, n)
		r.got = append(r.got, received{ev: ev, body: body, headers: req.Header.Clone(), status: status})
		r.mu.Unlock()
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// delivered lists the tags of the events answered 2xx, in arrival order,
// per repository.
func (r *receiver) delivered() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]string{}
	for _, g := range r.got {
		if g.status < 300 {
			out[g.ev.Target.Repository] = append(out[g.ev.Target.Repository], g.ev.Target.Tag)
		}
	}
	return out
}

func openStore(t *testing.T) *meta.SQL {
	t.Helper()
	s, err := meta.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// testNotifier builds a notifier over a fresh store with a fake clock and
// no jitter (waits at their ceiling), without starting its lanes.
func testNotifier(t *testing.T, endpoints ...config.Endpoint) (*Notifier, *meta.SQL, *fakeClock) {
	t.Helper()
	store := openStore(t)
	clock := &fakeClock{t: t0}
	n, err := New(Options{Config: config.Notifications{Endpoints: endpoints}, Store: store, Clock: clock,
		Jitter: func(d time.Duration) time.Duration { return d }, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown(context.Background()) })
	return n, store, clock
}

// pushTags records manifest push events through the hook, as a
// transaction would, in one AppendEvents each.
func pushTags(t *testing.T, n *Notifier, store *meta.SQL, repo string, tags ...string) {
	t.Helper()
	ctx := withRequestInfo(t.Context(), &requestInfo{method: "PUT", host: "127.0.0.1:5000", scheme: "http"})
	for _, tag := range tags {
		evs := n.rec.events(ctx, []meta.Change{{Action: "push", Kind: meta.KindManifest, Repo: repo, Tag: tag,
			Digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000", MediaType: "m", Size: 2}})
		if err := store.AppendEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}
}

// stepAll steps the lanes until none has anything due now.
func stepAll(t *testing.T, n *Notifier) {
	t.Helper()
	for range 100 {
		busy := 0
		for _, l := range n.lanes {
			k, err := l.step(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			busy += k
		}
		if busy == 0 {
			return
		}
	}
	t.Fatal("lanes still busy after 100 steps")
}

func laneOf(n *Notifier, name string) *lane {
	for _, l := range n.lanes {
		if l.ep.name == name {
			return l
		}
	}
	return nil
}

// TestLaneOrderPerRepository: a repository's events arrive in order even
// when one fails and waits for its retry; other repositories go on.
func TestLaneOrderPerRepository(t *testing.T) {
	rcv := newReceiver(t)
	rcv.answer = func(ev Event, n int) (int, http.Header) {
		if ev.Target.Tag == "a1" && n == 0 {
			return http.StatusInternalServerError, nil
		}
		return http.StatusOK, nil
	}
	n, store, clock := testNotifier(t, config.Endpoint{Name: "ci", URL: rcv.srv.URL, Backoff: time.Second, Threshold: 10})
	pushTags(t, n, store, "a", "a1", "a2", "a3")
	pushTags(t, n, store, "b", "b1", "b2")
	stepAll(t, n)
	if got := rcv.delivered(); len(got["a"]) != 0 || fmt.Sprint(got["b"]) != "[b1 b2]" {
		t.Fatalf("before the retry: delivered %v; want b's events and none of a's", got)
	}
	clock.advance(time.Second)
	stepAll(t, n)
	if got := rcv.delivered(); fmt.Sprint(got["a"]) != "[a1 a2 a3]" {
		t.Fatalf("after the retry: a's events arrived as %v, want [a1 a2 a3]", got["a"])
	}
}

// TestDeadEndpointIsolated: an endpoint that is down (nothing listens)
// keeps its events, while another endpoint receives all of them.
func TestDeadEndpointIsolated(t *testing.T) {
	rcv := newReceiver(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	n, store, clock := testNotifier(t,
		config.Endpoint{Name: "dead", URL: deadURL, Timeout: time.Second, Threshold: 2},
		config.Endpoint{Name: "live", URL: rcv.srv.URL})
	for i := range 5 {
		pushTags(t, n, store, fmt.Sprintf("r%d", i), "t")
		stepAll(t, n)
		clock.advance(time.Second)
	}
	if got := rcv.delivered(); len(got) != 5 {
		t.Errorf("live endpoint got %v, want one event of each of 5 repositories", got)
	}
	pending, _, err := store.EventBacklog(t.Context(), "dead")
	if err != nil || pending != 5 {
		t.Errorf("dead endpoint's backlog = %d, %v; want all 5 kept", pending, err)
	}
	if live, _, _ := store.EventBacklog(t.Context(), "live"); live != 0 {
		t.Errorf("live endpoint's backlog = %d", live)
	}
	// Past the threshold the dead lane pauses instead of trying every
	// event: a new one is not even claimed until the pause ends.
	clock.advance(-time.Second)
	l := laneOf(n, "dead")
	pushTags(t, n, store, "fresh", "t")
	if k, err := l.step(t.Context()); err != nil || k != 0 || l.failures < 2 {
		t.Errorf("dead lane after %d failures in a row: stepped %d, %v; want a pause", l.failures, k, err)
	}
}

// TestBackoffBounds: the wait after the n-th failure doubles from backoff
// up to maxbackoff; jitter keeps it within [ceiling/2, ceiling]; a longer
// Retry-After wins.
func TestBackoffBounds(t *testing.T) {
	ep, err := newEndpoint(config.Endpoint{Name: "x", URL: "http://127.0.0.1:1", Backoff: time.Second, MaxBackoff: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{1, 2, 4, 8, 10, 10}
	for i, w := range want {
		if got := ep.backoffCeiling(i + 1); got != w*time.Second {
			t.Errorf("ceiling after %d failures = %s, want %s", i+1, got, w*time.Second)
		}
	}
	for _, d := range []time.Duration{time.Second, 3 * time.Second, 10 * time.Second} {
		for range 1000 {
			if j := equalJitter(d); j < d/2 || j > d {
				t.Fatalf("equalJitter(%s) = %s, outside [%s, %s]", d, j, d/2, d)
			}
		}
	}
	l := &lane{ep: ep, jitter: equalJitter}
	d := meta.Delivery{StartedAt: t0}
	for attempts := range 6 {
		d.Attempts = attempts
		r := l.outcome(d, t0, 503, nil, 0)
		c := ep.backoffCeiling(attempts + 1)
		if wait := r.NextAt.Sub(t0); r.State != meta.DeliveryPending || wait < c/2 || wait > c {
			t.Errorf("after %d failures: %s in %s, want pending in [%s, %s]", attempts+1, r.State, wait, c/2, c)
		}
	}
	if r := l.outcome(d, t0, 429, nil, 30*time.Second); r.NextAt.Sub(t0) != 30*time.Second {
		t.Errorf("Retry-After 30s: next in %s", r.NextAt.Sub(t0))
	}
	if r := l.outcome(d, t0, 429, nil, 48*time.Hour); r.NextAt.Sub(t0) != maxRetryAfter {
		t.Errorf("Retry-After 48h: next in %s, want the bound %s", r.NextAt.Sub(t0), maxRetryAfter)
	}
	if r := l.outcome(d, t0, 204, nil, 0); r.State != meta.DeliveryDelivered {
		t.Errorf("204: %s", r.State)
	}
	if r := l.outcome(d, t0, 302, nil, 0); r.State != meta.DeliveryPending {
		t.Errorf("302: %s, want pending (only 2xx delivers)", r.State)
	}
}

// TestRetryAfterHonoured: a 503 with Retry-After holds the event back
// that long, through a real exchange.
func TestRetryAfterHonoured(t *testing.T) {
	rcv := newReceiver(t)
	rcv.answer = func(ev Event, n int) (int, http.Header) {
		if n == 0 {
			return http.StatusServiceUnavailable, http.Header{"Retry-After": {"20"}}
		}
		return http.StatusOK, nil
	}
	n, store, clock := testNotifier(t, config.Endpoint{Name: "ci", URL: rcv.srv.URL, Backoff: time.Second})
	pushTags(t, n, store, "a", "a1")
	stepAll(t, n)
	clock.advance(19 * time.Second)
	stepAll(t, n)
	if got := rcv.delivered(); len(got["a"]) != 0 {
		t.Fatalf("delivered %v before Retry-After passed", got)
	}
	clock.advance(time.Second)
	stepAll(t, n)
	if got := rcv.delivered(); fmt.Sprint(got["a"]) != "[a1]" {
		t.Fatalf("after Retry-After: %v", got)
	}
}

// TestDeadLetter: an event that reaches the attempt or age limit is
// given up (dead), and the repository's next event goes on.
func TestDeadLetter(t *testing.T) {
	tests := []struct {
		name     string
		ep       config.Endpoint
		attempts int // failed attempts before a1 is dead
	}{
		{"attempts", config.Endpoint{MaxAttempts: 3}, 3},
		{"age", config.Endpoint{MaxAge: 10 * time.Second}, 5}, // tries at 0, 1, 3, 7 and, last, at the limit, 10
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t)
			rcv.answer = func(ev Event, n int) (int, http.Header) {
				if ev.Target.Tag == "a1" {
					return http.StatusBadRequest, nil
				}
				return http.StatusOK, nil
			}
			ep := tt.ep
			ep.Name, ep.URL, ep.Backoff, ep.Threshold = "ci", rcv.srv.URL, time.Second, 100
			n, store, clock := testNotifier(t, ep)
			pushTags(t, n, store, "a", "a1", "a2")
			for range 20 {
				stepAll(t, n)
				clock.advance(time.Second)
			}
			if got := rcv.delivered(); fmt.Sprint(got["a"]) != "[a2]" {
				t.Fatalf("delivered %v, want a2 after a1 was given up", got)
			}
			dead := meta.DeliveryDead
			evs, err := store.ListEvents(t.Context(), meta.EventFilter{State: &dead})
			if err != nil || len(evs) != 1 {
				t.Fatalf("dead events: %d, %v", len(evs), err)
			}
			ev, err := store.GetEvent(t.Context(), evs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			d := ev.Deliveries[0]
			if d.State != meta.DeliveryDead || d.Attempts != tt.attempts || len(d.Tries) != tt.attempts || d.LastStatus != 400 {
				t.Errorf("dead delivery = %+v, want %d attempts answered 400", d, tt.attempts)
			}
			// Redelivery gives it fresh limits.
			if _, err := store.Redeliver(t.Context(), ev.ID, "", clock.Now()); err != nil {
				t.Fatal(err)
			}
			rcv.answer = func(Event, int) (int, http.Header) { return http.StatusOK, nil }
			stepAll(t, n)
			if got := rcv.delivered(); fmt.Sprint(got["a"]) != "[a2 a1]" {
				t.Errorf("after redelivery: %v", got)
			}
		})
	}
}

// TestSignatureAndHeaders: configured headers are sent; with secrets the
// Standard Webhooks library verifies the signature with each key, and the
// webhook-id is the event id on every attempt.
func TestSignatureAndHeaders(t *testing.T) {
	const oldKey, newKey = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_dGhpcyBpcyBhIHNlY3JldCBrZXkgZm9yIHRlc3Rz"
	rcv := newReceiver(t)
	rcv.answer = func(ev Event, n int) (int, http.Header) {
		if n == 0 {
			return http.StatusBadGateway, nil
		}
		return http.StatusOK, nil
	}
	n, store, clock := testNotifier(t, config.Endpoint{Name: "ci", URL: rcv.srv.URL, Backoff: time.Second,
		Headers: map[string][]string{"Authorization": {"Bearer s3cret"}}, Secrets: []string{oldKey, newKey}})
	clock.advance(time.Until(t0) * -1) // near the real time: the library checks the timestamp's age
	pushTags(t, n, store, "a", "a1")
	stepAll(t, n)
	clock.advance(time.Second)
	stepAll(t, n)
	rcv.mu.Lock()
	got := slices.Clone(rcv.got)
	rcv.mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	for _, key := range []string{oldKey, newKey} {
		wh, err := standardwebhooks.NewWebhook(key)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range got {
			if err := wh.Verify(g.body, g.headers); err != nil {
				t.Errorf("key %s…: %v", key[:10], err)
			}
		}
	}
	for _, g := range got {
		if g.headers.Get("Authorization") != "Bearer s3cret" || g.headers.Get("Content-Type") != MediaTypeV1 {
			t.Errorf("headers: %v", g.headers)
		}
		if g.headers.Get("webhook-id") != got[0].ev.ID {
			t.Errorf("webhook-id %q, want the event id %q", g.headers.Get("webhook-id"), got[0].ev.ID)
		}
	}
	tampered := append([]byte{}, got[0].body...)
	tampered[len(tampered)-3] ^= 1
	wh, _ := standardwebhooks.NewWebhook(newKey)
	if wh.Verify(tampered, got[0].headers) == nil {
		t.Error("a tampered body verified")
	}
	// The failure recorded says nothing of the headers.
	ev, _ := store.GetEvent(t.Context(), got[0].ev.ID)
	if e := ev.Deliveries[0].Tries[0].Err; e != "answered 502" {
		t.Errorf("recorded error %q", e)
	}
}
