package health

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond every few milliseconds for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting until %s", what)
}

func status(h http.Handler) (int, map[string]string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/health", nil))
	var body map[string]string
	json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

// TestCheckerThresholdAndRecovery: a check fails the endpoint and the gate
// only after Threshold failures in a row, and both recover on its first
// success.
func TestCheckerThresholdAndRecovery(t *testing.T) {
	var broken atomic.Bool
	var runs atomic.Int64
	c := New(slog.New(slog.DiscardHandler), []Check{{
		Name: "db", Interval: 5 * time.Millisecond, Threshold: 3,
		Run: func(context.Context) error {
			runs.Add(1)
			if broken.Load() {
				return errors.New("connection refused")
			}
			return nil
		},
	}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c.Start(ctx)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	gate := c.Gate(next)
	if code, _ := status(c.Handler()); code != http.StatusOK {
		t.Fatalf("healthy: %d", code)
	}
	if code, _ := status(gate); code != http.StatusTeapot {
		t.Fatalf("gate while healthy: %d, want the handler's answer", code)
	}

	broken.Store(true)
	before := runs.Load()
	waitFor(t, "the check fails", func() bool { code, _ := status(c.Handler()); return code == http.StatusServiceUnavailable })
	if n := runs.Load() - before; n < 3 {
		t.Errorf("failing after %d failed runs, want at least the threshold of 3", n)
	}
	code, body := status(gate)
	if code != http.StatusServiceUnavailable || body["db"] != "connection refused" {
		t.Errorf("gate while failing: %d %v", code, body)
	}

	broken.Store(false)
	waitFor(t, "the check passes again", func() bool { code, _ := status(c.Handler()); return code == http.StatusOK })
	if code, _ := status(gate); code != http.StatusTeapot {
		t.Errorf("gate after recovery: %d", code)
	}
}

func TestNoChecksIsHealthy(t *testing.T) {
	c := New(slog.New(slog.DiscardHandler), nil)
	c.Start(t.Context())
	if code, body := status(c.Handler()); code != http.StatusOK || len(body) != 0 {
		t.Errorf("%d %v, want 200 {}", code, body)
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	if code, _ := status(c.Gate(next)); code != http.StatusTeapot {
		t.Errorf("gate without checks: %d", code)
	}
}

func TestChecks(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "down")
	os.WriteFile(present, nil, 0o600)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Basic x" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := ln.Addr().String()
	ln.Close() // now nothing listens there
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	tests := []struct {
		name string
		run  func(context.Context) error
		ok   bool
	}{
		{"file absent", FileCheck(filepath.Join(dir, "none")), true},
		{"file present", FileCheck(present), false},
		{"http with headers", HTTPCheck(srv.URL, http.Header{"Authorization": {"Basic x"}}, 0, time.Second), true},
		{"http wrong status", HTTPCheck(srv.URL, nil, 0, time.Second), false},
		{"http expected status", HTTPCheck(srv.URL, nil, http.StatusUnauthorized, time.Second), true},
		{"tcp listening", TCPCheck(ln2.Addr().String(), time.Second), true},
		{"tcp closed", TCPCheck(open, time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(t.Context()); (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
