package middleware

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wharf-registry/wharf/internal/metrics"
)

func TestRequestID(t *testing.T) {
	tests := []struct {
		name, given string
		keep        bool
	}{
		{"none given", "", false},
		{"proxy's id kept", "abc-123", true},
		{"overlong id replaced", strings.Repeat("x", maxRequestIDLen+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen string
			h := WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = RequestID(r.Context())
			}))
			req := httptest.NewRequest(http.MethodGet, "/v2/", nil)
			if tt.given != "" {
				req.Header.Set("X-Request-Id", tt.given)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if seen == "" || rec.Header().Get("X-Request-Id") != seen {
				t.Fatalf("handler saw %q, response says %q", seen, rec.Header().Get("X-Request-Id"))
			}
			if (seen == tt.given) != tt.keep {
				t.Errorf("id %q from given %q: kept = %v, want %v", seen, tt.given, seen == tt.given, tt.keep)
			}
		})
	}
}

// TestMetricsEndpointLabel checks the label a handler sets reaches the
// counter, and that a request nobody labels counts as unknown.
func TestMetricsEndpointLabel(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	h := Metrics(m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/labelled" {
			SetEndpoint(r.Context(), "manifest")
		}
		w.WriteHeader(http.StatusTeapot)
	}))
	for _, p := range []string{"/labelled", "/labelled", "/other"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	checkRequestCounts(t, reg, `
wharf_http_requests_total{code="418",endpoint="manifest",method="GET"} 2
wharf_http_requests_total{code="418",endpoint="unknown",method="GET"} 1
`)
}

// checkRequestCounts compares wharf_http_requests_total in reg with
// series, lines of the exposition format.
func checkRequestCounts(t *testing.T, reg *prometheus.Registry, series string) {
	t.Helper()
	want := `
# HELP wharf_http_requests_total HTTP requests by endpoint, method and status code.
# TYPE wharf_http_requests_total counter` + series
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "wharf_http_requests_total"); err != nil {
		t.Error(err)
	}
}

// TestMetricsNested checks two Metrics layers on one request each count
// the status they saw, though they share the request's state.
func TestMetricsNested(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	inner := Metrics(m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	outer := Metrics(m, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(httptest.NewRecorder(), r) // answers elsewhere
		w.WriteHeader(http.StatusAccepted)
	}))
	outer.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	checkRequestCounts(t, reg, `
wharf_http_requests_total{code="202",endpoint="unknown",method="GET"} 1
wharf_http_requests_total{code="418",endpoint="unknown",method="GET"} 1
`)
}

func TestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	h := WithRequestID(AccessLog(log, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("gone"))
	})))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v2/x/manifests/y?secret=1", nil))
	line := buf.String()
	for _, want := range []string{"path=/v2/x/manifests/y", "status=404", "bytes_out=4", "request_id="} {
		if !strings.Contains(line, want) {
			t.Errorf("access log %q lacks %q", line, want)
		}
	}
	if strings.Contains(line, "secret") {
		t.Errorf("access log %q shows the query string", line)
	}
}
