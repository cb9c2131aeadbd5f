package api

import (
	"encoding/json"
	"io"
	"net/http"
	"time"
)

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
