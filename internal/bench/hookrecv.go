package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// hookReceiver is the webhook endpoint of the push-webhook workload: a
// loopback HTTP server that answers 200 at once and counts the distinct
// push events it is sent (delivery is at least once: duplicates are
// counted apart).
type hookReceiver struct {
	url string
	srv *http.Server

	mu   sync.Mutex
	seen map[string]bool // ids of push events
	st   hookStats
}

// hookStats counts what the receiver got besides distinct push events.
type hookStats struct {
	requests, duplicates, other, bad int
}

// startHookReceiver listens on a free loopback port.
func startHookReceiver() (*hookReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	r := &hookReceiver{url: "http://" + ln.Addr().String(), seen: map[string]bool{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }() // ends with close
	return r, nil
}

// envelope is the part of an event request the receiver reads: the ids
// and actions of distribution's {"events":[...]} body.
type envelope struct {
	Events []struct {
		ID     string `json:"id"`
		Action string `json:"action"`
	} `json:"events"`
}

// ServeHTTP records the events of one request; a body that is not an
// event envelope gets 400 (and is counted), so the sender retries.
func (r *hookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var env envelope
	err := json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&env)
	if err == nil && len(env.Events) == 0 {
		err = errors.New("no events")
	}
	r.mu.Lock()
	r.st.requests++
	if err != nil {
		r.st.bad++
	}
	for _, ev := range env.Events {
		switch {
		case ev.Action != "push":
			r.st.other++
		case r.seen[ev.ID]:
			r.st.duplicates++
		default:
			r.seen[ev.ID] = true
		}
	}
	r.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// pushes is the number of distinct push events received.
func (r *hookReceiver) pushes() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *hookReceiver) stats() hookStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// waitFor polls until want distinct push events have arrived, bound has
// passed or ctx ends, and returns the count and the time waited.
func (r *hookReceiver) waitFor(ctx context.Context, want int, bound time.Duration) (int, time.Duration) {
	start := time.Now()
	for {
		got := r.pushes()
		if got >= want || time.Since(start) >= bound || ctx.Err() != nil {
			return got, time.Since(start)
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (r *hookReceiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}
