package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-registry/wharf/internal/config"
)

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		name   string
		header string
		scheme string
		params map[string]string
	}{
		{"docker hub", `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`,
			"bearer", map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/alpine:pull"}},
		{"basic", `Basic realm="upstream"`, "basic", map[string]string{"realm": "upstream"}},
		{"spaces and unquoted", `Bearer realm="r", service=s ,scope="a,b"`, "bearer", map[string]string{"realm": "r", "service": "s", "scope": "a,b"}},
		{"no params", `Basic`, "basic", map[string]string{}},
		{"unterminated quote", `Bearer realm="r`, "bearer", map[string]string{"realm": "r"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scheme, params := parseChallenge(tc.header)
			if scheme != tc.scheme {
				t.Errorf("scheme = %q, want %q", scheme, tc.scheme)
			}
			if len(params) != len(tc.params) {
				t.Errorf("params = %v, want %v", params, tc.params)
			}
			for k, v := range tc.params {
				if params[k] != v {
					t.Errorf("%s = %q, want %q", k, params[k], v)
				}
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"30", 30 * time.Second},
		{"-3", 0},
		{"junk", 0},
		{"999999", time.Hour},
		{time.Now().Add(-time.Minute).UTC().Format(http.TimeFormat), 0},
	}
	for _, tc := range tests {
		if got := retryAfter(tc.v); got != tc.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tc.v, got, tc.want)
		}
	}
	future := time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)
	if got := retryAfter(future); got < time.Minute || got > 2*time.Minute {
		t.Errorf("retryAfter(date in 2 min) = %s", got)
	}
}

func TestCheckManifestDigest(t *testing.T) {
	payload := []byte(`{"schemaVersion":2}`)
	good := "sha256:" + sha256hex(payload)
	bad := "sha256:" + sha256hex([]byte("other"))
	tests := []struct {
		name, ref, header string
		ok                bool
	}{
		{"tag, no header", "v1", "", true},
		{"tag, matching header", "v1", good, true},
		{"tag, lying header", "v1", bad, false},
		{"digest matches", good, "", true},
		{"digest differs", bad, "", false},
	}
	for _, tc := range tests {
		err := checkManifestDigest(tc.ref, tc.header, payload)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok %t", tc.name, err, tc.ok)
		}
	}
}

// TestUpstreamHealth: a 429 with Retry-After, a 5xx or a refused connection
// marks the upstream down; until the interval passes no request goes out,
// and then one request probes it.
func TestUpstreamHealth(t *testing.T) {
	var hits atomic.Int64
	status := atomic.Int64{}
	status.Store(http.StatusTooManyRequests)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	u, err := newUpstream(config.Upstream{Name: "up", URL: srv.URL}, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := u.do(ctx, http.MethodGet, "a/manifests/1", "", ""); !errors.Is(err, errUnavailable) {
		t.Fatalf("429: %v, want unavailable", err)
	}
	for range 5 {
		if _, err := u.do(ctx, http.MethodGet, "a/manifests/1", "", ""); !errors.Is(err, errUnavailable) {
			t.Fatalf("while down: %v", err)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("upstream asked %d times while marked down by Retry-After, want 1", n)
	}
	if u.healthy() {
		t.Errorf("healthy after a 429")
	}
	// After Retry-After (1s, longer than the 10ms interval) one probe goes out.
	status.Store(http.StatusOK)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := u.do(ctx, http.MethodGet, "a/manifests/1", "", "")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never probed again: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("upstream asked %d times, want 2 (the 429 and the probe)", n)
	}
	if !u.healthy() {
		t.Errorf("not healthy after a successful probe")
	}
}

// TestUpstreamConcurrencyCap: with maxconcurrent 2, a third request waits
// until a response body is closed.
func TestUpstreamConcurrencyCap(t *testing.T) {
	var inFlight, peak atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	u, err := newUpstream(config.Upstream{Name: "up", URL: srv.URL, MaxConcurrent: 2}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var bodies []*http.Response
	for range 2 {
		resp, err := u.do(ctx, http.MethodGet, "a/blobs/x", "", "")
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, resp)
	}
	third := make(chan error, 1)
	go func() {
		resp, err := u.do(ctx, http.MethodGet, "a/blobs/x", "", "")
		if err == nil {
			resp.Body.Close()
		}
		third <- err
	}()
	select {
	case err := <-third:
		t.Fatalf("third request went out past the cap (%v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	bodies[0].Body.Close()
	if err := <-third; err != nil {
		t.Errorf("third request after a slot freed: %v", err)
	}
	bodies[1].Body.Close()
	if p := peak.Load(); p > 2 {
		t.Errorf("peak concurrent upstream requests %d, want at most 2", p)
	}
}

// TestUpstreamProbe: an upstream marked down recovers through the probe
// alone, once it answers again and its interval has passed.
func TestUpstreamProbe(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusUnauthorized) // a registry wanting credentials is up
	}))
	defer srv.Close()
	u, err := newUpstream(config.Upstream{Name: "up", URL: srv.URL}, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := u.do(ctx, http.MethodGet, "a/manifests/1", "", ""); !errors.Is(err, errUnavailable) {
		t.Fatalf("503: %v", err)
	}
	time.Sleep(5 * time.Millisecond)
	u.probe(ctx)
	if u.healthy() {
		t.Fatalf("healthy after a probe answered 503")
	}
	failing.Store(false)
	time.Sleep(5 * time.Millisecond)
	u.probe(ctx)
	if !u.healthy() {
		t.Errorf("still unhealthy after a probe answered 401")
	}
}
