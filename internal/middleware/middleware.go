// Package middleware holds what every HTTP surface of wharf shares: request
// ids, the access log, and per-endpoint metrics. internal/server wraps its
// whole mux in it once, so the registry API, the token endpoint and any
// later surface are logged, counted and traced alike.
package middleware

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/wharf-registry/wharf/internal/metrics"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota + 1
	endpointKey
	userKey
)

// maxRequestIDLen bounds an id taken from a proxy's X-Request-Id header, so a
// client cannot flood the logs through it.
const maxRequestIDLen = 128

// RequestID returns the id WithRequestID gave the request, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// WithRequestID gives every request an id, taken from X-Request-Id when a
// proxy in front set a sane one, and returns it to the client.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > maxRequestIDLen {
			var b [12]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// endpointLabel is where the handler that serves a request names its
// endpoint for the metrics. The mux sets a coarse name; a surface with
// several endpoints (the /v2 API) refines it once it has parsed the path.
type endpointLabel struct{ name string }

// SetEndpoint names the endpoint serving the request in its metrics. It
// does nothing outside Metrics.
func SetEndpoint(ctx context.Context, name string) {
	if l, ok := ctx.Value(endpointKey).(*endpointLabel); ok {
		l.name = name
	}
}

// userSlot is where the surface that authenticates a request names its
// user, for whoever wrapped the handler (the webhooks' actor).
type userSlot struct{ name string }

// WithUserSlot returns ctx with room for SetUser.
func WithUserSlot(ctx context.Context) context.Context {
	return context.WithValue(ctx, userKey, &userSlot{})
}

// SetUser names the authenticated user of the request; it does nothing
// outside WithUserSlot.
func SetUser(ctx context.Context, name string) {
	if s, ok := ctx.Value(userKey).(*userSlot); ok {
		s.name = name
	}
}

// User is the name SetUser gave, or "".
func User(ctx context.Context) string {
	if s, ok := ctx.Value(userKey).(*userSlot); ok {
		return s.name
	}
	return ""
}

// Metrics counts each request by endpoint, method and status, and times it.
// A nil m counts nothing.
func Metrics(m *metrics.Metrics, next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		label := &endpointLabel{name: "unknown"}
		rec := &StatusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), endpointKey, label)))
		m.Request(label.name, r.Method, rec.status, time.Since(start))
	})
}

// AccessLog writes one line per request: method, path, status, bytes,
// duration and request id. Query strings are left out: they may carry
// upload state or credentials.
func AccessLog(log *slog.Logger, enabled bool, next http.Handler) http.Handler {
	if !enabled {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &StatusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int64("bytes_in", r.ContentLength),
			slog.Int64("bytes_out", rec.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
			slog.String("request_id", RequestID(r.Context())),
		)
	})
}

// StatusRecorder remembers the status and counts the body bytes. It passes
// ReadFrom through so sendfile still applies to blob downloads, and Unwrap
// lets http.ResponseController reach the connection.
type StatusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

// Status is the status code written so far (200 when none was).
func (s *StatusRecorder) Status() int { return s.status }

// WriteHeader records the first status code and passes it on.
func (s *StatusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write counts the bytes written.
func (s *StatusRecorder) Write(p []byte) (int, error) {
	s.wrote = true
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

// ReadFrom copies through the underlying writer, which may use sendfile.
func (s *StatusRecorder) ReadFrom(r io.Reader) (int64, error) {
	s.wrote = true
	n, err := io.Copy(s.ResponseWriter, r)
	s.bytes += n
	return n, err
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Headers adds the configured headers (http.headers) to every response
// before the handler runs, so a handler may still override one it owns,
// such as Content-Type.
func Headers(extra map[string][]string, next http.Handler) http.Handler {
	if len(extra) == 0 {
		return next
	}
	canonical := make(http.Header, len(extra))
	for name, values := range extra {
		canonical[http.CanonicalHeaderKey(name)] = values
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		for name, values := range canonical {
			hdr[name] = append([]string(nil), values...)
		}
		next.ServeHTTP(w, r)
	})
}
