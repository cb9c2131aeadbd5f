package notify

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wharf-registry/wharf/internal/config"
	"github.com/wharf-registry/wharf/internal/meta"
)

// startedNotifier is a notifier over a fresh store with the real clock,
// with events for the given repositories recorded before it starts.
func startedNotifier(t *testing.T, repos, perRepo int, endpoints ...config.Endpoint) (*Notifier, *meta.SQL) {
	t.Helper()
	store := openStore(t)
	n, err := New(Options{Config: config.Notifications{Endpoints: endpoints}, Store: store,
		Log: slog.New(slog.DiscardHandler), SingleNode: true})
	if err != nil {
		t.Fatal(err)
	}
	for r := range repos {
		tags := make([]string, perRepo)
		for i := range tags {
			tags[i] = fmt.Sprintf("t%d", i)
		}
		pushTags(t, n, store, fmt.Sprintf("repo%d", r), tags...)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return n, store
}

// TestShutdownDrains: a graceful stop delivers what is due to a live
// endpoint, and returns with a dead endpoint's events still pending.
func TestShutdownDrains(t *testing.T) {
	rcv := newReceiver(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	n, store := startedNotifier(t, 5, 10, config.Endpoint{Name: "live", URL: rcv.srv.URL},
		config.Endpoint{Name: "dead", URL: deadURL})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n.Shutdown(ctx)
	if ctx.Err() != nil {
		t.Fatal("Shutdown ran into its deadline")
	}
	got := rcv.delivered()
	total := 0
	for repo, tags := range got {
		total += len(tags)
		if fmt.Sprint(tags) != "[t0 t1 t2 t3 t4 t5 t6 t7 t8 t9]" {
			t.Errorf("%s: %v", repo, tags)
		}
	}
	if total != 50 {
		t.Errorf("live endpoint got %d events before the stop ended, want 50", total)
	}
	if pending, _, _ := store.EventBacklog(t.Context(), "dead"); pending != 50 {
		t.Errorf("dead endpoint: %d pending after the stop, want 50 kept", pending)
	}
}

// TestShutdownDeadline: a receiver that never answers cannot hold a stop
// past its deadline; its events stay pending, their leases freed for the
// next start.
func TestShutdownDeadline(t *testing.T) {
	// It reads the body first: only then does the server notice the
	// client going away and end the request's context.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer hang.Close()
	n, store := startedNotifier(t, 2, 3, config.Endpoint{Name: "hang", URL: hang.URL, Timeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	n.Shutdown(ctx)
	if pending, _, _ := store.EventBacklog(t.Context(), "hang"); pending != 6 {
		t.Errorf("%d pending after the stop, want all 6", pending)
	}
	// Nothing is leased: a new process claims the heads at once.
	now := time.Now()
	ds, err := store.ClaimDeliveries(t.Context(), "hang", "next", now.Add(time.Hour), now.Add(2*time.Hour), 16, 1)
	if err != nil || len(ds) != 2 {
		t.Errorf("claim after the stop: %d heads, %v; want 2", len(ds), err)
	}
}
