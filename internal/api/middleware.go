package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/wharf-registry/wharf/internal/auth"
)

type ctxKey int

const (
	requestIDKey ctxKey = 1
	decisionKey  ctxKey = 2
)

func withDecision(ctx context.Context, d *auth.Decision) context.Context {
	return context.WithValue(ctx, decisionKey, d)
}

// decision is what the request was authorized to do.
func decision(ctx context.Context) *auth.Decision {
	d, _ := ctx.Value(decisionKey).(*auth.Decision)
	return d
}

// requestID returns the id given to the request by withRequestID.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// withRequestID gives every request an id, taken from X-Request-Id when a
// proxy in front set a sane one, and returns it to the client.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 128 {
			var b [12]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// withAccessLog writes one line per request: method, path, status, bytes,
// duration and request id. Query strings are left out: they may carry
// upload state or, later, credentials.
func withAccessLog(log *slog.Logger, enabled bool, next http.Handler) http.Handler {
	if !enabled {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int64("bytes_in", r.ContentLength),
			slog.Int64("bytes_out", rec.bytes),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
			slog.String("request_id", requestID(r.Context())),
		)
	})
}

// statusRecorder remembers the status and counts the body bytes. It passes
// ReadFrom through so sendfile still applies to blob downloads.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	s.wrote = true
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) ReadFrom(r io.Reader) (int64, error) {
	s.wrote = true
	n, err := io.Copy(s.ResponseWriter, r)
	s.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding response", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	if hdr.Get("Content-Type") == "" {
		hdr.Set("Content-Type", "application/json; charset=utf-8")
	}
	hdr.Set("Content-Length", itoa(int64(len(body))))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// idleBody returns the request body with a read deadline pushed forward
// before every read: a client that stalls for BodyIdleTimeout is cut off,
// while an upload of any length that keeps moving is never interrupted.
func (h *Handler) idleBody(w http.ResponseWriter, r *http.Request) io.Reader {
	return &idleReader{r: r.Body, rc: http.NewResponseController(w), idle: h.opts.BodyIdleTimeout}
}

type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (i *idleReader) Read(p []byte) (int, error) {
	// An error means the writer cannot set deadlines (e.g. in tests with
	// httptest.ResponseRecorder); the read goes on without one.
	i.rc.SetReadDeadline(time.Now().Add(i.idle))
	return i.r.Read(p)
}
