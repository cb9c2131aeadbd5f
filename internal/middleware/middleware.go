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

const stateKey ctxKey = 1

// requestState is what the middleware and the surfaces below it note about
// one request, in a single context value: each request copy made to add a
// value (http.Request.WithContext) was, profiled, the largest allocation of
// a manifest GET.
type requestState struct {
	id       string // request id
	endpoint string // endpoint name for the metrics
	user     string // authenticated user, for the webhooks' actor
	// idHeader is the X-Request-Id header's value slice and rec the
	// metrics' status recorder: kept here, they cost no allocations of
	// their own.
	idHeader [1]string
	rec      StatusRecorder
}

func stateOf(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey).(*requestState)
	return st
}

// withState returns r with a request state, adding one only when no
// middleware above gave it one.
func withState(r *http.Request) (*http.Request, *requestState) {
	if st := stateOf(r.Context()); st != nil {
		return r, st
	}
	st := &requestState{endpoint: "unknown"}
	return r.WithContext(context.WithValue(r.Context(), stateKey, st)), st
}

// requestIDKey is X-Request-Id, canonical.
const requestIDKey = "X-Request-Id"

// maxRequestIDLen bounds an id taken from a proxy's X-Request-Id header, so a
// client cannot flood the logs through it.
const maxRequestIDLen = 128

// RequestID returns the id WithRequestID gave the request, or "".
func RequestID(ctx context.Context) string {
	if st := stateOf(ctx); st != nil {
		return st.id
	}
	return ""
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
		r, st := withState(r)
		st.id, st.idHeader[0] = id, id
		// The header's value is never changed in place: an append to a
		// slice of capacity one copies it.
		w.Header()[requestIDKey] = st.idHeader[:]
		next.ServeHTTP(w, r)
	})
}

// SetEndpoint names the endpoint serving the request in its metrics. The
// mux sets a coarse name; a surface with several endpoints (the /v2 API)
// refines it once it has parsed the path. It does nothing outside the
// middleware.
func SetEndpoint(ctx context.Context, name string) {
	if st := stateOf(ctx); st != nil {
		st.endpoint = name
	}
}

// WithUserSlot returns ctx with room for SetUser (the request's state when
// the middleware gave it one).
func WithUserSlot(ctx context.Context) context.Context {
	if stateOf(ctx) != nil {
		return ctx
	}
	return context.WithValue(ctx, stateKey, &requestState{endpoint: "unknown"})
}

// SetUser names the authenticated user of the request; it does nothing
// outside WithUserSlot or the middleware.
func SetUser(ctx context.Context, name string) {
	if st := stateOf(ctx); st != nil {
		st.user = name
	}
}

// User is the name SetUser gave, or "".
func User(ctx context.Context) string {
	if st := stateOf(ctx); st != nil {
		return st.user
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
		r, st := withState(r)
		rec := &st.rec
		if rec.ResponseWriter != nil {
			// Metrics inside Metrics: the outer one holds the state's.
			rec = new(StatusRecorder)
		}
		*rec = StatusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		m.Request(st.endpoint, r.Method, rec.status, time.Since(start))
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
