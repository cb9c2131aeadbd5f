package api

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// Bounds of the drain that follows an early error. A proxy stops sending
// as soon as it has read the response, so a drain normally ends within a
// few milliseconds; the bounds only matter for a client that keeps sending
// regardless, and they cap what such a client can cost: this many bytes,
// this long in all, and no read that waits longer than the idle limit.
const (
	drainMaxBytes = 64 << 20
	drainMaxTime  = 15 * time.Second
	drainIdle     = 5 * time.Second
)

// drainOnError prepares an error answer to a request whose body may still
// be on its way (a PATCH refused before it was read: unknown upload, wrong
// offset, missing credentials) and returns what to run once the answer is
// written. Go's server, left alone, discards at most 256 KiB of an unread
// body and then closes the connection while the peer is still sending; the
// peer's next write meets a reset, and a proxy such as nginx then reports
// 502 and takes the node out of rotation instead of passing the answer on.
// So the answer is flushed first and the body read and thrown away
// afterwards (within the bounds above), and a body that may outgrow the
// bounds is answered with Connection: close.
//
// Use it as `defer drainOnError(w, r)()` before writing the error.
func drainOnError(w http.ResponseWriter, r *http.Request) func() {
	if !mayHaveUnreadBody(r) {
		return func() {}
	}
	rc := http.NewResponseController(w)
	// Without full duplex, writing the answer ends the body for HTTP/1.
	if err := rc.EnableFullDuplex(); err != nil {
		return func() {}
	}
	if r.ContentLength < 0 || r.ContentLength > drainMaxBytes {
		w.Header().Set("Connection", "close")
	}
	return func() {
		if err := rc.Flush(); err != nil {
			return
		}
		discardBody(r.Body, rc, time.Now().Add(drainMaxTime))
	}
}

// mayHaveUnreadBody reports whether r is an HTTP/1 request whose body
// could still be arriving. HTTP/2 ends a stream's body on its own without
// touching the connection. A client that sent Expect: 100-continue and got
// no 100 waits for the answer instead of sending; reading would make Go
// ask for the whole body.
func mayHaveUnreadBody(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return false
	}
	if strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return false
	}
	// A failed read (the client left or stalled) cancels the context:
	// nothing more will come worth waiting for.
	return r.Context().Err() == nil
}

// discardBody reads body to its end, at most drainMaxBytes and until
// deadline, with each read cut off after drainIdle of silence. It returns
// how many bytes it threw away and whether the body ended.
func discardBody(body io.Reader, rc *http.ResponseController, deadline time.Time) (int64, bool) {
	// Leave no deadline behind for the next request on the connection.
	defer rc.SetReadDeadline(time.Time{})
	buf := make([]byte, 32<<10)
	var n int64
	for n < drainMaxBytes {
		d := time.Now().Add(drainIdle)
		if d.After(deadline) {
			d = deadline
		}
		if !time.Now().Before(d) {
			return n, false
		}
		if err := rc.SetReadDeadline(d); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return n, false
		}
		want := min(int64(len(buf)), drainMaxBytes-n)
		m, err := body.Read(buf[:want])
		n += int64(m)
		if errors.Is(err, io.EOF) {
			return n, true
		}
		if err != nil {
			return n, false
		}
	}
	return n, false
}
